"""The audit log's recorder and its listing.

Recording costs a request nothing but appending a row to a list: a background task writes
the rows in batches (at most ``flush_interval`` late), ``stop`` writes what is left (a clean
shutdown loses nothing), and every listing writes first (what was just done is listed).
When the database refuses the rows they are kept and retried, backing off, up to
``max_pending`` of them (past that the oldest are dropped, and the log says how many).

An event never holds a secret: the middleware gives only who, the route's action and
template, the resource's id, the workspace, the address and the status. Strings are cut to
their columns' lengths (PostgreSQL would refuse the whole batch otherwise)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from ...storage.db import Database
from ...storage.models import AuditEvent, new_id, utcnow
from ..cursors import decode_cursor, encode_cursor, page_size
from ..errors import BadRequest
from ..identity.principal import MANAGE, Principal
from .retention import prune

log = logging.getLogger("patchbay.audit")

ACTOR_TYPES = ("member", "master_token", "user_token", "personal_token", "anonymous")
# Column lengths (storage/models.py AuditEvent).
_LIMITS = {
    "actor_id": 36,
    "actor_label": 320,
    "action": 200,
    "resource_type": 64,
    "resource_id": 255,
    "ip": 64,
    "workspace_id": 36,
    "org_id": 36,
}
MAX_BACKOFF = 30.0


class RecorderClosed(RuntimeError):
    """``record`` after ``stop``: the event cannot be written any more."""


def _cut(row: dict[str, Any]) -> dict[str, Any]:
    for key, limit in _LIMITS.items():
        value = row.get(key)
        if isinstance(value, str) and len(value) > limit:
            row[key] = value[:limit]
    return row


def event_to_api(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "createdAt": e.created_at.isoformat(),
        "actor": {"type": e.actor_type, "id": e.actor_id, "label": e.actor_label},
        "action": e.action,
        "resourceType": e.resource_type,
        "resourceId": e.resource_id,
        "workspaceId": e.workspace_id,
        "ip": e.ip,
        "statusCode": e.status_code,
        "details": e.details or {},
    }


def _instant(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or date-time (without a zone: UTC); 400 ``invalid_date``."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            f"{name} must be an ISO 8601 date-time (e.g. 2026-01-31T12:00:00Z)", "invalid_date"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class AuditLog:
    def __init__(
        self,
        db: Database,
        *,
        retention_days: float = 365.0,
        prune_every: float | None = 3600.0,
        flush_interval: float = 0.2,
        batch: int = 500,
        max_pending: int = 100_000,
    ) -> None:
        self.db = db
        self.retention_days = retention_days
        self.prune_every = prune_every  # None: this process does not prune
        self.flush_interval = flush_interval
        self.batch = batch
        self.max_pending = max_pending
        self._pending: list[dict[str, Any]] = []
        self._dropped = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._closed = False
        self._next_prune = 0.0

    # -- recording ------------------------------------------------------------------------
    def record(
        self,
        *,
        org_id: str,
        actor_type: str,
        action: str,
        actor_id: str | None = None,
        actor_label: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        workspace_id: str | None = None,
        status_code: int | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Queue one event, stamped now (written shortly after)."""
        if self._closed:
            raise RecorderClosed("The audit log is closed")
        if actor_type not in ACTOR_TYPES:
            raise ValueError(f"unknown actor type {actor_type!r}")
        self._pending.append(
            _cut(
                {
                    "id": new_id(),
                    "org_id": org_id,
                    "workspace_id": workspace_id,
                    "actor_type": actor_type,
                    "actor_id": actor_id,
                    "actor_label": actor_label,
                    "action": action,
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "status_code": status_code,
                    "ip": ip,
                    "details": details or {},
                    "created_at": utcnow(),
                }
            )
        )
        if len(self._pending) > self.max_pending:
            excess = len(self._pending) - self.max_pending
            del self._pending[:excess]
            self._dropped += excess
        if len(self._pending) >= self.batch:
            self._wake.set()

    async def flush(self) -> None:
        """Write every queued event; on failure they stay queued and the error is raised."""
        async with self._lock:
            if self._dropped:
                log.error(
                    "audit log: %d event(s) dropped: the database refused them for too long",
                    self._dropped,
                )
                self._dropped = 0
            while self._pending:
                rows, self._pending = self._pending[: self.batch], self._pending[self.batch :]
                try:
                    async with self.db.engine.begin() as conn:  # Core executemany: cheap
                        await conn.execute(insert(AuditEvent.__table__), rows)
                except BaseException:
                    self._pending[:0] = rows  # kept for the next attempt
                    raise

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._closed = False
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        """Let the writer finish its batch, then write what is left; ``record`` refuses
        from now on."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        self._closed = True
        try:
            await self.flush()
        except Exception as exc:
            log.error(
                "audit log: %d event(s) could not be written at shutdown (%s)",
                len(self._pending),
                _reason(exc),
            )

    async def _run(self) -> None:
        delay = self.flush_interval
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
                delay = self.flush_interval
            except Exception as exc:
                delay = min(max(delay, 0.5) * 2, MAX_BACKOFF)
                log.error(
                    "audit log: could not write %d event(s) (%s); retrying in %gs",
                    len(self._pending),
                    _reason(exc),
                    delay,
                )
            await self._prune_if_due()

    # -- retention ------------------------------------------------------------------------
    async def _prune_if_due(self) -> None:
        if self.prune_every is None or self._stopping:
            return
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + self.prune_every
        try:
            removed = await self.prune()
        except Exception as exc:
            log.error("audit log: pruning failed (%s)", _reason(exc))
            return
        if removed:
            log.info(
                "audit log: pruned %d event(s) older than %g days", removed, self.retention_days
            )

    async def prune(self) -> int:
        """Delete the events older than the retention; how many went."""
        cutoff = utcnow() - timedelta(days=self.retention_days)
        return await prune(self.db, cutoff, lambda: self._stopping)

    # -- listing --------------------------------------------------------------------------
    async def list(
        self,
        p: Principal,
        *,
        actor: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
        workspace_id: str | None = None,
        start: str | None = None,
        end: str | None = None,
        first: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The organisation's events, newest first; ``start`` inclusive, ``end`` exclusive
        (ISO 8601); ``actor`` is a member's id or a token's id."""
        p.require_org(MANAGE)
        size = page_size(first)
        after, before = _instant(start, "from"), _instant(end, "to")
        if after and before and after > before:
            raise BadRequest("from must not be after to", "invalid_range")
        query = select(AuditEvent).where(AuditEvent.org_id == p.org_id)
        if cursor:
            query = query.where(AuditEvent.seq < decode_cursor(cursor))
        for column, value in (
            (AuditEvent.actor_id, actor),
            (AuditEvent.resource_type, resource_type),
            (AuditEvent.resource_id, resource_id),
            (AuditEvent.workspace_id, workspace_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if after:
            query = query.where(AuditEvent.created_at >= after)
        if before:
            query = query.where(AuditEvent.created_at < before)
        try:
            await self.flush()  # what was just done is listed
        except Exception as exc:
            log.error("audit log: could not write queued events (%s)", _reason(exc))
        async with self.db.session() as s:
            rows = list(
                (await s.scalars(query.order_by(AuditEvent.seq.desc()).limit(size + 1))).all()
            )
        has_next = len(rows) > size
        rows = rows[:size]
        info = {
            "startCursor": encode_cursor(rows[0].seq) if rows else None,
            "endCursor": encode_cursor(rows[-1].seq) if rows else None,
            "hasNextPage": has_next,
            "hasPreviousPage": bool(cursor),
        }
        return {"elements": [event_to_api(e) for e in rows], "pageInfo": info}


def _reason(exc: BaseException) -> str:
    """What went wrong, without the statement's parameters (a database error's text lists
    them): the error's type and the driver's own message."""
    orig = getattr(exc, "orig", None)
    if orig is not None:
        first = (str(orig).splitlines() or [""])[0][:200]
        return f"{type(orig).__name__}: {first}"
    return type(exc).__name__
