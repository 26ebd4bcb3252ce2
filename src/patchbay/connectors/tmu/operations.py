"""The TMU connector's operations: thin handlers over the TMU Platform API (``API.md``).

Every request goes through ``ctx.request`` / ``ctx.collect`` (authentication, outbound
guard, retries, rate budget); :func:`tmu_error` is the one place TMU's error body
``{"error": {"code", "message"}}`` becomes Patchbay's standardized error. Operation objects
are defined once here and shared by the connector's versions (see ``connector.py``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, Field, field_validator

from ..sdk import ConnectorError, Context, CursorPagination, field, lookup, operation
from ..sdk.context import kind_for_status
from ..sdk.errors import ErrorKind
from ..sdk.models import DDLOutput, OpenObject

# The API's largest page, and bounds on what one list operation gathers.
PAGE_LIMIT = 100
MAX_RESULTS = 1000
DDL_MAX_ITEMS = 500

PAGINATION = CursorPagination(cursor_param="cursor", next_path="next_cursor")

# TMU error codes that mean "the API token is the problem" (a 403 not_call_host is not).
AUTH_CODES = frozenset({"unauthorized", "token_revoked", "forbidden"})

CallStatus = Literal["scheduled", "live", "ended"]
RecordingMode = Literal["off", "manual", "automatic"]
Email = Annotated[str, Field(json_schema_extra={"format": "email"}, min_length=3)]


# -- talking to TMU -------------------------------------------------------------------------


def tmu_error(ctx: Context, failure: httpx.Response | ConnectorError) -> ConnectorError:
    """TMU's error answer as the standardized error, keeping TMU's code and message.

    ``failure`` is the response, or the error ``ctx.collect`` raised for a page (which
    carries the response's status, headers and body)."""
    if isinstance(failure, ConnectorError):
        if failure.status_code is None:
            return failure  # a transport failure: nothing of TMU's to add
        body: Any = failure.body
    else:
        try:
            body = failure.json()
        except ValueError:
            body = None
    status = failure.status_code
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    text = error.get("message") if isinstance(error.get("message"), str) else None
    kind: ErrorKind = kind_for_status(status)
    if code in AUTH_CODES:
        kind = "auth_error"
    elif status == 403:
        kind = "api_error"  # allowed in, but not to do this (e.g. not_call_host)
    message = f"TMU {status} {code}: {text}" if code else f"TMU answered HTTP {status}"
    if code and not text:
        message = f"TMU {status} {code}"
    if isinstance(error.get("field"), str):
        message += f" (field {error['field']})"
    if isinstance(failure, httpx.Response):
        return ctx.api_error(failure, message, code=code, kind=kind)
    return ConnectorError(
        message,
        kind,
        status_code=failure.status_code,
        headers=failure.headers,
        body=failure.body,
        retry_after=failure.retry_after,
        code=code,
    )


async def call_tmu(
    ctx: Context, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
) -> Any:
    """One API request; its JSON body on success. POSTs carry an ``Idempotency-Key`` (the
    same on every retry), so they are retried as safely as GETs."""
    headers = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else None
    response = await ctx.request(
        method,
        path,
        params=params,
        json=json,
        headers=headers,
        raise_for_status=False,
        idempotent=True if method == "POST" else None,
    )
    if not response.is_success:
        raise tmu_error(ctx, response)
    try:
        return response.json()
    except ValueError:
        raise ctx.api_error(response, "TMU answered with a body that is not JSON") from None


async def collect(
    ctx: Context, path: str, items_path: str, params: dict[str, Any], max_items: int
) -> tuple[list[Any], bool]:
    """Up to ``max_items`` items of a cursor-paginated list, and whether more remained."""
    params = {**params, "limit": min(PAGE_LIMIT, max_items)}
    try:
        return await ctx.collect(
            "GET",
            path,
            pagination=PAGINATION,
            params=params,
            items_path=items_path,
            max_items=max_items,
        )
    except ConnectorError as exc:
        raise tmu_error(ctx, exc) from exc


def call_path(call_id: str, *rest: str) -> str:
    """``calls/{id}/...`` with the id escaped (an id is never a path of its own)."""
    return "/".join(["calls", quote(call_id, safe=""), *rest])


# -- shared schema pieces ---------------------------------------------------------------


def _call_id_field(*, include_ended: bool) -> Any:
    return field(
        title="Call",
        description="The ID of the call (e.g. call_000001a1b2c3)",
        lookup=lookup("list_calls_ddl", {"include_ended": include_ended}),
        min_length=1,
    )


def _valid_time_zone(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as Europe/London"
        ) from None
    return value


TIME_ZONE_HELP = (
    "An IANA time zone name, e.g. UTC, Europe/London, Europe/Berlin, America/New_York, "
    "America/Chicago, America/Los_Angeles, Asia/Tokyo, Asia/Kolkata, Australia/Sydney"
)


def _unique(emails: list[str] | None) -> list[str]:
    seen: dict[str, str] = {}
    for email in emails or ():
        seen.setdefault(email.strip().lower(), email.strip())
    return list(seen.values())


# -- the call resource --------------------------------------------------------------------


class Host(OpenObject):
    email: str = field(title="Email")
    user_id: str = field(title="User ID")


class Invitee(OpenObject):
    email: str = field(title="Email")
    user_id: str | None = field(
        title="User ID", description="The TMU user with this email address, if there is one"
    )
    status: str = field(title="Status", description="invited, accepted or declined")


class Rules(OpenObject):
    mute_on_entry: bool = field(title="Mute on entry")
    allow_guests: bool = field(title="Allow guests")
    recording: RecordingMode = field(title="Recording")
    waiting_room: bool = field(title="Waiting room")
    max_participants: int = field(title="Max participants")


class Call(OpenObject):
    id: str = field(title="ID")
    subject: str = field(title="Subject")
    description: str = field(title="Description")
    status: CallStatus = field(title="Status")
    start_time: str = field(
        title="Start time",
        description="RFC 3339, with the offset of the call's time zone",
        format="date-time",
    )
    time_zone: str = field(title="Time zone")
    host: Host = field(title="Host")
    invitees: list[Invitee] = field(title="Invitees")
    rules: Rules = field(title="Rules")
    join_url: str = field(title="Join URL")
    created_at: str = field(title="Created at", format="date-time")
    started_at: str | None = field(title="Started at", format="date-time")
    ended_at: str | None = field(title="Ended at", format="date-time")


class RulesInput(BaseModel):
    mute_on_entry: bool | None = field(
        None, title="Mute on entry", description="Participants join muted (default: no)"
    )
    allow_guests: bool | None = field(
        None,
        title="Allow guests",
        description="People without a TMU account may join (default: no)",
    )
    recording: RecordingMode | None = field(
        None,
        title="Recording",
        description="Whether the call is recorded (default: off)",
        enum_labels=["Off", "Host starts recording", "Record automatically"],
    )
    waiting_room: bool | None = field(
        None,
        title="Waiting room",
        description="The host admits each participant (default: no)",
    )
    max_participants: int | None = field(
        None,
        title="Max participants",
        description="Host included, from 2 to 1000 (default: 100)",
        ge=2,
        le=1000,
    )


def _subject() -> Any:
    return field(
        title="Subject", description="What the call is about", min_length=1, max_length=200
    )


def _description() -> Any:
    return field(None, title="Description", format="text", max_length=5000)


def _invitees() -> Any:
    return field(
        None,
        title="Invitees",
        description="The email addresses of the people to invite",
    )


def _rules() -> Any:
    return field(None, title="In-call rules", description="How the call behaves once joined")


def _call_body(
    data: StartCallInput | ScheduleCallInput,
    *,
    start_time: str | None = None,
    time_zone: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"subject": data.subject}
    if data.description is not None:
        body["description"] = data.description
    if start_time is not None:
        body["start_time"] = start_time
    if time_zone is not None:
        body["time_zone"] = time_zone
    if data.invitees:
        body["invitees"] = [{"email": email} for email in _unique(data.invitees)]
    rules = data.rules.model_dump(exclude_none=True) if data.rules else {}
    if rules:
        body["rules"] = rules
    return body


# -- start_call -------------------------------------------------------------------------------


class StartCallInput(BaseModel):
    subject: str = _subject()
    description: str | None = _description()
    invitees: list[Email] | None = _invitees()
    rules: RulesInput | None = _rules()
    time_zone: str | None = field(
        None,
        title="Time zone",
        description=TIME_ZONE_HELP + ". The zone the call's times are shown in (default: "
        "the host's)",
        advanced=True,
    )

    _zone = field_validator("time_zone")(_valid_time_zone)


@operation(
    title="Start Call",
    description="Start a TMU call now, inviting people by email (TMU POST /calls).",
    input=StartCallInput,
    output=Call,
)
async def start_call(ctx: Context, data: StartCallInput) -> dict[str, Any]:
    return await call_tmu(ctx, "POST", "calls", json=_call_body(data, time_zone=data.time_zone))


# -- schedule_call ------------------------------------------------------------------------------


def start_time_in_zone(value: str, zone: str) -> str:
    """``value`` as RFC 3339 in ``zone``: a wall-clock time (no offset) is read in
    ``zone``; a time with an offset (or Z) keeps its instant."""
    moment = datetime.fromisoformat(value)
    tz = ZoneInfo(zone)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz).isoformat(timespec="seconds")


class ScheduleCallInput(BaseModel):
    subject: str = _subject()
    description: str | None = _description()
    start_time: str = field(
        title="Start date and time",
        description="When the call starts, in the future: a date and time such as "
        "2030-01-31T09:30 (read in the time zone below) or with an offset such as "
        "2030-01-31T09:30:00Z or 2030-01-31T09:30:00+01:00",
        format="datetime",
        min_length=1,
    )
    time_zone: str = field(
        "UTC",
        title="Time zone",
        description=TIME_ZONE_HELP + ". The start time is read in this zone when it has no "
        "offset, and the call's times are shown in it",
    )
    invitees: list[Email] | None = _invitees()
    rules: RulesInput | None = _rules()

    _zone = field_validator("time_zone")(_valid_time_zone)

    @field_validator("start_time")
    @classmethod
    def _start(cls, value: str) -> str:
        try:
            if len(value) < 16:  # a date alone, or words: not a time of day
                raise ValueError(value)
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a date and time such as 2030-01-31T09:30 or "
                "2030-01-31T09:30:00+01:00"
            ) from None
        return value


@operation(
    title="Schedule Call",
    description="Schedule a TMU call for a future date and time, inviting people by email "
    "(TMU POST /calls with a start_time).",
    input=ScheduleCallInput,
    output=Call,
)
async def schedule_call(ctx: Context, data: ScheduleCallInput) -> dict[str, Any]:
    start = start_time_in_zone(data.start_time, data.time_zone)
    body = _call_body(data, start_time=start, time_zone=data.time_zone)
    return await call_tmu(ctx, "POST", "calls", json=body)


# -- invite_users -----------------------------------------------------------------------------


class InviteUsersInput(BaseModel):
    call_id: str = _call_id_field(include_ended=False)
    invitees: list[Email] = field(
        title="Invitees",
        description="The email addresses of the people to invite (already invited ones are "
        "left as they are)",
        min_length=1,
    )


@operation(
    title="Invite Users",
    description="Invite people to a scheduled or live call by email; the host's token is "
    "needed (TMU POST /calls/{id}/invitees).",
    input=InviteUsersInput,
    output=Call,
)
async def invite_users(ctx: Context, data: InviteUsersInput) -> dict[str, Any]:
    body = {"invitees": [{"email": email} for email in _unique(data.invitees)]}
    return await call_tmu(ctx, "POST", call_path(data.call_id, "invitees"), json=body)


# -- get_call -------------------------------------------------------------------------------


class GetCallInput(BaseModel):
    call_id: str = _call_id_field(include_ended=True)


@operation(
    title="Get Call",
    description="A call the user hosts or is invited to (TMU GET /calls/{id}).",
    input=GetCallInput,
    output=Call,
)
async def get_call(ctx: Context, data: GetCallInput) -> dict[str, Any]:
    return await call_tmu(ctx, "GET", call_path(data.call_id))


# -- stop_call ------------------------------------------------------------------------------


class StopCallInput(BaseModel):
    call_id: str = _call_id_field(include_ended=False)


@operation(
    title="Stop Call",
    description="End a live call, or cancel a scheduled one; the host's token is needed "
    "(TMU POST /calls/{id}/stop).",
    input=StopCallInput,
    output=Call,
)
async def stop_call(ctx: Context, data: StopCallInput) -> dict[str, Any]:
    return await call_tmu(ctx, "POST", call_path(data.call_id, "stop"))


# -- list_calls -------------------------------------------------------------------------------


class ListCallsInput(BaseModel):
    status: CallStatus | None = field(
        None,
        title="Status",
        description="Only calls in this state (default: all)",
        enum_labels=["Scheduled", "Live", "Ended"],
    )
    role: Literal["host", "invitee"] | None = field(
        None,
        title="Role",
        description="Only calls the user hosts, or only those they are invited to (default: both)",
        enum_labels=["Host", "Invitee"],
        advanced=True,
    )
    start_after: str | None = field(
        None,
        title="Starting after",
        description="Only calls starting after this time (RFC 3339, e.g. 2030-01-31T00:00:00Z)",
        format="date-time",
        advanced=True,
    )
    start_before: str | None = field(
        None,
        title="Starting before",
        description="Only calls starting before this time (RFC 3339)",
        format="date-time",
        advanced=True,
    )
    max_results: int = field(
        100,
        title="Max results",
        description=f"At most this many calls (1 to {MAX_RESULTS})",
        ge=1,
        le=MAX_RESULTS,
    )


class ListCallsOutput(BaseModel):
    calls: list[Call] = field(title="Calls", description="Latest start first")
    has_more: bool = field(
        title="Has more", description="More calls matched than max_results returned"
    )


@operation(
    title="List Calls",
    description="The calls the user hosts or is invited to, latest start first, following "
    "every page up to max_results (TMU GET /calls).",
    input=ListCallsInput,
    output=ListCallsOutput,
)
async def list_calls(ctx: Context, data: ListCallsInput) -> dict[str, Any]:
    params = {
        "status": data.status,
        "role": data.role,
        "start_after": data.start_after,
        "start_before": data.start_before,
    }
    calls, more = await collect(ctx, "calls", "calls", params, data.max_results)
    return {"calls": calls, "has_more": more}


# -- list_calls_ddl -------------------------------------------------------------------------


class ListCallsDDLInput(BaseModel):
    include_ended: bool = field(
        False, title="Include ended calls", description="Also list calls that have ended"
    )


@operation(
    title="List Calls DDL",
    description="The user's calls, for a drop-down (TMU GET /calls).",
    input=ListCallsDDLInput,
    output=DDLOutput,
)
async def list_calls_ddl(ctx: Context, data: ListCallsDDLInput) -> dict[str, Any]:
    params = {} if data.include_ended else {"status": "scheduled,live"}
    calls, _ = await collect(ctx, "calls", "calls", params, DDL_MAX_ITEMS)
    return {
        "result": [
            {"text": f"{c['subject']} ({c['status']}, {c['start_time']})", "value": c["id"]}
            for c in calls
        ]
    }


# -- chat (1.1) ------------------------------------------------------------------------------


class Sender(OpenObject):
    email: str = field(title="Email")
    user_id: str = field(title="User ID")


class ChatMessage(OpenObject):
    id: str = field(title="ID")
    call_id: str = field(title="Call ID")
    sender: Sender = field(title="Sender")
    text: str = field(title="Text")
    created_at: str = field(title="Created at", format="date-time")


class SendChatMessageInput(BaseModel):
    call_id: str = _call_id_field(include_ended=False)
    text: str = field(title="Text", format="text", min_length=1, max_length=4000)


@operation(
    title="Send Chat Message",
    description="Post a message to a call's chat as the user (TMU POST /calls/{id}/messages).",
    input=SendChatMessageInput,
    output=ChatMessage,
)
async def send_chat_message(ctx: Context, data: SendChatMessageInput) -> dict[str, Any]:
    return await call_tmu(
        ctx, "POST", call_path(data.call_id, "messages"), json={"text": data.text}
    )


class ListChatMessagesInput(BaseModel):
    call_id: str = _call_id_field(include_ended=True)
    since: str | None = field(
        None,
        title="Since",
        description="Only messages sent after this time (RFC 3339, e.g. 2030-01-31T09:30:00Z)",
        format="date-time",
        advanced=True,
    )
    max_results: int = field(
        100,
        title="Max results",
        description=f"At most this many messages (1 to {MAX_RESULTS})",
        ge=1,
        le=MAX_RESULTS,
    )


class ListChatMessagesOutput(BaseModel):
    messages: list[ChatMessage] = field(title="Messages", description="Oldest first")
    has_more: bool = field(
        title="Has more", description="More messages matched than max_results returned"
    )


@operation(
    title="List Chat Messages",
    description="The messages of a call's chat, oldest first, following every page up to "
    "max_results (TMU GET /calls/{id}/messages).",
    input=ListChatMessagesInput,
    output=ListChatMessagesOutput,
)
async def list_chat_messages(ctx: Context, data: ListChatMessagesInput) -> dict[str, Any]:
    path = call_path(data.call_id, "messages")
    messages, more = await collect(ctx, path, "messages", {"since": data.since}, data.max_results)
    return {"messages": messages, "has_more": more}


CALL_OPERATIONS = [
    start_call,
    schedule_call,
    invite_users,
    get_call,
    list_calls,
    stop_call,
    list_calls_ddl,
]
CHAT_OPERATIONS = [send_chat_message, list_chat_messages]
