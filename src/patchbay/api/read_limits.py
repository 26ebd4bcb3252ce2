"""How long a client may take to send a request, and how many connections it may hold
(slow-loris and lying ``Content-Length`` bodies would otherwise keep sockets open forever).

- :class:`GuardedHttpProtocol`: uvicorn's httptools protocol with a header read deadline (a
  connection that has not finished a request's headers within ``header_timeout`` seconds
  of opening, or of the request's first byte, is closed) and a connection cap (a connection
  past ``max_connections`` is closed at once). Idle keep-alive connections are uvicorn's
  ``timeout_keep_alive``.
- :class:`BodyReadTimeout`: an ASGI middleware bounding the wait for each part of a request
  body: past ``timeout`` seconds the client gets 408 ``request_timeout`` and the connection
  is closed; the app reads a disconnect.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import Settings
from .asgi import send_error


def server_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for them (``patchbay serve``)."""
    return {
        "http": functools.partial(
            GuardedHttpProtocol,
            header_timeout=settings.header_timeout_seconds,
            max_connections=settings.max_connections,
        ),
    }


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self, *args: Any, header_timeout: float, max_connections: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_connections = max_connections
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections and len(self.connections) > self.max_connections:
            transport.close()  # over the cap: no descriptor held for it
            return
        self._arm()  # the first request's headers are due

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a keep-alive connection's next request

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None and self.header_timeout:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class BodyReadTimeout:
    def __init__(self, app, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.timeout:
            return await self.app(scope, receive, send)
        body_done = started = timed_out = answered = False

        async def timed_receive():
            nonlocal body_done, timed_out, answered
            if body_done:  # after the body: a disconnect may take any time
                return await receive()
            if timed_out:
                return {"type": "http.disconnect"}
            try:
                # asyncio.timeout arms a timer handle; wait_for would make a task per read
                async with asyncio.timeout(self.timeout):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                if not started:
                    answered = True
                    message = f"The request body did not arrive within {self.timeout:g} s"
                    # the body never came: the connection closes after this answer
                    await send_error(
                        send, 408, message, "request_timeout", [(b"connection", b"close")]
                    )
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message):
            nonlocal started
            if answered:
                return  # the client was answered 408
            started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)
