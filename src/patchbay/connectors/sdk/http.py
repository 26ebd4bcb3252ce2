"""Outbound HTTP clients: one guarded connection pool, one client per base URL."""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from cachetools import LRUCache

from .outbound import OutboundPolicy
from .retry import Budgets
from .transport import DEFAULT_MAX_RESPONSE_BYTES, AiohttpTransport

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_TIMEOUT = 45.0
MAX_CLIENTS = 1024  # base URLs with a client kept; the least recently used go


def _no_cookies() -> httpx.Cookies:
    """A jar that never stores a cookie: clients are shared by every caller of a base URL,
    so a cookie set for one user's call must never ride along on another's."""
    return httpx.Cookies(CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))


class HttpClientPool:
    """Hands out ``httpx.AsyncClient``s bound to a base URL, all sharing one guarded
    transport (so connection pooling works across calls and the guard is never skipped)."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.policy = policy
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT))
        self.transport = AiohttpTransport(policy, max_response_bytes=max_response_bytes)
        self.budgets = Budgets()  # rate budgets per (service, authentication)
        # base URL -> client. An evicted client needs no closing: the transport is shared.
        self._clients: LRUCache[str, httpx.AsyncClient] = LRUCache(max_clients)

    def client(self, base_url: str | None) -> httpx.AsyncClient:
        key = base_url or ""
        try:
            return self._clients[key]
        except KeyError:
            pass
        client = self._clients[key] = httpx.AsyncClient(
            base_url=self._normalise(base_url),
            transport=self.transport,
            timeout=self.timeout,
            # Off: httpx keeps custom credential headers across origins on redirect.
            # A connector that wants redirects follows them itself (see http-client).
            follow_redirects=False,
            trust_env=False,
            cookies=_no_cookies(),
        )
        return client

    @staticmethod
    def join(base_url: str | None, url: str) -> str:
        """``url`` resolved against ``base_url`` the way httpx's ``base_url`` does."""
        if not base_url or "://" in url:
            return url
        return base_url.rstrip("/") + "/" + url.lstrip("/")

    @staticmethod
    def _normalise(base_url: str | None) -> str:
        if not base_url:
            return ""
        return base_url if base_url.endswith("/") else base_url + "/"

    async def aclose(self) -> None:
        self._clients.clear()
        await self.transport.aclose()
