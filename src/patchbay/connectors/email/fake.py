"""A loopback SMTP server that captures what it receives, for tests and the demo.

SMTP is not HTTP, so instead of an ASGI app the fake is an `aiosmtpd` server running in a
background thread (its own event loop), with the knobs tests need: accounts for AUTH
PLAIN/LOGIN, recipients to refuse, throttling (``421 4.7.0``) and message rejection, plus
every received message and command for inspection.

    state = FakeSMTP()
    with start_smtp_server(state) as server:          # 127.0.0.1, a free port
        user_data = {"host": server.host, "port": server.port, "security": "none"}
        credentials = {"username": state.username, "password": state.password}
        ...
        state.messages[0].message["Subject"]

STARTTLS: ``start_smtp_server(state, starttls_context=ssl_ctx)``; implicit TLS (port 465
style): ``start_smtp_server(state, tls_context=ssl_ctx)``.

Standalone: ``python -m patchbay.connectors.email.fake --port 2525`` runs the SMTP server
and prints each message. ``patchbay fake email --port 9000`` serves :func:`create_app`:
a small HTTP inbox (``GET /messages``, ``DELETE /messages``) whose startup also starts the
SMTP server on ``PATCHBAY_FAKE_SMTP_PORT`` (default 2525).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email
import email.policy
import logging
import os
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

DEFAULT_USERNAME = "patchbay"
DEFAULT_PASSWORD = "fake-smtp-password"
MAX_KEPT = 1000  # messages and commands kept (bounded, like the Slack fake's logs)


@dataclass
class ReceivedMessage:
    """One message as the server received it: the envelope and the raw DATA."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: str
    authenticated_as: str | None
    tls: bool
    received_at: float = field(default_factory=time.time)

    @property
    def message(self) -> EmailMessage:
        """The DATA parsed with the modern email API (headers decoded, parts iterable),
        line endings as ``\n`` (``data`` keeps the CRLFs of the wire)."""
        data = self.data.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def to_json(self) -> dict[str, Any]:
        msg = self.message
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True) or b""
            parts.append(
                {
                    "content_type": part.get_content_type(),
                    "filename": part.get_filename(),
                    "size": len(payload),
                    "content": payload.decode("utf-8", "replace")
                    if part.get_content_maintype() == "text"
                    else base64.b64encode(payload).decode("ascii"),
                }
            )
        return {
            "mail_from": self.mail_from,
            "rcpt_tos": self.rcpt_tos,
            "authenticated_as": self.authenticated_as,
            "tls": self.tls,
            "received_at": self.received_at,
            "headers": [[k, str(v)] for k, v in msg.items()],
            "parts": parts,
        }


@dataclass
class _Reply:
    code: int
    text: str

    def __str__(self) -> str:
        return f"{self.code} {self.text}"


class FakeSMTP:
    """The fake's state and knobs. Thread-safe: the server runs on its own thread."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        require_auth: bool = False,
    ) -> None:
        self.username = DEFAULT_USERNAME
        self.password = DEFAULT_PASSWORD
        self.users = dict(users) if users is not None else {self.username: self.password}
        self.require_auth = require_auth
        self.messages: deque[ReceivedMessage] = deque(maxlen=MAX_KEPT)
        self.commands: deque[str] = deque(maxlen=MAX_KEPT)  # "MAIL a@b", "AUTH PLAIN"...
        self.refused: dict[str, _Reply] = {}
        self._throttle: list[_Reply] = []
        self._reject: list[_Reply] = []
        self._lock = threading.Lock()

    # -- knobs ----------------------------------------------------------------------
    def refuse_recipient(self, address: str, code: int = 550, text: str | None = None) -> None:
        """RCPT TO for ``address`` is answered with ``code`` (default 550 user unknown)."""
        text = text or f"5.1.1 <{address}>: Recipient address rejected: User unknown"
        with self._lock:
            self.refused[address.lower()] = _Reply(code, text)

    def throttle_next(
        self, n: int = 1, code: int = 421, text: str = "4.7.0 Too many messages, try again later"
    ) -> None:
        """The next ``n`` MAIL FROM commands are answered with ``code`` (SMTP's rate limit)."""
        with self._lock:
            self._throttle.extend(_Reply(code, text) for _ in range(n))

    def reject_next_message(
        self, n: int = 1, code: int = 554, text: str = "5.7.1 Message rejected as spam"
    ) -> None:
        """The next ``n`` messages are refused after DATA with ``code``."""
        with self._lock:
            self._reject.extend(_Reply(code, text) for _ in range(n))

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.commands.clear()
            self.refused.clear()
            self._throttle.clear()
            self._reject.clear()

    # -- inspection -----------------------------------------------------------------
    @property
    def last(self) -> ReceivedMessage | None:
        """The latest message received (None before the first)."""
        return self.messages[-1] if self.messages else None

    # -- aiosmtpd hooks -------------------------------------------------------------
    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        with self._lock:
            self.commands.append(f"AUTH {mechanism}")
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = self.users.get(login) == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses
    ) -> list[str]:
        with self._lock:
            self.commands.append(f"EHLO {hostname}")
        session.host_name = hostname
        return responses

    def handle_STARTTLS(self, server: SMTP, session: Session, envelope: Envelope) -> bool:
        with self._lock:
            self.commands.append("STARTTLS")
        return True

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options
    ) -> str:
        with self._lock:
            self.commands.append(f"MAIL {address}")
            throttled = self._throttle.pop(0) if self._throttle else None
        if throttled is not None:
            return str(throttled)
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options
    ) -> str:
        with self._lock:
            self.commands.append(f"RCPT {address}")
            refused = self.refused.get(address.lower())
        if refused is not None:
            return str(refused)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.commands.append("DATA")
            rejected = self._reject.pop(0) if self._reject else None
        if rejected is not None:
            return str(rejected)
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(data),
            peer=str(session.peer),
            authenticated_as=login.decode("utf-8", "replace") if login else None,
            tls=session.ssl is not None or _uses_tls(server),
        )
        with self._lock:
            self.messages.append(received)
        queue_id = f"FAKE{len(self.messages):06d}"
        return f"250 2.0.0 OK: queued as {queue_id}"


def _uses_tls(server: SMTP) -> bool:
    transport = getattr(server, "transport", None)
    return transport is not None and transport.get_extra_info("ssl_object") is not None


class _QuietDeprecation(logging.Filter):
    """aiosmtpd itself sets the deprecated ``Session.login_data`` and logs a warning about
    it on every AUTH; drop just that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_QUIET = _QuietDeprecation()


class _Controller(Controller):
    """aiosmtpd's threaded controller, listening on a socket bound beforehand (so port 0,
    "any free port", works without a race)."""

    def __init__(self, handler: Any, sock: socket.socket, **kwargs: Any) -> None:
        self._sock = sock
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class FakeSMTPServer:
    """A running (or ready to run) fake SMTP server; a context manager."""

    def __init__(
        self,
        state: FakeSMTP | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        starttls_context: ssl.SSLContext | None = None,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        auth_require_tls: bool = False,
    ) -> None:
        self.state = state or FakeSMTP()
        self.host = host
        self.port = port
        self._options: dict[str, Any] = {
            "ssl_context": tls_context,
            "tls_context": starttls_context,
            "require_starttls": require_starttls,
            "auth_require_tls": auth_require_tls,
            "authenticator": self.state.authenticate,
            "auth_required": False,  # the state's require_auth answers 530 at MAIL FROM
            "server_hostname": "fake-smtp.patchbay.test",
        }
        self._controller: _Controller | None = None

    def start(self) -> FakeSMTPServer:
        logger = logging.getLogger("mail.log")
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        options = {k: v for k, v in self._options.items() if v is not None}
        self._controller = _Controller(self.state, sock, **options)
        try:
            self._controller.start()
        except BaseException:
            sock.close()
            self._controller = None
            raise
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSMTPServer:
        return self.start() if self._controller is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_smtp_server(state: FakeSMTP | None = None, **kwargs: Any) -> FakeSMTPServer:
    """Start a fake SMTP server (see :class:`FakeSMTPServer` for the options) and return
    it; stop it with ``.stop()`` or use it as a context manager."""
    return FakeSMTPServer(state, **kwargs).start()


def create_app(state: FakeSMTP | None = None, *, smtp_port: int | None = None):
    """An HTTP inbox for ``patchbay fake email``: ``GET /messages`` lists what the SMTP
    server (started with the app, on ``smtp_port`` or ``PATCHBAY_FAKE_SMTP_PORT``, default
    2525, on the app's host 127.0.0.1) received; ``DELETE /messages`` clears it."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state = state or FakeSMTP()
    port = (
        smtp_port if smtp_port is not None else int(os.environ.get("PATCHBAY_FAKE_SMTP_PORT", 2525))
    )

    async def messages(request: Request) -> Response:
        if request.method == "DELETE":
            state.reset()
            return Response(status_code=204)
        return JSONResponse({"messages": [m.to_json() for m in list(state.messages)]})

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        server = start_smtp_server(state, port=port)
        app.state.smtp_server = server
        print(f"Fake SMTP server on {server.host}:{server.port}", flush=True)
        try:
            yield
        finally:
            server.stop()

    app = Starlette(
        routes=[Route("/messages", messages, methods=["GET", "DELETE"])], lifespan=lifespan
    )
    app.state.smtp = state
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A capturing fake SMTP server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--require-auth", action="store_true")
    args = parser.parse_args(argv)
    state = FakeSMTP(require_auth=args.require_auth)
    with start_smtp_server(state, host=args.host, port=args.port) as server:
        print(
            f"Fake SMTP on {server.host}:{server.port} (user {state.username!r}, "
            f"password {state.password!r}); Ctrl-C to stop",
            flush=True,
        )
        seen = 0
        try:
            while True:
                time.sleep(0.2)
                for received in list(state.messages)[seen:]:
                    msg = received.message
                    print(
                        f"{received.mail_from} -> {', '.join(received.rcpt_tos)}: "
                        f"{msg['Subject']!s}",
                        flush=True,
                    )
                seen = len(state.messages)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
