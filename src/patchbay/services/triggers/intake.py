"""Event intake: a sender's request to a subscription's public URL is verified, committed,
and only then acknowledged.

The order is what makes intake lossless: the trigger's ``on_request`` runs first (a bad
signature or a malformed body is refused with a 4xx and nothing is stored); the raw request
(method, URL, headers, body) is then written to ``intake_requests`` and the 2xx goes out only
after that transaction committed. A request that could not be committed gets a 503, so the
sender retries. Turning stored requests into events and delivering them happens later, in
the background (:mod:`patchbay.services.triggers.dispatch`).

Writes are group-committed: requests arriving while a transaction is in flight are written
together by the next one, so durability costs one commit per batch instead of one per
request. A redelivery of a request already stored (same dedupe key, e.g. Segment's
``messageId``) is acknowledged without storing it again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from cachetools import LRUCache
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ...connectors.sdk import IncomingRequest, NoTrigger, Reply, TriggerRejected
from ...storage.db import Database
from ...storage.group_commit import GroupCommit
from ...storage.models import IntakeRequest, Subscription, new_id
from ..signals import Signals
from .subscriptions import LiveSubscription, Subscriptions

log = logging.getLogger("patchbay.intake")

ACCEPTS = ("creating", "active")
MAX_DEDUPE_KEY = 255
CACHE_SIZE = 100_000  # intake ids whose subscription lookup is kept for cache_seconds


@dataclass(frozen=True)
class IntakeAnswer:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    code: str | None = None  # for errors
    stored: bool = False


def request_dedupe_key(keys: list[str | None]) -> str | None:
    """One key naming the whole request: its events' keys, when every event has one."""
    if not keys or any(not k for k in keys):
        return None
    joined = "\x1f".join(sorted(k for k in keys if k))
    return joined if len(joined) <= MAX_DEDUPE_KEY else None


class IntakeWriter:
    """Intake rows through the group commit: :meth:`write` returns once the row is durable
    (True) or was a duplicate of a stored one (False); raises when it could not be written."""

    def __init__(self, db: Database) -> None:
        self.committer = GroupCommit(db, "intake-writer")
        table = IntakeRequest.__table__
        dialect = postgresql if not db.is_sqlite else sqlite
        self._statement = dialect.insert(table).on_conflict_do_nothing().returning(table.c.id)

    def start(self) -> None:
        self.committer.start()

    async def stop(self) -> None:
        await self.committer.stop()

    async def write(self, row: dict[str, Any]) -> bool:
        return bool(await self.committer.execute(self._statement, row))


class Intake:
    def __init__(
        self,
        db: Database,
        subscriptions: Subscriptions,
        signals: Signals,
        *,
        cache_seconds: float = 2.0,
    ) -> None:
        self.db = db
        self.subscriptions = subscriptions
        self.signals = signals  # told when a request was stored (events are waiting)
        self.cache_seconds = cache_seconds
        self.writer = IntakeWriter(db)
        # intake id -> (live subscription or None, cached until); least recently used go first
        self._cache: LRUCache[str, tuple[LiveSubscription | None, float]] = LRUCache(CACHE_SIZE)
        self._window_start = 0.0
        self._window_count = 0
        self._last_rate = 0.0

    def start(self) -> None:
        self.writer.start()

    async def stop(self) -> None:
        await self.writer.stop()

    def forget(self, intake_id: str | None = None) -> None:
        if intake_id is None:
            self._cache.clear()
        else:
            self._cache.pop(intake_id, None)

    async def _subscription(self, intake_id: str) -> LiveSubscription | None:
        now = time.monotonic()
        try:
            live, until = self._cache[intake_id]
        except KeyError:
            until = 0.0
        if until > now:
            return live
        async with self.db.session() as s:
            row = await s.scalar(select(Subscription).where(Subscription.intake_id == intake_id))
        live = self.subscriptions.live(row) if row is not None else None
        self._cache[intake_id] = (live, now + self.cache_seconds)
        return live

    def rate(self) -> float:
        """Requests per second this process received lately (over ~0.1 s windows)."""
        if time.monotonic() - self._window_start > 0.2:
            return 0.0
        return self._last_rate

    def _count(self) -> None:
        now = time.monotonic()
        self._window_count += 1
        elapsed = now - self._window_start
        if elapsed >= 0.1:
            self._last_rate = self._window_count / elapsed if elapsed < 0.2 else 0.0
            self._window_start, self._window_count = now, 0

    async def receive(self, intake_id: str, request: IncomingRequest) -> IntakeAnswer:
        """Verify, store, acknowledge (see the module docstring)."""
        self._count()
        sub = await self._subscription(intake_id)
        if sub is None:
            return error(404, "No subscription receives events at this URL", "not_found")
        if sub.state not in ACCEPTS:
            return error(410, f"The subscription is {sub.state.replace('_', ' ')}", "gone")
        op = sub.operation
        try:
            result = await op.receive(request, sub.settings, sub.trigger_state)
        except TriggerRejected as exc:
            return error(exc.status, exc.message, exc.code)
        stored = False
        if not isinstance(result, NoTrigger) and result:
            row = {
                "id": new_id(),
                "subscription_id": sub.id,
                "received_at": request.received_at,
                "method": request.method,
                "url": request.url,
                "path": request.path,
                "query": _query_string(request),
                "headers": [list(h) for h in request.headers],
                "body": request.body,
                "dedupe_key": request_dedupe_key([op.key_for(e) for e in result]),
                "status": "pending",
            }
            try:
                stored = await self.writer.write(row)
            except Exception:
                return error(
                    503,
                    "The event could not be stored; send it again",
                    "intake_unavailable",
                    retry_after=1,
                )
            if stored:
                self.signals.events_waiting(sub.id)
        reply: Reply = op.answer(request, sub.settings, sub.trigger_state, result)
        return IntakeAnswer(reply.status, reply.body, reply.headers, stored=stored)


def _query_string(request: IncomingRequest) -> str:
    return urlencode(list(request.query))


def error(
    status: int, message: str, code: str | None, *, retry_after: int | None = None
) -> IntakeAnswer:
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    if retry_after is not None:
        headers += (("Retry-After", str(retry_after)),)
    return IntakeAnswer(
        status, orjson.dumps({"message": message, "code": code}), headers, code=code
    )
