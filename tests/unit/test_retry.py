"""Pure logic of the retry policy and the circuit breaker (no cluster needed)."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from kubesteward.cluster.retry import CircuitBreaker, CircuitOpen, RetryPolicy, parse_retry_after


def test_full_jitter_is_bounded_by_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert policy.delay(0, rng=lambda: 1.0) == 0.5
    assert policy.delay(1, rng=lambda: 1.0) == 1.0
    assert policy.delay(2, rng=lambda: 1.0) == 2.0
    assert policy.delay(5, rng=lambda: 1.0) == 4.0  # capped
    assert policy.delay(3, rng=lambda: 0.0) == 0.0  # full jitter reaches zero
    assert policy.delay(3, rng=lambda: 0.25) == 1.0


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = format_datetime(datetime(2026, 1, 1, 12, 0, 7, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(7.0)
    earlier = format_datetime(datetime(2026, 1, 1, 11, 0, 0, tzinfo=timezone.utc), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp()) == 0.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_fails_fast() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=3, cooldown=10.0, clock=clock)
    for _ in range(2):
        breaker.check()
        breaker.record_failure()
    assert breaker.state == "closed"
    breaker.check()
    breaker.record_failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.check()


def test_breaker_half_open_allows_one_trial_then_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown=5.0, clock=clock)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.state == "half-open"
    breaker.check()  # the one trial request
    with pytest.raises(CircuitOpen):
        breaker.check()  # a second concurrent request still fails fast
    breaker.record_success()
    assert breaker.state == "closed"
    breaker.check()


def test_breaker_half_open_failure_reopens_for_a_full_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=2, cooldown=5.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 6.0
    breaker.check()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 4.0
    assert breaker.state == "open"
    clock.now += 1.0
    assert breaker.state == "half-open"


def test_success_resets_failure_count() -> None:
    breaker = CircuitBreaker(threshold=3, clock=FakeClock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"
