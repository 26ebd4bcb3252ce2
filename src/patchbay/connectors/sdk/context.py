"""What an operation handler gets: credentials, user data, an HTTP client and error helpers."""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
import orjson

from .errors import ConnectorError, ErrorKind
from .http import HttpClientPool
from .outbound import OutboundBlocked

if TYPE_CHECKING:
    from .connector import Connector
    from .operation import Operation


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


def _encode_body(json: Any, data: Any, content: Any, headers: dict[str, str]) -> bytes | None:
    """The request body, setting Content-Type the way httpx would."""
    if content is not None:
        return content.encode() if isinstance(content, str) else content
    if json is not None:
        headers.setdefault("Content-Type", "application/json")
        return orjson.dumps(json)
    if data is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
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
        connector: Connector,
        operation: Operation,
        credentials: dict[str, Any],
        user_data: dict[str, Any],
        clients: HttpClientPool,
        base_url: str | None,
        auth_id: str | None = None,
    ) -> None:
        self.connector = connector
        self.operation = operation
        self.credentials = credentials
        self.user_data = user_data
        self.clients = clients
        self.base_url = base_url
        self.auth_id = auth_id
        self._http: httpx.AsyncClient | None = None

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
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request to ``url`` (relative to the base URL) with the authentication
        applied, and read the whole response.

        Transport failures become ``timeout`` / ``connector_error``; a non-2xx response
        becomes :meth:`api_error` unless ``raise_for_status`` is false. Anything beyond
        these arguments (``files``, ``cookies``, an ``httpx.Auth``...) goes through
        :attr:`http`, httpx's full client.
        """
        auth = self.auth_headers()
        merged = {**auth, **(headers or {})} if isinstance(auth, dict) else dict(headers or {})
        try:
            if kwargs or isinstance(auth, httpx.Auth):
                if isinstance(auth, httpx.Auth):
                    kwargs.setdefault("auth", auth)
                response = await self.http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    content=content,
                    headers=merged,
                    timeout=timeout or httpx.USE_CLIENT_DEFAULT,
                    **kwargs,
                )
            else:
                body = _encode_body(json, data, content, merged)
                response = await self.clients.transport.request(
                    method,
                    _with_query(self.clients.join(self.base_url, url), params),
                    headers=merged,
                    body=body,
                    timeout=httpx.Timeout(timeout) if timeout else self.clients.timeout,
                )
        except httpx.TimeoutException as exc:
            raise ConnectorError(
                f"The request to {self.connector.title} timed out", "timeout"
            ) from exc
        except OutboundBlocked as exc:
            raise ConnectorError(str(exc), "connector_error") from exc
        except httpx.HTTPError as exc:
            raise ConnectorError(
                f"Could not reach {self.connector.title}: {exc.__class__.__name__}",
                "connector_error",
            ) from exc
        if raise_for_status and not response.is_success:
            raise self.api_error(response)
        return response

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
