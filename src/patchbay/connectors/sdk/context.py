"""What an operation handler gets: credentials, user data, an HTTP client and error helpers."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import orjson

from ...payload_refs import PayloadAccess
from .errors import ConnectorError, ErrorKind
from .http import HttpClientPool
from .outbound import OutboundBlocked
from .retry import is_idempotent
from .transport import ResponseTooLarge

# Refreshes the authentication's credentials; returns the new ones (None: could not).
Refresher = Callable[[], Awaitable[dict[str, Any] | None]]

if TYPE_CHECKING:
    from .declaration import Declaration, DeclaredOperation


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def response_body(response: httpx.Response) -> Any:
    """The body as JSON when it is JSON, else as text."""
    if not response.content:
        return None
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def _merge_headers(first: dict[str, str], then: dict[str, str] | None) -> dict[str, str]:
    """``first`` overridden by ``then``, header names compared without case (else a
    ``content-type`` beside a ``Content-Type`` would send both)."""
    merged = dict(first)
    if then:
        lower = {k.lower(): k for k in merged}
        for key, value in then.items():
            merged.pop(lower.get(key.lower(), key), None)
            merged[key] = value
    return merged


def _default_content_type(headers: dict[str, str], value: str) -> None:
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = value


def _encode_body(json: Any, data: Any, content: Any, headers: dict[str, str]) -> bytes | None:
    """The request body, setting Content-Type the way httpx would."""
    if content is not None:
        return content.encode() if isinstance(content, str) else content
    if json is not None:
        _default_content_type(headers, "application/json")
        return orjson.dumps(json)
    if data is not None:
        _default_content_type(headers, "application/x-www-form-urlencoded")
        return urlencode(data, doseq=True).encode()
    return None


def _with_query(url: str, params: Any) -> str:
    if not params:
        return url
    items = params.items() if isinstance(params, dict) else params
    query = urlencode([(k, v) for k, v in items if v is not None], doseq=True)
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


def kind_for_status(status: int) -> ErrorKind:
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth_error"
    if status in (408, 504):
        return "timeout"
    return "api_error"


class Context:
    """Handed to every operation handler.

    ``http`` is an ``httpx.AsyncClient`` bound to the service's base URL (or the
    authentication's ``userData.base_url``) going through the outbound guard. Prefer
    :meth:`request`, which also applies the authentication and turns failures into a
    :class:`ConnectorError`.
    """

    def __init__(
        self,
        *,
        connector: Declaration[Any],
        operation: DeclaredOperation,
        credentials: dict[str, Any],
        user_data: dict[str, Any],
        clients: HttpClientPool,
        base_url: str | None,
        auth_id: str | None = None,
        refresh: Refresher | None = None,
        intake_url: str | None = None,
        idempotency_key: str | None = None,
        payloads: PayloadAccess | None = None,
    ) -> None:
        self.connector = connector
        self.operation = operation
        self.credentials = credentials
        self.user_data = user_data
        self.clients = clients
        self.base_url = base_url
        self.auth_id = auth_id
        # For a trigger's hooks: the public URL where the subscription receives requests
        # (what on_subscribe registers with the service).
        self.intake_url = intake_url
        # For a workflow step: stable across the attempts of that step (retries, and a run
        # resumed after a crash), for services that deduplicate by an idempotency key.
        self.idempotency_key = idempotency_key
        # In a workflow step: the run's stored payloads (patchbay.payload_refs), for operations
        # declared with payloads=True. None elsewhere (a Call Connector request).
        self.payloads = payloads
        self._http: httpx.AsyncClient | None = None
        self._refresh = refresh

    @property
    def http(self) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` bound to the base URL, behind the outbound guard."""
        if self._http is None:
            self._http = self.clients.client(self.base_url)
        return self._http

    # -- requests ---------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str] | httpx.Auth | None:
        if self.connector.authorize is None:
            return None
        return self.connector.authorize(self)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Any = None,
        json: Any = None,
        data: Any = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        raise_for_status: bool = True,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request to ``url`` (relative to the base URL) with the authentication
        applied, and read the whole response.

        The connector's :class:`RetryPolicy` applies (retries on 429/5xx and connection
        failures for idempotent requests, honouring Retry-After), so does its
        :class:`RateBudget`; a 401 with an OAuth 2 authentication refreshes the credentials
        once and tries again. Transport failures become ``timeout`` / ``connector_error``;
        a non-2xx response becomes :meth:`api_error` unless ``raise_for_status`` is false.
        Anything beyond these arguments (``files``, ``cookies``, an ``httpx.Auth``...)
        goes through :attr:`http`, httpx's full client.
        """
        policy = self.connector.retry
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            if self.connector.rate_budget is not None:
                key = (self.connector.service.name, self.auth_id or "")
                await self.clients.budgets.acquire(key, self.connector.rate_budget)
            try:
                response = await self._send(
                    method, url, params, json, data, content, headers, timeout, kwargs
                )
            except httpx.ConnectError as exc:
                retriable = not isinstance(exc, OutboundBlocked) and is_idempotent(
                    method, idempotent
                )
                if retriable and attempt < policy.attempts:
                    await asyncio.sleep(policy.delay(attempt, None) or 0)
                    continue
                raise self._transport_error(exc) from exc
            except httpx.HTTPError as exc:
                raise self._transport_error(exc) from exc
            status = response.status_code
            if status == 401 and not refreshed and self._refresh is not None:
                refreshed = True
                if await self.refresh_credentials():
                    attempt -= 1  # the refreshed try does not count against the policy
                    continue
            if policy.should_retry(attempt, method, status, idempotent):
                wait = policy.delay(attempt, parse_retry_after(response.headers.get("retry-after")))
                if wait is not None:
                    await asyncio.sleep(wait)
                    continue
            break
        if raise_for_status and not response.is_success:
            raise self.error_for(response)
        return response

    def error_for(self, response: httpx.Response) -> ConnectorError:
        """The error a non-2xx response stands for: the connector's ``error_mapper`` when
        it declares one (the service's own code and message), else :meth:`api_error`."""
        if self.connector.error_mapper is not None:
            return self.connector.error_mapper(self, response)
        return self.api_error(response)

    async def _send(self, method, url, params, json, data, content, headers, timeout, kwargs):
        auth = self.auth_headers()
        merged = _merge_headers(auth if isinstance(auth, dict) else {}, headers)
        streamed = content is not None and not isinstance(content, bytes | str)
        if kwargs or isinstance(auth, httpx.Auth) or streamed:  # a stream: httpx sends it
            if isinstance(auth, httpx.Auth):
                kwargs.setdefault("auth", auth)
            return await self.http.request(
                method,
                url,
                params=params,
                json=json,
                data=data,
                content=content,
                headers=merged,
                timeout=self._timeout(timeout),
                **kwargs,
            )
        body = _encode_body(json, data, content, merged)
        return await self.clients.transport.request(
            method,
            _with_query(self.clients.join(self.base_url, url), params),
            headers=merged,
            body=body,
            timeout=self._timeout(timeout),
        )

    def _timeout(self, seconds: float | None) -> httpx.Timeout:
        """A request may take as long as its operation may (45 s unless it says more)."""
        if seconds is None and self.operation.timeout == self.clients.timeout.read:
            return self.clients.timeout
        seconds = seconds or self.operation.timeout
        return httpx.Timeout(seconds, connect=min(seconds, self.clients.timeout.connect))

    def _transport_error(self, exc: httpx.HTTPError) -> ConnectorError:
        if isinstance(exc, ResponseTooLarge):
            return ConnectorError(
                f"The response from {self.connector.title} is larger than {exc.limit} bytes",
                "connector_error",
            )
        if isinstance(exc, httpx.ConnectTimeout):
            return ConnectorError(f"Could not reach {self.connector.title}: {exc}", "timeout")
        if isinstance(exc, httpx.TimeoutException):
            return ConnectorError(f"The request to {self.connector.title} timed out", "timeout")
        if isinstance(exc, OutboundBlocked):
            return ConnectorError(str(exc), "connector_error")
        if isinstance(exc, httpx.ConnectError):  # the transport names the cause and host
            return ConnectorError(
                f"Could not reach {self.connector.title}: {exc}", "connector_error"
            )
        return ConnectorError(
            f"Could not reach {self.connector.title}: {exc.__class__.__name__}",
            "connector_error",
        )

    async def refresh_credentials(self) -> bool:
        """Refresh an OAuth 2 authentication now (one refresh at a time per credential);
        True when new credentials are in place. Connectors whose service signals an expired
        token other than by a 401 (Slack's ``token_expired``) call this and retry."""
        if self._refresh is None:
            return False
        fresh = await self._refresh()
        if not fresh:
            return False
        self.credentials = fresh
        return True

    # -- pagination -------------------------------------------------------------------
    def paginate(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[Any]:
        """Items (or pages) of a paginated list: see :mod:`.pagination`."""
        from .pagination import paginate

        return paginate(self, method, url, **kwargs)

    async def collect(self, method: str, url: str, **kwargs: Any) -> tuple[list[Any], bool]:
        """Up to ``max_items`` items of a paginated list, and whether more remained."""
        from .pagination import collect

        return await collect(self, method, url, **kwargs)

    # -- errors -----------------------------------------------------------------------
    def api_error(
        self,
        response: httpx.Response,
        message: str | None = None,
        *,
        code: str | int | None = None,
        kind: ErrorKind | None = None,
    ) -> ConnectorError:
        """A standardized error from a third-party response, keeping its code and text."""
        status = response.status_code
        return ConnectorError(
            message or f"{self.connector.title} answered {status} {response.reason_phrase}",
            kind or kind_for_status(status),
            status_code=status,
            headers=response.headers,
            body=response_body(response),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            code=code,
        )

    def fail(
        self, message: str, kind: ErrorKind = "connector_error", **kwargs: Any
    ) -> ConnectorError:
        """An error that is not tied to an HTTP response (or built by hand)."""
        return ConnectorError(message, kind, **kwargs)
