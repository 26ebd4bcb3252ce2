"""A subscriber endpoint for tests and demos: records every delivery Patchbay makes to it,
and answers as scripted (fail, throttle, hang, recover).

    subscriber = Subscriber()
    subscriber.script(500, 500, (429, {"Retry-After": "1"}))  # then 200s
    with serve_in_thread(subscriber.app) as url:
        ...  # create a subscription with endpoint=url + "/hook"
        deliveries = subscriber.wait_for(3)

Every received request is kept (:attr:`received`, including failed attempts);
:attr:`accepted` holds the ones answered 2xx. :meth:`verified` checks an accepted
delivery's ``x-tray-signature`` with a signing key the way a Tray client does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..services.triggers.signing import verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers.get("x-patchbay-event-id", "")


class Subscriber:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[tuple[int, dict[str, str], float]] = deque()
        self.received: list[Received] = []

    def script(self, *answers: int | tuple[int, dict[str, str]] | tuple[int, dict, float]):
        """Answers for the next requests, in order: a status, ``(status, headers)`` or
        ``(status, headers, delay_seconds)``; afterwards every request gets 200."""
        with self._lock:
            for answer in answers:
                if isinstance(answer, int):
                    self._script.append((answer, {}, 0.0))
                elif len(answer) == 2:
                    self._script.append((answer[0], answer[1], 0.0))
                else:
                    self._script.append(answer)  # type: ignore[arg-type]

    @property
    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Block until ``count`` deliveries were accepted (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            accepted = self.accepted
            if len(accepted) >= count:
                return accepted
            time.sleep(0.02)
        raise AssertionError(f"{len(self.accepted)} of {count} deliveries arrived in {timeout}s")

    async def await_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """:meth:`wait_for` for async tests (does not block the event loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            accepted = self.accepted
            if len(accepted) >= count:
                return accepted
            await asyncio.sleep(0.02)
        raise AssertionError(f"{len(self.accepted)} of {count} deliveries arrived in {timeout}s")

    @staticmethod
    def verified(delivery: Received, signing_key: str) -> bool:
        signature = delivery.headers.get("x-tray-signature", "")
        return bool(signature) and verify(signing_key, delivery.body, signature)

    @property
    def app(self) -> Subscriber:
        return self

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        with self._lock:
            status, headers, delay = self._script.popleft() if self._script else (200, {}, 0.0)
        record = Received(
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=b"".join(chunks),
            status=status,
        )
        with self._lock:
            self.received.append(record)
        if delay:  # a hanging endpoint: script a non-2xx status with it
            await asyncio.sleep(delay)
        body = b'{"ok":true}' if status < 300 else b'{"error":"scripted"}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *[(k.lower().encode(), str(v).encode()) for k, v in headers.items()],
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
