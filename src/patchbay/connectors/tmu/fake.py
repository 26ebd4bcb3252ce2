"""An emulator of the TMU Platform API (see ``API.md`` beside this file), for tests and demos.

No public TMU API exists: Patchbay defines the contract in ``API.md`` and this module is its
reference implementation. Everything lives in memory: users and their API tokens, calls and
their lifecycle (scheduled -> live -> ended), invitees, chat messages and webhooks. Webhook
deliveries are real: signed (``X-TMU-Signature: sha256=<hex HMAC-SHA256(secret, body)>``)
JSON POSTs sent with httpx from a background thread, so answering the API request never
waits for a receiver.

    state = FakeTMU()
    with serve_in_thread(create_app(state)) as url:
        ...  # base_url = url + "/v1", token = FakeTMU.alice_token

Standalone: ``patchbay fake tmu --port 9000``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

JSONDict = dict[str, Any]

EVENTS = ("call.started", "call.stopped", "chat.message_received")
CALL_STATUSES = ("scheduled", "live", "ended")
INVITEE_STATUSES = ("invited", "accepted", "declined")
RECORDING_MODES = ("off", "manual", "automatic")
DEFAULT_RULES: JSONDict = {
    "mute_on_entry": False,
    "allow_guests": False,
    "recording": "off",
    "waiting_room": False,
    "max_participants": 100,
}
MAX_PARTICIPANTS = 1000
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_SUBJECT = 200
MAX_DESCRIPTION = 5000
MAX_TEXT = 4000
MAX_WEBHOOKS_PER_USER = 20
RATE_LIMIT_PER_MINUTE = 600  # documented; the emulator only limits through its knobs

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def rfc3339(moment: datetime, zone: str | None = None) -> str:
    """An RFC 3339 timestamp, to the second: in ``zone`` with its offset, else UTC as Z."""
    if zone is not None:
        return moment.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def sign(secret: str, body: bytes) -> str:
    """The ``X-TMU-Signature`` value of a delivery body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class TMUError(Exception):
    """An API error: ``{"error": {"code", "message"[, "field"]}}`` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> JSONDict:
        error: JSONDict = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def _invalid(field: str, message: str, code: str = "validation_error") -> TMUError:
    return TMUError(422, code, message, field=field)


# -- the resources ------------------------------------------------------------------------


@dataclass
class User:
    id: str
    email: str
    name: str
    time_zone: str = "UTC"
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))

    def to_api(self) -> JSONDict:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "time_zone": self.time_zone,
            "created_at": rfc3339(self.created_at),
        }


@dataclass
class Invitee:
    email: str
    status: str = "invited"


@dataclass
class Call:
    id: str
    seq: int
    subject: str
    description: str
    status: str
    start_time: datetime
    time_zone: str
    host_id: str
    invitees: list[Invitee]
    rules: JSONDict
    join_url: str
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def sort_key(self) -> tuple[int, int]:
        return int(self.start_time.timestamp()), self.seq


@dataclass
class Message:
    id: str
    seq: int
    call_id: str
    sender_id: str
    text: str
    created_at: datetime


@dataclass
class Webhook:
    id: str
    url: str
    events: list[str]
    user_id: str
    secret: str
    created_at: datetime

    def to_api(self, *, with_secret: bool = False) -> JSONDict:
        out: JSONDict = {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "user_id": self.user_id,
            "created_at": rfc3339(self.created_at),
        }
        if with_secret:
            out["secret"] = self.secret
        return out


@dataclass
class Delivery:
    """One event sent to one webhook, and how that went."""

    id: str
    webhook_id: str
    url: str
    event: str
    body: bytes
    secret: str
    attempts: int = 0
    status_code: int | None = None
    error: str | None = None
    delivered: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # of the last attempt

    @property
    def payload(self) -> JSONDict:
        return orjson.loads(self.body)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any = None


@dataclass
class _Knob:
    remaining: int
    method: str | None
    path: str | None
    status: int = 429
    code: str = "rate_limited"
    message: str = ""
    retry_after: float | None = None
    processed: bool = False

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )


# -- webhook deliveries ---------------------------------------------------------------------


class _Deliverer:
    """Sends deliveries from its own thread and event loop: best effort, never blocking the
    API. Deliveries to one webhook go out in the order their events happened."""

    def __init__(self, tmu: FakeTMU) -> None:
        self.tmu = tmu
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending = 0
        self._idle = threading.Condition()
        self._start = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="tmu-webhooks", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit(self, delivery: Delivery) -> None:
        with self._idle:
            self._pending += 1
        asyncio.run_coroutine_threadsafe(self._deliver(delivery), self._ensure_loop())

    async def _deliver(self, delivery: Delivery) -> None:
        tmu = self.tmu
        try:
            if self._client is None:
                self._client = httpx.AsyncClient(
                    timeout=tmu.delivery_timeout, trust_env=False, follow_redirects=False
                )
            lock = self._locks.setdefault(delivery.webhook_id, asyncio.Lock())
            async with lock:
                for attempt in range(1, tmu.delivery_attempts + 1):
                    delivery.attempts = attempt
                    headers = {
                        "Content-Type": "application/json",
                        "User-Agent": "TMU-Webhooks/1.0",
                        "X-TMU-Event": delivery.event,
                        "X-TMU-Delivery": delivery.id,
                        "X-TMU-Timestamp": str(int(time.time())),
                        "X-TMU-Signature": sign(delivery.secret, delivery.body),
                    }
                    delivery.headers = headers
                    try:
                        response = await self._client.post(
                            delivery.url, content=delivery.body, headers=headers
                        )
                    except httpx.HTTPError as exc:
                        delivery.status_code = None
                        delivery.error = f"{exc.__class__.__name__}: {exc}"
                    else:
                        delivery.status_code = response.status_code
                        delivery.error = None
                        if response.is_success:
                            delivery.delivered = True
                            return
                        if response.status_code < 500 and response.status_code not in (408, 429):
                            return  # the receiver refused it: not retried
                    if attempt < tmu.delivery_attempts:
                        await asyncio.sleep(tmu.delivery_backoff * 2 ** (attempt - 1))
        except Exception as exc:  # best effort: a delivery never takes the emulator down
            delivery.error = f"{exc.__class__.__name__}: {exc}"
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def wait(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._client is not None:
            client = self._client
            self._client = None
            try:
                asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=5)
            except Exception:  # closing is best effort too
                pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop = self._thread = None
        self._locks.clear()


# -- the platform ---------------------------------------------------------------------------


def _default_users() -> list[User]:
    return [
        User("usr_alice", "alice@example.com", "Alice Example", "Europe/London"),
        User("usr_bob", "bob@example.com", "Bob Example", "America/New_York"),
        User("usr_carol", "carol@example.com", "Carol Example", "UTC"),
    ]


class FakeTMU:
    """The emulator's whole state, its domain operations and the knobs tests turn.

    Default users: alice@ (``usr_alice``, Europe/London), bob@ (``usr_bob``,
    America/New_York) and carol@example.com (``usr_carol``, UTC), with the API tokens
    ``alice_token``, ``bob_token`` and ``carol_token``.
    """

    alice_token = "tmu_test_alice_7f3a9c"
    bob_token = "tmu_test_bob_2b8e41"
    carol_token = "tmu_test_carol_d05c6e"

    def __init__(
        self,
        *,
        users: Iterable[User] | None = None,
        tokens: dict[str, str] | None = None,
        clock: Callable[[], datetime] = _now,
        join_base: str = "https://join.tmu.example",
        delivery_attempts: int = 3,
        delivery_backoff: float = 0.2,
        delivery_timeout: float = 5.0,
        max_log: int = 10_000,
    ) -> None:
        self._lock = threading.RLock()
        self.users: dict[str, User] = {}
        self._by_email: dict[str, User] = {}
        for user in users if users is not None else _default_users():
            self.add_user(user)
        self.tokens: dict[str, str] = (
            dict(tokens)
            if tokens is not None
            else {
                self.alice_token: "usr_alice",
                self.bob_token: "usr_bob",
                self.carol_token: "usr_carol",
            }
        )
        self.revoked: set[str] = set()
        self.calls: dict[str, Call] = {}
        self.messages: list[Message] = []
        self.webhooks: dict[str, Webhook] = {}
        self.deliveries: list[Delivery] = []
        self.requests: list[RecordedRequest] = []
        self.clock = clock
        self.join_base = join_base.rstrip("/")
        self.delivery_attempts = delivery_attempts
        self.delivery_backoff = delivery_backoff
        self.delivery_timeout = delivery_timeout
        self.max_log = max_log
        # Knobs.
        self.page_size_cap: int | None = None  # pages smaller than the asked limit
        self._knobs: list[_Knob] = []
        self._idempotent: dict[tuple[str, str], tuple[bytes, int, Any]] = {}
        self._seq = itertools.count(1)
        self._deliverer = _Deliverer(self)

    # -- users and tokens ---------------------------------------------------------------
    def add_user(self, user: User) -> User:
        with self._lock:
            self.users[user.id] = user
            self._by_email[user.email.lower()] = user
            return user

    def user_by_email(self, email: str) -> User | None:
        return self._by_email.get(email.lower())

    def add_token(self, user_id: str, token: str | None = None) -> str:
        """A new API token for ``user_id`` (returned)."""
        if user_id not in self.users:
            raise KeyError(user_id)
        token = token or f"tmu_test_{secrets.token_hex(12)}"
        with self._lock:
            self.tokens[token] = user_id
        return token

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    def authenticate(self, authorization: str | None) -> User:
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TMUError(
                401,
                "unauthorized",
                "Send the API token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="tmu"'},
            )
        if token in self.revoked:
            raise TMUError(
                401,
                "token_revoked",
                "This API token has been revoked",
                headers={"WWW-Authenticate": 'Bearer realm="tmu", error="invalid_token"'},
            )
        user = self.users.get(self.tokens.get(token, ""))
        if user is None:
            raise TMUError(
                401,
                "unauthorized",
                "The API token is not valid",
                headers={"WWW-Authenticate": 'Bearer realm="tmu", error="invalid_token"'},
            )
        return user

    # -- knobs ----------------------------------------------------------------------------
    def rate_limit_next(
        self,
        n: int = 1,
        retry_after: float = 1,
        *,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``n`` requests (to ``method``/``path``, e.g. ``"/v1/calls"``, or
        any) with 429 ``rate_limited`` and ``Retry-After``, without processing them."""
        self._knobs.append(
            _Knob(
                n,
                method,
                path,
                429,
                "rate_limited",
                "Too many requests for this API token",
                retry_after,
            )
        )

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        code: str = "internal_error",
        message: str = "Something went wrong on our side",
        *,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
        processed: bool = False,
    ) -> None:
        """Answer the next ``n`` matching requests with this error. ``processed=True``: the
        request is carried out first (and remembered under its Idempotency-Key), then the
        error is answered anyway, as a gateway timing out after the fact would."""
        self._knobs.append(_Knob(n, method, path, status, code, message, retry_after, processed))

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def wait_for_deliveries(self, count: int = 0, timeout: float = 5.0) -> list[Delivery]:
        """Wait until no delivery is in flight and at least ``count`` exist; all of them."""
        deadline = time.monotonic() + timeout
        while True:
            self._deliverer.wait(max(0.0, deadline - time.monotonic()))
            if len(self.deliveries) >= count or time.monotonic() >= deadline:
                return list(self.deliveries)
            time.sleep(0.01)

    def close(self) -> None:
        """Stop the delivery thread (deliveries still in flight are abandoned)."""
        self._deliverer.close()

    def _take_knob(self, method: str, path: str) -> _Knob | None:
        with self._lock:
            for knob in self._knobs:
                if knob.matches(method, path):
                    knob.remaining -= 1
                    if knob.remaining <= 0:
                        self._knobs.remove(knob)
                    return knob
        return None

    # -- time -------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock().astimezone(UTC).replace(microsecond=0)

    # -- calls ------------------------------------------------------------------------------
    def involves(self, call: Call, user: User) -> bool:
        """The user hosts the call or is invited to it."""
        if call.host_id == user.id:
            return True
        email = user.email.lower()
        return any(i.email.lower() == email for i in call.invitees)

    def call_to_api(self, call: Call) -> JSONDict:
        host = self.users[call.host_id]
        invitees = []
        for invitee in call.invitees:
            user = self.user_by_email(invitee.email)
            invitees.append(
                {
                    "email": invitee.email,
                    "user_id": user.id if user else None,
                    "status": invitee.status,
                }
            )
        return {
            "id": call.id,
            "subject": call.subject,
            "description": call.description,
            "status": call.status,
            "start_time": rfc3339(call.start_time, call.time_zone),
            "time_zone": call.time_zone,
            "host": {"email": host.email, "user_id": host.id},
            "invitees": invitees,
            "rules": dict(call.rules),
            "join_url": call.join_url,
            "created_at": rfc3339(call.created_at),
            "started_at": rfc3339(call.started_at) if call.started_at else None,
            "ended_at": rfc3339(call.ended_at) if call.ended_at else None,
        }

    def create_call(
        self,
        host_id: str,
        subject: str,
        *,
        description: str = "",
        start_time: datetime | None = None,
        time_zone: str | None = None,
        invitees: Iterable[str] = (),
        rules: JSONDict | None = None,
    ) -> Call:
        """A call hosted by ``host_id``: live now without ``start_time``, else scheduled
        (``start_time`` must be in the future)."""
        host = self.users[host_id]
        now = self.now()
        if start_time is not None and start_time.astimezone(UTC) <= now:
            raise _invalid(
                "start_time",
                "start_time must be in the future; leave it out to start the call now",
                "start_time_in_past",
            )
        merged = {**DEFAULT_RULES, **(rules or {})}
        with self._lock:
            seq = next(self._seq)
            call_id = f"call_{seq:06d}{secrets.token_hex(3)}"
            call = Call(
                id=call_id,
                seq=seq,
                subject=subject,
                description=description,
                status="scheduled" if start_time is not None else "live",
                start_time=(start_time or now).astimezone(UTC).replace(microsecond=0),
                time_zone=time_zone or host.time_zone,
                host_id=host_id,
                invitees=[],
                rules=merged,
                join_url=f"{self.join_base}/{call_id}",
                created_at=now,
                started_at=None if start_time is not None else now,
            )
            self._add_invitees(call, invitees)
            self.calls[call.id] = call
        if call.status == "live":
            self._emit("call.started", call)
        return call

    def _add_invitees(self, call: Call, emails: Iterable[str]) -> None:
        host_email = self.users[call.host_id].email.lower()
        known = {i.email.lower() for i in call.invitees} | {host_email}
        fresh = []
        for email in emails:
            if email.lower() not in known:
                known.add(email.lower())
                fresh.append(Invitee(email))
        if len(call.invitees) + len(fresh) + 1 > call.rules["max_participants"]:
            raise _invalid(
                "invitees",
                f"The call allows {call.rules['max_participants']} participants, host included",
                "too_many_invitees",
            )
        call.invitees.extend(fresh)

    def _call_for(self, call_id: str, user: User | None) -> Call:
        call = self.calls.get(call_id)
        if call is None or (user is not None and not self.involves(call, user)):
            raise TMUError(404, "call_not_found", f"No call {call_id} is visible to this user")
        return call

    def _hosted(self, call_id: str, user: User | None) -> Call:
        call = self._call_for(call_id, user)
        if user is not None and call.host_id != user.id:
            raise TMUError(403, "not_call_host", "Only the call's host may do this")
        return call

    def invite(self, call_id: str, emails: Iterable[str], *, user: User | None = None) -> Call:
        with self._lock:
            call = self._hosted(call_id, user)
            if call.status == "ended":
                raise TMUError(409, "call_ended", "The call has ended")
            self._add_invitees(call, emails)
            return call

    def respond(self, call_id: str, email: str, status: str) -> Call:
        """Knob: an invitee accepts or declines."""
        if status not in INVITEE_STATUSES:
            raise ValueError(status)
        call = self.calls[call_id]
        for invitee in call.invitees:
            if invitee.email.lower() == email.lower():
                invitee.status = status
        return call

    def start_call(self, call_id: str, *, user: User | None = None) -> Call:
        """A scheduled call goes live (its host starts it)."""
        with self._lock:
            call = self._hosted(call_id, user)
            if call.status == "live":
                raise TMUError(409, "call_already_live", "The call is already live")
            if call.status == "ended":
                raise TMUError(409, "call_ended", "The call has ended")
            call.status = "live"
            call.started_at = self.now()
        self._emit("call.started", call)
        return call

    def stop_call(self, call_id: str, *, user: User | None = None) -> Call:
        """End a live call (``call.stopped``) or cancel a scheduled one (no event)."""
        with self._lock:
            call = self._hosted(call_id, user)
            if call.status == "ended":
                raise TMUError(409, "call_ended", "The call has already ended")
            was_live = call.status == "live"
            call.status = "ended"
            call.ended_at = self.now()
        if was_live:
            self._emit("call.stopped", call)
        return call

    def list_calls(
        self,
        user: User,
        *,
        statuses: Iterable[str] | None = None,
        role: str | None = None,
        start_after: datetime | None = None,
        start_before: datetime | None = None,
    ) -> list[Call]:
        """The calls the user hosts or is invited to, latest start first."""
        wanted = set(statuses) if statuses else None
        found = []
        for call in list(self.calls.values()):
            if not self.involves(call, user):
                continue
            if role == "host" and call.host_id != user.id:
                continue
            if role == "invitee" and call.host_id == user.id:
                continue
            if wanted is not None and call.status not in wanted:
                continue
            if start_after is not None and call.start_time <= start_after:
                continue
            if start_before is not None and call.start_time >= start_before:
                continue
            found.append(call)
        found.sort(key=Call.sort_key, reverse=True)
        return found

    # -- chat -------------------------------------------------------------------------------
    def message_to_api(self, message: Message) -> JSONDict:
        sender = self.users[message.sender_id]
        return {
            "id": message.id,
            "call_id": message.call_id,
            "sender": {"email": sender.email, "user_id": sender.id},
            "text": message.text,
            "created_at": rfc3339(message.created_at),
        }

    def post_message(self, call_id: str, sender_id: str, text: str) -> Message:
        """``sender_id`` says ``text`` in the call's chat (they must take part in it)."""
        sender = self.users[sender_id]
        with self._lock:
            call = self._call_for(call_id, sender)
            if call.status == "ended":
                raise TMUError(409, "call_ended", "The call has ended; its chat is closed")
            seq = next(self._seq)
            message = Message(
                f"msg_{seq:06d}{secrets.token_hex(3)}", seq, call.id, sender.id, text, self.now()
            )
            self.messages.append(message)
        self._emit("chat.message_received", call, message)
        return message

    def messages_of(self, call_id: str, since: datetime | None = None) -> list[Message]:
        return [
            m
            for m in self.messages
            if m.call_id == call_id and (since is None or m.created_at > since)
        ]

    # -- webhooks ---------------------------------------------------------------------------
    def register_webhook(self, user_id: str, url: str, events: Iterable[str]) -> Webhook:
        with self._lock:
            if sum(1 for w in self.webhooks.values() if w.user_id == user_id) >= (
                MAX_WEBHOOKS_PER_USER
            ):
                raise _invalid(
                    "url",
                    f"A user may have at most {MAX_WEBHOOKS_PER_USER} webhooks",
                    "too_many_webhooks",
                )
            seq = next(self._seq)
            webhook = Webhook(
                f"wh_{seq:06d}{secrets.token_hex(3)}",
                url,
                list(dict.fromkeys(events)),
                user_id,
                "whsec_" + secrets.token_hex(24),
                self.now(),
            )
            self.webhooks[webhook.id] = webhook
            return webhook

    def _emit(self, event: str, call: Call, message: Message | None = None) -> None:
        """Deliver ``event`` to every webhook of a user the call involves (the sender of a
        chat message does not receive it)."""
        targets = []
        with self._lock:
            for webhook in self.webhooks.values():
                user = self.users.get(webhook.user_id)
                if event not in webhook.events or user is None or not self.involves(call, user):
                    continue
                if message is not None and message.sender_id == user.id:
                    continue
                targets.append((webhook, user))
            if not targets:
                return
            event_id = f"evt_{next(self._seq):06d}{secrets.token_hex(4)}"
            data: JSONDict = {"call": self.call_to_api(call)}
            if message is not None:
                data["message"] = self.message_to_api(message)
            created = rfc3339(self.now())
            for webhook, user in targets:
                body = orjson.dumps(
                    {
                        "id": event_id,
                        "type": event,
                        "created_at": created,
                        "webhook_id": webhook.id,
                        "user_id": user.id,
                        "data": data,
                    }
                )
                delivery = Delivery(
                    f"dlv_{next(self._seq):06d}{secrets.token_hex(4)}",
                    webhook.id,
                    webhook.url,
                    event,
                    body,
                    webhook.secret,
                )
                self.deliveries.append(delivery)
                self._deliverer.submit(delivery)


# -- the HTTP API ---------------------------------------------------------------------------


@dataclass
class _Req:
    method: str
    user: User
    params: dict[str, str]
    query: dict[str, str]
    body: Any


Handler = Callable[[FakeTMU, _Req], tuple[int, Any]]


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if status == 204:
        return Response(status_code=204, headers=headers)
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _error_response(error: TMUError) -> Response:
    return _json_response(error.status, error.body(), error.headers)


def _endpoint(tmu: FakeTMU, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wraps a handler: records the request, applies the knobs, authenticates, parses the
    JSON body, replays Idempotency-Keys and renders ``TMUError`` as TMU's error body."""

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        method, path = request.method, request.url.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query_params)
        try:
            parsed = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = ...
        with tmu._lock:
            tmu.requests.append(
                RecordedRequest(
                    method, path, query, headers, raw, None if parsed is ... else parsed
                )
            )
            del tmu.requests[: -tmu.max_log]
        knob = tmu._take_knob(method, path)
        if knob is not None and not knob.processed:
            return _knob_response(knob)
        try:
            user = tmu.authenticate(headers.get("authorization"))
            if parsed is ...:
                raise TMUError(400, "invalid_request", "The request body is not valid JSON")
            key = headers.get("idempotency-key") if method == "POST" else None
            stored = tmu._idempotent.get((user.id, key)) if key else None
            fingerprint = method.encode() + b" " + path.encode() + b"\n" + raw
            if stored is not None:
                if stored[0] != fingerprint:
                    raise TMUError(
                        422,
                        "idempotency_key_reused",
                        "This Idempotency-Key was used for a different request",
                    )
                response = _json_response(stored[1], stored[2], {"Idempotent-Replayed": "true"})
            else:
                status, body = handler(
                    tmu, _Req(method, user, dict(request.path_params), query, parsed)
                )
                if key and status < 500:
                    tmu._idempotent[(user.id, key)] = (fingerprint, status, body)
                response = _json_response(status, body)
        except TMUError as exc:
            response = _error_response(exc)
        if knob is not None:  # processed, but answered with an error anyway
            return _knob_response(knob)
        return response

    return endpoint


def _knob_response(knob: _Knob) -> Response:
    headers = {}
    if knob.retry_after is not None:
        headers["Retry-After"] = f"{knob.retry_after:g}"
    if knob.status == 429:
        headers["X-RateLimit-Limit"] = str(RATE_LIMIT_PER_MINUTE)
        headers["X-RateLimit-Remaining"] = "0"
    message = knob.message
    if knob.status == 429 and knob.retry_after is not None:
        message = f"{message}; retry after {knob.retry_after:g} s"
    return _error_response(TMUError(knob.status, knob.code, message, headers=headers))


# -- request parsing helpers ----------------------------------------------------------------


def _object(body: Any) -> JSONDict:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise TMUError(400, "invalid_request", "The request body must be a JSON object")
    return body


def _string(
    body: JSONDict, name: str, *, required: bool = False, max_length: int, default: str = ""
) -> str:
    value = body.get(name)
    if value is None:
        if required:
            raise _invalid(name, f"{name} is required")
        return default
    if not isinstance(value, str):
        raise _invalid(name, f"{name} must be a string")
    if required and not value.strip():
        raise _invalid(name, f"{name} must not be blank")
    if len(value) > max_length:
        raise _invalid(name, f"{name} must be at most {max_length} characters")
    return value


def _timestamp(value: Any, name: str, *, query: bool = False) -> datetime:
    if not isinstance(value, str) or not _RFC3339.match(value):
        message = f"{name} must be an RFC 3339 date-time with an offset, e.g. 2030-01-31T09:00:00Z"
        if query:
            raise TMUError(400, "invalid_parameter", message, field=name)
        raise _invalid(name, message)
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        if query:
            raise TMUError(400, "invalid_parameter", f"{name} is not a valid date") from None
        raise _invalid(name, f"{name} is not a valid date") from None


def _time_zone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid("time_zone", "time_zone must be an IANA time zone name", "invalid_time_zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _invalid(
            "time_zone", f"Unknown time zone {value!r}: use an IANA name", "invalid_time_zone"
        ) from None
    return value


def _emails(value: Any, name: str, *, required: bool = False) -> list[str]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise _invalid(name, f"{name} must be a non-empty array of {{email}} objects")
    emails = []
    for i, item in enumerate(value):
        email = item.get("email") if isinstance(item, dict) else None
        if not isinstance(email, str) or not _EMAIL.match(email):
            raise _invalid(f"{name}[{i}].email", f"{name}[{i}].email must be an email address")
        emails.append(email.strip())
    return emails


def _rules(value: Any) -> JSONDict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("rules", "rules must be an object")
    rules: JSONDict = {}
    for key, item in value.items():
        where = f"rules.{key}"
        if key in ("mute_on_entry", "allow_guests", "waiting_room"):
            if not isinstance(item, bool):
                raise _invalid(where, f"{where} must be a boolean")
        elif key == "recording":
            if item not in RECORDING_MODES:
                raise _invalid(where, f"{where} must be one of {', '.join(RECORDING_MODES)}")
        elif key == "max_participants":
            if (
                not isinstance(item, int)
                or isinstance(item, bool)
                or not (2 <= item <= MAX_PARTICIPANTS)
            ):
                raise _invalid(where, f"{where} must be an integer from 2 to {MAX_PARTICIPANTS}")
        else:
            raise _invalid(where, f"Unknown rule {key!r}")
        rules[key] = item
    return rules


def _limit(query: dict[str, str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise TMUError(
            400, "invalid_parameter", f"limit must be from 1 to {MAX_LIMIT}", field="limit"
        )
    return limit


def _encode_cursor(*parts: int) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> tuple[int, ...]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = tuple(int(p) for p in text.split(":"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        parts = ()
    if len(parts) != size:
        raise TMUError(400, "invalid_cursor", "The cursor is not valid", field="cursor")
    return parts


def _page(
    tmu: FakeTMU,
    items: list[Any],
    key: Callable[[Any], tuple[int, ...]],
    size: int,
    query: dict[str, str],
    after: Callable[[tuple[int, ...], tuple[int, ...]], bool],
) -> tuple[list[Any], str | None]:
    """One page of ``items`` (already ordered) after the cursor; ``after(item_key, cursor)``
    says whether an item comes after the cursor position."""
    limit = _limit(query)
    if tmu.page_size_cap is not None:
        limit = min(limit, tmu.page_size_cap)
    cursor = query.get("cursor")
    if cursor:
        position = _decode_cursor(cursor, size)
        items = [item for item in items if after(key(item), position)]
    page = items[:limit]
    next_cursor = _encode_cursor(*key(page[-1])) if len(items) > limit else None
    return page, next_cursor


# -- handlers ---------------------------------------------------------------------------


def get_me(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    return 200, req.user.to_api()


def create_call(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    body = _object(req.body)
    subject = _string(body, "subject", required=True, max_length=MAX_SUBJECT)
    description = _string(body, "description", max_length=MAX_DESCRIPTION)
    start = body.get("start_time")
    start_time = _timestamp(start, "start_time") if start is not None else None
    zone = body.get("time_zone")
    time_zone = _time_zone(zone) if zone is not None else None
    invitees = _emails(body.get("invitees"), "invitees")
    rules = _rules(body.get("rules"))
    call = tmu.create_call(
        req.user.id,
        subject,
        description=description,
        start_time=start_time,
        time_zone=time_zone,
        invitees=invitees,
        rules=rules,
    )
    return 201, tmu.call_to_api(call)


def list_calls(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    query = req.query
    statuses = None
    if query.get("status"):
        statuses = [s.strip() for s in query["status"].split(",") if s.strip()]
        bad = [s for s in statuses if s not in CALL_STATUSES]
        if bad:
            raise TMUError(
                400,
                "invalid_parameter",
                f"status must be among {', '.join(CALL_STATUSES)} (comma-separated)",
                field="status",
            )
    role = query.get("role") or None
    if role not in (None, "host", "invitee"):
        raise TMUError(400, "invalid_parameter", "role must be host or invitee", field="role")
    after = query.get("start_after")
    before = query.get("start_before")
    calls = tmu.list_calls(
        req.user,
        statuses=statuses,
        role=role,
        start_after=_timestamp(after, "start_after", query=True) if after else None,
        start_before=_timestamp(before, "start_before", query=True) if before else None,
    )
    page, next_cursor = _page(
        tmu, calls, Call.sort_key, 2, query, lambda key, position: key < position
    )
    return 200, {"calls": [tmu.call_to_api(c) for c in page], "next_cursor": next_cursor}


def get_call(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    return 200, tmu.call_to_api(tmu._call_for(req.params["call_id"], req.user))


def invite(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    body = _object(req.body)
    emails = _emails(body.get("invitees"), "invitees", required=True)
    return 200, tmu.call_to_api(tmu.invite(req.params["call_id"], emails, user=req.user))


def start(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    return 200, tmu.call_to_api(tmu.start_call(req.params["call_id"], user=req.user))


def stop(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    return 200, tmu.call_to_api(tmu.stop_call(req.params["call_id"], user=req.user))


def send_message(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    body = _object(req.body)
    text = _string(body, "text", required=True, max_length=MAX_TEXT)
    message = tmu.post_message(req.params["call_id"], req.user.id, text)
    return 201, tmu.message_to_api(message)


def list_messages(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    call = tmu._call_for(req.params["call_id"], req.user)
    since = req.query.get("since")
    messages = tmu.messages_of(call.id, _timestamp(since, "since", query=True) if since else None)
    page, next_cursor = _page(
        tmu, messages, lambda m: (m.seq,), 1, req.query, lambda key, position: key > position
    )
    return 200, {"messages": [tmu.message_to_api(m) for m in page], "next_cursor": next_cursor}


def create_webhook(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    body = _object(req.body)
    url = body.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
        raise _invalid("url", "url must be an absolute http(s) URL")
    events = body.get("events")
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        raise _invalid("events", f"events must be a non-empty array of: {', '.join(EVENTS)}")
    user_id = body.get("user_id", req.user.id)
    if user_id != req.user.id:
        raise TMUError(
            403, "forbidden", "A webhook can only be registered for the token's own user"
        )
    webhook = tmu.register_webhook(req.user.id, url, events)
    return 201, webhook.to_api(with_secret=True)


def list_webhooks(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    own = [w.to_api() for w in tmu.webhooks.values() if w.user_id == req.user.id]
    return 200, {"webhooks": own}


def _own_webhook(tmu: FakeTMU, req: _Req) -> Webhook:
    webhook = tmu.webhooks.get(req.params["webhook_id"])
    if webhook is None or webhook.user_id != req.user.id:
        raise TMUError(404, "webhook_not_found", f"No webhook {req.params['webhook_id']}")
    return webhook


def get_webhook(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    return 200, _own_webhook(tmu, req).to_api()


def delete_webhook(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    webhook = _own_webhook(tmu, req)
    with tmu._lock:
        tmu.webhooks.pop(webhook.id, None)
    return 204, None


def not_found(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
    raise TMUError(404, "not_found", "No such API endpoint")


ROUTES: list[tuple[str, str, Handler]] = [
    ("/v1/me", "GET", get_me),
    ("/v1/calls", "GET", list_calls),
    ("/v1/calls", "POST", create_call),
    ("/v1/calls/{call_id}", "GET", get_call),
    ("/v1/calls/{call_id}/invitees", "POST", invite),
    ("/v1/calls/{call_id}/start", "POST", start),
    ("/v1/calls/{call_id}/stop", "POST", stop),
    ("/v1/calls/{call_id}/messages", "GET", list_messages),
    ("/v1/calls/{call_id}/messages", "POST", send_message),
    ("/v1/webhooks", "GET", list_webhooks),
    ("/v1/webhooks", "POST", create_webhook),
    ("/v1/webhooks/{webhook_id}", "GET", get_webhook),
    ("/v1/webhooks/{webhook_id}", "DELETE", delete_webhook),
]


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        return _error_response(
            TMUError(405, "method_not_allowed", f"{request.method} is not allowed here")
        )
    return _error_response(TMUError(status, "not_found", "No such API endpoint"))


def _dispatch(by_method: dict[str, Handler]) -> Handler:
    def handler(tmu: FakeTMU, req: _Req) -> tuple[int, Any]:
        chosen = by_method.get(req.method)
        if chosen is None:
            raise TMUError(
                405,
                "method_not_allowed",
                f"{req.method} is not allowed here (allowed: {', '.join(by_method)})",
            )
        return chosen(tmu, req)

    return handler


ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def create_app(state: FakeTMU | None = None) -> Starlette:
    """The emulator as an ASGI app under ``/v1``; ``app.state.tmu`` is its :class:`FakeTMU`."""
    tmu = state if state is not None else FakeTMU()
    by_path: dict[str, dict[str, Handler]] = {}
    for path, method, handler in ROUTES:
        by_path.setdefault(path, {})[method] = handler
    routes = [
        Route(path, _endpoint(tmu, _dispatch(handlers)), methods=ALL_METHODS)
        for path, handlers in by_path.items()
    ]
    routes.append(Route("/{path:path}", _endpoint(tmu, not_found), methods=ALL_METHODS))
    app = Starlette(routes=routes, exception_handlers={404: _http_error, 405: _http_error})
    app.state.tmu = tmu
    return app


__all__ = [
    "EVENTS",
    "Call",
    "Delivery",
    "FakeTMU",
    "Message",
    "RecordedRequest",
    "TMUError",
    "User",
    "Webhook",
    "create_app",
    "rfc3339",
    "sign",
]
