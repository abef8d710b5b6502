"""The cyclic garbage collector kept out of a load's way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic GC for the block, then freeze what it made.

    A load allocates millions of small objects; the collector would rescan them over and over while they
    arrive. What a load makes holds no cycles and is freed by reference counting, so the collector is paused
    during the load and everything is frozen after it (moved out of the collector's sight; reference
    counting still frees it), instead of a collection that would scan the whole model. What the load leaves
    in cycles (first-use import leftovers, a few hundred objects) stays for the process's life.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
