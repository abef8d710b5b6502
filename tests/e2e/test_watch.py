"""``kubesteward watch`` end to end: real API server, real watches, a real webhook receiver on loopback.

Faults come from the sandbox's KWOK stages (``kubesteward.io/fault`` labels).
Each test watches its own namespace (cluster-scoped kinds such as Nodes are
watched cluster-wide, so assertions look only at the test's own objects).
Thresholds and intervals are shortened; the semantics are the production ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubesteward.alerts.lifecycle import AlertPolicy
from kubesteward.alerts.sinks import build_sinks
from kubesteward.alerts.sinks.webhook import verify_signature
from kubesteward.cluster import KubeClient, load_config, resources
from kubesteward.metrics import serve_metrics
from kubesteward.model.cluster import ObjectKey
from kubesteward.sandbox.faults import FAULT_LABEL, RESTART_INTERVAL_ANNOTATION
from kubesteward.state.store import StateStore
from kubesteward.watch.cluster import WatchSettings
from kubesteward.watch.service import WatchService
from tests.conftest import FAST_RETRY
from tests.support.diagnosis import diagnose
from tests.support.nodes import MakeNode
from tests.support.postgres import fresh_database
from tests.support.receiver import ReceivedRequest, Receiver
from tests.support.wait import eventually

Obj = dict[str, Any]
DEPLOYMENTS = resources.builtin("apps/v1", "Deployment")
assert DEPLOYMENTS is not None


def deployment(name: str, namespace: str, *, fault: str | None = None, replicas: int = 1) -> Obj:
    labels = {"app": name}
    pod_labels = {**labels, **({FAULT_LABEL: fault} if fault else {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {RESTART_INTERVAL_ANNOTATION: "2s"}},
                "spec": {
                    "containers": [{"name": "app", "image": "registry.example.com/shop/web:1"}],
                    "terminationGracePeriodSeconds": 0,
                },
            },
        },
    }


async def heal(kube: KubeClient, namespace: str, name: str) -> None:
    """Remove the fault from a Deployment's pod template (a rollout replaces the broken pods)."""
    patch = {"spec": {"template": {"metadata": {"labels": {FAULT_LABEL: None}}}}}
    await kube.patch(DEPLOYMENTS, name, patch, namespace=namespace)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Delivered:
    status: str
    alerts: list[Obj]
    key: str
    received_at: float


def delivered(hook: Receiver, keep: Callable[[Obj], bool]) -> list[Delivered]:
    """Notifications the receiver accepted (2xx), reduced to the alerts ``keep`` selects."""
    out = []
    for request in hook.requests:
        if not request.ok:
            continue
        body = request.json()
        alerts = [a for a in body["alerts"] if keep(a)]
        if alerts:
            out.append(Delivered(body["status"], alerts, body["idempotencyKey"], request.received_at))
    return out


def in_namespace(namespace: str) -> Callable[[Obj], bool]:
    return lambda alert: bool(alert["labels"]["namespace"] == namespace)


def transitions(items: list[Delivered]) -> list[tuple[str, str, str]]:
    """(alert status, alertname-independent root name, fingerprint) per delivered alert, in order."""
    return [(a["status"], a["labels"]["name"], a["fingerprint"]) for d in items for a in d.alerts]


@dataclass
class Watcher:
    service: WatchService
    task: asyncio.Task[None]
    stop: asyncio.Event
    client: KubeClient

    async def close(self) -> None:
        if self.task.done() and self.stop.is_set():
            return
        self.stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=20)
        for sink in self.service.deliverer.sinks:
            await sink.aclose()
        await self.client.aclose()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'watch.db'}"


@pytest.fixture
async def start_watch(
    sandbox_kubeconfig: Path, hook: Receiver
) -> AsyncIterator[Callable[..., Any]]:
    """Start an in-process watch of one namespace that notifies the test's webhook receiver."""
    started: list[Watcher] = []
    stores: list[StateStore] = []

    async def start(namespace: str, state: str, *, sinks: list[str] | None = None, **policy: Any) -> Watcher:
        settings: Obj = {"default_threshold": 2.0, "thresholds": {}, "group_wait": 0.0, "group_interval": 1.0,
                         "repeat_interval": 3600.0}
        settings.update(policy)
        store = StateStore.open(state)
        stores.append(store)
        client = KubeClient(load_config(str(sandbox_kubeconfig)), retry=FAST_RETRY)
        service = WatchService(
            [client], store, build_sinks(sinks or [f"webhook={hook.url}/hook"]),
            policy=AlertPolicy(**settings), watch=WatchSettings(resync=5.0), namespace=namespace,
            tick=0.2, silence_refresh=0.5, retry_backoff=(0.2, 2.0),
        )
        await service.start()
        stop = asyncio.Event()
        watcher = Watcher(service, asyncio.create_task(service.run(stop, started=True)), stop, client)
        started.append(watcher)
        return watcher

    yield start
    for watcher in started:
        await watcher.close()
    for store in stores:
        store.close()


async def broken_since(kube: KubeClient, namespace: str, app: str, count: int = 1) -> float:
    """Wait until ``count`` pods of ``app`` are visibly failing in the API; return time.monotonic() then."""

    async def failing() -> int:
        pods = await kube.list(resources.POD, namespace=namespace, label_selector=f"app={app}")
        n = 0
        for pod in pods.items:
            for status in pod.get("status", {}).get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting") or {}
                if status.get("restartCount", 0) > 0 or waiting.get("reason") in (
                    "CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff"
                ):
                    n += 1
                    break
        return n

    await eventually(failing, lambda n: n >= count, timeout=120, interval=0.25, what=f"{count} failing {app} pods")
    return time.monotonic()


async def wait_delivered(
    hook: Receiver, keep: Callable[[Obj], bool], ok: Callable[[list[Delivered]], bool], what: str, timeout: float = 60
) -> list[Delivered]:
    async def probe() -> list[Delivered]:
        return delivered(hook, keep)

    return await eventually(probe, ok, timeout=timeout, interval=0.1, what=what)


# --------------------------------------------------------------------------- fire and resolve


async def test_a_fault_fires_within_its_threshold_and_resolves_when_removed(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str
) -> None:
    threshold = 3.0
    await start_watch(namespace, state_url, default_threshold=threshold)
    await kube.create(deployment("web", namespace, fault="crashloop-error"))
    broken = await broken_since(kube, namespace, "web")

    firing = await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "a firing notification")
    assert firing[0].status == "firing"
    alert = firing[0].alerts[0]
    assert alert["labels"]["kind"] == "Deployment" and alert["labels"]["name"] == "web"
    assert alert["labels"]["alertname"].startswith("KS1"), alert
    assert alert["annotations"]["remediation"]
    # Within the threshold plus a small margin of the pod visibly failing in the API.
    assert firing[0].received_at - broken <= threshold + 3.0

    await heal(kube, namespace, "web")
    done = await wait_delivered(
        hook, in_namespace(namespace), lambda d: any(x.status == "resolved" for x in d), "a resolved notification",
        timeout=90,
    )
    await asyncio.sleep(3)  # nothing more may follow
    done = delivered(hook, in_namespace(namespace))
    assert [s for s, _, _ in transitions(done)][-1] == "resolved"
    firing_restarts = [a["restarts"] for d in done if d.status == "firing" for a in d.alerts]
    # Further firing notifications are the crash loop's restart increases, each reported once.
    assert firing_restarts == sorted(set(firing_restarts)), firing_restarts
    assert {n for _, n, _ in transitions(done)} == {"web"}
    resolved = done[-1].alerts[0]
    assert resolved["fingerprint"] == alert["fingerprint"] and resolved["durationSeconds"] > 0
    assert len({d.key for d in done}) == len(done)


async def test_a_diagnosis_names_the_alert_of_the_same_incident(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str
) -> None:
    # One fingerprint (findings.fingerprint): the id a diagnosis gives an incident is its alert's.
    await start_watch(namespace, state_url)
    await kube.create(deployment("web", namespace, fault="crashloop-error"))
    await broken_since(kube, namespace, "web")
    firing = await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "a firing notification")
    alert = firing[0].alerts[0]
    assert (alert["labels"]["kind"], alert["labels"]["name"]) == ("Deployment", "web")

    report = await diagnose(kube, namespace)
    [incident] = [i for i in report.incidents if i.root == ObjectKey("Deployment", namespace, "web")]
    assert incident.id == alert["fingerprint"]


async def test_two_hundred_failing_pods_of_one_deployment_are_one_notification(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str
) -> None:
    await start_watch(namespace, state_url, default_threshold=2.0, group_wait=5.0, group_interval=3600.0)
    await kube.create(deployment("fleet", namespace, fault="image-pull", replicas=200))
    await broken_since(kube, namespace, "fleet", count=200)
    await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "the grouped notification")
    await asyncio.sleep(8)  # every pod's failure has long been seen; nothing else may arrive
    sent = delivered(hook, in_namespace(namespace))
    assert len(sent) == 1, transitions(sent)
    assert [(a["labels"]["kind"], a["labels"]["name"]) for a in sent[0].alerts] == [("Deployment", "fleet")]
    assert sent[0].alerts[0]["pods"] >= 2  # the notification names its blast radius


async def test_the_resolution_of_a_grouped_alert_names_the_root_object_it_fired_for(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str
) -> None:
    await start_watch(namespace, state_url, default_threshold=1.0, group_interval=1.0)
    await kube.create(deployment("grouped", namespace, fault="image-pull", replicas=2))
    firing = await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "the firing notification")
    fired = firing[0].alerts[0]
    # The incident's headline is about one of its pods: that pod is replaced, then the Deployment healed.
    head = fired["annotations"]["description"].split(":", 1)[0]
    kind, _, pod_name = head.split("/")
    assert kind == "Pod" and pod_name.startswith("grouped-"), head
    await kube.delete(resources.POD, pod_name, namespace=namespace)
    await asyncio.sleep(5)  # its replacement fails too, and heads the incident now
    await heal(kube, namespace, "grouped")
    sent = await wait_delivered(hook, in_namespace(namespace), lambda d: any(x.status == "resolved" for x in d),
                                "the resolved notification", timeout=90)
    resolved = [a for d in sent for a in d.alerts if a["status"] == "resolved"]
    assert len(resolved) == 1 and resolved[0]["fingerprint"] == fired["fingerprint"]
    assert resolved[0]["labels"] == fired["labels"]
    assert resolved[0]["annotations"]["summary"] == fired["annotations"]["summary"]
    assert f"Deployment/{namespace}/grouped" in fired["annotations"]["summary"]
    assert pod_name not in resolved[0]["annotations"]["summary"]


# --------------------------------------------------------------------------- inhibition and silences


async def test_a_not_ready_node_inhibits_the_alerts_of_its_pods(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str, make_node: MakeNode
) -> None:
    node = await make_node("not-ready")
    await start_watch(namespace, state_url, default_threshold=2.0)
    for index in range(3):
        await kube.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"stranded-{index}", "namespace": namespace, "labels": {FAULT_LABEL: "image-pull"},
                         "annotations": {RESTART_INTERVAL_ANNOTATION: "2s"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "app", "image": "registry.example.com/shop/api:1"}]},
        })

    def about_node_or_namespace(alert: Obj) -> bool:
        return bool(alert["labels"]["name"] == node or alert["labels"]["namespace"] == namespace)

    await wait_delivered(hook, about_node_or_namespace, lambda d: len(d) >= 1, "the node alert", timeout=90)
    await asyncio.sleep(6)
    sent = transitions(delivered(hook, about_node_or_namespace))
    # Only the node pages; its stranded pods are symptoms under it (grouped or inhibited).
    assert [(s, n) for s, n, _ in sent] == [("firing", node)], sent


async def test_a_silence_added_from_the_cli_suppresses_until_it_is_expired(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str
) -> None:
    added = cli("silence", "add", f"namespace={namespace}", "--duration", "10m", "--comment", "test",
                "--state", state_url)
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.strip().split()[-1]
    await start_watch(namespace, state_url, default_threshold=1.0)
    await kube.create(deployment("muted", namespace, fault="crashloop-error"))
    await broken_since(kube, namespace, "muted")
    await asyncio.sleep(5)
    assert delivered(hook, in_namespace(namespace)) == []

    expired = cli("silence", "expire", silence_id, "--state", state_url)
    assert expired.returncode == 0, expired.stderr
    started = time.monotonic()
    sent = await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "the unmuted alert")
    assert sent[0].received_at - started < 5
    assert sent[0].alerts[0]["labels"]["name"] == "muted"


# --------------------------------------------------------------------------- reliability


async def test_killing_the_api_server_loses_and_duplicates_no_transition(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str, sandbox: Any
) -> None:
    if sandbox is None:
        pytest.skip("needs the project's sandbox (KUBESTEWARD_TEST_KUBECONFIG points elsewhere): it kills its API server")
    await start_watch(namespace, state_url, default_threshold=2.0)
    # Image pulls do not restart containers, so every notification here is a transition.
    await kube.create(deployment("before", namespace, fault="image-pull"))
    await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "the first alert")

    await asyncio.to_thread(sandbox.crash, "kube-apiserver", downtime=2.0)
    # The watch is still reconnecting: change the cluster right away.
    await heal(kube, namespace, "before")
    await kube.create(deployment("after", namespace, fault="image-pull"))

    def complete(items: list[Delivered]) -> bool:
        seen = [(s, n) for s, n, _ in transitions(items)]
        return ("resolved", "before") in seen and ("firing", "after") in seen

    await wait_delivered(hook, in_namespace(namespace), complete, "the resolution and the new alert", timeout=120)
    await asyncio.sleep(5)
    sent = delivered(hook, in_namespace(namespace))
    assert sorted((s, n) for s, n, _ in transitions(sent)) == [
        ("firing", "after"), ("firing", "before"), ("resolved", "before")]
    assert len({d.key for d in sent}) == len(sent)


async def test_a_failing_sink_gets_every_alert_exactly_once_after_it_recovers(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str
) -> None:
    hook.respond(500, times=4)
    await start_watch(namespace, state_url, default_threshold=1.0)
    await kube.create(deployment("one", namespace, fault="image-pull"))
    await kube.create(deployment("two", namespace, fault="image-pull"))
    await wait_delivered(hook, in_namespace(namespace), lambda d: {a["labels"]["name"] for x in d for a in x.alerts}
                         >= {"one", "two"}, "both alerts, after the failures", timeout=90)
    await asyncio.sleep(3)
    failed = [r for r in hook.requests if not r.ok]
    assert len(failed) == 4
    ok = delivered(hook, in_namespace(namespace))
    assert sorted(n for _, n, _ in transitions(ok)) == ["one", "two"]
    keys = [d.key for d in ok]
    assert len(keys) == len(set(keys))
    # The failed attempts were retries of notifications that then went through (same idempotency keys).
    accepted = [r.header("Idempotency-Key") for r in hook.requests if r.ok]
    assert len(accepted) == len(set(accepted))
    assert {r.header("Idempotency-Key") for r in failed} <= set(accepted)


async def test_restarting_watch_re_notifies_nothing_on_postgresql(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, postgres_url: str
) -> None:
    with fresh_database(postgres_url) as url:
        first = await start_watch(namespace, url, default_threshold=1.0)
        await kube.create(deployment("steady", namespace, fault="image-pull"))
        await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "the alert")
        await first.close()

        second = await start_watch(namespace, url, default_threshold=1.0)
        await asyncio.sleep(6)
        assert len(delivered(hook, in_namespace(namespace))) == 1
        await heal(kube, namespace, "steady")
        sent = await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 2, "the resolution", timeout=90)
        assert [(s, n) for s, n, _ in transitions(sent)] == [("firing", "steady"), ("resolved", "steady")]
        await second.close()  # before its database is dropped


# --------------------------------------------------------------------------- exporter and CLI


async def test_metrics_endpoint_parses_with_prometheus_client(
    kube: KubeClient, namespace: str, hook: Receiver, start_watch: Any, state_url: str
) -> None:
    watcher = await start_watch(namespace, state_url, default_threshold=1.0)
    server = serve_metrics(watcher.service, "127.0.0.1:0")
    try:
        await kube.create(deployment("scraped", namespace, fault="crashloop-error"))
        await wait_delivered(hook, in_namespace(namespace), lambda d: len(d) >= 1, "the alert")
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{server.url}/readyz")).status_code == 200
            assert (await http.get(f"{server.url}/healthz")).status_code == 200
            text = (await http.get(f"{server.url}/metrics")).text
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

        def value(name: str, **labels: str) -> float:
            found = [v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items()]
            assert found, f"no {name}{labels} in /metrics"
            return sum(found)

        context = watcher.service.watches[0].context
        assert value("kubesteward_alerts_active", context=context, state="firing") >= 1
        assert value("kubesteward_watch_events_total", context=context, kind="Pod") > 0
        assert value("kubesteward_watch_synced", context=context) == 1
        assert value("kubesteward_findings", context=context, namespace=namespace) >= 1
        assert value("kubesteward_sink_deliveries_total", sink="webhook") >= 1
        assert value("kubesteward_deployment_available_ratio", namespace=namespace, deployment="scraped") == 0
    finally:
        server.close()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubesteward", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


async def test_cli_watch_once_signs_its_webhook_and_a_second_run_is_silent(
    kube: KubeClient, namespace: str, hook: Receiver, sandbox_kubeconfig: Path, state_url: str
) -> None:
    await kube.create(deployment("signed", namespace, fault="crashloop-error"))
    await broken_since(kube, namespace, "signed")
    args = ["watch", "--kubeconfig", str(sandbox_kubeconfig), "-n", namespace, "--once", "--state", state_url,
            "--default-threshold", "0s", "--group-wait", "0s", "--metrics-addr", "off",
            "--sink", f"webhook={hook.url}/hook,secret-env=HOOK_SECRET"]
    first = await asyncio.to_thread(cli, *args, env={"HOOK_SECRET": "s3cret"})
    assert first.returncode == 0, first.stderr
    sent = [r for r in hook.requests if r.ok]
    ours: list[ReceivedRequest] = [r for r in sent if delivered_namespace(r) == namespace]
    assert len(ours) == 1, first.stderr
    request = ours[0]
    timestamp, signature = request.header("X-Kubesteward-Timestamp"), request.header("X-Kubesteward-Signature")
    assert timestamp and signature
    assert verify_signature("s3cret", timestamp, request.body, signature)
    assert not verify_signature("wrong", timestamp, request.body, signature)
    assert "s3cret" not in first.stdout + first.stderr

    second = await asyncio.to_thread(cli, *args, env={"HOOK_SECRET": "s3cret"})
    assert second.returncode == 0, second.stderr
    assert len([r for r in hook.requests if r.ok and delivered_namespace(r) == namespace]) == 1


def delivered_namespace(request: ReceivedRequest) -> str:
    alerts = request.json()["alerts"]
    return str(alerts[0]["labels"]["namespace"]) if alerts else ""


async def test_cli_watch_fans_out_over_several_contexts(
    kube: KubeClient, namespace: str, hook: Receiver, sandbox_kubeconfig: Path, state_url: str, tmp_path: Path
) -> None:
    import yaml

    config = yaml.safe_load(sandbox_kubeconfig.read_text())
    context = config["contexts"][0]
    config["contexts"] = [{"name": name, "context": context["context"]} for name in ("east", "west")]
    config["current-context"] = "east"
    two = tmp_path / "two-contexts"
    two.write_text(yaml.safe_dump(config))
    await kube.create(deployment("twice", namespace, fault="image-pull"))
    await broken_since(kube, namespace, "twice")
    result = await asyncio.to_thread(
        cli, "watch", "--kubeconfig", str(two), "--context", "east,west", "-n", namespace, "--once",
        "--state", state_url, "--default-threshold", "0s", "--group-wait", "0s", "--metrics-addr", "off",
        "--sink", f"webhook={hook.url}/hook",
    )
    assert result.returncode == 0, result.stderr
    sent = delivered(hook, in_namespace(namespace))
    contexts = sorted(a["labels"]["context"] for d in sent for a in d.alerts)
    assert contexts == ["east", "west"], transitions(sent)
