"""POSTing one event to a subscriber's endpoint, and what to do when that fails.

An attempt is *delivered* on any 2xx. 5xx, 408, 429 (honouring ``Retry-After``), timeouts
and network errors are retried with exponential backoff and jitter until the event's
deadline (24 h after it was created by default); any other answer (a 4xx saying the
endpoint will never take it, a redirect) and an endpoint the outbound policy refuses send
the event to the dead-letter list at once. The HTTP client is the connectors' guarded one:
a subscriber endpoint cannot be used to reach private addresses that are not allowed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from ... import __version__
from ...connectors.sdk.context import parse_retry_after
from ...connectors.sdk.http import HttpClientPool
from ...connectors.sdk.outbound import OutboundBlocked

EVENT_ID = "x-patchbay-event-id"
TIMESTAMP = "x-patchbay-timestamp"
SUBSCRIPTION_ID = "x-patchbay-subscription-id"
ATTEMPT = "x-patchbay-attempt"
USER_AGENT = f"Patchbay/{__version__} (+subscriptions)"
RETRYABLE_STATUSES = frozenset({408, 425, 429})
MAX_ERROR_BODY = 500


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    retryable: bool
    status_code: int | None
    latency_ms: float
    error: str | None = None
    retry_after: float | None = None


class Deliverer:
    def __init__(self, clients: HttpClientPool, *, timeout: float) -> None:
        self.clients = clients
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))

    @staticmethod
    def headers(
        *, event_id: str, subscription_id: str, attempt: int, now: datetime
    ) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            EVENT_ID: event_id,
            SUBSCRIPTION_ID: subscription_id,
            TIMESTAMP: str(int(now.timestamp())),
            ATTEMPT: str(attempt),
        }

    async def post(self, endpoint: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        client = self.clients.client(None)
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 3)

        try:
            response = await client.post(
                endpoint, content=body, headers=headers, timeout=self.timeout
            )
        except OutboundBlocked as exc:
            return AttemptResult(False, False, None, elapsed(), f"Endpoint refused: {exc}")
        except httpx.TimeoutException:
            return AttemptResult(False, True, None, elapsed(), "Timed out")
        except httpx.HTTPError as exc:
            # the transport's message says why (refused, name, TLS) and where
            reason = str(exc) or exc.__class__.__name__
            return AttemptResult(
                False, True, None, elapsed(), f"Could not reach the endpoint: {reason}"
            )
        status = response.status_code
        latency = elapsed()
        if 200 <= status < 300:
            return AttemptResult(True, False, status, latency)
        retryable = status >= 500 or status in RETRYABLE_STATUSES
        text = response.text[:MAX_ERROR_BODY] if response.content else ""
        return AttemptResult(
            False,
            retryable,
            status,
            latency,
            f"The endpoint answered {status}" + (f": {text}" if text else ""),
            parse_retry_after(response.headers.get("retry-after")),
        )
