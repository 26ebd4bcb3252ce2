"""Request limits as plain ASGI middleware (cheap on the hot path):

- bodies over ``max_body_bytes`` are refused with 413, whether announced by
  Content-Length or only discovered while streaming;
- a token bucket per bearer token on the platform endpoints (Call Connector is exempt, as
  at Tray), answering 429 with ``Retry-After`` and ``RateLimit-*`` headers.
"""

from __future__ import annotations

import hashlib
import math
import re
import time

from starlette.exceptions import HTTPException

from ..ratelimit import TokenBucket, buckets
from ..services.identity.sessions import COOKIE as SESSION_COOKIE
from .asgi import send_error

CALL_PATH = re.compile(r"^/core/v1/connectors/[^/]+/versions/[^/]+/call/?$")


class _BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a streamed body passes the limit. An HTTPException, so
    that FastAPI's body parsing lets it through (instead of turning it into a 400) and the
    app's handler answers 413; if nothing answered, the middleware does."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


class BodyLimit:
    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    return await send_error(send, 400, "Invalid Content-Length", "invalid_request")
                if too_big:
                    return await send_error(send, 413, self._message(), "payload_too_large")
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(self._message())
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await send_error(send, 413, self._message(), "payload_too_large")

    def _message(self) -> str:
        return f"Request body exceeds {self.max_bytes} bytes"


_SESSION_COOKIE = SESSION_COOKIE.encode() + b"="


def _caller_key(headers) -> bytes | None:
    """What a request's budget is counted by: its bearer token, else its session cookie
    (a signed-in browser), as a SHA-256."""
    cookie = None
    for name, value in headers:
        if name == b"authorization":
            return hashlib.sha256(value).digest()
        if name == b"cookie" and _SESSION_COOKIE in value:
            for part in value.split(b";"):
                part = part.strip()
                if part.startswith(_SESSION_COOKIE):
                    cookie = part[len(_SESSION_COOKIE) :]
    return hashlib.sha256(b"session:" + cookie).digest() if cookie else None


class RateLimit:
    def __init__(self, app, per_second: float, burst: int) -> None:
        self.app = app
        self.rate = per_second
        self.burst = burst
        self.buckets = buckets()  # bearer token's SHA-256 -> TokenBucket

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self.rate <= 0 or CALL_PATH.match(scope["path"]):
            return await self.app(scope, receive, send)
        key = _caller_key(scope["headers"])
        if key is None:  # unauthenticated requests are answered 401 without limit cost
            return await self.app(scope, receive, send)
        now = time.monotonic()
        try:
            bucket = self.buckets[key]
        except KeyError:
            bucket = self.buckets[key] = TokenBucket(self.rate, self.burst, now)
        wait = bucket.take(now)
        if wait:
            headers = self._headers(0, wait)
            headers.append((b"retry-after", str(max(1, math.ceil(wait))).encode()))
            return await send_error(
                send,
                429,
                "Rate limit exceeded: too many requests for this token",
                "rate_limited",
                headers,
            )
        extra = self._headers(int(bucket.tokens), bucket.until_full())

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, remaining: int, reset: float) -> list[tuple[bytes, bytes]]:
        return [
            (b"ratelimit-limit", str(self.burst).encode()),
            (b"ratelimit-remaining", str(remaining).encode()),
            (b"ratelimit-reset", str(max(0, math.ceil(reset))).encode()),
            (
                b"ratelimit-policy",
                f"{self.burst};w=1;burst={self.burst};rate={self.rate:g}".encode(),
            ),
        ]
