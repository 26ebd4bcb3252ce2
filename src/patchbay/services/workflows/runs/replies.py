"""A run's reply (``trigger-reply``, ``callable-response``) and the webhook requests waiting
for it: woken at once in this process, polled for a run another process executes."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy import select, update

from ....storage.db import Database
from ....storage.models import WorkflowRun
from .journal import FINAL


class Replies:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiters: dict[str, asyncio.Event] = {}

    async def run_state(self, run_id: str) -> WorkflowRun | None:
        async with self.db.session() as s:
            return await s.scalar(select(WorkflowRun).where(WorkflowRun.id == run_id))

    async def set_reply(self, run_id: str, reply: dict[str, Any]) -> None:
        async with self.db.session() as s, s.begin():
            await s.execute(update(WorkflowRun).where(WorkflowRun.id == run_id).values(reply=reply))
        self.wake(run_id)

    def wake(self, run_id: str) -> None:
        """The run replied or ended: wake whoever waits for it here."""
        waiter = self._waiters.get(run_id)
        if waiter is not None:
            waiter.set()

    async def wait_reply(self, run_id: str, timeout: float) -> WorkflowRun | None:
        """The run once it replied (trigger reply) or ended; None after ``timeout``."""
        event = self._waiters.setdefault(run_id, asyncio.Event())
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            while True:
                run = await self.run_state(run_id)
                if run is not None and (run.reply is not None or run.status in FINAL):
                    return run
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    # woken at once in this process; another process's run is polled
                    async with asyncio.timeout(min(remaining, 0.05)):
                        await event.wait()
                event.clear()
        finally:
            self._waiters.pop(run_id, None)
