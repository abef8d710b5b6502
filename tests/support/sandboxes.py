"""A sandbox of a test module's own (a second cluster, one with its audit log on), always taken down."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from kubesteward.sandbox.cluster import Sandbox


@contextlib.contextmanager
def own_sandbox(prefix: str, **options: Any) -> Iterator[Sandbox]:
    """A one-node sandbox named ``prefix-<random>`` (``options`` as ``Sandbox`` takes them), up for the block."""
    sandbox = Sandbox(name=f"{prefix}-{uuid.uuid4().hex[:6]}", nodes=1, metrics=False, **options)
    try:
        sandbox.up(timeout=300)
        yield sandbox
    finally:
        sandbox.down()
        (sandbox.state_dir.parent / f".{sandbox.name}.lock").unlink(missing_ok=True)
