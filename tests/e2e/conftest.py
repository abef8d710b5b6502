"""Fixtures of the end-to-end tests that more than one file uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubesteward.cluster import load_config
from tests.support.proxy import FaultProxy


@pytest.fixture
def proxy(sandbox_kubeconfig: Path) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the tests' real API server (see tests/support/proxy.py)."""
    fault_proxy = FaultProxy(load_config(str(sandbox_kubeconfig))).start()
    try:
        yield fault_proxy
    finally:
        fault_proxy.close()
