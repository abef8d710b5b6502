"""Durations as people write them on command lines: ``90s``, ``15m``, ``1h30m``, ``500ms``, ``1d``, ``1w``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import re

from kubesteward.errors import UsageError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
MAX_SECONDS = 100 * 366 * 86400.0  # a century: silences and thresholds have no use for more


class DurationError(UsageError, ValueError):
    """A malformed duration: a usage error for the CLI, a ValueError for library callers."""


def parse_seconds(text: str, *, bare_number: bool = False, allow_zero: bool = False) -> float:
    """Seconds in ``text`` (Go/Prometheus style units plus d and w).

    ``bare_number`` also accepts ``2`` (seconds); ``allow_zero`` accepts ``0``/``0s``
    where "none" is meaningful (no threshold, no group wait).
    """
    compact = text.strip()
    try:
        if not bare_number and compact not in ("0",):
            raise ValueError
        seconds = float(compact)
    except ValueError:
        position, seconds = 0, 0.0
        while position < len(compact):
            part = _PART.match(compact, position)
            if part is None:
                break
            seconds += float(part.group(1)) * _UNIT_SECONDS[part.group(2)]
            position = part.end()
        if not compact or position != len(compact):
            raise DurationError(f"bad duration {text!r}: use e.g. 90s, 15m, 2h, 1d or 1h30m") from None
    if not math.isfinite(seconds):
        raise DurationError(f"duration {text!r} must be a finite number of seconds")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise DurationError(f"duration {text!r} must be positive")
    if seconds > MAX_SECONDS:
        # Past this, "now + duration" leaves the calendar datetime can represent.
        raise DurationError(f"duration {text!r} is longer than {MAX_SECONDS // _UNIT_SECONDS['d']:.0f} days")
    return seconds


def parse_duration(text: str) -> dt.timedelta:
    """A positive duration such as ``90s`` or ``1h30m``."""
    return dt.timedelta(seconds=parse_seconds(text))


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` unless ``stop`` is set first; whether it was (a daemon loop's pause, cut short to stop)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()
