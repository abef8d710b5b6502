"""Retry policy (exponential backoff with full jitter) and a per-cluster circuit breaker.

Pure logic with an injectable clock and random source, so it is unit-tested
without sleeping.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry a request before giving up.

    ``total`` bounds the whole attempt including sleeps, so a dead API fails
    within a predictable time instead of hanging the CLI.
    """

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    total: float = 30.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full jitter (AWS style): uniform in [0, min(max_delay, base * 2**attempt)]."""
        ceiling = min(self.max_delay, self.base_delay * (2.0**attempt))
        return rng() * ceiling


NO_RETRY = RetryPolicy(max_attempts=1, total=0.0)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class CircuitOpen(Exception):
    """Raised by :meth:`CircuitBreaker.check` while the circuit is open."""


@dataclass
class CircuitBreaker:
    """Fail fast after repeated connection-level failures against one cluster.

    closed -> (``threshold`` consecutive failures) -> open for ``cooldown``
    seconds -> half-open: one trial request; success closes, failure re-opens.
    Only failures that say "the API is not there" count (connect errors,
    timeouts, 5xx); a 404 or 403 is the API answering, not an outage.
    """

    threshold: int = 5
    cooldown: float = 10.0
    clock: Callable[[], float] = field(default=time.monotonic)
    failures: int = 0
    opened_at: float | None = None
    _trial_in_flight: bool = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def check(self) -> None:
        state = self.state
        if state == "open":
            raise CircuitOpen
        if state == "half-open":
            if self._trial_in_flight:
                raise CircuitOpen
            self._trial_in_flight = True

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._trial_in_flight = False
        self.failures += 1
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self.clock()
