"""Trigger subscriptions (Tray's ``/core/v1/subscriptions``) and what Patchbay adds: the
public intake URL, signing-key rotation, event lists with dead letters, replay and delivery
logs.

A subscription belongs to whoever created it: an end user (user token) or the organisation
(a master token or a member), in a workspace; an end user sees only their own, the others
those of the workspaces they have a role in. Its ``input`` may hold secrets (fields the trigger
marks ``format: password``): it is encrypted at rest and those fields are masked in every
answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import ValidationError
from sqlalchemy import func, select, update

from ...config import Settings
from ...connectors.sdk import ConnectorError, Trigger, TriggerOperation
from ...connectors.sdk.http import HttpClientPool
from ...connectors.sdk.outbound import OutboundBlocked
from ...connectors.sdk.runner import hook_context
from ...connectors.sdk.schema import validation_message
from ...crypto import KeyRing
from ...storage.db import Database
from ...storage.models import DeliveryAttempt, IntakeRequest, Subscription, TriggerEvent, utcnow
from ..connectivity.catalog import Catalog
from ..credentials.ready import Credentials
from ..cursors import paginate
from ..errors import BadRequest, NotFound
from ..identity.principal import Principal
from ..scope import guard, in_visible
from ..signals import Signals
from .signing import KeySet

log = logging.getLogger("patchbay.subscriptions")

MASK = "********"
# The endpoint of a workflow trigger's subscription: its events start runs (services.dispatch).
WORKFLOW_ENDPOINT = "workflow:"
INTAKE_PATH = "/intake/"
EVENT_STATUSES = ("pending", "delivered", "dead", "cancelled")
REPLAYABLE = ("delivered", "dead")


def owner_of(p: Principal) -> list:
    """The filter selecting the subscriptions ``p`` owns."""
    owner = Subscription.user_id == p.user_id if p.user_id else Subscription.user_id.is_(None)
    return [Subscription.org_id == p.org_id, owner]


def principal_of(row: Subscription) -> Principal:
    """The owner of a subscription, acting for it (its hooks, its polls)."""
    return Principal(
        org_id=row.org_id,
        kind="user" if row.user_id else "master",
        token_id="subscription:" + row.id,
        user_id=row.user_id,
        workspace_id=row.workspace_id,
    )


def secret_fields(schema: dict[str, Any]) -> set[str]:
    props = schema.get("properties") or {}
    return {name for name, spec in props.items() if (spec or {}).get("format") == "password"}


def masked(data: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    hidden = secret_fields(schema)
    return {k: (MASK if k in hidden and v is not None else v) for k, v in data.items()}


def error_code_for(exc: BaseException) -> str:
    """Tray's subscription error codes for a failed on_subscribe."""
    if isinstance(exc, TimeoutError):
        return "timeout_error"
    if isinstance(exc, ConnectorError):
        if exc.kind == "timeout":
            return "timeout_error"
        if exc.kind == "auth_error":
            return "oauth_refresh"
        if exc.kind == "connector_error":
            return "user_input_error"
        return "api_error"
    return "internal_error"


@dataclass(frozen=True)
class LiveSubscription:
    """A subscription decrypted and bound to its trigger operation, as intake and the
    workers use it."""

    id: str
    org_id: str
    user_id: str | None
    state: str
    trigger: Trigger
    operation: TriggerOperation
    settings: Any
    trigger_state: dict[str, Any]
    endpoint: str
    keys: KeySet
    authentication_id: str | None


class Subscriptions:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        keyring: KeyRing,
        catalog: Catalog,
        credentials: Credentials,
        clients: HttpClientPool,
        signals: Signals,
    ) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring
        self.catalog = catalog
        self.credentials = credentials
        self.clients = clients
        # Told when a subscription's events or intake URL change, and when events are due.
        self.signals = signals

    # -- shapes -------------------------------------------------------------------------
    def intake_url(self, intake_id: str) -> str:
        return self.settings.effective_public_url + INTAKE_PATH + intake_id

    def to_api(self, row: Subscription, op: TriggerOperation | None = None) -> dict[str, Any]:
        data = self.keyring.decrypt(row.input)
        schema = op.input_schema if op is not None else {}
        body: dict[str, Any] = {
            "id": row.id,
            "name": row.name,
            "trigger": {"name": row.trigger_name, "version": row.trigger_version},
            "operation": row.operation,
            "input": masked(data, schema),
            "endpoint": row.endpoint,
            "state": row.state,
            "createdAt": row.created_at.isoformat(),
        }
        if row.authentication_id:
            body["authenticationId"] = row.authentication_id
        if row.external_id is not None:
            body["externalId"] = row.external_id
        if row.error_code:
            body["error"] = {"code": row.error_code, "message": row.error_message or ""}
        if op is not None and not op.is_polling and row.state != "deleted":
            body["intakeUrl"] = self.intake_url(row.intake_id)
        return body

    def _operation_of(self, row: Subscription) -> TriggerOperation | None:
        trigger = self.catalog.registry.trigger(row.trigger_name, row.trigger_version)
        return trigger.operation(row.operation) if trigger else None

    def live(self, row: Subscription) -> LiveSubscription | None:
        """``row`` decrypted and bound to its trigger (None when the trigger is gone)."""
        trigger = self.catalog.registry.trigger(row.trigger_name, row.trigger_version)
        op = trigger.operation(row.operation) if trigger else None
        if trigger is None or op is None:
            return None
        return LiveSubscription(
            id=row.id,
            org_id=row.org_id,
            user_id=row.user_id,
            state=row.state,
            trigger=trigger,
            operation=op,
            settings=op.parse_settings(self.keyring.decrypt(row.input)),
            trigger_state=self.keyring.decrypt(row.trigger_state) if row.trigger_state else {},
            endpoint=row.endpoint,
            keys=KeySet.from_records(self.keyring.decrypt(row.signing_keys)),
            authentication_id=row.authentication_id,
        )

    # -- create -------------------------------------------------------------------------
    def _check_endpoint(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequest("endpoint must be an absolute http or https URL", "invalid_endpoint")
        host = parts.hostname
        literal = "127.0.0.1" if host == "localhost" else host
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return  # a name: checked against the policy once resolved, at delivery
        try:
            self.clients.policy.check(host, literal)
        except OutboundBlocked as exc:
            raise BadRequest(str(exc), "endpoint_not_allowed") from exc

    async def hook_context(self, row: Subscription, p: Principal, op: TriggerOperation, trigger):
        """A context for ``row``'s hooks with its authentication ready (refreshed if due)."""
        credentials = user_data = refresh = None
        if row.authentication_id:
            ready = await self.credentials.ready_for_call(p, row.authentication_id)
            credentials, user_data, refresh = ready.credentials, ready.user_data, ready.refresh
        return hook_context(
            trigger,
            op,
            clients=self.clients,
            credentials=credentials,
            user_data=user_data,
            auth_id=row.authentication_id,
            refresh=refresh,
            intake_url=self.intake_url(row.intake_id),
        )

    async def create(
        self,
        p: Principal,
        body: dict[str, Any],
        *,
        workflow_id: str | None = None,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        """A subscription (in ``workspace_id``, else the caller's own: see
        ``Principal.target_workspace``); with ``workflow_id``, the one feeding that
        workflow's trigger (its events start runs instead of being POSTed anywhere)."""
        workspace = p.target_workspace(workspace_id)
        trigger = self.catalog.trigger(body["trigger"]["name"], body["trigger"]["version"])
        op = trigger.operation(body["operation"])
        if op is None:
            raise NotFound(
                f"Operation {body['operation']} not found in {trigger.name} {trigger.version}",
                "operation_not_found",
            )
        data = body.get("input") or {}
        errors = op.validator.errors(data)
        if errors:
            raise BadRequest(validation_message(errors), None)
        try:
            settings = op.parse_settings(data)
        except ValidationError as exc:
            problems = [f"#/{'/'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
            raise BadRequest(validation_message(problems), None) from exc
        if workflow_id is None:
            self._check_endpoint(body["endpoint"])
        else:
            body = {**body, "endpoint": WORKFLOW_ENDPOINT + workflow_id}
        auth_id = body.get("authenticationId")
        if auth_id is not None:
            auth = await self.credentials.load(p, auth_id, service=trigger.service.name)
            if auth.workspace_id != workspace:
                raise BadRequest(
                    f"Authentication {auth_id} belongs to another workspace",
                    "authentication_workspace_mismatch",
                )
        elif trigger.requires_auth:
            raise BadRequest(
                f"Trigger {trigger.name} needs an authentication: pass authenticationId",
                "authentication_required",
            )
        now = utcnow()
        keys = KeySet.fresh(now)
        row = Subscription(
            org_id=p.org_id,
            workspace_id=workspace,
            user_id=p.user_id,
            name=body["name"],
            external_id=body.get("externalId"),
            trigger_name=trigger.name,
            trigger_version=trigger.version,
            operation=op.name,
            input=self.keyring.encrypt(data),
            endpoint=body["endpoint"],
            authentication_id=auth_id,
            state="creating",
            signing_keys=self.keyring.encrypt(keys.to_records()),
            intake_id=secrets.token_urlsafe(24),
            created_at=now,
        )
        async with self.db.session() as s:
            s.add(row)
            await s.commit()
        try:
            ctx = await self.hook_context(row, p, op, trigger)
            async with asyncio.timeout(op.timeout):
                kept = await op.subscribe(ctx, settings)
            orjson.dumps(kept)  # the state must be storable
        except Exception as exc:  # the service refused, timed out, or the hook failed
            if not isinstance(exc, ConnectorError | TimeoutError):
                log.exception("on_subscribe of %s/%s failed", trigger.name, op.name)
            message = exc.message if isinstance(exc, ConnectorError) else str(exc)
            if isinstance(exc, TimeoutError):
                message = f"Subscribing did not finish within {op.timeout:g} s"
            row.state, row.error_code = "creation_failed", error_code_for(exc)
            row.error_message = message or exc.__class__.__name__
        else:
            row.state = "active"
            row.trigger_state = self.keyring.encrypt(kept) if kept else None
            if op.is_polling:
                row.next_poll_at = now
        async with self.db.session() as s:
            s.add(row)
            if row.state != "active":  # requests the service sent meanwhile go nowhere
                await s.execute(
                    update(IntakeRequest)
                    .where(IntakeRequest.subscription_id == row.id)
                    .values(status="cancelled", processed_at=utcnow())
                )
            await s.commit()
        self.signals.subscription_changed(row)
        if row.state == "active" and op.is_polling:
            self.signals.events_waiting(None)
        return {**self.to_api(row, op), "signingKey": keys.newest.key}

    # -- read ---------------------------------------------------------------------------
    async def _row(self, s, p: Principal, subscription_id: str) -> Subscription:
        row = await s.scalar(
            select(Subscription).where(Subscription.id == subscription_id, *owner_of(p))
        )
        missing = NotFound("Subscription not found", "subscription_not_found")
        if row is None:
            raise missing
        guard(p, row.workspace_id, missing)
        return row

    async def list(
        self,
        p: Principal,
        first: int | None,
        cursor: str | None,
        *,
        workspace_id: str | None = None,
    ) -> dict[str, Any]:
        query = select(Subscription).where(
            *owner_of(p),
            *in_visible(p, Subscription.workspace_id, workspace_id),
            Subscription.state != "deleted",
            ~Subscription.endpoint.startswith(WORKFLOW_ENDPOINT),  # workflows' own
        )
        async with self.db.session() as s:
            rows, info = await paginate(s, query, Subscription.seq, first, cursor)
        return {"elements": [self.to_api(r, self._operation_of(r)) for r in rows], "pageInfo": info}

    async def get(self, p: Principal, subscription_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            row = await self._row(s, p, subscription_id)
        return self.to_api(row, self._operation_of(row))

    # -- delete -------------------------------------------------------------------------
    async def delete(self, p: Principal, subscription_id: str) -> None:
        """Unregister from the service (best effort: a failure is logged, the subscription
        is deleted all the same and its intake URL answers 410), cancel what was not
        delivered."""
        async with self.db.session() as s:
            row = await self._row(s, p, subscription_id)
        if row.state == "deleted":
            return
        live = self.live(row)
        if row.state == "active" and live is not None:
            try:
                ctx = await self.hook_context(row, p, live.operation, live.trigger)
                async with asyncio.timeout(live.operation.timeout):
                    await live.operation.unsubscribe(ctx, live.settings, live.trigger_state)
            except Exception as exc:
                log.warning(
                    "could not unregister subscription %s from %s: %s",
                    row.id,
                    live.trigger.title,
                    exc.message if isinstance(exc, ConnectorError) else repr(exc),
                )
        now = utcnow()
        async with self.db.session() as s, s.begin():
            await s.execute(
                update(Subscription)
                .where(Subscription.id == row.id)
                .values(state="deleted", deleted_at=now, next_poll_at=None, deliver_after=None)
            )
            await s.execute(
                update(TriggerEvent)
                .where(TriggerEvent.subscription_id == row.id, TriggerEvent.status == "pending")
                .values(status="cancelled", last_error="The subscription was deleted")
            )
            await s.execute(
                update(IntakeRequest)
                .where(IntakeRequest.subscription_id == row.id, IntakeRequest.status == "pending")
                .values(status="cancelled", processed_at=now)
            )
        row.state = "deleted"
        self.signals.subscription_changed(row)

    # -- signing keys -------------------------------------------------------------------
    async def rotate_signing_key(
        self, p: Principal, subscription_id: str, overlap_seconds: float | None
    ) -> dict[str, Any]:
        overlap = (
            self.settings.signing_key_overlap_seconds
            if overlap_seconds is None
            else overlap_seconds
        )
        now = utcnow()
        async with self.db.session() as s:
            row = await self._row(s, p, subscription_id)
            if row.state == "deleted":
                raise NotFound("Subscription not found", "subscription_not_found")
            keys = KeySet.from_records(self.keyring.decrypt(row.signing_keys)).rotated(now, overlap)
            row.signing_keys = self.keyring.encrypt(keys.to_records())
            await s.commit()
        self.signals.subscription_changed(row)
        previous = keys.keys[1]
        return {
            "signingKey": keys.newest.key,
            "previousKeyExpiresAt": previous.expires_at.isoformat()
            if previous.expires_at
            else None,
        }

    # -- events, dead letters, replay, delivery logs -------------------------------------
    @staticmethod
    def event_to_api(event: TriggerEvent, with_payload: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": event.id,
            "status": event.status,
            "attempts": event.attempts,
            "createdAt": event.created_at.isoformat(),
            "nextAttemptAt": event.next_attempt_at.isoformat()
            if event.status == "pending"
            else None,
            "deliveredAt": event.delivered_at.isoformat() if event.delivered_at else None,
            "lastStatusCode": event.last_status,
            "lastError": event.last_error,
        }
        if with_payload:
            body["payload"] = orjson.loads(event.body)
        return body

    @staticmethod
    def attempt_to_api(a: DeliveryAttempt) -> dict[str, Any]:
        return {
            "id": a.id,
            "eventId": a.event_id,
            "attempt": a.attempt,
            "startedAt": a.started_at.isoformat(),
            "statusCode": a.status_code,
            "latencyMs": a.latency_ms,
            "outcome": a.outcome,
            "error": a.error,
        }

    async def events(
        self,
        p: Principal,
        subscription_id: str,
        status: str | None,
        first: int | None,
        cursor: str | None,
    ) -> dict[str, Any]:
        if status is not None and status not in EVENT_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(EVENT_STATUSES)}", "invalid_status")
        async with self.db.session() as s:
            await self._row(s, p, subscription_id)
            query = select(TriggerEvent).where(TriggerEvent.subscription_id == subscription_id)
            if status is not None:
                query = query.where(TriggerEvent.status == status)
            rows, info = await paginate(s, query, TriggerEvent.seq, first, cursor)
        return {"elements": [self.event_to_api(r) for r in rows], "pageInfo": info}

    async def event(self, p: Principal, subscription_id: str, event_id: str) -> dict[str, Any]:
        async with self.db.session() as s:
            await self._row(s, p, subscription_id)
            event = await self._event(s, subscription_id, event_id)
            attempts = (
                await s.scalars(
                    select(DeliveryAttempt)
                    .where(DeliveryAttempt.event_id == event.id)
                    .order_by(DeliveryAttempt.seq)
                )
            ).all()
        return {
            **self.event_to_api(event),
            "deliveries": [self.attempt_to_api(a) for a in attempts],
        }

    @staticmethod
    async def _event(s, subscription_id: str, event_id: str) -> TriggerEvent:
        event = await s.scalar(
            select(TriggerEvent).where(
                TriggerEvent.id == event_id, TriggerEvent.subscription_id == subscription_id
            )
        )
        if event is None:
            raise NotFound("Event not found", "event_not_found")
        return event

    def _requeue(self, now: datetime) -> dict[str, Any]:
        return {
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "deadline_at": now + self._retry_window(),
            "last_error": None,
            "last_status": None,
        }

    def _retry_window(self) -> timedelta:
        return timedelta(hours=self.settings.delivery_retry_hours)

    async def _active_row(self, s, p: Principal, subscription_id: str) -> Subscription:
        row = await self._row(s, p, subscription_id)
        if row.state != "active":
            raise BadRequest(
                f"The subscription is {row.state}: its events cannot be replayed",
                "subscription_not_active",
            )
        return row

    async def replay(self, p: Principal, subscription_id: str, event_id: str) -> dict[str, Any]:
        """Deliver a dead or delivered event again (same event id, same body), in its place
        in the queue."""
        now = utcnow()
        async with self.db.session() as s:
            await self._active_row(s, p, subscription_id)
            event = await self._event(s, subscription_id, event_id)
            if event.status not in REPLAYABLE:
                raise BadRequest(
                    f"The event is {event.status}; only delivered or dead events are replayed",
                    "event_not_replayable",
                )
            for key, value in self._requeue(now).items():
                setattr(event, key, value)
            await self._due_now(s, subscription_id, now)
            await s.commit()
        self.signals.events_waiting(None)
        return self.event_to_api(event)

    async def replay_many(
        self, p: Principal, subscription_id: str, status: str, event_ids: list[str] | None
    ) -> dict[str, Any]:
        """Replay every event of ``status`` (dead letters by default), or the listed ones."""
        if status not in REPLAYABLE:
            raise BadRequest("status must be dead or delivered", "invalid_status")
        now = utcnow()
        async with self.db.session() as s:
            await self._active_row(s, p, subscription_id)
            query = update(TriggerEvent).where(
                TriggerEvent.subscription_id == subscription_id, TriggerEvent.status == status
            )
            if event_ids is not None:
                query = query.where(TriggerEvent.id.in_(event_ids))
            result = await s.execute(query.values(**self._requeue(now)))
            if result.rowcount:
                await self._due_now(s, subscription_id, now)
            await s.commit()
        self.signals.events_waiting(None)
        return {"replayed": result.rowcount}

    @staticmethod
    async def _due_now(s, subscription_id: str, now: datetime) -> None:
        await s.execute(
            update(Subscription).where(Subscription.id == subscription_id).values(deliver_after=now)
        )

    async def deliveries(
        self,
        p: Principal,
        subscription_id: str,
        first: int | None,
        cursor: str | None,
    ) -> dict[str, Any]:
        async with self.db.session() as s:
            await self._row(s, p, subscription_id)
            query = select(DeliveryAttempt).where(
                DeliveryAttempt.subscription_id == subscription_id
            )
            rows, info = await paginate(s, query, DeliveryAttempt.seq, first, cursor)
            counts = dict(
                (
                    await s.execute(
                        select(TriggerEvent.status, func.count())
                        .where(TriggerEvent.subscription_id == subscription_id)
                        .group_by(TriggerEvent.status)
                    )
                ).all()
            )
        return {
            "elements": [self.attempt_to_api(a) for a in rows],
            "pageInfo": info,
            "events": {status: counts.get(status, 0) for status in EVENT_STATUSES},
        }
