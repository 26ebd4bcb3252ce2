"""The TMU trigger: Call Started / Call Stopped (and, from 1.1, Chat Message Received) for
the authenticated TMU user, through TMU's signed webhooks (``API.md``, Webhooks).

``on_subscribe`` asks ``GET /me`` who the API token belongs to and registers a webhook for
that user with the operation's one event type, pointing at the subscription's intake URL;
the state keeps the webhook's id and secret and the user's id. ``on_request`` checks
``X-TMU-Signature`` (``sha256=`` + hex HMAC-SHA256 of the raw body under the secret), then
keeps only events of the operation's type about a call the user hosts (TMU lets only the
host start or stop a call) or is invited to; a chat message the user sent themselves is
dropped. An event's data is the call (or the chat message, with its call); its id is TMU's
event id, which names duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ..sdk import (
    Context,
    Event,
    IncomingRequest,
    NoTrigger,
    TriggerOperation,
    TriggerRejected,
    field,
)
from .operations import Call, ChatMessage, call_tmu, tmu_error

SIGNATURE_HEADER = "X-TMU-Signature"


class ChatMessageEvent(ChatMessage):
    """A chat message as TMU sent it, with the call it was sent in."""

    call: Call = field(title="Call", description="The call whose chat the message is in")


def signature(secret: str, body: bytes) -> str:
    """What TMU sends in ``X-TMU-Signature``: ``sha256=`` + hex HMAC-SHA256(secret, body)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _verify(request: IncomingRequest, secret: str) -> None:
    sent = request.header(SIGNATURE_HEADER)
    if not sent:
        raise TriggerRejected(401, f"The {SIGNATURE_HEADER} header is missing")
    scheme, _, digest = sent.strip().partition("=")
    expected = signature(secret, request.body)
    given = f"{scheme.lower()}={digest.lower()}"
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise TriggerRejected(401, f"The {SIGNATURE_HEADER} header does not match the body")


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _involves(call: dict[str, Any], user_id: str) -> bool:
    """The user hosts the call (only the host starts or stops it) or is invited to it."""
    host = call.get("host")
    if isinstance(host, dict) and host.get("user_id") == user_id:
        return True
    invitees = call.get("invitees")
    return isinstance(invitees, list) and any(
        isinstance(i, dict) and i.get("user_id") == user_id for i in invitees
    )


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TriggerRejected(400, f"The event has no {what} object")
    return value


def _receiver(event_type: str):
    def on_request(
        request: IncomingRequest, settings: Any, state: dict[str, Any]
    ) -> list[Event] | NoTrigger:
        secret = state.get("secret")
        if not secret:
            raise TriggerRejected(401, "The subscription has no webhook secret to verify with")
        _verify(request, secret)
        payload = request.json()
        if not isinstance(payload, dict):
            raise TriggerRejected(400, "The body must be a JSON object (one TMU event)")
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind:
            raise TriggerRejected(400, "The event has no type")
        if kind != event_type:
            return NoTrigger(f"event type {kind!r} is not {event_type!r}")
        data = _object(payload.get("data"), "data")
        call = _object(data.get("call"), "data.call")
        user_id = state.get("user_id")
        if not isinstance(user_id, str) or not _involves(call, user_id):
            return NoTrigger(f"call {call.get('id')!r} neither hosted by nor inviting {user_id}")
        event_id = payload.get("id")
        event_id = event_id if isinstance(event_id, str) and event_id else None
        occurred_at = _when(payload.get("created_at"))
        if event_type != "chat.message_received":
            return [Event(data=call, id=event_id, occurred_at=occurred_at)]
        message = _object(data.get("message"), "data.message")
        sender = message.get("sender")
        if isinstance(sender, dict) and sender.get("user_id") == user_id:
            return NoTrigger(f"message {message.get('id')!r} was sent by {user_id} themselves")
        return [Event(data={**message, "call": call}, id=event_id, occurred_at=occurred_at)]

    return on_request


def _subscriber(event_type: str):
    async def on_subscribe(ctx: Context, settings: Any) -> dict[str, Any]:
        if not ctx.intake_url:
            raise ctx.fail("The subscription has no intake URL to register with TMU")
        me = await call_tmu(ctx, "GET", "me")
        user_id = me.get("id") if isinstance(me, dict) else None
        if not isinstance(user_id, str) or not user_id:
            raise ctx.fail("TMU's GET /me answered without the user's id", "api_error")
        webhook = await call_tmu(
            ctx,
            "POST",
            "webhooks",
            json={"url": ctx.intake_url, "events": [event_type], "user_id": user_id},
        )
        if not isinstance(webhook, dict) or not webhook.get("id") or not webhook.get("secret"):
            raise ctx.fail("TMU registered the webhook without an id or secret", "api_error")
        return {"webhook_id": webhook["id"], "secret": webhook["secret"], "user_id": user_id}

    return on_subscribe


async def on_unsubscribe(ctx: Context, settings: Any, state: dict[str, Any]) -> None:
    """Delete the webhook; one TMU no longer has (404) is already gone."""
    webhook_id = state.get("webhook_id")
    if not webhook_id:
        return
    response = await ctx.request(
        "DELETE", "webhooks/" + quote(str(webhook_id), safe=""), raise_for_status=False
    )
    if response.is_success or response.status_code == 404:
        return
    raise tmu_error(ctx, response)


def dedupe_key(event: Event) -> str | None:
    """TMU's event id (one webhook per subscription, so it is unique within one)."""
    return event.id


def _operation(
    name: str, title: str, event_type: str, description: str, output: type
) -> TriggerOperation:
    return TriggerOperation(
        name=name,
        title=title,
        description=description,
        input=None,
        output=output,
        on_request=_receiver(event_type),
        on_subscribe=_subscriber(event_type),
        on_unsubscribe=on_unsubscribe,
        dedupe_key=dedupe_key,
    )


CALL_STARTED = _operation(
    "call_started",
    "Call Started",
    "call.started",
    "A call the authenticated user hosts or is invited to goes live (started now, or a "
    "scheduled call started). The event is the call.",
    Call,
)
CALL_STOPPED = _operation(
    "call_stopped",
    "Call Stopped",
    "call.stopped",
    "A live call the authenticated user hosts or is invited to ends. The event is the call.",
    Call,
)
CHAT_MESSAGE_RECEIVED = _operation(
    "chat_message_received",
    "Chat Message Received",
    "chat.message_received",
    "Someone else sends a message in the chat of a call the authenticated user hosts or is "
    "invited to. The event is the message, with its call.",
    ChatMessageEvent,
)

EVENT_TYPES = {
    CALL_STARTED.name: "call.started",
    CALL_STOPPED.name: "call.stopped",
    CHAT_MESSAGE_RECEIVED.name: "chat.message_received",
}

TRIGGER_OPERATIONS_1_0 = [CALL_STARTED, CALL_STOPPED]
TRIGGER_OPERATIONS_1_1 = [CALL_STARTED, CALL_STOPPED, CHAT_MESSAGE_RECEIVED]
