"""``kubesteward watch`` tells the truth about what it can see, end to end on the real API server.

Identities are real (a ServiceAccount, a RoleBinding, a TokenRequest token);
a context that is down is a kubeconfig pointing at a closed loopback port,
brought up later by the fault proxy (which forwards to the real API server)
starting on that port. Notifications go to a real webhook receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kubesteward.alerts.lifecycle import AlertPolicy
from kubesteward.alerts.sinks import build_sinks
from kubesteward.cluster import KubeClient, load_config, resources
from kubesteward.cluster.connection import ClusterConfig
from kubesteward.metrics import MetricsServer, serve_metrics
from kubesteward.state.store import StateStore
from kubesteward.watch.cluster import WatchSettings
from kubesteward.watch.service import WatchService
from tests.conftest import FAST_RETRY
from tests.e2e.test_watch import (
    Delivered,
    broken_since,
    cli,
    delivered,
    deployment,
    hook,
    in_namespace,
    state_url,
    wait_delivered,
)
from tests.support.proxy import FaultProxy
from tests.support.receiver import Receiver
from tests.support.wait import eventually

__all__ = ["hook", "state_url"]  # fixtures shared with test_watch.py

Obj = dict[str, Any]
SERVICE_ACCOUNTS = resources.by_name("serviceaccounts")
assert SERVICE_ACCOUNTS is not None
WATCHDOG = "KS901"


def about_context(context: str) -> Callable[[Obj], bool]:
    """The watchdog alert of ``context``."""
    return lambda a: bool(a["labels"]["alertname"] == WATCHDOG and a["labels"]["name"] == context)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def token_for(kube: KubeClient, namespace: str, name: str, *, role: str | None) -> str:
    """A real identity: a ServiceAccount (bound to ClusterRole ``role`` in ``namespace`` when given) and a
    TokenRequest token for it."""
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})
    if role is not None:
        await grant(kube, namespace, name, role)
    response = await kube.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        content=b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}',
        headers={"Content-Type": "application/json"},
    )
    return str(response.json()["status"]["token"])


async def grant(kube: KubeClient, namespace: str, name: str, role: str) -> None:
    await kube.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    })


def kubeconfig_as(base: Path, tmp_path: Path, token: str, context: str) -> Path:
    data = yaml.safe_load(base.read_text())
    data["users"][0]["user"] = {"token": token}
    data["contexts"][0]["name"] = context
    data["current-context"] = context
    path = tmp_path / f"{context}.kubeconfig"
    path.write_text(yaml.safe_dump(data))
    return path


class Running:
    """A WatchService running in the test's loop, with its exporter on a free loopback port."""

    def __init__(self, service: WatchService, server: MetricsServer, clients: list[KubeClient]) -> None:
        self.service, self.server, self.clients = service, server, clients
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(service.run(self.stop, started=True))

    async def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=20)
        self.server.close()
        for sink in self.service.deliverer.sinks:
            await sink.aclose()
        for client in self.clients:
            await client.aclose()

    async def readyz(self) -> httpx.Response:
        async with httpx.AsyncClient() as http:
            return await http.get(f"{self.server.url}/readyz")

    async def metric(self, name: str, **labels: str) -> float | None:
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"{self.server.url}/metrics")).text
        found = [
            s.value for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()
        ]
        return sum(found) if found else None


@pytest.fixture
async def run_watch(hook: Receiver, state_url: str) -> AsyncIterator[Callable[..., Any]]:
    running: list[Running] = []
    stores: list[StateStore] = []

    async def start(clients: list[KubeClient], namespace: str, **policy: Any) -> Running:
        settings: Obj = {"default_threshold": 1.0, "thresholds": {WATCHDOG: 2.0}, "group_wait": 0.0,
                         "group_interval": 1.0, "repeat_interval": 3600.0}
        settings.update(policy)
        store = StateStore.open(state_url)
        stores.append(store)
        service = WatchService(
            clients, store, build_sinks([f"webhook={hook.url}/hook"]), policy=AlertPolicy(**settings),
            # Short server-side watches: a revoked token is refused at the next re-watch, and the
            # fault proxy (which relays whole answers) hands each watch's events over in time.
            watch=WatchSettings(resync=5.0, timeout_seconds=2), namespace=namespace,
            tick=0.2, silence_refresh=0.5, retry_backoff=(0.2, 2.0), context_backoff=(0.2, 1.0),
        )
        await service.start()
        watcher = Running(service, serve_metrics(service, "127.0.0.1:0"), clients)
        running.append(watcher)
        return watcher

    yield start
    for watcher in running:
        await watcher.close()
    for store in stores:
        store.close()


async def test_a_context_down_at_start_is_kept_retried_and_watched_once_it_comes_up(
    kube: KubeClient, namespace: str, hook: Receiver, run_watch: Any, sandbox_kubeconfig: Path
) -> None:
    port = free_port()  # nothing listens there (yet)
    up = KubeClient(load_config(str(sandbox_kubeconfig)), retry=FAST_RETRY)
    down = KubeClient(ClusterConfig(context="later", host=f"http://127.0.0.1:{port}"), retry=FAST_RETRY)
    started = time.monotonic()
    watcher = await run_watch([up, down], namespace)
    assert [w.context for w in watcher.service.watches] == [up.context, "later"]  # kept, not dropped
    assert watcher.service.watches[1].health.state == "unreachable"

    not_ready = await watcher.readyz()
    assert not_ready.status_code == 503
    lines = not_ready.text.splitlines()[1:]
    assert len(lines) == 1 and lines[0].startswith("later: unreachable: ") and f"127.0.0.1:{port}" in lines[0]
    assert await watcher.metric("kubesteward_watch_context_state", context="later", state="unreachable") == 1
    assert await watcher.metric("kubesteward_watch_synced", context="later") == 0
    assert await watcher.metric("kubesteward_watch_synced", context=up.context) == 1

    # kubesteward cannot see "later": the watchdog fires through the sinks once past its threshold.
    fired = await wait_delivered(hook, about_context("later"), lambda d: len(d) >= 1, "the watchdog alert")
    alert = fired[0].alerts[0]
    assert fired[0].status == "firing" and fired[0].received_at - started >= 2.0
    assert (alert["labels"]["kind"], alert["labels"]["context"]) == ("Context", "later")
    assert "unreachable" in alert["annotations"]["description"]
    assert await watcher.metric("kubesteward_alerts_active", context="later", state="firing") == 1

    # The API server comes up where the kubeconfig points: the context is listed and watched.
    proxy = FaultProxy(load_config(str(sandbox_kubeconfig)), port=port).start()
    try:
        came_up = time.monotonic()

        async def status() -> int:
            return (await watcher.readyz()).status_code

        await eventually(status, lambda code: code == 200, timeout=30, interval=0.2, what="/readyz 200")
        # Capped backoff: within the circuit breaker's cooldown plus one backoff, not minutes.
        assert time.monotonic() - came_up < 15
        assert await watcher.metric("kubesteward_watch_synced", context="later") == 1
        resolved = await wait_delivered(
            hook, about_context("later"), lambda d: any(x.status == "resolved" for x in d), "the watchdog resolved")
        assert [a["status"] for d in resolved for a in d.alerts] == ["firing", "resolved"]

        # ... and really watched: a fault in the namespace is alerted for both contexts.
        await kube.create(deployment("seen", namespace, fault="image-pull"))

        def both(items: list[Delivered]) -> bool:
            return {a["labels"]["context"] for d in items for a in d.alerts} >= {up.context, "later"}

        await wait_delivered(hook, in_namespace(namespace), both, "the alert of both contexts", timeout=60)
    finally:
        proxy.close()


async def test_partial_rbac_stays_synced_and_says_what_it_skipped_then_a_revoked_identity_is_unauthorized(
    kube: KubeClient, namespace: str, hook: Receiver, run_watch: Any, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    token = await token_for(kube, namespace, "watcher", role="view")  # this namespace only, and no Secrets
    config = kubeconfig_as(sandbox_kubeconfig, tmp_path, token, "viewer")
    watcher = await run_watch([KubeClient(load_config(str(config)), retry=FAST_RETRY)], namespace)
    assert watcher.service.watches[0].health.state == "synced"
    assert (await watcher.readyz()).status_code == 200
    # What the identity may not list is reported, as diagnose reports it.
    assert await watcher.metric("kubesteward_watch_skipped_kinds", context="viewer", kind="Node", coverage="none") == 1
    assert await watcher.metric("kubesteward_watch_skipped_kinds", context="viewer", kind="Secret") == 1
    assert await watcher.metric("kubesteward_watch_skipped_checks", context="viewer", code="KS501") == 1
    assert await watcher.metric("kubesteward_watch_skipped_kinds", context="viewer", kind="Pod") is None

    # The identity is deleted: its token is refused (401) from the next re-watch on.
    await kube.delete(SERVICE_ACCOUNTS, "watcher", namespace=namespace)

    async def readiness() -> httpx.Response:
        return await watcher.readyz()

    refused = await eventually(readiness, lambda r: r.status_code == 503, timeout=60, interval=0.5,
                               what="/readyz 503 after the revocation")
    assert refused.text.splitlines()[1].startswith("viewer: unauthorized: watch of ")
    assert "unauthorized (401)" in refused.text
    assert await watcher.metric("kubesteward_watch_context_state", context="viewer", state="unauthorized") == 1
    assert await watcher.metric("kubesteward_watch_synced", context="viewer") == 0
    fired = await wait_delivered(hook, about_context("viewer"), lambda d: len(d) >= 1, "the watchdog alert")
    assert "unauthorized (401)" in fired[0].alerts[0]["annotations"]["description"]


async def test_an_identity_that_can_read_nothing_is_forbidden_until_it_is_granted(
    kube: KubeClient, namespace: str, hook: Receiver, run_watch: Any, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    token = await token_for(kube, namespace, "nobody", role=None)
    config = kubeconfig_as(sandbox_kubeconfig, tmp_path, token, "nobody")
    watcher = await run_watch([KubeClient(load_config(str(config)), retry=FAST_RETRY)], namespace)
    assert watcher.service.watches[0].health.state == "forbidden"
    refused = await watcher.readyz()
    assert refused.status_code == 503
    assert refused.text.splitlines()[1].startswith("nobody: forbidden: ")
    assert await watcher.metric("kubesteward_watch_context_state", context="nobody", state="forbidden") == 1
    assert await watcher.metric("kubesteward_watch_synced", context="nobody") == 0
    fired = await wait_delivered(hook, about_context("nobody"), lambda d: len(d) >= 1, "the watchdog alert")
    assert "forbidden" in fired[0].alerts[0]["annotations"]["description"]

    await grant(kube, namespace, "nobody", "view")

    async def status() -> int:
        return (await watcher.readyz()).status_code

    await eventually(status, lambda code: code == 200, timeout=30, interval=0.2, what="/readyz 200 once granted")
    assert await watcher.metric("kubesteward_watch_skipped_kinds", context="nobody", kind="Node", coverage="none") == 1
    await wait_delivered(hook, about_context("nobody"), lambda d: any(x.status == "resolved" for x in d),
                         "the watchdog resolved")


async def test_watch_once_reports_the_kinds_and_checks_rbac_skipped(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, tmp_path: Path, state_url: str
) -> None:
    token = await token_for(kube, namespace, "viewer", role="view")
    config = kubeconfig_as(sandbox_kubeconfig, tmp_path, token, "viewer")
    result = await asyncio.to_thread(
        cli, "watch", "--kubeconfig", str(config), "-n", namespace, "--once", "--state", state_url,
        "--metrics-addr", "off", "--sink", "console",
    )
    assert result.returncode == 0, result.stderr
    assert "skipped Node: forbidden" in result.stderr
    assert "skipped Secret: forbidden" in result.stderr
    assert "skipped checks " in result.stderr and "KS501" in result.stderr


def test_the_watchdog_code_is_explained_like_any_other() -> None:
    result = cli("explain", "KS901")
    assert result.returncode == 0, result.stderr
    assert "kubesteward cannot see the cluster" in result.stdout
    assert "KS901=DURATION" in result.stdout and "unauthorized (401)" in result.stdout
    listed = cli("explain")
    assert any(line.startswith("KS901") for line in listed.stdout.splitlines())


# --------------------------------------------------------------------------- delivery


async def test_watch_once_that_could_not_deliver_exits_15_saying_what_is_still_queued(
    kube: KubeClient, namespace: str, hook: Receiver, sandbox_kubeconfig: Path, state_url: str
) -> None:
    await kube.create(deployment("undelivered", namespace, fault="image-pull"))
    await broken_since(kube, namespace, "undelivered")
    hook.respond(503, body=b"receiver in maintenance")
    secret_path = "/hooks/T0KEN0123456789abcdefSECRET"
    args = ["watch", "--kubeconfig", str(sandbox_kubeconfig), "-n", namespace, "--once", "--state", state_url,
            "--default-threshold", "0s", "--group-wait", "0s", "--metrics-addr", "off", "--delivery-wait", "3s",
            "--sink", f"webhook={hook.url}{secret_path}", "--sink", "console"]
    failed = await asyncio.to_thread(cli, *args)
    assert failed.returncode == 15, failed.stderr
    assert "Traceback" not in failed.stderr
    lines = [line for line in failed.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, failed.stderr  # one line per sink that still holds notifications: the webhook
    assert lines[0].startswith("error: sink webhook: 1 notification still queued; last error: ")
    assert "HTTP 503: receiver in maintenance" in lines[0]
    assert "SECRET" not in failed.stderr + failed.stdout
    assert len(hook.requests) >= 2  # retried within the wait, then given up on for this run

    hook.respond(200)
    # The queued row keeps the backoff the first run gave it (up to --sink-backoff-max, 5 s): the next run
    # waits long enough to reach it.
    longer = args[: args.index("--delivery-wait") + 1] + ["15s"] + args[args.index("--delivery-wait") + 2 :]
    again = await asyncio.to_thread(cli, *longer)
    assert again.returncode == 0, again.stderr
    sent = delivered(hook, in_namespace(namespace))
    assert [(d.status, [a["labels"]["name"] for a in d.alerts]) for d in sent] == [("firing", ["undelivered"])]


async def test_delivery_resumes_within_seconds_of_a_sink_recovering(
    kube: KubeClient, namespace: str, hook: Receiver, sandbox_kubeconfig: Path, state_url: str
) -> None:
    """The daemon with its default --sink-backoff-max: while the receiver is down the attempts never
    drift minutes apart, so the notification goes out within seconds of it being back."""
    import os
    import signal
    import subprocess
    import sys

    await kube.create(deployment("outage", namespace, fault="image-pull"))
    hook.respond(503)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "kubesteward", "watch", "--kubeconfig", str(sandbox_kubeconfig), "-n", namespace,
         "--state", state_url, "--default-threshold", "0s", "--group-wait", "0s", "--metrics-addr", "off",
         "--sink", f"webhook={hook.url}/hook"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )
    try:
        first = (await hook.await_requests(1, timeout=90))[0]
        await asyncio.sleep(max(0.0, first.received_at + 25 - time.monotonic()))  # a long outage
        hook.respond(200)
        back = time.monotonic()
        async def accepted() -> list[Any]:
            return [r for r in hook.requests if r.ok]

        ok = await eventually(accepted, bool, timeout=30, interval=0.05, what="a delivery")
        failures = [r.received_at for r in hook.requests if not r.ok]
        gaps = [b - a for a, b in zip(failures, failures[1:], strict=False)]
        assert len(failures) >= 6, gaps
        assert max(gaps) <= 5.5, gaps  # the 5 s cap, plus the time to answer
        assert ok[0].received_at - back <= 5.5
    finally:
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
