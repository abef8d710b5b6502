"""Polling helpers for end-to-end tests (the cluster converges asynchronously)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    *,
    timeout: float = 60.0,
    interval: float = 0.5,
    what: str = "condition",
) -> T:
    """Call ``probe`` until ``ok(result)``; fail the test with the last result after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if ok(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {result!r}")
        await asyncio.sleep(interval)
