"""The email connector's operation: send a message through the user's SMTP server.

SMTP is not HTTP, so the SDK's ``ctx.request`` cannot carry it; this module applies the
same rules itself:

* **Outbound guard.** The SMTP host is resolved here and *every* address it resolves to is
  vetted with the outbound policy (``ctx.clients.policy.check``): one refused address
  refuses the host, as the HTTP transport's resolver does. The TCP connection is opened to a
  vetted address and handed to aiosmtplib as a connected socket, so nothing resolves the
  name again (no DNS-rebinding window), while TLS (implicit or STARTTLS) still uses the
  original host name for SNI and certificate verification.
* **Attachments by URL** are fetched with ``ctx.request`` (guard, retries, no credentials:
  the connector has no HTTP authorizer), following at most a few redirects hop by hop, each
  hop vetted again, and capped in size.
* **Errors.** :func:`smtp_error` is the one place SMTP failures become the standardized
  error, keeping the server's reply code and text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import functools
import mimetypes
import os
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Annotated, Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiosmtplib
from pydantic import BaseModel, ConfigDict, StringConstraints

from ..sdk import ConnectorError, Context, field, operation
from ..sdk.outbound import OutboundBlocked

DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 587}
DEFAULT_TIMEOUT = 30.0  # seconds, per SMTP command and for the TCP connect
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # one attachment (decoded)
MAX_TOTAL_ATTACHMENT_BYTES = 25 * 1024 * 1024  # all attachments of one message
MAX_REDIRECTS = 5  # when fetching an attachment URL
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# No CR or LF (nor NUL): what keeps a value inside its header line.
SINGLE_LINE = r"^[^\r\n\x00]*$"
# RFC 5322 field name: printable US-ASCII except the colon.
HEADER_NAME = r"^[!-9;-~]+$"

# Headers the operation writes itself: a custom header may not replace them.
RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply-to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "sender",
        "return-path",
    }
)

# SMTP replies that mean "the credentials are the problem".
AUTH_CODES = frozenset({454, 530, 534, 535, 538})

EmailAddress = Annotated[str, StringConstraints(min_length=3, max_length=998, pattern=SINGLE_LINE)]


# -- schemas ----------------------------------------------------------------------------


class Attachment(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": ["url"]}, {"required": ["content_base64"]}]},
    )

    filename: str = field(
        title="File name",
        description="The attachment's name as the recipient sees it, e.g. report.pdf",
        min_length=1,
        max_length=255,
        pattern=SINGLE_LINE,
    )
    content_type: str | None = field(
        None,
        title="Content type",
        description="Its MIME type, e.g. application/pdf (default: guessed from the file "
        "name, else what the URL answered, else application/octet-stream)",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$",
    )
    url: str | None = field(
        None,
        title="URL",
        description="An http(s) URL to fetch the content from (at most 10 MiB). Give this "
        "or the base64 content",
        format="uri",
    )
    content_base64: str | None = field(
        None,
        title="Content (base64)",
        description="The content, base64-encoded (at most 10 MiB decoded). Give this or a URL",
    )


class Header(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = field(
        title="Name",
        description="A header name such as X-Campaign or In-Reply-To (From, To, Subject and "
        "the other headers this operation writes cannot be replaced)",
        min_length=1,
        max_length=76,
        pattern=HEADER_NAME,
    )
    value: str = field(
        title="Value",
        description="The header's value, on one line (no CR or LF)",
        max_length=998,
        pattern=SINGLE_LINE,
    )


def _addresses(title: str, description: str, **kwargs: Any) -> Any:
    return field(None, title=title, description=description, **kwargs)


class SendEmailInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: EmailAddress | None = field(
        None,
        alias="from",
        title="From",
        description='The sender, as name@example.com or "Name <name@example.com>" '
        "(default: the authentication's default sender)",
    )
    to: list[EmailAddress] = field(
        title="To",
        description='Recipients, each as name@example.com or "Name <name@example.com>"',
        min_length=1,
    )
    cc: list[EmailAddress] | None = _addresses("CC", "Carbon-copy recipients")
    bcc: list[EmailAddress] | None = _addresses(
        "BCC", "Blind-copy recipients: they receive the message but appear in no header"
    )
    reply_to: list[EmailAddress] | None = _addresses(
        "Reply to", "Where replies should go (default: the sender)", advanced=True
    )
    subject: str = field(
        "", title="Subject", description="The subject line", max_length=998, pattern=SINGLE_LINE
    )
    text_body: str | None = field(
        None,
        title="Text body",
        description="The plain-text body. With an HTML body too, both are sent as "
        "alternatives (multipart/alternative)",
        format="text",
    )
    html_body: str | None = field(
        None,
        title="HTML body",
        description="The HTML body. With a text body too, both are sent as alternatives",
        format="code",
    )
    attachments: list[Attachment] | None = field(
        None,
        title="Attachments",
        description="Files to attach, each from a URL or base64 content (25 MiB in all)",
    )
    headers: list[Header] | None = field(
        None,
        title="Custom headers",
        description="Extra headers, e.g. In-Reply-To, References, List-Unsubscribe",
        advanced=True,
    )


class RefusedRecipient(BaseModel):
    code: int = field(title="Code", description="The SMTP reply code, e.g. 550")
    message: str = field(title="Message", description="The server's reply text")


class SendEmailOutput(BaseModel):
    message_id: str = field(
        title="Message ID", description="The Message-ID header of the sent message, <...@...>"
    )
    accepted: list[str] = field(
        title="Accepted", description="The envelope recipients the server accepted"
    )
    refused: dict[str, RefusedRecipient] = field(
        title="Refused",
        description="The envelope recipients the server refused (the others were sent to), "
        "by address",
    )
    server_response: str = field(
        title="Server response",
        description="The server's reply to the message (often with its queue id)",
    )


# -- errors -----------------------------------------------------------------------------


def _kind_for_code(code: int) -> Literal["auth_error", "rate_limited", "api_error"]:
    if code in AUTH_CODES:
        return "auth_error"
    if 400 <= code < 500:  # transient: throttled, greylisted, try again later
        return "rate_limited"
    return "api_error"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def smtp_error(exc: BaseException, target: str) -> ConnectorError:
    """The standardized error for an SMTP (or connection) failure talking to ``target``
    (``host:port``), with the server's reply code as ``code`` and its text in the message.

    535 & co. -> ``auth_error``; 4xx (transient, e.g. 421 throttling) -> ``rate_limited``;
    other replies (550 recipient refused, 554 rejected...) -> ``api_error``; timeouts ->
    ``timeout``; refused connections, TLS failures, a blocked host -> ``connector_error``.
    """
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, OutboundBlocked):
        return ConnectorError(str(exc), "connector_error")
    if isinstance(exc, TimeoutError):  # also aiosmtplib's SMTPTimeoutError family
        return ConnectorError(f"The SMTP server {target} did not answer in time", "timeout")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients
        first = refused[0].code if refused else 550
        listed = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in refused)
        return ConnectorError(
            f"The SMTP server {target} refused every recipient: {listed}",
            _kind_for_code(first),
            code=first,
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return ConnectorError(
            f"The SMTP server {target} refused the credentials: {exc.code} {exc.message}",
            "auth_error",
            code=exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            what = f"refused the sender {exc.sender}"
        elif isinstance(exc, aiosmtplib.SMTPDataError):
            what = "rejected the message"
        elif isinstance(exc, aiosmtplib.SMTPConnectResponseError):
            what = "refused the connection"
        else:
            what = "answered"
        return ConnectorError(
            f"The SMTP server {target} {what}: {exc.code} {exc.message}",
            _kind_for_code(exc.code),
            code=exc.code,
        )
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return ConnectorError(
                f"TLS certificate verification failed for the SMTP server {target}: "
                f"{cause.verify_message or cause.reason}",
                "connector_error",
            )
        if isinstance(cause, ssl.SSLError):
            return ConnectorError(
                f"TLS failed with the SMTP server {target}: {cause.reason or cause}",
                "connector_error",
            )
    if isinstance(exc, aiosmtplib.SMTPException):
        text = exc.message
        if "auth" in text.lower() and "not supported" in text.lower():
            return ConnectorError(
                f"The SMTP server {target} does not offer AUTH: {text} (leave the username "
                "empty for an unauthenticated relay)",
                "auth_error",
            )
        return ConnectorError(f"SMTP with {target} failed: {text}", "connector_error")
    if isinstance(exc, socket.gaierror):
        return ConnectorError(
            f"Could not resolve the SMTP host of {target}: {exc.strerror or exc}",
            "connector_error",
        )
    if isinstance(exc, OSError):
        reason = (os.strerror(exc.errno) if exc.errno else exc.strerror) or type(exc).__name__
        return ConnectorError(f"Could not connect to the SMTP server {target}: {reason}")
    return ConnectorError(f"SMTP with {target} failed: {exc.__class__.__name__}")


# -- the SMTP server of the authentication ------------------------------------------------


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Literal["starttls", "tls", "none"]
    timeout: float
    tls: ssl.SSLContext | None
    ehlo_hostname: str | None

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


@functools.lru_cache(maxsize=64)
def _tls_context(ca_cert_pem: str | None, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_cert_pem:
        context.load_verify_locations(cadata=ca_cert_pem)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def smtp_server(ctx: Context) -> SmtpServer:
    """The SMTP server the authentication's userData describes."""
    data = ctx.user_data
    host = str(data.get("host") or "").strip().strip("[]").rstrip(".")
    if not host:
        raise ctx.fail("The authentication has no SMTP host (userData.host)")
    security = data.get("security") or "starttls"
    if security not in DEFAULT_PORTS:
        raise ctx.fail(f"Unknown SMTP security {security!r}: use starttls, tls or none")
    port = int(data.get("port") or DEFAULT_PORTS[security])
    timeout = float(data.get("timeout_seconds") or DEFAULT_TIMEOUT)
    tls = None
    if security != "none":
        try:
            tls = _tls_context(data.get("ca_cert_pem") or None, data.get("verify_tls") is not False)
        except (ssl.SSLError, ValueError) as exc:
            raise ctx.fail(f"userData.ca_cert_pem is not a usable PEM certificate: {exc}") from exc
    return SmtpServer(host, port, security, timeout, tls, data.get("ehlo_hostname") or None)


@functools.lru_cache(maxsize=1)
def _fqdn() -> str:
    return socket.getfqdn() or "localhost"


async def _vetted_addresses(ctx: Context, server: SmtpServer) -> list[tuple[int, tuple]]:
    """Every address the host resolves to, each admitted by the outbound policy (one that
    is not refuses the host)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(server.host, server.port, type=socket.SOCK_STREAM)
    found: list[tuple[int, tuple]] = []
    for family, _, _, _, sockaddr in infos:
        ctx.clients.policy.check(server.host, sockaddr[0])
        if (family, sockaddr) not in found:
            found.append((family, sockaddr))
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return found


async def _connect_socket(addresses: list[tuple[int, tuple]], timeout: float) -> socket.socket:
    """A TCP connection to the first vetted address that answers, within ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    error: BaseException | None = None
    for family, sockaddr in addresses:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(remaining):
                await loop.sock_connect(sock, sockaddr)
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, OSError):  # TimeoutError is one
                raise
            error = exc
            continue
        return sock
    raise error or TimeoutError()


async def deliver(
    ctx: Context, server: SmtpServer, message: EmailMessage, sender: str, recipients: list[str]
) -> tuple[dict[str, Any], str]:
    """Send ``message`` to ``recipients`` (the envelope) through ``server``; the refused
    recipients and the server's final reply. Raises the standardized error."""
    try:
        username = ctx.credentials.get("username") or None
        smtp = aiosmtplib.SMTP(  # validates its settings before any connection is made
            hostname=server.host,  # TLS: SNI and certificate check against the host name...
            timeout=server.timeout,
            use_tls=server.security == "tls",
            start_tls=server.security == "starttls",  # required, never opportunistic
            tls_context=server.tls,
            local_hostname=server.ehlo_hostname or await asyncio.to_thread(_fqdn),
            username=username,
            password=(ctx.credentials.get("password") or "") if username else None,
        )
        addresses = await _vetted_addresses(ctx, server)
        sock = await _connect_socket(addresses, server.timeout)
        try:
            # ...over the connection to a vetted address (asyncio owns the socket now).
            await smtp.connect(sock=sock)
            errors, reply = await smtp.send_message(message, sender=sender, recipients=recipients)
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass  # delivered; a failed goodbye changes nothing
        finally:
            smtp.close()
    except ConnectorError:
        raise
    except (aiosmtplib.SMTPException, OutboundBlocked, OSError, TimeoutError, ValueError) as exc:
        if isinstance(exc, ValueError) and not isinstance(exc, ssl.SSLError):
            raise ctx.fail(f"SMTP settings are not valid: {exc}") from exc
        raise smtp_error(exc, server.target) from exc
    return errors, reply


# -- building the message ---------------------------------------------------------------


def _check_line(what: str, value: str) -> str:
    """Header injection guard (the schema says so too, this holds without validation)."""
    if any(c in value for c in "\r\n\x00"):
        raise ConnectorError(f"{what} must be one line: CR and LF are not allowed")
    return value


def parse_addresses(what: str, value: str) -> list[Address]:
    """The addresses in ``value``: ``a@example.com``, ``Name <a@example.com>``, or several
    of those separated by commas."""
    _check_line(what, value)
    found = email.utils.getaddresses([value])
    if not found:
        raise ConnectorError(f"{what}: {value!r} is not an email address")
    addresses = []
    for name, addr in found:
        local, at, domain = addr.rpartition("@")
        if not (at and local and domain) or "@" in local or any(c.isspace() for c in addr):
            raise ConnectorError(f"{what}: {value!r} is not an email address")
        try:
            addresses.append(Address(display_name=name, addr_spec=addr))
        except (ValueError, IndexError) as exc:
            raise ConnectorError(f"{what}: {value!r} is not an email address ({exc})") from exc
    return addresses


def _addresses_of(what: str, values: list[str] | None) -> list[Address]:
    return [address for value in values or [] for address in parse_addresses(what, value)]


def _public_url(url: str) -> str:
    """A URL without query or fragment (presigned URLs carry secrets there) for messages."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


async def _fetch(ctx: Context, attachment: Attachment) -> tuple[bytes, str | None]:
    """The content of an attachment URL (redirects followed hop by hop, each through the
    outbound guard) and the Content-Type it was served with."""
    url = attachment.url or ""
    for _ in range(MAX_REDIRECTS + 1):
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise ctx.fail(
                f"Attachment {attachment.filename}: only http(s) URLs can be fetched, "
                f"not {_public_url(url)}"
            )
        response = await ctx.request("GET", url, raise_for_status=False)
        location = response.headers.get("location")
        if response.status_code in REDIRECT_STATUSES and location:
            url = urljoin(url, location)
            continue
        if not response.is_success:
            raise ctx.api_error(
                response,
                f"Could not fetch attachment {attachment.filename} from {_public_url(url)}: "
                f"HTTP {response.status_code}",
            )
        return response.content, response.headers.get("content-type")
    raise ctx.fail(
        f"Attachment {attachment.filename}: more than {MAX_REDIRECTS} redirects fetching "
        f"{_public_url(attachment.url or '')}"
    )


async def attachment_content(ctx: Context, attachment: Attachment) -> tuple[bytes, str]:
    """The bytes of an attachment and its MIME type."""
    _check_line("An attachment's file name", attachment.filename)
    if (attachment.url is None) == (attachment.content_base64 is None):
        raise ctx.fail(
            f"Attachment {attachment.filename}: give either url or content_base64 (one of them)"
        )
    served_type = None
    if attachment.content_base64 is not None:
        encoded = "".join(attachment.content_base64.split())
        if len(encoded) > (MAX_ATTACHMENT_BYTES * 4) // 3 + 4:
            raise ctx.fail(
                f"Attachment {attachment.filename} is larger than "
                f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB"
            )
        try:
            content = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ctx.fail(
                f"Attachment {attachment.filename}: content_base64 is not valid base64"
            ) from exc
    else:
        content, served_type = await _fetch(ctx, attachment)
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ctx.fail(
            f"Attachment {attachment.filename} is larger than "
            f"{MAX_ATTACHMENT_BYTES // (1024 * 1024)} MiB"
        )
    content_type = (
        attachment.content_type
        or mimetypes.guess_type(attachment.filename)[0]
        or (served_type or "").split(";")[0].strip().lower()
        or "application/octet-stream"
    )
    if "/" not in content_type:
        content_type = "application/octet-stream"
    return content, content_type


async def build_message(
    ctx: Context, data: SendEmailInput, sender: Address
) -> tuple[EmailMessage, list[str]]:
    """The MIME message and its envelope recipients (To, CC and BCC, each once)."""
    to = _addresses_of("to", data.to)
    cc = _addresses_of("cc", data.cc)
    bcc = _addresses_of("bcc", data.bcc)
    reply_to = _addresses_of("reply_to", data.reply_to)
    custom = [
        (_check_line("A header name", h.name), _check_line(f"Header {h.name}", h.value))
        for h in data.headers or []
    ]
    for name, _ in custom:
        if name.lower() in RESERVED_HEADERS:
            raise ctx.fail(f"Header {name} is set by the operation and cannot be given")
        if not all(33 <= ord(c) <= 126 and c != ":" for c in name):
            raise ctx.fail(f"{name!r} is not a valid header name")

    files = []
    total = 0
    for attachment in data.attachments or []:
        content, content_type = await attachment_content(ctx, attachment)
        total += len(content)
        if total > MAX_TOTAL_ATTACHMENT_BYTES:
            raise ctx.fail(
                f"The attachments add up to more than "
                f"{MAX_TOTAL_ATTACHMENT_BYTES // (1024 * 1024)} MiB"
            )
        files.append((attachment.filename, content, content_type))

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = _check_line("subject", data.subject)
    message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(domain=sender.domain or None)
    for name, value in custom:
        message[name] = value

    if data.text_body is not None or data.html_body is None:
        message.set_content(data.text_body or "")
        if data.html_body is not None:
            message.add_alternative(data.html_body, subtype="html")
    else:
        message.set_content(data.html_body, subtype="html")
    for filename, content, content_type in files:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)

    recipients: list[str] = []
    seen: set[str] = set()
    for address in (*to, *cc, *bcc):
        if address.addr_spec.lower() not in seen:
            seen.add(address.addr_spec.lower())
            recipients.append(address.addr_spec)
    return message, recipients


# -- the operation ----------------------------------------------------------------------


@operation(
    title="Send Email",
    description="Send an email (text and/or HTML, attachments, custom headers) through the "
    "authentication's SMTP server.",
    input=SendEmailInput,
    output=SendEmailOutput,
    timeout=120.0,
)
async def send_email(ctx: Context, data: SendEmailInput) -> dict[str, Any]:
    server = smtp_server(ctx)
    sender_text = data.from_ or ctx.user_data.get("from_address")
    if not sender_text:
        raise ctx.fail(
            "No sender: give `from`, or set a default sender (from_address) on the authentication"
        )
    senders = parse_addresses("from", sender_text)
    if len(senders) != 1:
        raise ctx.fail(f"from: {sender_text!r} must be one address")
    sender = senders[0]
    message, recipients = await build_message(ctx, data, sender)
    errors, reply = await deliver(ctx, server, message, sender.addr_spec, recipients)
    refused = {
        address: {"code": response.code, "message": response.message}
        for address, response in errors.items()
    }
    return {
        "message_id": str(message["Message-ID"]),
        "accepted": [r for r in recipients if r not in errors],
        "refused": refused,
        "server_response": reply,
    }


OPERATIONS = [send_email]
