"""The one token bucket: inbound request limits (``api/limits.py``, refusing with 429) and
outbound rate budgets (``connectors/sdk/retry.py``, waiting for a turn) both count with it.

Plain arithmetic on ``time.monotonic()`` readings the caller passes in, so that a caller
reads the clock once per request. (``aiolimiter`` was weighed: it fits the waiting side
only, and does not tell the remaining tokens or the wait the 429 answer announces.)
"""

from __future__ import annotations

from cachetools import LRUCache

MAX_BUCKETS = 100_000  # keys (tokens, authentications) tracked; the least recently used go


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; a request takes one."""

    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("A token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when one was there; else nothing is taken and the answer is
        the seconds until one will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate

    def until_full(self) -> float:
        """Seconds until the bucket is full again (as of the last :meth:`take`)."""
        return (self.burst - self.tokens) / self.rate


def buckets(maxsize: int = MAX_BUCKETS) -> LRUCache:
    """A bounded map of buckets by key. An evicted bucket is the least recently used one,
    by then usually full again: starting it afresh loses nothing."""
    return LRUCache(maxsize)
