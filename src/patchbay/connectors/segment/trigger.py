"""The Segment trigger: Segment's Tray destination POSTs one spec message per request.

Every message type is accepted, ``delete`` included (Segment's Tray page spells its user id
``userID``; the spec ``userId``: both work, the event carries ``userId``). A subscription
picks the types it wants; other messages are acknowledged and dropped. With a shared
secret, ``X-Signature`` must be the hex HMAC-SHA1 of the raw body under that secret.
Duplicates are named by ``messageId``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from ..sdk import Event, IncomingRequest, NoTrigger, TriggerOperation, TriggerRejected, field

MessageType = Literal["identify", "track", "page", "screen", "group", "alias", "delete"]
MESSAGE_TYPES: tuple[str, ...] = get_args(MessageType)
MESSAGE_TYPE_LABELS = ["Identify", "Track", "Page", "Screen", "Group", "Alias", "Delete"]

SIGNATURE_HEADER = "X-Signature"


class SegmentSettings(BaseModel):
    message_types: list[
        Annotated[MessageType, Field(json_schema_extra={"enumLabels": MESSAGE_TYPE_LABELS})]
    ] = field(
        list(MESSAGE_TYPES),
        title="Message types",
        description="The message types that start an event; the others are acknowledged "
        "and dropped. All of them by default.",
        min_length=1,
    )
    shared_secret: str | None = field(
        None,
        title="Shared secret",
        description="The Shared Secret set in Segment's destination settings: requests must "
        "then carry X-Signature, the hex HMAC-SHA1 of the body under this secret.",
        min_length=1,
        format="password",
    )


class SegmentMessage(BaseModel):
    """A Segment spec message, as Segment sent it (``userId`` filled in for ``delete``)."""

    model_config = ConfigDict(extra="allow")

    type: MessageType = field(title="Type", description="The message type")
    messageId: str | None = field(None, title="Message ID", description="Unique per message")
    anonymousId: str | None = field(None, title="Anonymous ID")
    userId: str | None = field(None, title="User ID")
    userID: str | None = field(
        None, title="User ID (delete)", description="A delete's user id as Segment spells it"
    )
    context: dict[str, Any] | None = field(None, title="Context")
    integrations: dict[str, Any] | None = field(None, title="Integrations")
    timestamp: str | None = field(None, title="Timestamp", format="date-time")
    originalTimestamp: str | None = field(None, title="Original timestamp", format="date-time")
    sentAt: str | None = field(None, title="Sent at", format="date-time")
    receivedAt: str | None = field(None, title="Received at", format="date-time")
    channel: str | None = field(None, title="Channel")
    version: int | None = field(None, title="Version", description="The spec version")
    # identify, group
    traits: dict[str, Any] | None = field(None, title="Traits", description="identify, group")
    # track
    event: str | None = field(None, title="Event", description="track: the event name")
    # track, page, screen
    properties: dict[str, Any] | None = field(
        None, title="Properties", description="track, page, screen"
    )
    # page, screen
    name: str | None = field(None, title="Name", description="page, screen")
    category: str | None = field(None, title="Category", description="page")
    # group
    groupId: str | None = field(None, title="Group ID", description="group")
    # alias
    previousId: str | None = field(None, title="Previous ID", description="alias")


def signature(secret: str, body: bytes) -> str:
    """What Segment sends in ``X-Signature``: hex HMAC-SHA1(secret, raw body)."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def _verify(request: IncomingRequest, secret: str) -> None:
    sent = request.header(SIGNATURE_HEADER)
    if not sent:
        raise TriggerRejected(401, f"The {SIGNATURE_HEADER} header is missing")
    expected = signature(secret, request.body)
    if not hmac.compare_digest(sent.strip().lower().encode(), expected.encode()):
        raise TriggerRejected(401, f"The {SIGNATURE_HEADER} header does not match the body")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def on_request(
    request: IncomingRequest, settings: SegmentSettings, state: dict[str, Any]
) -> list[Event] | NoTrigger:
    if settings.shared_secret:
        _verify(request, settings.shared_secret)
    message = request.json()
    if not isinstance(message, dict):
        raise TriggerRejected(400, "The body must be a JSON object (one Segment message)")
    kind = message.get("type")
    if not isinstance(kind, str) or not kind:
        raise TriggerRejected(400, "The message has no type")
    if kind not in MESSAGE_TYPES:
        return NoTrigger(f"message type {kind!r} is not one Segment's Tray destination sends")
    if kind not in settings.message_types:
        return NoTrigger(f"message type {kind!r} is filtered out")
    if kind == "delete" and message.get("userId") is None and "userID" in message:
        message = {**message, "userId": message["userID"]}
    message_id = message.get("messageId")
    return [
        Event(
            data=message,
            id=message_id if isinstance(message_id, str) and message_id else None,
            occurred_at=_when(message.get("timestamp")),
        )
    ]


def dedupe_key(event: Event) -> str | None:
    message_id = event.data.get("messageId")
    return message_id if isinstance(message_id, str) and message_id else None


SEGMENT_MESSAGE = TriggerOperation(
    name="segment_message",
    title="Segment Message",
    description="A message (identify, track, page, screen, group, alias or delete) sent by "
    "Segment's Tray destination, optionally signed with a shared secret.",
    input=SegmentSettings,
    output=SegmentMessage,
    on_request=on_request,
    dedupe_key=dedupe_key,
)
