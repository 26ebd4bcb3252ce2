"""The shared token bucket (inbound limits, outbound budgets) and backoff (outbound
retries, subscription deliveries)."""

from __future__ import annotations

import pytest

from patchbay.backoff import Backoff
from patchbay.connectors.sdk.retry import RetryPolicy
from patchbay.ratelimit import TokenBucket, buckets


def test_bucket_spends_its_burst_then_tells_the_wait():
    bucket = TokenBucket(rate=2, burst=3, now=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(0.5)  # one token refills in 1/rate s
    assert bucket.tokens == pytest.approx(0.0)  # a refused take spends nothing
    assert bucket.take(100.25) == pytest.approx(0.25)
    assert bucket.take(100.5) == 0.0
    assert bucket.until_full() == pytest.approx(1.5)
    assert bucket.take(1000.0) == 0.0 and bucket.tokens == pytest.approx(2.0)  # capped


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (1, 0)])
def test_bucket_refuses_a_rate_or_burst_that_cannot_work(rate, burst):
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate, burst, 0.0)


def test_bucket_map_evicts_the_least_recently_used_not_everything():
    found = buckets(maxsize=3)
    for key in "abc":
        found[key] = TokenBucket(1, 1, 0.0)
    found["a"].take(1.0)  # a used again: b is now the least recently used
    found["d"] = TokenBucket(1, 1, 0.0)
    assert sorted(found) == ["a", "c", "d"]


def test_backoff_doubles_within_half_to_all_of_the_ceiling_and_caps():
    backoff = Backoff(base=1.0, cap=10.0)
    for attempt, ceiling in [(0, 1), (1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (9, 10)]:
        for _ in range(50):
            assert ceiling / 2 <= backoff.delay(attempt) <= ceiling


def test_backoff_past_a_thousand_attempts_stays_at_the_cap():
    """A short cap and a long deadline mean thousands of tries: ``2 ** 1100`` used to
    overflow the float and fail the delivery round."""
    assert 30 <= Backoff(base=2.0, cap=60.0).delay(5000) <= 60


def test_backoff_never_waits_less_than_retry_after_up_to_the_cap():
    backoff = Backoff(base=0.01, cap=30.0)
    assert backoff.delay(1, retry_after=5) == 5
    assert backoff.delay(1, retry_after=500) == 30


def test_retry_policy_waits_the_shared_backoff_or_a_short_retry_after():
    policy = RetryPolicy(backoff=0.25, max_backoff=1.0, max_retry_after=10.0)
    assert 0.25 <= policy.delay(2, None) <= 0.5
    assert 0.5 <= policy.delay(9, None) <= 1.0
    assert policy.delay(1, 3.0) == 3.0  # the service's own wait, exactly
    assert policy.delay(1, 11.0) is None  # too long: the call ends instead
