"""The outbound guard: policy parsing and checks, and the guarded transport over real
loopback sockets (nothing here connects beyond loopback)."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse
from starlette.routing import Route

from patchbay.connectors.sdk.outbound import OutboundBlocked, OutboundPolicy
from patchbay.connectors.sdk.transport import AiohttpTransport
from patchbay.testing.fakeserver import serve_in_thread


# -- fixtures ---------------------------------------------------------------------------
async def _hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def _jump(request: Request) -> RedirectResponse:
    return RedirectResponse(request.query_params["to"], status_code=302)


APP = Starlette(routes=[Route("/", _hello), Route("/jump", _jump)])


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A loopback server on 127.0.0.1 (so reachable as ``localhost`` too)."""
    with serve_in_thread(APP) as url:
        yield httpx.URL(url).port


@pytest.fixture(scope="module")
def other_port() -> Iterator[int]:
    """A second, live loopback server: a redirect target the guard must refuse."""
    with serve_in_thread(APP) as url:
        yield httpx.URL(url).port


def _localhost_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate valid for DNS:localhost only (no IP SAN)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, Path, list[str | None]]]:
    """A minimal HTTPS responder on 127.0.0.1; yields (port, CA file, SNI names seen)."""
    cert_file, key_file = _localhost_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server_names: list[str | None] = []
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass  # the client gave up during the handshake
        finally:
            writer.close()

    server = await asyncio.start_server(respond, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1], cert_file, server_names


async def fetch(allow: str | list[str] | None, url: str) -> httpx.Response:
    transport = AiohttpTransport(OutboundPolicy.from_setting(allow))
    async with httpx.AsyncClient(
        transport=transport, follow_redirects=True, trust_env=False, timeout=5
    ) as client:
        return await client.get(url)


async def refused(allow: str | list[str] | None, url: str) -> OutboundBlocked:
    with pytest.raises(OutboundBlocked) as info:
        await fetch(allow, url)
    assert type(info.value) is OutboundBlocked  # not re-wrapped by httpx/httpcore
    assert isinstance(info.value, httpx.ConnectError)
    assert info.value.request.method == "GET"  # httpx attached the refused request
    return info.value


# -- OutboundPolicy.check -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.20", "link-local"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:169.254.169.254", "IPv4-mapped cloud metadata"),
        ("64:ff9b::a00:1", "NAT64 private"),
        ("2002:7f00:1::", "6to4 loopback"),
        ("fe80::1", "link-local"),
        ("fe80::1%1", "link-local"),
        ("fd00::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("fec0::1", "site-local"),
        ("ff02::1", "multicast"),
    ],
)
def test_non_public_addresses_are_refused(address: str, reason: str) -> None:
    policy = OutboundPolicy.from_setting(None)
    with pytest.raises(OutboundBlocked, match=reason) as info:
        policy.check(address, address)
    assert info.value.address == address
    assert "PATCHBAY_OUTBOUND_ALLOW" in str(info.value)


def test_refusal_message_names_target_and_reason() -> None:
    policy = OutboundPolicy.from_setting("")
    with pytest.raises(OutboundBlocked) as info:
        policy.check("127.0.0.1", "127.0.0.1")
    assert str(info.value) == (
        "Outbound request to 127.0.0.1 refused: loopback address "
        "(allow it with PATCHBAY_OUTBOUND_ALLOW)"
    )
    with pytest.raises(OutboundBlocked, match=r"to internal\.example \(10\.0\.0\.5\) refused"):
        policy.check("internal.example", "10.0.0.5")


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]
)
def test_public_addresses_pass(address: str) -> None:
    OutboundPolicy.from_setting(None).check("example.com", address)
    OutboundPolicy.from_setting("10.0.0.0/8").check(address, address)


def test_allow_by_network() -> None:
    policy = OutboundPolicy.from_setting("10.0.0.0/8, 127.0.0.1 ,fd00::/8,[::1]")
    for address in ("10.20.30.40", "127.0.0.1", "fd12::3", "::1", "::ffff:10.0.0.1"):
        policy.check("anything.example", address)
    for address in ("127.0.0.2", "192.168.0.1", "fe80::1"):
        with pytest.raises(OutboundBlocked):
            policy.check("anything.example", address)


def test_allow_by_hostname() -> None:
    policy = OutboundPolicy.from_setting(["Billing.Internal", "*.corp.example", ".svc.local"])
    policy.check("billing.internal", "10.0.0.1")
    policy.check("BILLING.internal.", "192.168.0.1")
    policy.check("api.corp.example", "10.0.0.2")
    policy.check("a.b.svc.local", "172.16.0.3")
    for host in ("corp.example", "evilcorp.example", "billing.internal.evil", "10.0.0.1"):
        with pytest.raises(OutboundBlocked):
            policy.check(host, "10.0.0.1")


def test_star_allows_everything() -> None:
    policy = OutboundPolicy.from_setting(" * ")
    assert policy.allow_all
    policy.check("localhost", "127.0.0.1")
    policy.check("169.254.169.254", "169.254.169.254")
    assert not OutboundPolicy.from_setting("127.0.0.1").allow_all
    assert not OutboundPolicy.from_setting(None).allow_all


@pytest.mark.parametrize(
    "entry",
    [
        "http://example.com",
        "example.com:443",
        "a..b",
        "-a.com",
        "10.0.0.0/33",
        "10.0.0.0/8/9",
        "1.2.3.4:80",
        "*.",
        "a b",
        "fe80::1%zz%",
        "exa$mple.com",
    ],
)
def test_invalid_entries_raise_value_error(entry: str) -> None:
    with pytest.raises(ValueError, match="Invalid PATCHBAY_OUTBOUND_ALLOW entry"):
        OutboundPolicy.from_setting(f"localhost, {entry}")


def test_empty_settings_allow_only_public() -> None:
    for setting in (None, "", " , ,", []):
        policy = OutboundPolicy.from_setting(setting)
        assert not policy.allow_all
        with pytest.raises(OutboundBlocked):
            policy.check("localhost", "127.0.0.1")


# -- the guarded transport over real sockets --------------------------------------------------
async def test_loopback_refused_by_default(port: int) -> None:
    exc = await refused(None, f"http://127.0.0.1:{port}/")
    assert "127.0.0.1 refused: loopback address" in str(exc)
    exc = await refused("", f"http://localhost:{port}/")
    assert "localhost (127.0.0.1) refused" in str(exc)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:{port}/",
        "http://0.0.0.0:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://127.1:{port}/",
    ],
)
async def test_other_loopback_spellings_refused(port: int, url: str) -> None:
    await refused("localhost", url.format(port=port))


@pytest.mark.parametrize("allow", ["127.0.0.0/8", "127.0.0.1", "*"])
async def test_loopback_allowed_by_network_or_star(port: int, allow: str) -> None:
    for host in ("127.0.0.1", "localhost"):
        response = await fetch(allow, f"http://{host}:{port}/")
        assert response.status_code == 200
        assert response.text == "hello"


async def test_loopback_allowed_by_hostname(port: int) -> None:
    response = await fetch("LocalHost", f"http://localhost:{port}/")
    assert response.text == "hello"
    await refused("localhost", f"http://127.0.0.1:{port}/")  # the IP itself is not allowed


async def test_resolved_address_is_checked(port: int) -> None:
    """``localhost`` resolves to 127.0.0.1, which an allowed 127.0.0.2 does not cover."""
    exc = await refused("127.0.0.2/32", f"http://localhost:{port}/")
    assert exc.host == "localhost"
    assert exc.address == "127.0.0.1"


async def test_redirect_to_blocked_address_refused(port: int, other_port: int) -> None:
    target = f"http://127.0.0.1:{other_port}/"
    jump = f"http://localhost:{port}/jump?to={target}"
    exc = await refused("localhost", jump)
    assert exc.address == "127.0.0.1"
    assert exc.request.url == httpx.URL(target)
    # Control: the same redirect goes through once its target is allowed too.
    response = await fetch("localhost, 127.0.0.1", jump)
    assert response.text == "hello"
    assert [r.status_code for r in response.history] == [302]


async def test_pooled_transport_keeps_guarding(port: int, other_port: int) -> None:
    """One shared transport: allowed connections are pooled, new targets still checked."""
    transport = AiohttpTransport(OutboundPolicy.from_setting("localhost"))
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=5) as client:
        for _ in range(3):
            assert (await client.get(f"http://localhost:{port}/")).text == "hello"
        with pytest.raises(OutboundBlocked):
            await client.get(f"http://127.0.0.1:{other_port}/")
        assert (await client.get(f"http://localhost:{other_port}/")).text == "hello"


async def test_tls_verifies_and_sends_sni_for_the_url_hostname(
    tls_server: tuple[int, Path, list[str | None]],
) -> None:
    """Connecting by vetted IP must not change TLS: SNI and certificate checks still use
    the URL's hostname (the certificate has no IP address, so checking 127.0.0.1 fails)."""
    port, ca_file, server_names = tls_server
    verify = ssl.create_default_context(cafile=str(ca_file))
    policy = OutboundPolicy.from_setting("localhost, 127.0.0.1")
    transport = AiohttpTransport(policy, verify=verify)
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=5) as client:
        response = await client.get(f"https://localhost:{port}/")
        assert response.text == "ok"
        assert server_names == ["localhost"]
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED") as info:
            await client.get(f"https://127.0.0.1:{port}/")
        assert not isinstance(info.value, OutboundBlocked)


async def test_unreachable_allowed_target_is_a_plain_connect_error() -> None:
    with pytest.raises(httpx.ConnectError) as info:
        await fetch("127.0.0.0/8", "http://127.0.0.1:1/")
    assert not isinstance(info.value, OutboundBlocked)


@pytest.mark.parametrize("option", [{"proxy": "http://127.0.0.1:3128"}, {"uds": "/tmp/x.sock"}])
def test_transport_refuses_options_that_bypass_the_guard(option: dict[str, str]) -> None:
    with pytest.raises(TypeError):
        AiohttpTransport(OutboundPolicy.from_setting(None), **option)
