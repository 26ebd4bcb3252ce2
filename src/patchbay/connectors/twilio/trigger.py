"""The Twilio trigger: messages a Twilio number receives, and status callbacks of sent ones.

Twilio calls the intake URL with form-encoded parameters (a POST; a GET carries them in the
query) signed in ``X-Twilio-Signature``: base64 HMAC-SHA1 under the account's Auth Token of
the URL as called followed, for a POST, by every parameter's name and value in sorted name
order. Twilio's notes say it signs HTTPS callbacks with the port dropped from the URL, and
its helper libraries accept the URL with or without the port; so do we. The Auth Token is
copied into the subscription's state when it is made (from the authentication, or from the
``auth_token`` setting when the authentication is an API key).

``incoming_message`` can point a number's ``SmsUrl`` at the intake URL (and put the old one
back when the subscription ends); ``message_status`` registers nothing: the intake URL is
given as a message's ``StatusCallback``. Every parameter Twilio sends is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..sdk import (
    ConnectorError,
    Context,
    Event,
    IncomingRequest,
    NoTrigger,
    Reply,
    TriggerOperation,
    TriggerRejected,
    field,
)
from .operations import account_path

SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_MEDIA = 10  # media items a message carries at most (MediaUrl0..MediaUrl9)

TWIML_REPLY = Reply(
    status=200,
    headers=(("Content-Type", "text/xml"),),
    body=b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
)
EMPTY_REPLY = Reply(status=204, headers=(), body=b"")

MessageStatus = Literal[
    "accepted",
    "scheduled",
    "canceled",
    "queued",
    "sending",
    "sent",
    "failed",
    "delivered",
    "undelivered",
    "receiving",
    "received",
    "read",
    "partially_delivered",
]
MESSAGE_STATUSES: tuple[str, ...] = get_args(MessageStatus)
STATUS_LABELS = [s.replace("_", " ").capitalize() for s in MESSAGE_STATUSES]


# -- verification ---------------------------------------------------------------------------


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """What Twilio sends in ``X-Twilio-Signature``: base64 HMAC-SHA1 under the Auth Token of
    ``url`` followed by each parameter's name and value, sorted by name (then value)."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """``url`` as called, without its port (Twilio signs HTTPS callbacks so) and with the
    scheme's default port added (Twilio's helper libraries accept both)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None:
        other = urlunsplit(parts._replace(netloc=host))
    else:
        default = {"https": 443, "http": 80}.get(parts.scheme)
        if default is None or not host:
            return [url]
        other = urlunsplit(parts._replace(netloc=f"{host}:{default}"))
    return [url, other]


def _params(request: IncomingRequest) -> list[tuple[str, str]]:
    """The request's parameters: the form body of a POST, the query of a GET."""
    if request.method == "GET":
        return list(request.query)
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type and content_type != "application/x-www-form-urlencoded":
        raise TriggerRejected(
            400, f"Twilio posts application/x-www-form-urlencoded, not {content_type}"
        )
    try:
        text = request.body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise TriggerRejected(400, f"The form body is not valid UTF-8 form data: {exc}") from exc


def _verify(request: IncomingRequest, auth_token: str | None) -> list[tuple[str, str]]:
    """The request's parameters once its signature checks out; 401 otherwise."""
    sent = (request.header(SIGNATURE_HEADER) or "").strip()
    if not sent:
        raise TriggerRejected(401, f"The {SIGNATURE_HEADER} header is missing")
    if not auth_token:
        raise TriggerRejected(401, "The subscription has no Auth Token to verify requests with")
    params = _params(request)
    signed = params if request.method != "GET" else []  # a GET's parameters are in the URL
    for url in url_variants(request.url):
        if hmac.compare_digest(sent.encode(), signature(auth_token, url, signed).encode()):
            return params
    raise TriggerRejected(401, f"The {SIGNATURE_HEADER} header does not match the request")


def _auth_token(settings: Any, state: dict[str, Any]) -> str | None:
    return state.get("auth_token") or getattr(settings, "auth_token", None)


# -- settings -------------------------------------------------------------------------------

AUTH_TOKEN_DESCRIPTION = (
    "The account's Auth Token, which Twilio signs its requests with. Only needed when the "
    "authentication is an API key (it has no Auth Token); it overrides the authentication's."
)


class IncomingMessageSettings(BaseModel):
    phone_number_sid: str | None = field(
        None,
        title="Phone number SID",
        description="PN…: the number whose incoming messages start events. Its SMS webhook "
        "(SmsUrl) is pointed at this trigger, and put back when the trigger is removed. "
        "Without it, paste the trigger's URL in the number's or messaging service's "
        "settings in Twilio.",
        pattern=r"^PN[0-9a-fA-F]{32}$",
    )
    auth_token: str | None = field(
        None,
        title="Auth Token",
        description=AUTH_TOKEN_DESCRIPTION,
        min_length=1,
        format="password",
        advanced=True,
    )


class MessageStatusSettings(BaseModel):
    statuses: (
        list[Annotated[MessageStatus, Field(json_schema_extra={"enumLabels": STATUS_LABELS})]]
        | None
    ) = field(
        None,
        title="Statuses",
        description="Only status callbacks with these statuses start events; the others are "
        "acknowledged and dropped. Every status when empty.",
        min_length=1,
    )
    auth_token: str | None = field(
        None,
        title="Auth Token",
        description=AUTH_TOKEN_DESCRIPTION,
        min_length=1,
        format="password",
        advanced=True,
    )


# -- events ---------------------------------------------------------------------------------


def _text(title: str, description: str | None = None) -> Any:
    return field(None, title=title, description=description)


class _Params(BaseModel):
    """Twilio's form parameters, as strings; every parameter Twilio sends is kept."""

    model_config = ConfigDict(extra="allow")

    MessageSid: str = field(title="Message SID", description="SM… or MM…")
    SmsSid: str | None = _text("SMS SID", "The same as MessageSid (deprecated)")
    AccountSid: str | None = _text("Account SID")
    MessagingServiceSid: str | None = _text("Messaging service SID")
    From: str | None = _text("From", "E.164, or whatsapp:+…")
    To: str | None = _text("To")
    ApiVersion: str | None = _text("API version")


class MediaItem(BaseModel):
    url: str = field(title="URL", description="MediaUrlN")
    content_type: str | None = field(None, title="Content type", description="MediaContentTypeN")


class _IncomingMessage(_Params):
    SmsMessageSid: str | None = _text("SMS message SID", "The same as MessageSid (deprecated)")
    Body: str | None = _text("Body", "The message text")
    NumMedia: str | None = _text("Media count", "How many MediaUrlN parameters there are")
    NumSegments: str | None = _text("Segments")
    SmsStatus: str | None = _text("SMS status", "received")
    FromCity: str | None = _text("From city")
    FromState: str | None = _text("From state")
    FromZip: str | None = _text("From ZIP")
    FromCountry: str | None = _text("From country")
    ToCity: str | None = _text("To city")
    ToState: str | None = _text("To state")
    ToZip: str | None = _text("To ZIP")
    ToCountry: str | None = _text("To country")
    # WhatsApp
    ProfileName: str | None = _text("Profile name", "WhatsApp: the sender's profile name")
    WaId: str | None = _text("WhatsApp ID", "WhatsApp: the sender's WhatsApp id")
    Forwarded: str | None = _text("Forwarded", "WhatsApp")
    FrequentlyForwarded: str | None = _text("Frequently forwarded", "WhatsApp")
    ButtonText: str | None = _text("Button text", "WhatsApp: a quick reply's text")
    ButtonPayload: str | None = _text("Button payload", "WhatsApp: a quick reply's payload")
    Latitude: str | None = _text("Latitude", "WhatsApp: a shared location")
    Longitude: str | None = _text("Longitude", "WhatsApp: a shared location")
    Address: str | None = _text("Address", "WhatsApp: a shared location")
    Label: str | None = _text("Label", "WhatsApp: a shared location")
    media: list[MediaItem] | None = field(
        None,
        title="Media",
        description="Added by Patchbay: each MediaUrlN with its MediaContentTypeN, in order",
    )


IncomingMessage = create_model(  # MediaUrl0..9 and MediaContentType0..9
    "IncomingMessage",
    __base__=_IncomingMessage,
    __doc__="An incoming SMS, MMS or WhatsApp message, as Twilio posted it.",
    **{
        f"{name}{i}": (str | None, _text(f"{title} {i}"))
        for i in range(MAX_MEDIA)
        for name, title in (("MediaUrl", "Media URL"), ("MediaContentType", "Media type"))
    },
)


class StatusCallback(_Params):
    """A message status callback, as Twilio posted it."""

    MessageStatus: str = field(
        title="Message status", description=", ".join(MESSAGE_STATUSES) + " (Twilio may add more)"
    )
    SmsStatus: str | None = _text("SMS status", "The same as MessageStatus (deprecated)")
    ErrorCode: str | None = _text("Error code", "failed or undelivered: Twilio's error code")
    ErrorMessage: str | None = _text("Error message")
    RawDlrDoneDate: str | None = _text("Carrier done date", "YYMMDDhhmm, from the carrier")
    ChannelToAddress: str | None = _text("Channel to address")
    ChannelPrefix: str | None = _text("Channel prefix", "e.g. whatsapp")
    ChannelInstallSid: str | None = _text("Channel install SID")
    ChannelStatusMessage: str | None = _text("Channel status message")


def _message_sid(params: dict[str, str]) -> str:
    sid = params.get("MessageSid") or params.get("SmsSid") or params.get("SmsMessageSid")
    if not sid:
        raise TriggerRejected(400, "The request carries no MessageSid: not a Twilio message")
    return sid


def _media(params: dict[str, str]) -> list[dict[str, str]]:
    media = []
    for i in range(MAX_MEDIA):
        url = params.get(f"MediaUrl{i}")
        if not url:
            continue
        item = {"url": url}
        if params.get(f"MediaContentType{i}"):
            item["content_type"] = params[f"MediaContentType{i}"]
        media.append(item)
    return media


def on_incoming_message(
    request: IncomingRequest, settings: IncomingMessageSettings, state: dict[str, Any]
) -> list[Event] | NoTrigger:
    params = dict(_verify(request, _auth_token(settings, state)))
    sid = _message_sid(params)
    data: dict[str, Any] = {**params, "MessageSid": sid}
    media = _media(params)
    if media:
        data["media"] = media
    return [Event(data=data, id=sid)]


def on_message_status(
    request: IncomingRequest, settings: MessageStatusSettings, state: dict[str, Any]
) -> list[Event] | NoTrigger:
    params = dict(_verify(request, _auth_token(settings, state)))
    sid = _message_sid(params)
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not status:
        raise TriggerRejected(400, "The request carries no MessageStatus: not a status callback")
    if settings.statuses and status not in settings.statuses:
        return NoTrigger(f"message status {status!r} is filtered out")
    data = {**params, "MessageSid": sid, "MessageStatus": status}
    return [Event(data=data, id=f"{sid}:{status}")]


def incoming_key(event: Event) -> str | None:
    return event.data.get("MessageSid") or None


def status_key(event: Event) -> str | None:
    sid, status = event.data.get("MessageSid"), event.data.get("MessageStatus")
    return f"{sid}:{status}" if sid and status else None


def twiml_reply(
    request: IncomingRequest, settings: Any, state: dict[str, Any], result: Any
) -> Reply:
    """An empty TwiML answer: Twilio sends no reply message."""
    return TWIML_REPLY


def empty_reply(
    request: IncomingRequest, settings: Any, state: dict[str, Any], result: Any
) -> Reply:
    """An empty 204: Twilio accepts any 2xx for a status callback."""
    return EMPTY_REPLY


# -- subscribing ----------------------------------------------------------------------------


def _token_for(ctx: Context, settings: Any) -> str:
    token = getattr(settings, "auth_token", None) or (ctx.credentials or {}).get("auth_token")
    if not token:
        raise ConnectorError(
            "Twilio signs its requests with the account's Auth Token, and this authentication "
            "has none (it is an API key): give the Auth Token in the auth_token setting",
            "auth_error",
        )
    return str(token)


async def subscribe_status(ctx: Context, settings: MessageStatusSettings) -> dict[str, Any]:
    return {"auth_token": _token_for(ctx, settings)}


def _number_path(ctx: Context, sid: str) -> str:
    return account_path(ctx, f"IncomingPhoneNumbers/{quote(sid, safe='')}.json")


async def subscribe_incoming(ctx: Context, settings: IncomingMessageSettings) -> dict[str, Any]:
    """Keep the Auth Token; with a phone number, point its SmsUrl here (POST), remembering
    the previous SmsUrl and SmsMethod."""
    state: dict[str, Any] = {"auth_token": _token_for(ctx, settings)}
    sid = settings.phone_number_sid
    if not sid:
        return state
    if not ctx.intake_url:
        raise ConnectorError("The subscription has no intake URL to give Twilio")
    path = _number_path(ctx, sid)
    number = (await ctx.request("GET", path)).json()
    await ctx.request("POST", path, data={"SmsUrl": ctx.intake_url, "SmsMethod": "POST"})
    return state | {
        "phone_number_sid": sid,
        "sms_url": ctx.intake_url,
        "previous_sms_url": number.get("sms_url") or "",
        "previous_sms_method": number.get("sms_method") or "POST",
    }


async def unsubscribe_incoming(
    ctx: Context, settings: IncomingMessageSettings, state: dict[str, Any]
) -> None:
    """Put the number's previous SmsUrl back, unless it no longer points here (changed in
    the meantime) or the number is gone."""
    sid = state.get("phone_number_sid")
    if not sid:
        return
    path = _number_path(ctx, sid)
    try:
        number = (await ctx.request("GET", path)).json()
    except ConnectorError as exc:
        if exc.status_code == 404:
            return  # released: nothing to restore
        raise
    if number.get("sms_url") != state.get("sms_url"):
        return
    previous = {
        "SmsUrl": state.get("previous_sms_url") or "",
        "SmsMethod": state.get("previous_sms_method") or "POST",
    }
    await ctx.request("POST", path, data=previous)


INCOMING_MESSAGE = TriggerOperation(
    name="incoming_message",
    title="Incoming Message",
    description="An SMS, MMS or WhatsApp message received by a Twilio number, verified with "
    "X-Twilio-Signature. Optionally points the number's SMS webhook at this trigger.",
    input=IncomingMessageSettings,
    output=IncomingMessage,
    on_request=on_incoming_message,
    on_subscribe=subscribe_incoming,
    on_unsubscribe=unsubscribe_incoming,
    reply=twiml_reply,
    dedupe_key=incoming_key,
)

MESSAGE_STATUS = TriggerOperation(
    name="message_status",
    title="Message Status",
    description="A status callback of a sent message (queued, sent, delivered, undelivered, "
    "failed, read…), verified with X-Twilio-Signature. Give this trigger's URL as the "
    "message's StatusCallback.",
    input=MessageStatusSettings,
    output=StatusCallback,
    on_request=on_message_status,
    on_subscribe=subscribe_status,
    reply=empty_reply,
    dedupe_key=status_key,
)

OPERATIONS = [INCOMING_MESSAGE, MESSAGE_STATUS]
