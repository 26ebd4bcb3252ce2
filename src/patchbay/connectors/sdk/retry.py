"""Shared outbound behaviour: retries with backoff, and rate budgets per authentication.

Declared on the Connector, applied by ``Context.request`` to every request, so no connector
writes its own retry loop or throttle."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from ...backoff import Backoff
from ...ratelimit import TokenBucket, buckets

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """When and how a request is tried again.

    Idempotent requests (by method, or ``idempotent=True``) are retried on ``statuses`` and
    on connection failures; any request is retried on ``retry_post_on`` (statuses the
    service documents as "not processed", like Twilio's 429). A Retry-After up to
    ``max_retry_after`` seconds is honoured; a longer one ends the call (kind
    ``rate_limited`` with ``retryAfter``) rather than holding a worker.
    """

    attempts: int = 3
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 10.0
    retry_post_on: frozenset[int] = field(default_factory=frozenset)

    def should_retry(self, attempt: int, method: str, status: int, idempotent: bool | None) -> bool:
        if attempt >= self.attempts:
            return False
        if status in self.retry_post_on:
            return True
        return status in self.statuses and is_idempotent(method, idempotent)

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before try ``attempt + 1``; None: do not wait that long."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return Backoff(self.backoff, self.max_backoff).delay(attempt)


def is_idempotent(method: str, idempotent: bool | None) -> bool:
    return method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent


NO_RETRY = RetryPolicy(attempts=1)


@dataclass(frozen=True)
class RateBudget:
    """Requests per second per (service, authentication), shared by every caller in the
    process. Requests over budget wait for their turn; they are not refused."""

    per_second: float
    burst: int


class Budgets:
    """The process-wide token buckets, keyed by (service, authentication)."""

    def __init__(self) -> None:
        self._buckets = buckets()  # key -> (TokenBucket, asyncio.Lock)

    async def acquire(self, key: tuple[str, str], budget: RateBudget) -> None:
        try:
            bucket, lock = self._buckets[key]
        except KeyError:
            bucket = TokenBucket(budget.per_second, budget.burst, time.monotonic())
            lock = asyncio.Lock()
            self._buckets[key] = (bucket, lock)
        async with lock:  # first come, first served
            wait = bucket.take(time.monotonic())
            while wait:  # the wait is computed: nothing else hands out this bucket's tokens
                await asyncio.sleep(wait)
                wait = bucket.take(time.monotonic())
