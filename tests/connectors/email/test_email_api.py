"""The email (SMTP) connector through ``POST /core/v1/connectors/email/versions/1.0/call``,
as an end user with their own authentication, against a real SMTP server (the connector's
aiosmtpd fake) on 127.0.0.1."""

from __future__ import annotations

import base64
import datetime
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patchbay.connectors.email.connector import ENVIRONMENT_ID
from patchbay.connectors.email.fake import FakeSMTP, FakeSMTPServer, start_smtp_server
from patchbay.testing.fakeserver import serve_in_thread

CALL = "/core/v1/connectors/email/versions/1.0/call"
PASSWORD = "s3cret-smtp-password"
REPORT = b"%PDF-1.4\n" + bytes(range(256)) * 4


@pytest.fixture
def state() -> FakeSMTP:
    return FakeSMTP(users={"ada": PASSWORD})


@pytest.fixture
def smtp(state: FakeSMTP) -> Iterator[FakeSMTPServer]:
    with start_smtp_server(state) as server:
        yield server


@pytest.fixture
def files() -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def report(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(REPORT, media_type="application/pdf")

    async def busy(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(b"", status_code=429, headers={"Retry-After": "60"})

    app = Starlette(routes=[Route("/report.pdf", report), Route("/busy", busy)])
    with serve_in_thread(app) as url:
        yield url, hits


def tls_certificate(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A self-signed certificate for localhost: the server's context and the PEM a client
    trusts it with."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context, pem.decode("ascii")


async def email_user(api, user_data: dict[str, Any], password: str = PASSWORD):
    """A fresh end user with an SMTP authentication of their own."""
    _, headers = await api.new_user()
    auth_id = await api.create_auth(
        headers, ENVIRONMENT_ID, {"username": "ada", "password": password}, userData=user_data
    )
    return headers, auth_id


async def call(api, headers: dict[str, str], auth_id: str, input: dict[str, Any]):
    body = {"operation": "send_email", "authId": auth_id, "input": input}
    return await api.client.post(CALL, json=body, headers=headers)


def success(r) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "success", body
    return body["output"]


def error(r, kind: str, code: int | None = None) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"outcome", "output"}
    assert body["outcome"] == "error", body
    output = body["output"]
    assert output["kind"] == kind, output
    assert output.get("code") == code, output
    assert isinstance(output["message"], str) and output["message"]
    assert PASSWORD not in r.text
    return output


def plain(server: FakeSMTPServer, **extra: Any) -> dict[str, Any]:
    return {"host": server.host, "port": server.port, "security": "none", **extra}


async def test_catalogue(api):
    r = await api.client.get("/core/v1/services/email/versions/1/environments", headers=api.master)
    assert r.status_code == 200, r.text
    (env,) = r.json()["elements"]
    assert (env["id"], env["title"], env["authenticationType"]) == (
        ENVIRONMENT_ID,
        "SMTP server",
        "basic",
    )
    assert env["userDataSchema"]["required"] == ["host"]

    r = await api.client.get(
        "/core/v1/connectors/email/versions/1.0/operations", headers=api.master
    )
    assert r.status_code == 200, r.text
    (op,) = r.json()["elements"]
    assert (op["name"], op["title"]) == ("send_email", "Send Email")
    jsonschema.Draft4Validator.check_schema(op["inputSchema"])
    jsonschema.Draft4Validator.check_schema(op["outputSchema"])


async def test_send_email_as_an_end_user(api, smtp, state, files):
    files_url, hits = files
    headers, auth_id = await email_user(api, plain(smtp, from_address="Ada <ada@example.com>"))
    r = await call(
        api,
        headers,
        auth_id,
        {
            "to": ["bob@example.com"],
            "bcc": ["audit@example.com"],
            "subject": "Quarterly report",
            "text_body": "Attached.",
            "html_body": "<p>Attached.</p>",
            "attachments": [
                {"filename": "report.pdf", "url": f"{files_url}/report.pdf"},
                {"filename": "a.txt", "content_base64": base64.b64encode(b"abc").decode()},
            ],
            "headers": [{"name": "X-Request", "value": "42"}],
        },
    )
    output = success(r)
    r = await api.client.get("/core/v1/connectors/email/versions/1.0/operations", headers=headers)
    schema = r.json()["elements"][0]["outputSchema"]
    jsonschema.Draft4Validator(schema).validate(output)
    assert output["accepted"] == ["bob@example.com", "audit@example.com"]
    assert output["refused"] == {}
    assert PASSWORD not in r.text

    last = state.last
    assert last is not None
    assert last.authenticated_as == "ada"
    assert (last.mail_from, last.rcpt_tos) == ("ada@example.com", output["accepted"])
    msg = last.message
    assert msg["From"] == "Ada <ada@example.com>"
    assert msg["To"] == "bob@example.com"
    assert "Bcc" not in msg
    assert msg["X-Request"] == "42"
    assert msg["Message-ID"] == output["message_id"]
    body, report, text = msg.iter_parts()
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert report.get_filename() == "report.pdf"
    assert report.get_payload(decode=True) == REPORT
    assert text.get_payload(decode=True) == b"abc"
    assert hits == ["/report.pdf"]


async def test_smtp_failures_are_standardized_errors(api, smtp, state, files):
    files_url, _ = files
    headers, auth_id = await email_user(api, plain(smtp, from_address="ada@example.com"))

    state.refuse_recipient("nobody@example.com")
    r = await call(api, headers, auth_id, {"to": ["nobody@example.com"]})
    assert "User unknown" in error(r, "api_error", 550)["message"]

    r = await call(api, headers, auth_id, {"to": ["bob@example.com", "nobody@example.com"]})
    output = success(r)
    assert output["accepted"] == ["bob@example.com"]
    assert output["refused"]["nobody@example.com"]["code"] == 550

    state.throttle_next(1)
    r = await call(api, headers, auth_id, {"to": ["bob@example.com"]})
    error(r, "rate_limited", 421)

    state.reject_next_message()
    r = await call(api, headers, auth_id, {"to": ["bob@example.com"]})
    error(r, "api_error", 554)

    r = await call(
        api,
        headers,
        auth_id,
        {
            "to": ["bob@example.com"],
            "attachments": [{"filename": "r.pdf", "url": f"{files_url}/busy"}],
        },
    )
    output = error(r, "rate_limited")
    assert output["retryAfter"] == 60 and output["response"]["statusCode"] == 429

    # Another user's authentication with a wrong password.
    headers2, auth2 = await email_user(api, plain(smtp), password="wrong-password")
    r = await call(api, headers2, auth2, {"from": "x@example.com", "to": ["bob@example.com"]})
    output = error(r, "auth_error", 535)
    assert "wrong-password" not in r.text
    assert output["response"] is None


async def test_starttls_with_the_authentications_ca(api, state, tmp_path):
    context, pem = tls_certificate(tmp_path)
    with start_smtp_server(state, starttls_context=context, require_starttls=True) as server:
        user_data = {"host": "localhost", "port": server.port, "ca_cert_pem": pem}
        headers, auth_id = await email_user(api, user_data)  # security: starttls by default
        r = await call(api, headers, auth_id, {"from": "ada@example.com", "to": ["b@example.com"]})
        success(r)
        assert state.last is not None and state.last.tls and state.last.authenticated_as == "ada"

        headers, auth_id = await email_user(api, {"host": "localhost", "port": server.port})
        r = await call(api, headers, auth_id, {"from": "ada@example.com", "to": ["b@example.com"]})
        assert "certificate" in error(r, "connector_error")["message"]


async def test_header_injection_is_refused_with_a_400(api, smtp, state):
    headers, auth_id = await email_user(api, plain(smtp))
    for bad in (
        {"headers": [{"name": "X-A", "value": "1\r\nBcc: victim@example.com"}]},
        {"subject": "hi\nBcc: victim@example.com"},
    ):
        r = await call(
            api, headers, auth_id, {"from": "ada@example.com", "to": ["b@example.com"], **bad}
        )
        body = api.expect_error(r, 400)
        assert body["message"].startswith("Connector input validation failed.")
    assert state.last is None


async def test_user_data_needs_a_host(api):
    _, headers = await api.new_user()
    r = await api.client.post(
        "/core/v1/authentications",
        json={
            "name": "smtp",
            "serviceEnvironmentId": ENVIRONMENT_ID,
            "credentials": {},
            "userData": {"port": 25, "security": "none"},
        },
        headers=headers,
    )
    assert api.expect_error(r, 400)["code"] == "invalid_userData"
    r = await api.client.post(
        "/core/v1/authentications",
        json={
            "name": "smtp",
            "serviceEnvironmentId": ENVIRONMENT_ID,
            "credentials": {},
            "userData": {"host": "smtp.example.com", "security": "ssl"},
        },
        headers=headers,
    )
    api.expect_error(r, 400, "invalid_userData")


async def test_outbound_guard_covers_the_smtp_host(settings, make_api, smtp, state):
    """An end user cannot reach an internal SMTP server through their userData."""
    async with make_api(settings.model_copy(update={"outbound_allow": ""})) as api:
        headers, auth_id = await email_user(api, plain(smtp))
        r = await call(api, headers, auth_id, {"from": "ada@example.com", "to": ["b@example.com"]})
        output = error(r, "connector_error")
        assert "refused" in output["message"] and "loopback" in output["message"]
    assert not state.commands
