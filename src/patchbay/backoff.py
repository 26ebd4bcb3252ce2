"""The one backoff: outbound retries (``RetryPolicy`` in ``connectors/sdk/retry.py``) and
subscription deliveries (``services/triggers/dispatch.py``) both wait with it.

(``backoff`` and ``tenacity`` were weighed: both drive a retry loop of their own, which
neither user has: a connector request interleaves token refreshes and rate budgets, and a
delivery's next try is a row in the database, not a sleeping coroutine.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_MAX_EXPONENT = 64  # past this any cap is reached; keeps 2**n from overflowing a float


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: try *n* (from 1) waits a random time between half
    and all of ``base * 2**(n-1)``, capped at ``cap``. The jitter spreads retries that
    would otherwise come back in step."""

    base: float
    cap: float

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after try ``attempt``; never less than the server's
        ``retry_after`` (itself capped)."""
        ceiling = min(self.cap, self.base * 2.0 ** min(_MAX_EXPONENT, max(0, attempt - 1)))
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return delay
