"""A trigger declaration: one service, one version, and its trigger operations, each data
(settings and event schemas) plus small hooks.

The hook contract, which intake, subscriptions and delivery build on:

* ``on_subscribe(ctx, settings) -> dict`` registers whatever the service needs (a webhook)
  and returns the *state* to keep with the subscription (JSON-serialisable: ids, secrets
  the service handed out). Optional: without it the state is ``{}``.
* ``on_unsubscribe(ctx, settings, state)`` undoes it. Optional.
* ``on_request(request, settings, state) -> list[Event] | NoTrigger`` verifies one raw HTTP
  request (:class:`IncomingRequest`) and turns it into zero or more events, returns a
  :class:`NoTrigger` when the request is fine but is not an event for this subscription
  (filtered out, a ping), or raises :class:`TriggerRejected` (4xx) for a bad signature or a
  malformed body. It must be fast and deterministic over (request, settings, state) and do
  no I/O, so that intake can run it before acknowledging (nothing is stored for a rejected
  request) and again later from the stored raw request. It may be sync or async.
* ``reply(request, settings, state, result) -> Reply`` is the HTTP answer the service
  expects (a challenge echo, a TwiML body). Optional: :data:`DEFAULT_REPLY` otherwise.
* ``dedupe_key(event) -> str | None`` names duplicates (a ``messageId``, a service event
  id). Optional: :attr:`Event.id` otherwise.
* Polling triggers declare ``poll_interval`` (seconds) and ``poll(ctx, settings, cursor) ->
  (events, cursor)``; the cursor (JSON-serialisable, ``None`` at first) is kept durably by
  the caller between polls, and a polling operation needs a dedupe key. Instead of a fixed
  interval, ``next_poll(settings, cursor, now) -> datetime`` may say when to poll next (a
  cron schedule does).

``settings`` is the subscription's ``input``, already validated against the published input
schema and parsed into the operation's input model (a dict when the input is a raw schema).

For ``ctx``, a :class:`Trigger` is a :class:`~patchbay.connectors.sdk.declaration.Declaration`
like a :class:`Connector` (``base_url``, ``authorize``, ``error_mapper``, ``retry``,
``rate_budget``, ``title``, ``service``) and a :class:`TriggerOperation` has a ``timeout``, so
a :class:`~patchbay.connectors.sdk.context.Context` is built with ``connector=trigger,
operation=trigger_operation``.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel

from .declaration import Declaration
from .operation import DEFAULT_TIMEOUT
from .schema import SchemaValidator, input_schema, output_schema

if TYPE_CHECKING:
    from .context import Context

__all__ = [
    "DEFAULT_REPLY",
    "Event",
    "IncomingRequest",
    "NoTrigger",
    "Reply",
    "Trigger",
    "TriggerOperation",
    "TriggerRejected",
]


# ---------------------------------------------------------------------------------------
# What a hook sees and returns
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingRequest:
    """One raw HTTP request as it reached the intake URL. Header names are kept as sent;
    :meth:`header` looks one up without case. :meth:`to_record` / :meth:`from_record` give a
    JSON-serialisable form to commit before acknowledging."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The full public URL the sender called (scheme, host, path and query), as a signature
    # over the URL (Twilio's) needs it.
    url: str = ""

    @classmethod
    def build(
        cls,
        method: str = "POST",
        path: str = "/",
        *,
        query: str | Mapping[str, str] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        body: bytes | str = b"",
        received_at: datetime | None = None,
        url: str | None = None,
    ) -> IncomingRequest:
        """A request from friendlier arguments (a query string or mapping, a header dict)."""
        if isinstance(query, str):
            pairs = tuple(parse_qsl(query, keep_blank_values=True))
        elif isinstance(query, Mapping):
            pairs = tuple((str(k), str(v)) for k, v in query.items())
        else:
            pairs = tuple(query or ())
        header_pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
        return cls(
            method=method.upper(),
            path=path,
            query=pairs,
            headers=tuple((str(k), str(v)) for k, v in header_pairs),
            body=body.encode() if isinstance(body, str) else bytes(body),
            received_at=received_at or datetime.now(UTC),
            url=url if url is not None else "http://patchbay.invalid" + path,
        )

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first header called ``name`` (any case)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    def query_param(self, name: str, default: str | None = None) -> str | None:
        return next((v for k, v in self.query if k == name), default)

    def json(self) -> Any:
        """The body as JSON; :class:`TriggerRejected` (400) when it is not."""
        if not self.body.strip():
            raise TriggerRejected(400, "The request body is empty; JSON was expected")
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise TriggerRejected(400, f"The request body is not valid JSON: {exc}") from exc

    def to_record(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": [list(p) for p in self.query],
            "headers": [list(h) for h in self.headers],
            "body": base64.b64encode(self.body).decode("ascii"),
            "received_at": self.received_at.isoformat(),
            "url": self.url,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> IncomingRequest:
        return cls(
            method=record["method"],
            path=record["path"],
            query=tuple((k, v) for k, v in record.get("query", ())),
            headers=tuple((k, v) for k, v in record.get("headers", ())),
            body=base64.b64decode(record.get("body", "")),
            received_at=datetime.fromisoformat(record["received_at"]),
            url=record.get("url", ""),
        )


@dataclass(frozen=True)
class Event:
    """One event for subscribers: ``data`` is shaped by the operation's output schema;
    ``id`` is the service's own event id when it has one (the default dedupe key)."""

    data: dict[str, Any]
    id: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class NoTrigger:
    """The request is acceptable but is no event for this subscription (filtered out, a
    ping): acknowledged, nothing delivered. ``reason`` is for logs."""

    reason: str = ""


class TriggerRejected(Exception):
    """The request is refused: answered ``status`` (4xx) with ``message``, nothing stored."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        if not 400 <= status < 500:
            raise ValueError(f"a rejected request is answered 4xx, not {status}")
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or {400: "invalid_request", 401: "invalid_signature"}.get(
            status, "rejected"
        )


@dataclass(frozen=True)
class Reply:
    """The HTTP answer to the sender."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    body: bytes = b'{"ok":true}'


DEFAULT_REPLY = Reply()

Received = list[Event] | NoTrigger
OnSubscribe = Callable[["Context", Any], Awaitable[dict[str, Any]] | dict[str, Any]]
OnUnsubscribe = Callable[["Context", Any, dict[str, Any]], Awaitable[None] | None]
OnRequest = Callable[[IncomingRequest, Any, dict[str, Any]], Awaitable[Received] | Received]
ReplyHook = Callable[[IncomingRequest, Any, dict[str, Any], Received], Reply]
DedupeKey = Callable[[Event], str | None]
Poll = Callable[["Context", Any, Any], Awaitable[tuple[list[Event], Any]]]
NextPoll = Callable[[Any, Any, datetime], datetime]


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# ---------------------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------------------


@dataclass
class TriggerOperation:
    name: str
    title: str
    description: str = ""
    input: type[BaseModel] | dict[str, Any] | None = None  # the subscription's settings
    output: type[BaseModel] | dict[str, Any] | None = None  # each event's shape
    on_request: OnRequest | None = None
    on_subscribe: OnSubscribe | None = None
    on_unsubscribe: OnUnsubscribe | None = None
    reply: ReplyHook | None = None
    dedupe_key: DedupeKey | None = None
    poll_interval: float | None = None  # seconds
    poll: Poll | None = None
    next_poll: NextPoll | None = None  # when to poll next, instead of a fixed interval
    auth_scopes: list[str] = field(default_factory=list)
    timeout: float = DEFAULT_TIMEOUT  # for requests made through ctx in the hooks
    input_schema: dict[str, Any] = field(init=False)
    output_schema: dict[str, Any] = field(init=False)
    _validator: SchemaValidator | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.input_schema = input_schema(self.input)
        self.output_schema = output_schema(self.output)
        if self.on_request is None and self.poll is None:
            raise ValueError(f"trigger operation {self.name} needs on_request or poll")
        if self.poll is not None:
            if self.next_poll is None and (not self.poll_interval or self.poll_interval <= 0):
                raise ValueError(
                    f"polling trigger operation {self.name} needs a poll_interval or next_poll"
                )
            if self.dedupe_key is None:
                raise ValueError(f"polling trigger operation {self.name} needs a dedupe_key")

    # -- what listings and subscriptions need -------------------------------------------
    @property
    def has_dynamic_output(self) -> bool:
        return False

    @property
    def is_polling(self) -> bool:
        return self.poll is not None

    @property
    def input_model(self) -> type[BaseModel] | None:
        spec = self.input
        return spec if isinstance(spec, type) and issubclass(spec, BaseModel) else None

    @property
    def validator(self) -> SchemaValidator:
        """Validates a subscription's ``input`` against the published schema."""
        if self._validator is None:
            self._validator = SchemaValidator(self.input_schema)
        return self._validator

    def parse_settings(self, data: dict[str, Any]) -> Any:
        """Already schema-validated input as the hooks receive it."""
        model = self.input_model
        return data if model is None else model.model_validate(data)

    # -- calling the hooks ----------------------------------------------------------------
    async def subscribe(self, ctx: Context, settings: Any) -> dict[str, Any]:
        if self.on_subscribe is None:
            return {}
        state = await _maybe_await(self.on_subscribe(ctx, settings))
        return dict(state or {})

    async def unsubscribe(self, ctx: Context, settings: Any, state: dict[str, Any]) -> None:
        if self.on_unsubscribe is not None:
            await _maybe_await(self.on_unsubscribe(ctx, settings, state))

    async def receive(
        self, request: IncomingRequest, settings: Any, state: dict[str, Any] | None = None
    ) -> list[Event] | NoTrigger:
        """Run ``on_request``: the events, or a :class:`NoTrigger`; raises
        :class:`TriggerRejected` for a request to refuse."""
        if self.on_request is None:
            raise TriggerRejected(404, f"{self.title} is a polling trigger; it takes no requests")
        result = await _maybe_await(self.on_request(request, settings, state or {}))
        if isinstance(result, NoTrigger):
            return result
        events = list(result)
        for event in events:
            if not isinstance(event, Event):
                raise TypeError(f"{self.name}.on_request gave {type(event).__name__}, not Event")
        return events

    def answer(
        self,
        request: IncomingRequest,
        settings: Any,
        state: dict[str, Any] | None,
        result: list[Event] | NoTrigger,
    ) -> Reply:
        if self.reply is None:
            return DEFAULT_REPLY
        return self.reply(request, settings, state or {}, result)

    def next_poll_at(self, settings: Any, cursor: Any, now: datetime) -> datetime:
        """When a polling operation polls next, after a poll at ``now``."""
        if self.next_poll is not None:
            return self.next_poll(settings, cursor, now)
        return now + timedelta(seconds=float(self.poll_interval or 60))

    def shape(self, data: dict[str, Any]) -> dict[str, Any]:
        """An event's data as subscribers receive it: parsed by the output model (types
        coerced, defaults of fields it sent kept) and dumped as JSON, fields the trigger did
        not set left out. A raw-schema output is delivered as it is."""
        model = self.output
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return data
        return model.model_validate(data).model_dump(mode="json", exclude_unset=True)

    def key_for(self, event: Event) -> str | None:
        """The dedupe key of an event: the declared hook's, else the event's id."""
        if self.dedupe_key is not None:
            return self.dedupe_key(event)
        return event.id


@dataclass
class Trigger(Declaration[TriggerOperation]):
    """Its ``name`` is spelled as Tray does: ``"<service>-trigger"``."""

    kind: ClassVar[str] = "trigger"
