"""The email (SMTP) connector through the real SDK path against a real SMTP server
(aiosmtpd, from the connector's fake) on 127.0.0.1: plain, STARTTLS and implicit TLS with a
certificate made here, and a loopback HTTP server for attachment URLs."""

from __future__ import annotations

import base64
import datetime
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from patchbay.connectors.email.connector import CONNECTORS, EMAIL, ENVIRONMENT_ID
from patchbay.connectors.email.fake import FakeSMTP, FakeSMTPServer, create_app, start_smtp_server
from patchbay.connectors.email.operations import MAX_ATTACHMENT_BYTES, parse_addresses
from patchbay.connectors.sdk import ConnectorError
from patchbay.connectors.sdk.http import HttpClientPool
from patchbay.connectors.sdk.runner import CallResult, InputInvalid
from patchbay.testing import connectors as testing
from patchbay.testing.connectors import loopback_clients, make_call
from patchbay.testing.fakeserver import serve_in_thread

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
LOGO = bytes(range(255, -1, -1)) * 3


# -- certificates -------------------------------------------------------------------------


@dataclass
class Certs:
    ca_pem: str
    server_context: ssl.SSLContext  # for the fake: a certificate for "localhost" only


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certs(directory: Path) -> Certs:
    """A test CA and a server certificate it signed, valid for the name localhost only (not
    for 127.0.0.1, so a client checking the address instead of the name fails)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Patchbay test CA"))
        .issuer_name(_name("Patchbay test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return Certs(ca.public_bytes(serialization.Encoding.PEM).decode("ascii"), context)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


# -- servers ------------------------------------------------------------------------------


@pytest.fixture
def state() -> FakeSMTP:
    return FakeSMTP()


@pytest.fixture
def smtp(state: FakeSMTP) -> Iterator[FakeSMTPServer]:
    with start_smtp_server(state) as server:
        yield server


@dataclass
class Files:
    url: str
    hits: list[str]
    flaky_left: list[int]


def files_app(hits: list[str], flaky_left: list[int]) -> Starlette:
    async def report(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(PDF, media_type="application/octet-stream")

    async def logo(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(LOGO, media_type="image/png")

    async def moved(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse("/files/report.pdf?sig=abc", status_code=302)

    async def missing(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(b"no such file", status_code=404, media_type="text/plain")

    async def busy(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(b"slow down", status_code=429, headers={"Retry-After": "60"})

    async def flaky(request: Request) -> Response:
        hits.append(request.url.path)
        if flaky_left[0] > 0:
            flaky_left[0] -= 1
            return Response(b"slow down", status_code=429, headers={"Retry-After": "0"})
        return Response(PDF, media_type="application/pdf")

    async def loop(request: Request) -> Response:
        hits.append(request.url.path)
        return RedirectResponse("/loop", status_code=307)

    return Starlette(
        routes=[
            Route("/files/report.pdf", report),
            Route("/files/logo", logo),
            Route("/moved", moved),
            Route("/missing", missing),
            Route("/busy", busy),
            Route("/flaky", flaky),
            Route("/loop", loop),
        ]
    )


@pytest.fixture
def files() -> Iterator[Files]:
    hits: list[str] = []
    flaky_left = [1]
    with serve_in_thread(files_app(hits, flaky_left)) as url:
        yield Files(url, hits, flaky_left)


@pytest.fixture
async def clients():
    """Admits ``localhost`` too: TLS tests reach the fake by its certificate's name."""
    async with loopback_clients("127.0.0.1/32,localhost") as pool:
        yield pool


def plain(server: FakeSMTPServer, **extra: Any) -> dict[str, Any]:
    return {"host": server.host, "port": server.port, "security": "none", **extra}


def login(state: FakeSMTP) -> dict[str, str]:
    return {"username": state.username, "password": state.password}


async def send(
    clients: HttpClientPool,
    user_data: dict[str, Any],
    data: dict[str, Any],
    *,
    credentials: dict[str, Any] | None = None,
    validate: bool = True,
) -> CallResult:
    call = make_call(EMAIL, clients, credentials={}, user_data=user_data)
    return await call("send_email", data, credentials=credentials, validate=validate)


assert_output_valid = partial(testing.assert_output_valid, EMAIL, "send_email")


def assert_error(result: CallResult, kind: str, code: int | None = None) -> dict[str, Any]:
    assert result.outcome == "error", result.output
    output = result.output
    assert output["kind"] == kind, output
    assert output.get("code") == code, output
    if code is not None:
        assert str(code) in output["message"]
    assert output["response"] is None
    return output


def received(state: FakeSMTP) -> EmailMessage:
    assert state.last is not None, "the server received nothing"
    return state.last.message


# -- the declaration ----------------------------------------------------------------------


def test_declaration() -> None:
    assert CONNECTORS == [EMAIL]
    assert EMAIL.to_api()["service"] == {
        "id": "c2e4a6b8-3d5f-4b7a-9e1c-2f3a4b5c6d77",
        "name": "email",
        "version": 1,
    }
    assert EMAIL.version == "1.0"
    assert [op.name for op in EMAIL.operations] == ["send_email"]  # no raw_http_request
    assert EMAIL.operation("send_email").title == "Send Email"
    (env,) = EMAIL.environments
    api = env.to_api()
    assert (api["id"], api["title"], api["authenticationType"]) == (
        ENVIRONMENT_ID,
        "SMTP server",
        "basic",
    )
    user_data = api["userDataSchema"]
    assert user_data["required"] == ["host"]
    assert user_data["properties"]["port"]["default"] == 587
    security = user_data["properties"]["security"]
    assert security["enum"] == ["starttls", "tls", "none"]
    assert len(security["enumLabels"]) == 3 and security["default"] == "starttls"
    assert {"from_address", "timeout_seconds", "ca_cert_pem", "verify_tls"} <= set(
        user_data["properties"]
    )
    assert api["credentialsSchema"].get("required") is None  # relays need no login
    for schema in (user_data, api["credentialsSchema"]):
        jsonschema.Draft4Validator.check_schema(schema)
    op = EMAIL.operation("send_email")
    jsonschema.Draft4Validator.check_schema(op.input_schema)
    jsonschema.Draft4Validator.check_schema(op.output_schema)
    assert set(op.input_schema["properties"]) == {
        "from",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "subject",
        "text_body",
        "html_body",
        "attachments",
        "headers",
    }
    assert op.input_schema["required"] == ["to"]
    assert set(op.output_schema["required"]) == {
        "message_id",
        "accepted",
        "refused",
        "server_response",
    }


# -- sending ------------------------------------------------------------------------------


async def test_send_text_email_with_login(clients, smtp, state) -> None:
    result = await send(
        clients,
        plain(smtp),
        {
            "from": "Ada Lovelace <ada@example.com>",
            "to": ["bob@example.com", "Carol <carol@example.com>"],
            "cc": ["dan@example.com"],
            "bcc": ["eve@example.com"],
            "subject": "Numbers ✓",
            "text_body": "Hello Bob,\nthe engine works.\n",
        },
        credentials=login(state),
    )
    output = assert_output_valid(result)
    everyone = ["bob@example.com", "carol@example.com", "dan@example.com", "eve@example.com"]
    assert output["accepted"] == everyone
    assert output["refused"] == {}
    assert output["server_response"].startswith("2.0.0 OK")

    last = state.last
    assert last is not None
    assert last.mail_from == "ada@example.com"
    assert last.rcpt_tos == everyone  # BCC is in the envelope...
    assert last.authenticated_as == state.username
    assert not last.tls
    msg = last.message
    assert "Bcc" not in msg and b"eve@example.com" not in last.data  # ...and in no header
    assert msg["From"] == "Ada Lovelace <ada@example.com>"
    assert msg["To"] == "bob@example.com, Carol <carol@example.com>"
    assert msg["Cc"] == "dan@example.com"
    assert msg["Subject"] == "Numbers ✓"
    assert msg["Message-ID"] == output["message_id"]
    assert output["message_id"].startswith("<") and output["message_id"].endswith("@example.com>")
    assert msg["Date"]
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == "Hello Bob,\nthe engine works.\n"
    assert "AUTH PLAIN" in state.commands or "AUTH LOGIN" in state.commands


async def test_html_and_text_are_alternatives_with_attachments(clients, smtp, state, files) -> None:
    result = await send(
        clients,
        plain(smtp),
        {
            "from": "ada@example.com",
            "to": ["bob@example.com"],
            "subject": "Report",
            "text_body": "See the report.",
            "html_body": "<p>See the <b>report</b>.</p>",
            "attachments": [
                {"filename": "report.pdf", "url": files.url + "/files/report.pdf"},
                {
                    "filename": "notes.txt",
                    "content_base64": base64.b64encode(b"line 1\nline 2\n").decode(),
                },
                {"filename": "logo", "url": files.url + "/files/logo"},
                {
                    "filename": "data.bin",
                    "content_type": "application/x-custom",
                    "content_base64": base64.b64encode(LOGO).decode(),
                },
            ],
        },
    )
    assert_output_valid(result)
    assert files.hits == ["/files/report.pdf", "/files/logo"]
    msg = received(state)
    assert msg.get_content_type() == "multipart/mixed"
    body, *attachments = msg.iter_parts()
    assert body.get_content_type() == "multipart/alternative"
    text, html = body.iter_parts()
    assert (text.get_content_type(), text.get_content()) == ("text/plain", "See the report.\n")
    assert html.get_content_type() == "text/html"
    assert html.get_content() == "<p>See the <b>report</b>.</p>\n"
    got = [
        (a.get_filename(), a.get_content_type(), a.get_payload(decode=True)) for a in attachments
    ]
    assert got == [
        ("report.pdf", "application/pdf", PDF),  # guessed from the name
        ("notes.txt", "text/plain", b"line 1\nline 2\n"),
        ("logo", "image/png", LOGO),  # as the URL served it
        ("data.bin", "application/x-custom", LOGO),  # as given
    ]
    assert all(a.get_content_disposition() == "attachment" for a in attachments)


async def test_html_only_and_empty_bodies(clients, smtp, state) -> None:
    result = await send(
        clients,
        plain(smtp),
        {"from": "a@example.com", "to": ["b@example.com"], "html_body": "<i>hi</i>"},
    )
    assert_output_valid(result)
    msg = received(state)
    assert msg.get_content_type() == "text/html"
    assert msg.get_content() == "<i>hi</i>\n"
    assert msg["Subject"] == ""

    result = await send(clients, plain(smtp), {"from": "a@example.com", "to": ["b@example.com"]})
    assert_output_valid(result)
    assert received(state).get_content_type() == "text/plain"


async def test_reply_to_and_custom_headers(clients, smtp, state) -> None:
    result = await send(
        clients,
        plain(smtp),
        {
            "from": "ada@example.com",
            "to": ["bob@example.com"],
            "reply_to": ["Help desk <help@example.com>", "ops@example.com"],
            "subject": "Re: engine",
            "text_body": "ok",
            "headers": [
                {"name": "In-Reply-To", "value": "<abc@example.com>"},
                {"name": "X-Campaign", "value": "spring-2025"},
                {"name": "X-Campaign", "value": "twice"},
            ],
        },
    )
    assert_output_valid(result)
    msg = received(state)
    assert msg["Reply-To"] == "Help desk <help@example.com>, ops@example.com"
    assert msg["In-Reply-To"] == "<abc@example.com>"
    assert msg.get_all("X-Campaign") == ["spring-2025", "twice"]


async def test_comma_separated_recipients_and_duplicates(clients, smtp, state) -> None:
    result = await send(
        clients,
        plain(smtp),
        {
            "from": "ada@example.com",
            "to": ['bob@example.com, "Doe, Jane" <jane@example.com>'],
            "cc": ["BOB@example.com"],
        },
    )
    output = assert_output_valid(result)
    assert output["accepted"] == ["bob@example.com", "jane@example.com"]
    assert received(state)["To"] == 'bob@example.com, "Doe, Jane" <jane@example.com>'


async def test_default_sender_from_the_authentication(clients, smtp, state) -> None:
    result = await send(
        clients,
        plain(smtp, from_address="Patchbay <noreply@example.com>"),
        {"to": ["bob@example.com"], "subject": "hi"},
    )
    assert_output_valid(result)
    assert state.last is not None and state.last.mail_from == "noreply@example.com"
    assert received(state)["From"] == "Patchbay <noreply@example.com>"

    result = await send(clients, plain(smtp), {"to": ["bob@example.com"]})
    output = assert_error(result, "connector_error")
    assert "from_address" in output["message"]


async def test_unauthenticated_relay_sends_without_auth(clients, smtp, state) -> None:
    result = await send(clients, plain(smtp), {"from": "a@example.com", "to": ["b@example.com"]})
    assert_output_valid(result)
    assert not any(c.startswith("AUTH") for c in state.commands)
    assert state.last is not None and state.last.authenticated_as is None


# -- SMTP errors --------------------------------------------------------------------------


async def test_wrong_password_is_an_auth_error(clients, smtp, state) -> None:
    result = await send(
        clients,
        plain(smtp),
        {"from": "a@example.com", "to": ["b@example.com"]},
        credentials={"username": state.username, "password": "hunter2-wrong"},
    )
    output = assert_error(result, "auth_error", 535)
    assert "5.7.8" in output["message"]
    assert "hunter2" not in repr(output)
    assert state.last is None


async def test_server_requiring_auth(clients, state) -> None:
    locked = FakeSMTP(require_auth=True)
    with start_smtp_server(locked) as server:
        result = await send(clients, plain(server), {"from": "a@example.com", "to": ["b@x.com"]})
        assert_error(result, "auth_error", 530)
        result = await send(
            clients,
            plain(server),
            {"from": "a@example.com", "to": ["b@x.com"]},
            credentials=login(locked),
        )
        assert_output_valid(result)


async def test_refused_recipients(clients, smtp, state) -> None:
    state.refuse_recipient("ghost@example.com")
    result = await send(
        clients,
        plain(smtp),
        {"from": "a@example.com", "to": ["bob@example.com"], "bcc": ["ghost@example.com"]},
    )
    output = assert_output_valid(result)  # some were accepted: sent, the others reported
    assert output["accepted"] == ["bob@example.com"]
    assert output["refused"] == {
        "ghost@example.com": {
            "code": 550,
            "message": "5.1.1 <ghost@example.com>: Recipient address rejected: User unknown",
        }
    }
    assert state.last is not None and state.last.rcpt_tos == ["bob@example.com"]

    state.messages.clear()
    result = await send(
        clients, plain(smtp), {"from": "a@example.com", "to": ["ghost@example.com"]}
    )
    output = assert_error(result, "api_error", 550)
    assert "ghost@example.com" in output["message"] and "User unknown" in output["message"]
    assert state.last is None


async def test_throttling_is_rate_limited(clients, smtp, state) -> None:
    state.throttle_next(1)
    result = await send(clients, plain(smtp), {"from": "a@example.com", "to": ["b@example.com"]})
    output = assert_error(result, "rate_limited", 421)
    assert "4.7.0" in output["message"]
    # The next try goes through.
    assert_output_valid(
        await send(clients, plain(smtp), {"from": "a@example.com", "to": ["b@example.com"]})
    )


async def test_rejected_message(clients, smtp, state) -> None:
    state.reject_next_message(code=554, text="5.7.1 Message rejected as spam")
    result = await send(clients, plain(smtp), {"from": "a@example.com", "to": ["b@example.com"]})
    output = assert_error(result, "api_error", 554)
    assert "rejected the message" in output["message"] and "spam" in output["message"]


async def test_connection_refused(clients) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    result = await send(
        clients,
        {"host": "127.0.0.1", "port": port, "security": "none"},
        {"from": "a@example.com", "to": ["b@example.com"]},
    )
    output = assert_error(result, "connector_error")
    assert "Connection refused" in output["message"]


async def test_silent_server_times_out(clients) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)  # accepts connections (in the backlog) but never greets
        port = sock.getsockname()[1]
        result = await send(
            clients,
            {"host": "127.0.0.1", "port": port, "security": "none", "timeout_seconds": 0.3},
            {"from": "a@example.com", "to": ["b@example.com"]},
        )
    assert_error(result, "timeout")


async def test_unresolvable_host(clients) -> None:
    result = await send(
        clients,
        {"host": "no-such-host.invalid", "security": "none"},
        {"from": "a@example.com", "to": ["b@example.com"]},
    )
    output = assert_error(result, "connector_error")
    assert "resolve" in output["message"]


async def test_blocked_host_when_the_policy_does_not_admit_loopback(smtp, state) -> None:
    async with loopback_clients("") as pool:
        for host in ("127.0.0.1", "localhost", "127.1"):
            result = await send(
                pool,
                {"host": host, "port": smtp.port, "security": "none"},
                {"from": "a@example.com", "to": ["b@example.com"]},
                credentials=login(state),
            )
            output = assert_error(result, "connector_error")
            assert "refused" in output["message"] and "loopback" in output["message"], host
    assert not state.commands  # never connected


# -- TLS ----------------------------------------------------------------------------------


async def test_starttls_with_a_trusted_ca(clients, certs, state) -> None:
    with start_smtp_server(
        state, starttls_context=certs.server_context, require_starttls=True
    ) as server:
        user_data = {
            "host": "localhost",  # the certificate's name; the address is vetted and used
            "port": server.port,
            "security": "starttls",
            "ca_cert_pem": certs.ca_pem,
        }
        result = await send(
            clients,
            user_data,
            {"from": "a@example.com", "to": ["b@example.com"], "subject": "secret"},
            credentials=login(state),
        )
        assert_output_valid(result)
        assert state.last is not None and state.last.tls
        assert state.last.authenticated_as == state.username
        assert state.commands[0].startswith("EHLO") and state.commands[1] == "STARTTLS"
        assert state.commands.index("STARTTLS") < state.commands.index("AUTH PLAIN")

        # The certificate names localhost, not 127.0.0.1: checking the address fails.
        result = await send(
            clients,
            {**user_data, "host": "127.0.0.1"},
            {"from": "a@example.com", "to": ["b@example.com"]},
        )
        output = assert_error(result, "connector_error")
        assert "certificate" in output["message"]


async def test_starttls_untrusted_certificate(clients, certs, state) -> None:
    with start_smtp_server(state, starttls_context=certs.server_context) as server:
        user_data = {"host": "localhost", "port": server.port, "security": "starttls"}
        result = await send(
            clients,
            user_data,
            {"from": "a@example.com", "to": ["b@example.com"]},
            credentials=login(state),
        )
        output = assert_error(result, "connector_error")
        assert "certificate verification failed" in output["message"]
        assert "AUTH PLAIN" not in state.commands  # no credentials before TLS
        assert state.last is None

        # The advanced escape hatch: accept any certificate.
        result = await send(
            clients,
            {**user_data, "verify_tls": False},
            {"from": "a@example.com", "to": ["b@example.com"]},
        )
        assert_output_valid(result)
        assert state.last is not None and state.last.tls


async def test_starttls_is_required_not_opportunistic(clients, smtp, state) -> None:
    # The plain fake offers no STARTTLS: refuse rather than send in clear.
    result = await send(
        clients,
        {"host": smtp.host, "port": smtp.port, "security": "starttls"},
        {"from": "a@example.com", "to": ["b@example.com"]},
        credentials=login(state),
    )
    output = assert_error(result, "connector_error")
    assert "STARTTLS" in output["message"]
    assert not any(c.startswith(("AUTH", "MAIL")) for c in state.commands)


async def test_implicit_tls(clients, certs, state) -> None:
    with start_smtp_server(state, tls_context=certs.server_context) as server:
        result = await send(
            clients,
            {
                "host": "localhost",
                "port": server.port,
                "security": "tls",
                "ca_cert_pem": certs.ca_pem,
            },
            {"from": "a@example.com", "to": ["b@example.com"]},
            credentials=login(state),
        )
        assert_output_valid(result)
        assert state.last is not None and state.last.tls
        assert "STARTTLS" not in state.commands


async def test_invalid_ca_certificate(clients, smtp) -> None:
    result = await send(
        clients,
        {"host": smtp.host, "port": smtp.port, "security": "tls", "ca_cert_pem": "not a pem"},
        {"from": "a@example.com", "to": ["b@example.com"]},
    )
    output = assert_error(result, "connector_error")
    assert "ca_cert_pem" in output["message"]


# -- attachments by URL -------------------------------------------------------------------


async def test_attachment_url_redirect_is_followed(clients, smtp, state, files) -> None:
    result = await send(
        clients,
        plain(smtp),
        {
            "from": "a@example.com",
            "to": ["b@example.com"],
            "attachments": [{"filename": "r.pdf", "url": files.url + "/moved"}],
        },
    )
    assert_output_valid(result)
    assert files.hits == ["/moved", "/files/report.pdf"]
    (_, attachment) = received(state).iter_parts()
    assert attachment.get_payload(decode=True) == PDF


async def test_attachment_url_errors(clients, smtp, state, files) -> None:
    def data(path: str) -> dict[str, Any]:
        return {
            "from": "a@example.com",
            "to": ["b@example.com"],
            "attachments": [{"filename": "r.pdf", "url": files.url + path + "?token=s3cr3t"}],
        }

    result = await send(clients, plain(smtp), data("/missing"))
    output = result.output
    assert result.outcome == "error" and output["kind"] == "api_error"
    assert output["response"]["statusCode"] == 404
    assert output["response"]["body"] == "no such file"
    assert "r.pdf" in output["message"] and "s3cr3t" not in output["message"]

    result = await send(clients, plain(smtp), data("/busy"))
    output = result.output
    assert result.outcome == "error" and output["kind"] == "rate_limited"
    assert output["retryAfter"] == 60
    assert files.hits.count("/busy") == 1  # a Retry-After this long is not waited for

    result = await send(clients, plain(smtp), data("/loop"))
    output = assert_error(result, "connector_error")
    assert "redirects" in output["message"]

    assert state.last is None  # nothing was sent
    assert not state.commands  # nor was the SMTP server even contacted


async def test_attachment_url_429_is_retried(clients, smtp, state, files) -> None:
    result = await send(
        clients,
        plain(smtp),
        {
            "from": "a@example.com",
            "to": ["b@example.com"],
            "attachments": [{"filename": "r.pdf", "url": files.url + "/flaky"}],
        },
    )
    assert_output_valid(result)
    assert files.hits == ["/flaky", "/flaky"]
    (_, attachment) = received(state).iter_parts()
    assert attachment.get_payload(decode=True) == PDF


async def test_attachment_url_goes_through_the_outbound_guard(smtp, state, files) -> None:
    # The SMTP host is admitted by name; the attachment's 127.0.0.1 URL is not.
    async with loopback_clients("localhost") as pool:
        result = await send(
            pool,
            {"host": "localhost", "port": smtp.port, "security": "none"},
            {
                "from": "a@example.com",
                "to": ["b@example.com"],
                "attachments": [{"filename": "r.pdf", "url": files.url + "/files/report.pdf"}],
            },
        )
        output = assert_error(result, "connector_error")
        assert "refused" in output["message"]
        assert files.hits == []

        result = await send(
            pool,
            {"host": "localhost", "port": smtp.port, "security": "none"},
            {"from": "a@example.com", "to": ["b@example.com"]},
        )
        assert_output_valid(result)


async def test_attachment_content_problems(clients, smtp, state) -> None:
    base = {"from": "a@example.com", "to": ["b@example.com"]}
    both = {"filename": "x", "url": "https://example.com/x", "content_base64": "eA=="}
    result = await send(clients, plain(smtp), {**base, "attachments": [both]})
    assert "either url or content_base64" in assert_error(result, "connector_error")["message"]

    result = await send(
        clients, plain(smtp), {**base, "attachments": [{"filename": "x", "content_base64": "!!"}]}
    )
    assert "not valid base64" in assert_error(result, "connector_error")["message"]

    result = await send(
        clients,
        plain(smtp),
        {**base, "attachments": [{"filename": "x", "url": "ftp://example.com/x"}]},
    )
    assert "http(s)" in assert_error(result, "connector_error")["message"]

    too_big = base64.b64encode(b"\0" * (MAX_ATTACHMENT_BYTES + 1)).decode()
    result = await send(
        clients,
        plain(smtp),
        {**base, "attachments": [{"filename": "x", "content_base64": too_big}]},
    )
    assert "larger than 10 MiB" in assert_error(result, "connector_error")["message"]

    with pytest.raises(InputInvalid):  # neither url nor content
        await send(clients, plain(smtp), {**base, "attachments": [{"filename": "x"}]})
    assert state.last is None


# -- input checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"headers": [{"name": "X-Note", "value": "ok\r\nBcc: victim@example.com"}]},
        {"headers": [{"name": "X-Note", "value": "ok\nBcc: victim@example.com"}]},
        {"headers": [{"name": "Bad Name", "value": "x"}]},
        {"headers": [{"name": "X:Y", "value": "x"}]},
        {"subject": "hi\r\nBcc: victim@example.com"},
        {"to": ["b@example.com\r\nBcc: victim@example.com"]},
        {"from": "a@example.com\nBcc: victim@example.com"},
        {"attachments": [{"filename": "a\r\nX-Evil: 1", "content_base64": "eA=="}]},
        {"to": []},
        {"to": ["b@example.com"], "unknown": 1},
    ],
)
async def test_header_injection_and_bad_input_are_refused(clients, smtp, state, data) -> None:
    base = {"from": "a@example.com", "to": ["b@example.com"]}
    with pytest.raises(InputInvalid):
        await send(clients, plain(smtp), {**base, **data})
    assert state.last is None


@pytest.mark.parametrize(
    "data",
    [
        {"headers": [{"name": "X-Note", "value": "ok\r\nBcc: victim@example.com"}]},
        {"subject": "hi\nBcc: victim@example.com"},
        {"to": ["b@example.com\r\nBcc: victim@example.com"]},
        {"attachments": [{"filename": "a\r\nX-Evil: 1", "content_base64": "eA=="}]},
    ],
)
async def test_header_injection_is_refused_by_the_model_too(clients, smtp, state, data) -> None:
    """Without validation against the published schema, the input model still refuses."""
    base = {"from": "a@example.com", "to": ["b@example.com"]}
    with pytest.raises(InputInvalid):
        await send(clients, plain(smtp), {**base, **data}, validate=False)
    assert state.last is None


def test_the_handler_refuses_cr_lf_itself() -> None:
    with pytest.raises(ConnectorError, match="CR and LF"):
        parse_addresses("to", "b@example.com\r\nBcc: victim@example.com")
    assert [a.addr_spec for a in parse_addresses("to", "A <a@x.org>, b@y.org")] == [
        "a@x.org",
        "b@y.org",
    ]


@pytest.mark.parametrize("name", ["From", "bcc", "Subject", "Content-Type", "Message-ID"])
async def test_operation_headers_cannot_be_replaced(clients, smtp, state, name) -> None:
    result = await send(
        clients,
        plain(smtp),
        {
            "from": "a@example.com",
            "to": ["b@example.com"],
            "headers": [{"name": name, "value": "x@example.com"}],
        },
    )
    assert "cannot be given" in assert_error(result, "connector_error")["message"]


@pytest.mark.parametrize("address", ["not-an-address", "a@b@c", "<a@b.c> junk", "a b@c.d"])
async def test_invalid_addresses(clients, smtp, state, address) -> None:
    result = await send(clients, plain(smtp), {"from": "a@example.com", "to": [address]})
    assert "not an email address" in assert_error(result, "connector_error")["message"]
    assert state.last is None


# -- the fake -----------------------------------------------------------------------------


async def test_fake_inbox_app(state) -> None:
    app = create_app(state, smtp_port=0)
    async with app.router.lifespan_context(app):  # starts the SMTP server
        port = app.state.smtp_server.port
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
            assert (await client.get("/messages")).json() == {"messages": []}
            smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
            async with smtp:
                await smtp.sendmail(
                    "a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nhello\r\n"
                )
            (message,) = (await client.get("/messages")).json()["messages"]
            assert message["mail_from"] == "a@example.com"
            assert message["rcpt_tos"] == ["b@example.com"]
            assert ["Subject", "hi"] in message["headers"]
            assert message["parts"][0]["content"] == "hello\n"
            assert (await client.delete("/messages")).status_code == 204
            assert (await client.get("/messages")).json() == {"messages": []}
