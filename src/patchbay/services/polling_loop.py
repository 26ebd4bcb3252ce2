"""The loop every background worker runs: do a round of work when woken, or every
``poll_seconds`` (work may come from another process), at most every ``min_interval`` (wakes
in a burst make one round), and stop cleanly (a round in progress finishes)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from ..storage.group_commit import wind_down

log = logging.getLogger("patchbay.workers")


class PollingLoop:
    def __init__(
        self,
        name: str,
        round: Callable[[], Awaitable[None]],
        *,
        poll_seconds: float,
        min_interval: float,
    ) -> None:
        self.name = name
        self.round = round
        self.poll_seconds = poll_seconds
        self.min_interval = min_interval
        self.stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self.stopping = False
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self.stopping = True
        self._wake.set()
        await wind_down(self._task)
        self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            self._wake.clear()
            if self.stopping:
                break
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: a round failed; retrying", self.name)
            await asyncio.sleep(self.min_interval)


async def cancel_all(tasks: dict[str, asyncio.Task]) -> None:
    """Cancel running tasks and wait for them to finish their clean-up."""
    running = list(tasks.values())
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()
