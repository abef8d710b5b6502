"""Per-sink rate limits: a token bucket that delays sends and never drops them.

A chat channel or a pager that receives fifty messages in a second is as
useless as one that receives none, so each sink may be limited to N
notifications per period. The bucket only *waits*: the outbox keeps every
notification, and the delivery worker sends them late rather than never.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kubesteward.durations import parse_seconds


def parse_duration(text: str) -> float:
    """Seconds from ``500ms``, ``5s``, ``1m``, ``1h30m``, ``2d``, or a bare number of seconds (ValueError if bad)."""
    return parse_seconds(text, bare_number=True)


@dataclass(frozen=True)
class RateLimit:
    """``count`` notifications per ``period`` seconds, at most ``burst`` back to back."""

    count: int
    period: float
    burst: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.period <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs count >= 1, period > 0 and burst >= 1")

    @property
    def per_second(self) -> float:
        return self.count / self.period

    @classmethod
    def parse(cls, text: str, burst: int | None = None) -> RateLimit:
        """``N/period`` such as ``10/1m`` or ``2/1s``; the burst defaults to N."""
        count_text, sep, period_text = text.partition("/")
        if not sep or not count_text.strip().isdigit():
            raise ValueError(f"{text!r} is not a rate (N/period, e.g. 10/1m)")
        count = int(count_text)
        if count < 1:
            raise ValueError(f"{text!r}: N must be at least 1")
        return cls(count=count, period=parse_duration(period_text), burst=count if burst is None else burst)

    def __str__(self) -> str:
        return f"{self.count}/{self.period:g}s (burst {self.burst})"


class TokenBucket:
    """Asynchronous token bucket. ``acquire()`` returns when a token was taken.

    The clock and the sleep are injectable so the arithmetic is testable without
    waiting; the bucket starts full, so a quiet sink sends its first ``burst``
    notifications at once.
    """

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(limit.burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.limit.burst), self._tokens + elapsed * self.limit.per_second)
        self._updated = now

    def delay(self) -> float:
        """Seconds until a token is available (0 when one is available now)."""
        self._refill()
        return 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.limit.per_second

    async def acquire(self) -> None:
        while (wait := self.delay()) > 0:
            await self._sleep(wait)
        self._tokens -= 1.0
