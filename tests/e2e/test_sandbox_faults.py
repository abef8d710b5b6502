"""Fault injection in the sandbox, observed through the real API with kubectl.

Each test creates pods (or its own extra nodes) carrying a
``kubesteward.io/fault`` label and polls until the status is exactly what a
kubelet would report for that failure. Pods are scheduled by the real
kube-scheduler; KWOK only plays the kubelet's part.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from kubesteward.sandbox import build
from kubesteward.sandbox.faults import (
    FAULT_CONTAINER_ANNOTATION,
    FAULT_LABEL,
    RESTART_INTERVAL_ANNOTATION,
    USAGE_CPU_ANNOTATION,
    USAGE_MEMORY_ANNOTATION,
)

DEADLINE = 60.0
T = TypeVar("T")
Obj = dict[str, Any]


class Kubectl:
    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        binary = build.binary_path("kubectl")
        found = str(binary) if binary.is_file() else shutil.which("kubectl")
        if found is None:
            pytest.skip("no kubectl binary (build the sandbox or put kubectl on PATH)")
        # Own cache dir: the tests must not write into ~/.kube.
        self.cmd = [found, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir)]

    def run(self, *args: str, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*self.cmd, *args], input=input_text, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def apply(self, obj: Obj) -> None:
        self.run("apply", "-f", "-", input_text=json.dumps(obj))

    def get(self, kind: str, name: str, namespace: str | None = None) -> Obj:
        ns = ["-n", namespace] if namespace else []
        result: Obj = json.loads(self.run("get", kind, name, *ns, "-o", "json").stdout)
        return result


def poll(what: str, fetch: Callable[[], T], ok: Callable[[T], bool], timeout: float = DEADLINE) -> T:
    """Fetch until ``ok``; fail with the last observation so a mismatch is readable."""
    end = time.monotonic() + timeout
    last: T | None = None
    while True:
        try:
            last = fetch()
            if ok(last):
                return last
        except (AssertionError, KeyError, IndexError, TypeError, ValueError):
            pass
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {json.dumps(last)[:2000]}")
        time.sleep(0.5)


def condition(obj: Obj, kind: str) -> Obj:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            result: Obj = cond
            return result
    return {}


def container(pod: Obj, index: int = 0) -> Obj:
    statuses: list[Obj] = pod["status"]["containerStatuses"]
    return statuses[index]


def pod_manifest(
    name: str,
    namespace: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    image: str = "registry.example.com/shop/api:1.4.2",
    cpu: str = "100m",
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {
            "containers": [
                {"name": "app", "image": image, "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}
            ],
            # No kubelet will ever SIGTERM anything; do not wait 30s on delete.
            "terminationGracePeriodSeconds": 0,
        },
    }


@pytest.fixture(scope="session")
def kubectl(sandbox_kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(sandbox_kubeconfig, tmp_path_factory.mktemp("kube-cache"))


@pytest.fixture
def ns(kubectl: Kubectl) -> Iterator[str]:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    kubectl.run("create", "namespace", name)
    try:
        yield name
    finally:
        kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def make_node(kubectl: Kubectl) -> Iterator[Callable[..., str]]:
    """Extra simulated nodes for node faults, so the shared nodes stay healthy."""
    created: list[str] = []

    def make(labels: dict[str, str] | None = None) -> str:
        name = f"fault-node-{uuid.uuid4().hex[:8]}"
        capacity = {"cpu": "8", "memory": "32Gi", "pods": "110"}
        kubectl.apply(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {"type": "kwok-test", "kubernetes.io/hostname": name, **(labels or {})},
                },
                # Keep other tests' pods off a node we are about to break.
                "spec": {"taints": [{"key": "kubesteward.io/test", "value": "faults", "effect": "NoSchedule"}]},
                "status": {"allocatable": capacity, "capacity": capacity},
            }
        )
        created.append(name)
        return name

    yield make
    for name in created:
        kubectl.run("delete", "node", name, "--wait=false", check=False)


def wait_pod(kubectl: Kubectl, ns: str, name: str, what: str, ok: Callable[[Obj], bool]) -> Obj:
    return poll(f"pod {name}: {what}", lambda: kubectl.get("pod", name, ns), ok)


def is_running_ready(pod: Obj) -> bool:
    return bool(
        pod["status"].get("phase") == "Running"
        and condition(pod, "Ready").get("status") == "True"
        and container(pod)["ready"] is True
        and "running" in container(pod)["state"]
    )


def is_crashlooping(pod: Obj) -> bool:
    state: Obj = container(pod)["state"]
    return bool(state.get("waiting", {}).get("reason") == "CrashLoopBackOff")


# -- pods ---------------------------------------------------------------------


def test_healthy_pod_is_scheduled_by_the_real_scheduler(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(pod_manifest("web", ns))
    pod = wait_pod(kubectl, ns, "web", "Running and Ready", is_running_ready)
    assert pod["spec"]["nodeName"]
    assert condition(pod, "PodScheduled")["status"] == "True"
    assert pod["status"]["podIP"] and pod["status"]["hostIP"]
    events = json.loads(
        kubectl.run("get", "events", "-n", ns, "--field-selector", "involvedObject.name=web", "-o", "json").stdout
    )["items"]
    scheduled = [e for e in events if e["reason"] == "Scheduled"]
    assert scheduled, events
    assert "default-scheduler" in (scheduled[0].get("reportingComponent"), scheduled[0]["source"].get("component"))


@pytest.mark.parametrize(
    ("fault", "reason", "exit_code"), [("crashloop-oom", "OOMKilled", 137), ("crashloop-error", "Error", 1)]
)
def test_crashloop(kubectl: Kubectl, ns: str, fault: str, reason: str, exit_code: int) -> None:
    labels, annotations = {FAULT_LABEL: fault}, {RESTART_INTERVAL_ANNOTATION: "2s"}
    kubectl.apply(pod_manifest("worker", ns, labels=labels, annotations=annotations))
    pod = wait_pod(kubectl, ns, "worker", "CrashLoopBackOff", is_crashlooping)

    status = container(pod)
    assert pod["status"]["phase"] == "Running"
    assert status["ready"] is False
    assert status["restartCount"] >= 1
    assert "back-off" in status["state"]["waiting"]["message"]
    terminated = status["lastState"]["terminated"]
    assert terminated["reason"] == reason
    assert terminated["exitCode"] == exit_code
    assert condition(pod, "Ready")["status"] == "False"
    assert condition(pod, "Ready")["reason"] == "ContainersNotReady"
    assert condition(pod, "ContainersReady")["status"] == "False"
    assert condition(pod, "PodScheduled")["status"] == "True"

    # It keeps crashing: the restart count grows, the failure stays the same.
    first = status["restartCount"]
    later = wait_pod(kubectl, ns, "worker", "restartCount to grow", lambda p: container(p)["restartCount"] >= first + 2)
    assert is_crashlooping(later)
    assert container(later)["lastState"]["terminated"]["exitCode"] == exit_code

    events = json.loads(
        kubectl.run("get", "events", "-n", ns, "--field-selector", "involvedObject.name=worker", "-o", "json").stdout
    )["items"]
    assert any(e["reason"] == "BackOff" and e["type"] == "Warning" for e in events)


def test_crashloop_uses_kubelet_backoff_by_default(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(pod_manifest("slow", ns, labels={FAULT_LABEL: "crashloop-oom"}))
    pod = wait_pod(kubectl, ns, "slow", "CrashLoopBackOff", is_crashlooping)
    assert container(pod)["restartCount"] == 1
    assert "back-off 10s" in container(pod)["state"]["waiting"]["message"]
    # First back-off is 10s, so the second crash comes after ~10s, not at once.
    time.sleep(5)
    assert container(kubectl.get("pod", "slow", ns))["restartCount"] == 1
    later = wait_pod(kubectl, ns, "slow", "second crash", lambda p: container(p)["restartCount"] == 2)
    assert "back-off 20s" in container(later)["state"]["waiting"]["message"]


def test_image_pull_backoff(kubectl: Kubectl, ns: str) -> None:
    image = "registry.example.com/shop/api:does-not-exist"
    kubectl.apply(pod_manifest("puller", ns, labels={FAULT_LABEL: "image-pull"}, image=image))
    pod = wait_pod(
        kubectl,
        ns,
        "puller",
        "ImagePullBackOff",
        lambda p: container(p)["state"].get("waiting", {}).get("reason") == "ImagePullBackOff",
    )
    status = container(pod)
    assert pod["status"]["phase"] == "Pending"
    assert image in status["state"]["waiting"]["message"]
    assert status["ready"] is False
    assert status["restartCount"] == 0
    assert condition(pod, "Ready")["status"] == "False"
    assert condition(pod, "PodScheduled")["status"] == "True"
    # ...and it stays that way (nothing "heals" it behind our back).
    time.sleep(3)
    again = kubectl.get("pod", "puller", ns)
    assert again["status"]["phase"] == "Pending"
    assert container(again)["state"]["waiting"]["reason"] == "ImagePullBackOff"

    # "The registry is fixed": without the label the pod starts.
    kubectl.run("label", "pod", "puller", "-n", ns, f"{FAULT_LABEL}-")
    wait_pod(kubectl, ns, "puller", "Running and Ready", is_running_ready)


def test_fault_limited_to_one_container(kubectl: Kubectl, ns: str) -> None:
    manifest = pod_manifest(
        "duo",
        ns,
        labels={FAULT_LABEL: "crashloop-error"},
        annotations={FAULT_CONTAINER_ANNOTATION: "app", RESTART_INTERVAL_ANNOTATION: "30s"},
    )
    manifest["spec"]["containers"].append({"name": "sidecar", "image": "registry.example.com/proxy:2.0"})
    kubectl.apply(manifest)
    pod = wait_pod(kubectl, ns, "duo", "CrashLoopBackOff", is_crashlooping)
    by_name = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert by_name["app"]["lastState"]["terminated"]["reason"] == "Error"
    assert by_name["sidecar"]["ready"] is True and "running" in by_name["sidecar"]["state"]
    assert by_name["sidecar"]["restartCount"] == 0
    assert condition(pod, "Ready")["message"] == "containers with unready status: [app]"


def test_pod_not_ready(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(pod_manifest("probe", ns, labels={FAULT_LABEL: "not-ready"}))
    pod = wait_pod(
        kubectl,
        ns,
        "probe",
        "running but not ready",
        lambda p: p["status"]["phase"] == "Running" and "running" in container(p)["state"],
    )
    status = container(pod)
    assert status["ready"] is False
    assert status["started"] is True
    assert status["restartCount"] == 0
    assert condition(pod, "Ready")["status"] == "False"
    assert condition(pod, "ContainersReady")["status"] == "False"
    assert condition(pod, "Ready")["message"] == "containers with unready status: [app]"


def test_fault_label_on_running_pod_and_removal(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(pod_manifest("flaky", ns))
    wait_pod(kubectl, ns, "flaky", "Running and Ready", is_running_ready)

    kubectl.run("label", "pod", "flaky", "-n", ns, f"{FAULT_LABEL}=crashloop-error")
    pod = wait_pod(kubectl, ns, "flaky", "CrashLoopBackOff", is_crashlooping)
    assert container(pod)["lastState"]["terminated"]["reason"] == "Error"

    kubectl.run("label", "pod", "flaky", "-n", ns, f"{FAULT_LABEL}=not-ready", "--overwrite")
    wait_pod(
        kubectl,
        ns,
        "flaky",
        "running, not ready",
        lambda p: "running" in container(p)["state"] and container(p)["ready"] is False,
    )

    kubectl.run("label", "pod", "flaky", "-n", ns, f"{FAULT_LABEL}-")
    healed = wait_pod(kubectl, ns, "flaky", "Ready again", is_running_ready)
    # Like a kubelet, recovery keeps the history.
    assert container(healed)["restartCount"] >= 1
    assert container(healed)["lastState"]["terminated"]["reason"] == "Error"


def test_unschedulable_pod_stays_pending(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(pod_manifest("huge", ns, cpu="5000"))
    pod = poll(
        "pod huge: PodScheduled False",
        lambda: kubectl.get("pod", "huge", ns),
        lambda p: condition(p, "PodScheduled").get("status") == "False",
    )
    assert condition(pod, "PodScheduled")["reason"] == "Unschedulable"
    assert "Insufficient cpu" in condition(pod, "PodScheduled")["message"]
    assert pod["status"]["phase"] == "Pending"
    assert not pod["spec"].get("nodeName")
    assert not pod["status"].get("containerStatuses")


# -- usage --------------------------------------------------------------------


def test_simulated_usage_in_metrics_api_and_top(kubectl: Kubectl, ns: str) -> None:
    kubectl.apply(
        pod_manifest("busy", ns, annotations={USAGE_CPU_ANNOTATION: "250m", USAGE_MEMORY_ANNOTATION: "300Mi"})
    )
    pod = wait_pod(kubectl, ns, "busy", "Running and Ready", is_running_ready)

    def metrics() -> Obj:
        raw = kubectl.run("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/busy").stdout
        result: Obj = json.loads(raw)
        return result

    sample = poll("pod metrics for busy", metrics, lambda m: bool(m.get("containers")), timeout=90)
    usage = sample["containers"][0]["usage"]
    assert usage["memory"] in ("300Mi", str(300 * 1024 * 1024), f"{300 * 1024}Ki")
    assert 200 <= _millicores(usage["cpu"]) <= 300

    top = kubectl.run("top", "pod", "busy", "-n", ns, "--no-headers").stdout.split()
    assert top[0] == "busy"
    assert 200 <= _millicores(top[1]) <= 300
    assert top[2] == "300Mi"

    node = pod["spec"]["nodeName"]
    node_top = poll(
        f"kubectl top node {node}",
        lambda: kubectl.run("top", "node", node, "--no-headers").stdout.split(),
        lambda row: _millicores(row[1]) >= 200,
        timeout=60,
    )
    assert node_top[0] == node


def _millicores(text: str) -> float:
    if text.endswith("n"):
        return int(text[:-1]) / 1e6
    if text.endswith("u"):
        return int(text[:-1]) / 1e3
    if text.endswith("m"):
        return float(text[:-1])
    return float(text) * 1000


# -- nodes --------------------------------------------------------------------


def wait_node(kubectl: Kubectl, name: str, what: str, ok: Callable[[Obj], bool]) -> Obj:
    return poll(f"node {name}: {what}", lambda: kubectl.get("node", name), ok)


def test_node_not_ready_from_creation_then_recovers(kubectl: Kubectl, make_node: Callable[..., str]) -> None:
    name = make_node({FAULT_LABEL: "not-ready"})
    node = wait_node(kubectl, name, "Ready False", lambda n: condition(n, "Ready").get("status") == "False")
    ready = condition(node, "Ready")
    assert ready["reason"] == "KubeletNotReady"
    assert "not-ready" in ready["message"]
    assert condition(node, "MemoryPressure")["status"] == "False"

    kubectl.run("label", "node", name, f"{FAULT_LABEL}-")
    healed = wait_node(kubectl, name, "Ready True", lambda n: condition(n, "Ready").get("status") == "True")
    assert condition(healed, "Ready")["reason"] == "KubeletReady"


@pytest.mark.parametrize(
    ("fault", "cond", "bad", "reason"),
    [
        ("not-ready", "Ready", "False", "KubeletNotReady"),
        ("memory-pressure", "MemoryPressure", "True", "KubeletHasInsufficientMemory"),
    ],
)
def test_node_fault_added_to_healthy_node_and_removed(
    kubectl: Kubectl, make_node: Callable[..., str], fault: str, cond: str, bad: str, reason: str
) -> None:
    name = make_node()
    wait_node(kubectl, name, "Ready", lambda n: condition(n, "Ready").get("status") == "True")

    kubectl.run("label", "node", name, f"{FAULT_LABEL}={fault}")
    node = wait_node(kubectl, name, f"{cond} {bad}", lambda n: condition(n, cond).get("status") == bad)
    assert condition(node, cond)["reason"] == reason
    if fault == "memory-pressure":
        assert condition(node, "Ready")["status"] == "True"

    kubectl.run("label", "node", name, f"{FAULT_LABEL}-")
    healed = wait_node(
        kubectl,
        name,
        "healthy again",
        lambda n: condition(n, "Ready").get("status") == "True"
        and condition(n, "MemoryPressure").get("status") == "False",
    )
    assert condition(healed, "MemoryPressure")["reason"] == "KubeletHasSufficientMemory"
