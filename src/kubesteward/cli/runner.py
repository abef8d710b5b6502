"""Run a coroutine to completion for a CLI command."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run``, on a plain event loop.

    ``asyncio.run`` (its ``Runner``) raised the process's peak RSS sharply as
    the main task finished on a big cluster, while a plain loop did not
    (Python 3.11); the CLI's memory budget is tight.
    """
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            # As asyncio.run does: after a failure, sibling tasks (other LISTs)
            # may still be suspended inside async generators; cancel them first.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
