"""Group commit: many small writes from concurrent tasks share one transaction.

A task calls :meth:`GroupCommit.execute` with a statement and its parameters and gets its
answer once the transaction holding its write has committed (durable), or the exception
that made the transaction fail. Writes queued while a transaction is in flight go in the
next one, so under load the cost of a commit (an fsync on PostgreSQL, the write lock on
SQLite) is paid once per batch instead of once per write. Writes of the same statement are
executed together (executemany, which SQLAlchemy turns into multi-row statements), in the
order their statement first appeared in the batch.

The answer of a statement with ``RETURNING`` (an ``INSERT ... ON CONFLICT DO NOTHING
RETURNING id``) is whether the row's ``id`` came back (stored, not a duplicate); of any
other statement, ``None``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .db import Database

log = logging.getLogger("patchbay.storage")

MAX_BATCH = 500  # units per transaction


class GroupCommit:
    def __init__(self, db: Database, name: str = "group-commit") -> None:
        self.db = db
        self.name = name
        # Units of writes that commit together, each with the future of its answers.
        self._queue: list[tuple[list[tuple[Any, dict[str, Any]]], asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop (a transaction is never cut off midway: its
        driver call would outlive the event loop)."""
        if self._task is not None:
            self._closing = True
            self._wake.set()
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        self._fail(self._queue, RuntimeError("Patchbay is shutting down"))
        self._queue.clear()

    async def execute(self, statement: Any, params: dict[str, Any]) -> Any:
        return (await self.execute_many([(statement, params)]))[0]

    async def execute_many(self, writes: list[tuple[Any, dict[str, Any]]]) -> list[Any]:
        """Several writes committed in the same transaction (all or none)."""
        if self._task is None or self._task.done():
            raise RuntimeError(f"{self.name} is not running")
        if not writes:
            return []
        future = asyncio.get_running_loop().create_future()
        self._queue.append((writes, future))
        self._wake.set()
        return await future

    @staticmethod
    def _fail(units, exc: BaseException) -> None:
        for _writes, future in units:
            if not future.done():
                future.set_exception(exc)

    async def _run(self) -> None:
        while not (self._closing and not self._queue):
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    answers = await self._commit(batch)
                except asyncio.CancelledError:
                    self._fail(batch, RuntimeError("Patchbay is shutting down"))
                    raise
                except Exception as exc:
                    log.exception("%s: a batch of %d write(s) failed", self.name, len(batch))
                    self._fail(batch, exc)
                    continue
                for (_writes, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
            if self._closing:
                return

    async def _commit(self, batch) -> list[list[Any]]:
        """One transaction for the batch; each unit's answers, in its order."""
        groups: dict[int, tuple[Any, list[tuple[int, int]]]] = {}
        answers: list[list[Any]] = []
        for u, (writes, _future) in enumerate(batch):
            answers.append([None] * len(writes))
            for w, (statement, _params) in enumerate(writes):
                groups.setdefault(id(statement), (statement, []))[1].append((u, w))
        async with self.db.engine.begin() as conn:
            for statement, places in groups.values():
                rows = [batch[u][0][w][1] for u, w in places]
                result = await conn.execute(statement, rows)
                if result.returns_rows:
                    stored = {r[0] for r in result}
                    for u, w in places:
                        answers[u][w] = batch[u][0][w][1].get("id") in stored
        return answers


async def wind_down(task: asyncio.Task | None, timeout: float = 5.0) -> None:
    """Let a background loop that was told to stop finish what it is doing (a database call
    cancelled midway would complete on its driver thread after the event loop is gone);
    cancel it only if it does not end in time."""
    if task is None:
        return
    try:
        async with asyncio.timeout(timeout):
            await asyncio.shield(task)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except asyncio.CancelledError:
        if not task.done():
            raise
