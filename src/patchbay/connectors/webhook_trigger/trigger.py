"""The generic webhook trigger: any HTTP request to the intake URL is one event.

Verification is chosen per subscription: ``none``; ``shared_secret`` (a header must equal
the secret); or ``hmac`` (a header carries the HMAC of the raw body, or with a timestamp
header of ``signed_payload`` such as ``{timestamp}.{body}``, under the secret). The event
is the request itself (method, path, query, headers without credentials, the parsed body);
an optional header names the delivery id used as the dedupe key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel, model_validator

from ..sdk import Event, IncomingRequest, NoTrigger, Reply, TriggerOperation, TriggerRejected, field
from ..sdk.headers import is_secret_header

Verification = Literal["none", "hmac", "shared_secret"]
Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]

_SIGNATURE_SPLIT = re.compile(r"[,\s]+")
_UNIX_TIME = re.compile(r"[0-9]{1,12}")


class WebhookSettings(BaseModel):
    verification: Verification = field(
        "none",
        title="Verification",
        description="How a request proves it comes from the sender: none, an HMAC signature "
        "of the body, or a header equal to a shared secret.",
        enum_labels=["None", "HMAC signature", "Shared secret"],
    )
    secret: str | None = field(
        None,
        title="Secret",
        description="The HMAC key, or the value the shared-secret header must carry.",
        min_length=1,
        format="password",
    )
    signature_header: str = field(
        "X-Signature",
        title="Signature header",
        description="The header carrying the signature (HMAC) or the secret (shared secret).",
        min_length=1,
    )
    algorithm: Algorithm = field(
        "sha256",
        title="HMAC algorithm",
        enum_labels=["SHA-1", "SHA-256", "SHA-512"],
        advanced=True,
    )
    encoding: Encoding = field(
        "hex",
        title="Signature encoding",
        enum_labels=["Hex", "Base64"],
        advanced=True,
    )
    signature_prefix: str | None = field(
        None,
        title="Signature prefix",
        description="Text before the signature in the header, e.g. 'sha256=' (GitHub) or "
        "'v0=' (Slack); 'Bearer ' before a shared secret in an Authorization header.",
        min_length=1,
        advanced=True,
    )
    timestamp_header: str | None = field(
        None,
        title="Timestamp header",
        description="HMAC only: a header with the send time in unix seconds. The signature "
        "then covers the signed payload, and requests outside the tolerance are refused.",
        min_length=1,
        advanced=True,
    )
    tolerance_seconds: int = field(
        300,
        title="Timestamp tolerance (seconds)",
        description="How far the timestamp may be from the time the request arrived.",
        ge=1,
        advanced=True,
    )
    signed_payload: str = field(
        "{timestamp}.{body}",
        title="Signed payload",
        description="With a timestamp header, what is signed: {timestamp} and {body} are "
        "replaced by the header's value and the raw body (Slack: 'v0:{timestamp}:{body}').",
        min_length=1,
        advanced=True,
    )
    id_header: str | None = field(
        None,
        title="Delivery id header",
        description="A header naming each delivery (e.g. X-GitHub-Delivery): requests with "
        "an id already seen are duplicates. Without it nothing is deduplicated.",
        min_length=1,
    )
    response_status: int = field(
        200,
        title="Response status",
        description="The 2xx status answered to an accepted request.",
        ge=200,
        le=299,
        advanced=True,
    )
    response_body: Any = field(
        None,
        title="Response body",
        description="The answer's body: text is sent as text/plain, anything else as JSON. "
        '{"ok": true} by default.',
        advanced=True,
    )

    @model_validator(mode="after")
    def _secret_when_verifying(self) -> WebhookSettings:
        if self.verification != "none" and not self.secret:
            raise ValueError(f"verification {self.verification!r} needs a secret")
        if "{body}" not in self.signed_payload:
            raise ValueError("signed_payload must contain {body}")
        return self


class WebhookEvent(BaseModel):
    method: str = field(title="Method", description="The HTTP method, upper case")
    path: str = field(title="Path", description="The path the request was sent to")
    query: dict[str, str | list[str]] = field(
        title="Query", description="Query parameters: one value, or a list when repeated"
    )
    headers: dict[str, str] = field(
        title="Headers",
        description="Lower-cased header names; credentials and signatures are left out",
    )
    body: Any = field(
        None,
        title="Body",
        description="Parsed JSON for a JSON content type, an object of fields for a form, "
        "the text otherwise; null when the body is empty",
    )
    receivedAt: str = field(title="Received at", format="date-time")


# ---------------------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------------------


def _digest(settings: WebhookSettings, payload: bytes) -> bytes:
    secret = (settings.secret or "").encode()
    return hmac.new(secret, payload, getattr(hashlib, settings.algorithm)).digest()


def _decode(candidate: str, encoding: Encoding) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(candidate)
        return base64.b64decode(candidate, validate=True)
    except (ValueError, binascii.Error):
        return None


def _strip_prefix(value: str, prefix: str | None) -> str | None:
    if not prefix:
        return value
    return value[len(prefix) :] if value.startswith(prefix) else None


def _signed_payload(request: IncomingRequest, settings: WebhookSettings) -> bytes:
    """The bytes the sender signed; checks the timestamp when one is configured."""
    if not settings.timestamp_header:
        return request.body
    name = settings.timestamp_header
    sent = (request.header(name) or "").strip()
    if not sent:
        raise TriggerRejected(401, f"The {name} header is missing")
    if not _UNIX_TIME.fullmatch(sent):
        raise TriggerRejected(401, f"The {name} header is not a unix time")
    timestamp = int(sent)
    received = request.received_at
    if received.tzinfo is None:
        received = received.replace(tzinfo=UTC)
    if abs(received.timestamp() - timestamp) > settings.tolerance_seconds:
        raise TriggerRejected(
            401, f"The {name} header is more than {settings.tolerance_seconds}s from now"
        )
    before, _, after = settings.signed_payload.partition("{body}")
    # {timestamp} is replaced in the template only, never inside the body.
    return (
        before.replace("{timestamp}", sent).encode()
        + request.body
        + after.replace("{timestamp}", sent).encode()
    )


def _verify_hmac(request: IncomingRequest, settings: WebhookSettings) -> None:
    name = settings.signature_header
    sent = (request.header(name) or "").strip()
    if not sent:
        raise TriggerRejected(401, f"The {name} header is missing")
    expected = _digest(settings, _signed_payload(request, settings))
    # Several signatures (comma or space separated) are accepted if any matches, as senders
    # do while rotating secrets.
    for candidate in _SIGNATURE_SPLIT.split(sent):
        value = _strip_prefix(candidate, settings.signature_prefix)
        decoded = _decode(value, settings.encoding) if value else None
        if decoded is not None and hmac.compare_digest(decoded, expected):
            return
    raise TriggerRejected(401, f"The {name} header does not match the request")


def _verify_shared_secret(request: IncomingRequest, settings: WebhookSettings) -> None:
    name = settings.signature_header
    sent = request.header(name)
    if not sent:
        raise TriggerRejected(401, f"The {name} header is missing")
    value = _strip_prefix(sent.strip(), settings.signature_prefix) or ""
    if not hmac.compare_digest(value.encode(), (settings.secret or "").encode()):
        raise TriggerRejected(401, f"The {name} header does not match the shared secret")


# ---------------------------------------------------------------------------------------
# The event
# ---------------------------------------------------------------------------------------


def _multi(pairs: Any) -> dict[str, str | list[str]]:
    """Name/value pairs as an object: one value, or a list of them when repeated."""
    out: dict[str, str | list[str]] = {}
    for name, value in pairs:
        if name not in out:
            out[name] = value
        elif isinstance(out[name], list):
            out[name].append(value)  # type: ignore[union-attr]
        else:
            out[name] = [out[name], value]  # type: ignore[list-item]
    return out


def _content_type(request: IncomingRequest) -> tuple[str, str]:
    """The media type (lower case) and the charset (utf-8 unless said)."""
    media, *params = (request.header("content-type") or "").split(";")
    charset = "utf-8"
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    return media.strip().lower(), charset


def _text(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset, errors="replace")
    except LookupError:  # an unknown charset
        return body.decode("utf-8", errors="replace")


def _body(request: IncomingRequest) -> Any:
    if not request.body.strip():
        return None
    media, charset = _content_type(request)
    if media in ("application/json", "text/json") or media.endswith("+json"):
        return request.json()  # TriggerRejected(400) when malformed
    if media == "application/x-www-form-urlencoded":
        return _multi(parse_qsl(_text(request.body, charset), keep_blank_values=True))
    return _text(request.body, charset)


def _headers(request: IncomingRequest, settings: WebhookSettings) -> dict[str, str]:
    """The request's headers for the event: secrets (the one SDK policy, ``sdk.headers``)
    and the configured signature header left out, repeated ones joined."""
    signature = settings.signature_header.lower()
    out: dict[str, str] = {}
    for name, value in request.headers:
        key = name.lower()
        if key == signature or is_secret_header(key):
            continue
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def on_request(
    request: IncomingRequest, settings: WebhookSettings, state: dict[str, Any]
) -> list[Event] | NoTrigger:
    if settings.verification == "hmac":
        _verify_hmac(request, settings)
    elif settings.verification == "shared_secret":
        _verify_shared_secret(request, settings)
    received = _utc(request.received_at)
    data = {
        "method": request.method.upper(),
        "path": request.path,
        "query": _multi(request.query),
        "headers": _headers(request, settings),
        "body": _body(request),
        "receivedAt": received.isoformat().replace("+00:00", "Z"),
    }
    delivery = None
    if settings.id_header:
        delivery = (request.header(settings.id_header) or "").strip() or None
    return [Event(data=data, id=delivery, occurred_at=received)]


def reply(
    request: IncomingRequest,
    settings: WebhookSettings,
    state: dict[str, Any],
    result: list[Event] | NoTrigger,
) -> Reply:
    status, body = settings.response_status, settings.response_body
    if status == 204:
        return Reply(status=204, headers=(), body=b"")
    if body is None:
        return Reply(status=status)
    if isinstance(body, str):
        return Reply(status, (("Content-Type", "text/plain; charset=utf-8"),), body.encode())
    return Reply(status, (("Content-Type", "application/json"),), orjson.dumps(body))


WEBHOOK = TriggerOperation(
    name="webhook",
    title="Webhook",
    description="Any HTTP request to the subscription's URL, optionally verified with an "
    "HMAC signature (with an optional timestamp against replays) or a shared secret.",
    input=WebhookSettings,
    output=WebhookEvent,
    on_request=on_request,
    reply=reply,
)
