"""Billing: every Call Connector call is one task. Tasks are buffered in memory and written
in batches (at most ``flush_interval`` late) so recording costs the hot path nothing;
shutdown and every usage query flush first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select

from ...storage.db import Database
from ...storage.models import EndUser, Task, utcnow
from ..errors import BadRequest
from ..identity.principal import MANAGE, Principal

log = logging.getLogger(__name__)


class UsageRecorder:
    def __init__(self, db: Database, *, flush_interval: float = 0.2, batch: int = 500) -> None:
        self.db = db
        self.flush_interval = flush_interval
        self.batch = batch
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stopping = False

    def record(
        self,
        *,
        org_id: str,
        user_id: str | None,
        connector: str,
        connector_version: str,
        operation: str,
        outcome: str,
        source: str = "call",
    ) -> None:
        now = utcnow()
        self._pending.append(
            {
                "org_id": org_id,
                "user_id": user_id,
                "source": source,
                "connector": connector,
                "connector_version": connector_version,
                "operation": operation,
                "outcome": outcome,
                "day": now.date().isoformat(),
                "created_at": now,
            }
        )
        if len(self._pending) >= self.batch:
            self._wake.set()

    async def flush(self) -> None:
        async with self._lock:
            while self._pending:
                rows, self._pending = self._pending[: self.batch], self._pending[self.batch :]
                try:
                    async with self.db.engine.begin() as conn:  # Core executemany: cheap
                        await conn.execute(insert(Task.__table__), rows)
                except Exception:
                    self._pending[:0] = rows  # keep them for the next attempt
                    raise

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="usage-flusher")

    async def stop(self) -> None:
        """Let the flusher finish what it is writing (a cancelled write would keep its
        transaction open), then write what is left."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("could not record usage; will retry")

    async def summary(
        self,
        p: Principal,
        start: date | None = None,
        end: date | None = None,
        *,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        """Tasks per user per day (the organisation's own calls under ``userId: null``).

        A task records its end user, not a workspace: a caller who manages only some
        workspaces (or asks for one, ``workspace_id``) sees the tasks of those workspaces'
        end users; the organisation's own calls (``userId: null``) only an
        organisation-wide caller's unfiltered summary shows."""
        p.require_master()
        if start and end and start > end:
            raise BadRequest("from must not be after to", "invalid_range")
        await self.flush()
        query = (
            select(Task.user_id, Task.day, func.count())
            .where(Task.org_id == p.org_id)
            .group_by(Task.user_id, Task.day)
            .order_by(Task.day, Task.user_id)
        )
        if workspace_id is not None or not p.org_wide:
            managed = [w for w in p.visible_workspaces() or [workspace_id] if p.may(MANAGE, w)]
            if workspace_id is not None:
                managed = [w for w in managed if w == workspace_id]
            users = select(EndUser.id).where(
                EndUser.org_id == p.org_id, EndUser.workspace_id.in_(managed)
            )
            query = query.where(Task.user_id.in_(users))
        if start:
            query = query.where(Task.day >= start.isoformat())
        if end:
            query = query.where(Task.day <= end.isoformat())
        async with self.db.session() as s:
            rows = (await s.execute(query)).all()
        elements = [{"userId": u, "date": d, "tasks": n} for u, d, n in rows]
        return {"elements": elements, "total": sum(e["tasks"] for e in elements)}
