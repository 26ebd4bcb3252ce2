"""The httpx transport every connector's requests travel through: httpx's client API on top
of aiohttp's connection pool and C HTTP parser (several times cheaper per request than the
pure-Python default), with the outbound guard in its resolver.

Connectors keep using ``httpx.AsyncClient``; only the wire underneath changes.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import httpx
import yarl
from aiohttp.abc import AbstractResolver, ResolveResult

from .outbound import OutboundBlocked, OutboundPolicy, _parse_ip

_CHUNK = 64 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ResponseTooLarge(httpx.TransportError):
    """A service's response grew past the pool's cap (read no further)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The response is larger than {limit} bytes")
        self.limit = limit


# Characters left as they are when a URL is made safe to send: reserved ones and "%".
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


async def _forward(stream: Any) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk


def _exact(url: str) -> yarl.URL:
    """The URL sent exactly as written. yarl would otherwise decode ``%2E%2E`` to ``..``
    and normalise the path, so an id a user put in a path (``/visitor/%2E%2E/x``) could
    steer the request elsewhere on the host. Unsafe characters are percent-encoded,
    existing escapes kept."""
    return yarl.URL(quote(url, safe=_URL_SAFE), encoded=True)


def _host_of(url: str) -> str:
    return urlsplit(url).hostname or ""


def _check_literal(policy: OutboundPolicy, host: str) -> None:
    """aiohttp skips the resolver for IP literals: vet them here, legacy IPv4 spellings
    (``127.1``, ``2130706433``, ``0x7f000001``) as the address the C library reads."""
    if _parse_ip(host) is not None:
        policy.check(host, host)
        return
    try:
        legacy = socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return  # a hostname: the resolver vets it
    policy.check(host, legacy)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """Loading the CA bundle takes ~0.1 s: once per process, shared by every pool."""
    return httpx.create_ssl_context()


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver, then refuses the whole name if any address is
    not admitted by the policy. aiohttp connects to the addresses returned here."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            self.policy.check(host, result["host"])
        return results

    async def close(self) -> None:
        await self._inner.close()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, limit: int) -> None:
        self._response = response
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        size = 0
        with _mapped_errors():
            async for chunk in self._response.content.iter_chunked(_CHUNK):
                size += len(chunk)
                if size > self._limit:
                    raise ResponseTooLarge(self._limit)
                yield chunk

    async def aclose(self) -> None:
        self._response.release()


def _where(url: str) -> str:
    """``host:port`` of a URL (never its path or query: they may hold ids or keys)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.hostname or '?'}:{port or (443 if parts.scheme == 'https' else 80)}"


def connect_failure(exc: aiohttp.ClientConnectorError) -> str:
    """Why a connection could not be made, naming the host: the name not resolved, the
    connection refused, the TLS certificate or handshake refused, or the system's reason."""
    where = f"{exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"the name {exc.host} could not be resolved ({exc.strerror or 'no address'})"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        error = exc.certificate_error
        reason = ": ".join(
            str(part)
            for part in (getattr(error, "reason", None), getattr(error, "verify_message", None))
            if part
        )
        return f"the TLS certificate of {where} was not accepted ({reason or error})"
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        reason = getattr(exc.os_error, "reason", None) or exc.strerror
        return f"the TLS handshake with {where} failed ({reason or 'no reason given'})"
    if isinstance(exc.os_error, ConnectionRefusedError):
        return f"the connection to {where} was refused (nothing listens there)"
    reason = exc.strerror or exc.os_error.__class__.__name__
    return f"no connection to {where} ({reason})"


class _mapped_errors:
    """aiohttp's exceptions as the httpx ones connectors (and Context.request) expect; a
    failed connection's message says why, and the host (``url``'s, never its path)."""

    def __init__(self, url: str = "") -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is None or isinstance(exc, (httpx.HTTPError, OutboundBlocked)):
            return False
        message = str(exc) or exc.__class__.__name__
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            where = _where(self.url) if self.url else "the service"
            raise httpx.ConnectTimeout(f"no connection to {where} in time") from exc
        if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
            raise httpx.ReadTimeout(message) from exc
        if isinstance(exc, aiohttp.ClientConnectorError):
            raise httpx.ConnectError(connect_failure(exc)) from exc
        if isinstance(exc, aiohttp.InvalidURL):
            raise httpx.UnsupportedProtocol(message) from exc
        if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
            raise httpx.RemoteProtocolError(message) from exc
        if isinstance(exc, aiohttp.ClientError):
            raise httpx.NetworkError(message) from exc
        return False


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        verify: Any = True,
        limits: httpx.Limits | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.policy = policy
        # No response is read past this (a hostile or broken service cannot exhaust memory).
        self.max_response_bytes = max_response_bytes
        self.ssl_context = (
            _default_ssl_context() if verify is True else httpx.create_ssl_context(verify=verify)
        )
        self.limits = limits or httpx.Limits(max_connections=1000, keepalive_expiry=30)
        self._session: aiohttp.ClientSession | None = None
        self._vetted_hosts: set[str] = set()
        self._timeouts: dict[tuple, aiohttp.ClientTimeout] = {}

    def _check_host(self, host: str) -> None:
        """Vet an IP-literal host once (the policy is fixed for the transport's life)."""
        if host not in self._vetted_hosts:
            _check_literal(self.policy, host)
            if len(self._vetted_hosts) < 10_000:
                self._vetted_hosts.add(host)

    def _get_session(self) -> aiohttp.ClientSession:
        # Created lazily, inside the running event loop that will use it.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.policy),
                ssl=self.ssl_context,
                limit=self.limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=self.limits.keepalive_expiry or 30,
                ttl_dns_cache=10,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                trust_env=False,
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._check_host(request.url.host)
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.get("pool"),
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        # A body in memory is sent as it is; a streamed one (a stored payload) is streamed on.
        body: Any = _forward(request.stream)
        if isinstance(request.stream, httpx.ByteStream):
            body = (await request.aread()) or None
        with _mapped_errors(str(request.url)):
            response = await self._get_session().request(
                request.method,
                _exact(str(request.url)),
                headers=list(request.headers.multi_items()),
                data=body,
                allow_redirects=False,
                timeout=timeout,
                compress=None,
                chunked=None,
            )
        return httpx.Response(
            status_code=response.status,
            # as bytes: httpx decodes them (ASCII, else UTF-8, else Latin-1); str values it
            # would encode as ASCII, and a non-ASCII byte (filename="café.pdf") would raise
            headers=response.raw_headers,
            stream=_ResponseStream(response, self.max_response_bytes),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1"),
            },
            request=request,
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None,
        timeout: httpx.Timeout,
    ) -> httpx.Response:
        """Send a request and read the whole response, bypassing httpx's client layer
        (whose URL and header handling cost several times what the request itself does).
        The returned ``httpx.Response`` has no ``.request``."""
        self._check_host(_host_of(url))
        key = (timeout.connect, timeout.read)
        client_timeout = self._timeouts.get(key)
        if client_timeout is None:
            client_timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=timeout.connect, sock_read=timeout.read
            )
            if len(self._timeouts) < 64:
                self._timeouts[key] = client_timeout
        with _mapped_errors(url):
            async with self._get_session().request(
                method,
                _exact(url),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=client_timeout,
            ) as response:
                content = await self._read_capped(response)
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            content=content,
            extensions={"reason_phrase": (response.reason or "").encode("latin-1")},
        )

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.max_response_bytes
        if response.content_length is not None and response.content_length > limit:
            raise ResponseTooLarge(limit)
        data = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            data += chunk
            if len(data) > limit:
                raise ResponseTooLarge(limit)
        return bytes(data)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
