"""The background worker of triggers: it turns stored intake requests into events, polls
polling triggers, and delivers events to subscribers, in order, with retries.

Every server process runs one :class:`Dispatcher`. Work is found in the database (so
nothing is lost with a process) and taken one *subscription* at a time under a lease
(``subscriptions.lease_owner/lease_until``): whoever holds it processes that subscription's
requests and delivers its events head first, so events reach the endpoint in the order they
arrived even with several processes. A lease that is not renewed (the process died) expires
after ``worker_lease_seconds`` and another worker takes over.

Each step is one transaction: a batch of requests becomes events (deduplicated by the
trigger's key), billed as one task each; a poll stores its events with its new cursor; an
attempt's outcome is stored with its delivery log. Delivery is at least once: a process
killed after the endpoint answered but before the outcome was stored delivers that event
again, with the same ``x-patchbay-event-id`` for the receiver to drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import exists, func, or_, select, union, update
from sqlalchemy.dialects import postgresql, sqlite

from ...backoff import Backoff
from ...config import Settings
from ...connectors.sdk import ConnectorError, IncomingRequest, NoTrigger, TriggerRejected
from ...storage.db import Database
from ...storage.leases import Leases
from ...storage.models import (
    DeliveryAttempt,
    IntakeRequest,
    Subscription,
    Task,
    TriggerEvent,
    new_id,
    utcnow,
)
from ..polling_loop import PollingLoop, cancel_all
from .delivery import AttemptResult, Deliverer
from .retention import prune
from .signing import KeySet
from .subscriptions import WORKFLOW_ENDPOINT, LiveSubscription, Subscriptions, principal_of

log = logging.getLogger("patchbay.dispatch")

REQUEST_BATCH = 100
MIN_SCAN_INTERVAL = 0.01
PRUNE_INTERVAL = 3600.0  # seconds between two sweeps of old records (one at start)
BUSY_INTAKE_RATE = 300.0  # requests/s through this process's intake: a burst
BUSY_DELIVERY_SHARE = 0.3
EVENT_BATCH = 100


async def _no_workflows(workflow_id: str, event_id: str, data: Any) -> None:
    raise RuntimeError("workflows are not wired to this dispatcher")


class LeaseLost(Exception):
    """Another worker holds the subscription now (ours expired)."""


def _request_of(row: IntakeRequest) -> IncomingRequest:
    return IncomingRequest.build(
        row.method,
        row.path,
        query=row.query,
        headers=[(k, v) for k, v in row.headers],
        body=row.body,
        received_at=row.received_at,
        url=row.url,
    )


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        subscriptions: Subscriptions,
        deliverer: Deliverer,
        *,
        intake_rate: Callable[[], float] = lambda: 0.0,
        start_run: Callable[[str, str, Any], Awaitable[Any]] = _no_workflows,
    ) -> None:
        self.settings = settings
        self.db = db
        self.subscriptions = subscriptions
        self.deliverer = deliverer
        # Requests/s through this process's intake (a burst: see _yield_to_intake), and how
        # to start a workflow's run for an event of its trigger (``workflow:<id>``).
        self.intake_rate = intake_rate
        self.start_run = start_run
        self.backoff = Backoff(
            settings.delivery_backoff_seconds, settings.delivery_backoff_max_seconds
        )
        self.owner = secrets.token_hex(8)
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self.leases = Leases(Subscription, self.owner, settings.worker_lease_seconds)
        events = TriggerEvent.__table__
        insert = sqlite.insert if db.is_sqlite else postgresql.insert
        self._insert_events = insert(events).on_conflict_do_nothing().returning(events.c.id)
        self._loop = PollingLoop(
            "dispatcher",
            self._round,
            poll_seconds=settings.worker_poll_seconds,
            min_interval=MIN_SCAN_INTERVAL,
        )
        self._running: dict[str, asyncio.Task] = {}
        self._failed: set[str] = set()
        self._next_prune = 0.0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await cancel_all(self._running)

    @property
    def _stopping(self) -> bool:
        return self._loop.stopping

    def wake(self, subscription_id: str | None = None) -> None:
        """Look for work now (a pump already serving ``subscription_id`` will see it)."""
        if subscription_id is None or subscription_id not in self._running:
            self._loop.wake()

    async def _prune_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL
        cutoff = utcnow() - timedelta(days=self.settings.event_retention_days)
        pruned = await prune(self.db, cutoff)
        if pruned.requests or pruned.events:
            log.info(
                "pruned %d request(s), %d event(s), %d delivery log(s) older than %s",
                pruned.requests,
                pruned.events,
                pruned.attempts,
                cutoff.isoformat(),
            )

    async def _round(self) -> None:
        await self.scan()
        await self._prune_if_due()

    async def scan(self) -> None:
        """Start a pump for every subscription with work that nobody serves."""
        room = self.settings.worker_concurrency - len(self._running)
        if room <= 0:
            return
        now = utcnow()
        work = union(
            select(IntakeRequest.subscription_id.label("id"))
            .join(Subscription, Subscription.id == IntakeRequest.subscription_id)
            .where(IntakeRequest.status == "pending", Subscription.state == "active")
            .distinct(),
            select(Subscription.id.label("id")).where(
                Subscription.state == "active",
                or_(Subscription.deliver_after <= now, Subscription.next_poll_at <= now),
            ),
        ).subquery()
        query = (
            select(Subscription.id)
            .where(
                Subscription.id.in_(select(work.c.id)),
                self.leases.free(now),
            )
            .limit(room + len(self._running))
        )
        async with self.db.session() as s:
            candidates = [i for i in (await s.scalars(query)).all() if i not in self._running]
        for subscription_id in candidates[:room]:
            if await self._claim(subscription_id):
                task = asyncio.create_task(self._pump(subscription_id), name="pump")
                self._running[subscription_id] = task
                task.add_done_callback(lambda _t, sid=subscription_id: self._done(sid))

    def _done(self, subscription_id: str) -> None:
        self._running.pop(subscription_id, None)
        failed = subscription_id in self._failed
        self._failed.discard(subscription_id)
        if not self._stopping and not failed:
            self._loop.wake()  # work may have arrived while the pump was finishing

    # -- leases -------------------------------------------------------------------------
    async def _claim(self, subscription_id: str) -> bool:
        now = utcnow()
        async with self.db.session() as s, s.begin():
            result = await s.execute(self.leases.claim(now, Subscription.id == subscription_id))
        return result.rowcount == 1

    async def _renew(self, subscription_id: str) -> datetime:
        now = utcnow()
        async with self.db.session() as s, s.begin():
            result = await s.execute(self.leases.renew(now, Subscription.id == subscription_id))
        if result.rowcount != 1:
            raise LeaseLost(subscription_id)
        return now + self.lease

    async def _release(self, subscription_id: str) -> None:
        async with self.db.session() as s, s.begin():
            await s.execute(self.leases.release(Subscription.id == subscription_id))

    # -- one subscription ----------------------------------------------------------------
    async def _pump(self, subscription_id: str) -> None:
        try:
            async with self.db.session() as s:
                row = await s.scalar(select(Subscription).where(Subscription.id == subscription_id))
            live = self.subscriptions.live(row) if row is not None else None
            if live is None or row.state != "active":
                return
            lease_until = utcnow() + self.lease
            while not self._stopping:
                if lease_until - utcnow() < self.lease / 2:
                    lease_until = await self._renew(subscription_id)
                progressed = await self._process(live)
                if live.operation.is_polling:
                    progressed |= await self._poll_if_due(live, row)
                progressed |= await self._deliver(live, lease_until)
                if not progressed:
                    return
        except LeaseLost:
            log.warning("lost the lease of subscription %s", subscription_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker failed on subscription %s", subscription_id)
            self._failed.add(subscription_id)  # retried by the next periodic scan
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._release(subscription_id))

    # -- requests -> events ---------------------------------------------------------------
    async def _process(self, sub: LiveSubscription) -> bool:
        async with self.db.session() as s:
            requests = (
                await s.scalars(
                    select(IntakeRequest)
                    .where(
                        IntakeRequest.subscription_id == sub.id,
                        IntakeRequest.status == "pending",
                    )
                    .order_by(IntakeRequest.seq)
                    .limit(REQUEST_BATCH)
                )
            ).all()
        if not requests:
            return False
        op = sub.operation
        events: list[dict[str, Any]] = []
        outcomes: dict[str, tuple[str, str | None]] = {}
        now = utcnow()
        deadline = now + timedelta(hours=self.settings.delivery_retry_hours)
        for n, request in enumerate(requests, 1):
            if n % 20 == 0:
                await asyncio.sleep(0)  # let intake answer meanwhile: it comes first
            try:
                result = await op.receive(_request_of(request), sub.settings, sub.trigger_state)
            except TriggerRejected as exc:  # accepted at intake: the state changed since
                outcomes[request.id] = ("failed", exc.message)
                continue
            except Exception as exc:
                log.exception("on_request failed for a stored request of %s", sub.id)
                outcomes[request.id] = ("failed", f"{exc.__class__.__name__}: {exc}")
                continue
            outcomes[request.id] = ("processed", None)
            if isinstance(result, NoTrigger):
                continue
            for event in result:
                events.append(self._event_row(sub, event, request.id, now, deadline))
        await self._store_events(sub, events, now, outcomes)
        return True

    def _event_row(self, sub, event, request_id, now, deadline) -> dict[str, Any]:
        op = sub.operation
        try:
            data = op.shape(event.data)
        except Exception as exc:  # the trigger produced data its own schema refuses
            log.warning("event of %s does not match its output schema: %s", op.name, exc)
            data = event.data
        key = op.key_for(event)
        return {
            "id": new_id(),
            "org_id": sub.org_id,
            "subscription_id": sub.id,
            "request_id": request_id,
            "dedupe_key": key[:255] if key else None,
            "body": orjson.dumps(data).decode(),
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": now,
            "deadline_at": deadline,
        }

    async def _store_events(
        self,
        sub: LiveSubscription,
        events: list[dict[str, Any]],
        now: datetime,
        outcomes: dict[str, tuple[str, str | None]] | None = None,
        poll: dict[str, Any] | None = None,
    ) -> int:
        """One transaction: the events (duplicates dropped), a task each, the requests'
        outcomes or the poll's cursor, and the subscription marked as having work."""
        async with self.db.engine.begin() as conn:
            inserted: list[str] = []
            if events:  # one cached statement, many rows: the new ones come back
                result = await conn.execute(self._insert_events, events)
                inserted = [r[0] for r in result]
            if inserted:
                day = now.date().isoformat()
                await conn.execute(
                    Task.__table__.insert(),
                    [
                        {
                            "org_id": sub.org_id,
                            "user_id": sub.user_id,
                            "source": "trigger",
                            "connector": sub.trigger.name,
                            "connector_version": sub.trigger.version,
                            "operation": sub.operation.name,
                            "outcome": "success",
                            "day": day,
                            "created_at": now,
                        }
                        for _ in inserted
                    ],
                )
            for status in ("processed", "failed"):
                for error in {e for s, e in (outcomes or {}).values() if s == status}:
                    ids = [i for i, (s, e) in outcomes.items() if s == status and e == error]
                    await conn.execute(
                        update(IntakeRequest)
                        .where(IntakeRequest.id.in_(ids))
                        .values(status=status, error=error, processed_at=now)
                    )
            values: dict[str, Any] = dict(poll or {})
            if inserted:
                values["deliver_after"] = func.coalesce(Subscription.deliver_after, now)
            if values:
                await conn.execute(
                    update(Subscription).where(Subscription.id == sub.id).values(**values)
                )
        return len(inserted)

    # -- polling --------------------------------------------------------------------------
    async def _poll_if_due(self, sub: LiveSubscription, row: Subscription) -> bool:
        now = utcnow()
        async with self.db.session() as s:
            current = await s.scalar(select(Subscription).where(Subscription.id == sub.id))
        if current is None or current.next_poll_at is None or current.next_poll_at > now:
            return False
        op = sub.operation
        cursor = orjson.loads(current.poll_cursor) if current.poll_cursor else None
        try:
            ctx = await self.subscriptions.hook_context(
                current, principal_of(current), op, sub.trigger
            )
            async with asyncio.timeout(op.timeout):
                events, new_cursor = await op.poll(ctx, sub.settings, cursor)
        except Exception as exc:
            message = exc.message if isinstance(exc, ConnectorError) else repr(exc)
            log.warning("poll of subscription %s failed: %s", sub.id, message)
            retry_at = op.next_poll_at(sub.settings, cursor, now)
            await self._store_events(sub, [], now, poll={"next_poll_at": retry_at})
            return False
        deadline = now + timedelta(hours=self.settings.delivery_retry_hours)
        rows = [self._event_row(sub, e, None, now, deadline) for e in events]
        await self._store_events(
            sub,
            rows,
            now,
            poll={
                "poll_cursor": orjson.dumps(new_cursor).decode()
                if new_cursor is not None
                else None,
                "next_poll_at": op.next_poll_at(sub.settings, new_cursor, utcnow()),
            },
        )
        return bool(rows)

    # -- delivery ---------------------------------------------------------------------------
    async def _deliver(self, sub: LiveSubscription, lease_until: datetime) -> bool:
        """Deliver the due head of the queue, and what follows while it goes well."""
        async with self.db.session() as s:
            keys_row = await s.scalar(
                select(Subscription.signing_keys).where(Subscription.id == sub.id)
            )
            queue = (
                await s.scalars(
                    select(TriggerEvent)
                    .where(TriggerEvent.subscription_id == sub.id, TriggerEvent.status == "pending")
                    .order_by(TriggerEvent.seq)
                    .limit(EVENT_BATCH)
                )
            ).all()
        if not queue:
            await self._queue_drained(sub.id)
            return False
        keys = KeySet.from_records(self.subscriptions.keyring.decrypt(keys_row))
        progressed = False
        for event in queue:
            now = utcnow()
            if event.next_attempt_at > now:
                await self._set_deliver_after(sub.id, event.next_attempt_at)
                return progressed
            if lease_until - now < self.lease / 4:
                return True  # renew first (the pump loops)
            started = time.perf_counter()
            await self._attempt(sub, keys, event)
            await self._yield_to_intake(time.perf_counter() - started)
            progressed = True
            if event.status == "pending":  # failed, will be retried: the queue waits
                await self._set_deliver_after(sub.id, event.next_attempt_at)
                return progressed
        return progressed

    async def _start_run(self, workflow_id: str, event: TriggerEvent) -> AttemptResult:
        started = time.perf_counter()
        try:
            await self.start_run(workflow_id, event.id, orjson.loads(event.body))
        except Exception as exc:
            log.exception("could not start a run of workflow %s", workflow_id)
            elapsed = round((time.perf_counter() - started) * 1000, 3)
            return AttemptResult(False, True, None, elapsed, f"Could not start the run: {exc}")
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        return AttemptResult(True, False, None, elapsed)

    async def _yield_to_intake(self, spent: float) -> None:
        """Intake comes first: while this process receives a burst, deliveries take at most
        ``BUSY_DELIVERY_SHARE`` of the time and catch up once it is over (events wait
        safely in the database; senders must be answered fast)."""
        if self.intake_rate() >= BUSY_INTAKE_RATE:
            await asyncio.sleep(spent * (1 - BUSY_DELIVERY_SHARE) / BUSY_DELIVERY_SHARE)

    async def _attempt(self, sub: LiveSubscription, keys, event: TriggerEvent) -> None:
        now = utcnow()
        body = event.body.encode()
        attempt = event.attempts + 1
        headers = self.deliverer.headers(
            event_id=event.id, subscription_id=sub.id, attempt=attempt, now=now
        )
        headers.update(keys.headers(body, now))
        if sub.endpoint.startswith(WORKFLOW_ENDPOINT):  # a workflow's trigger: start its run
            result = await self._start_run(sub.endpoint[len(WORKFLOW_ENDPOINT) :], event)
        else:
            result = await self.deliverer.post(sub.endpoint, body, headers)
        finished = utcnow()
        if result.delivered:
            outcome, values = "delivered", {"status": "delivered", "delivered_at": finished}
        elif result.retryable and finished < event.deadline_at:
            delay = self.backoff.delay(attempt, result.retry_after)
            retry_at = min(finished + timedelta(seconds=delay), event.deadline_at)
            outcome, values = "retry", {"next_attempt_at": retry_at}
        else:
            outcome, values = "dead", {"status": "dead"}
        values.update(attempts=attempt, last_status=result.status_code, last_error=result.error)
        async with self.db.engine.begin() as conn:  # Core: this runs once per delivery
            await conn.execute(
                update(TriggerEvent.__table__)
                .where(TriggerEvent.__table__.c.id == event.id)
                .values(**values)
            )
            await conn.execute(
                DeliveryAttempt.__table__.insert().values(
                    id=new_id(),
                    event_id=event.id,
                    subscription_id=sub.id,
                    attempt=attempt,
                    started_at=now,
                    status_code=result.status_code,
                    latency_ms=result.latency_ms,
                    outcome=outcome,
                    error=result.error,
                )
            )
        for key, value in values.items():
            setattr(event, key, value)

    async def _queue_drained(self, subscription_id: str) -> None:
        """Nothing left to deliver, unless an event was queued (a replay) meanwhile."""
        pending = exists().where(
            TriggerEvent.subscription_id == subscription_id, TriggerEvent.status == "pending"
        )
        async with self.db.session() as s, s.begin():
            # Lock the row first: a replay updates the event, then this row, then commits.
            # Without the lock, PostgreSQL could check ``pending`` on a snapshot taken
            # before the replay committed and clear its deliver_after (a lost wake-up).
            await s.execute(
                select(Subscription.id).where(Subscription.id == subscription_id).with_for_update()
            )
            await s.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id, ~pending)
                .values(deliver_after=None)
            )

    async def _set_deliver_after(self, subscription_id: str, when: datetime | None) -> None:
        async with self.db.session() as s, s.begin():
            await s.execute(
                update(Subscription)
                .where(Subscription.id == subscription_id)
                .values(deliver_after=when)
            )
