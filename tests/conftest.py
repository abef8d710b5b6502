"""Shared fixtures. End-to-end tests run against a REAL kube-apiserver: the
project's sandbox (started once per session), or the cluster named by
KUBESTEWARD_TEST_KUBECONFIG (e.g. a kind cluster)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesteward.cluster import KubeClient, RetryPolicy, load_config

E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# The PV controller logs why it leaves a claim Pending only at verbosity 4; a rare CI failure
# (a pre-bound claim Pending for 90 s) needs that line to be explained.
TEST_SANDBOX_FLAGS = {"kube-controller-manager": {"vmodule": "pv_controller*=4"}}


@pytest.fixture(scope="session")
def sandbox_kubeconfig(request: pytest.FixtureRequest) -> Iterator[Path]:
    explicit = os.environ.get("KUBESTEWARD_TEST_KUBECONFIG")
    if explicit:
        yield Path(explicit)
        return
    from kubesteward.sandbox.cluster import Sandbox

    sandbox = Sandbox(name="kubesteward-test", nodes=3, extra_args=TEST_SANDBOX_FLAGS)
    started = time.monotonic()
    status = sandbox.up(progress=lambda m: print(f"[sandbox] {m}", file=sys.stderr, flush=True), timeout=300)
    print(f"[sandbox] ready in {time.monotonic() - started:.1f}s at {status.server}", file=sys.stderr)
    try:
        yield sandbox.kubeconfig
    finally:
        if request.session.testsfailed:
            keep_component_logs(sandbox.logs_dir)
        if not os.environ.get("KUBESTEWARD_KEEP_SANDBOX"):
            sandbox.down()


def keep_component_logs(logs_dir: Path) -> None:
    """Copy the control plane's logs out of the sandbox before teardown deletes them, so a failed
    CI run can still be explained."""
    import shutil

    target = Path(os.environ.get("KUBESTEWARD_E2E_LOGS", "/tmp/kubesteward-e2e-logs")) / time.strftime("%Y%m%dT%H%M%S")
    try:
        shutil.copytree(logs_dir, target)
    except OSError as exc:
        print(f"[sandbox] could not keep the component logs: {exc}", file=sys.__stderr__)
    else:
        print(f"[sandbox] tests failed: component logs kept in {target}", file=sys.__stderr__)


@pytest.fixture(scope="session")
def sandbox(sandbox_kubeconfig: Path) -> Any:
    """The project's Sandbox behind the tests' cluster, or None for a cluster of your own (chaos tests need it)."""
    from kubesteward.sandbox.cluster import Sandbox
    from kubesteward.sandbox.paths import state_root

    path = sandbox_kubeconfig.resolve()
    if path.name == "kubeconfig" and path.parent.parent == state_root().resolve():
        return Sandbox(name=path.parent.name)
    return None


FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.5, total=10.0)


@pytest.fixture
async def kube(sandbox_kubeconfig: Path) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_config(str(sandbox_kubeconfig)), retry=FAST_RETRY)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    from tests.support.kinds import fresh_namespace

    async with fresh_namespace(kube) as name:
        yield name
from tests.support.nodes import make_node  # noqa: E402,F401  (extra KWOK nodes a test may break)
from tests.support.postgres import postgres_url  # noqa: E402,F401  (a real PostgreSQL server, session scope)
