"""Node diagnosis (KS5xx) against the real control plane.

Every test breaks only nodes it creates itself (KWOK nodes shaped like the
sandbox's, with a unique name and a NoSchedule taint that keeps other tests'
pods away) and deletes them afterwards. Node faults come from the
``kubesteward.io/fault`` node label, played by the sandbox's KWOK stages; the
not-ready taints are added by the real node-lifecycle controller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesteward.checks.engine import Report
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient, resources
from kubesteward.findings import Finding
from kubesteward.model.cluster import ObjectKey
from kubesteward.sandbox.faults import FAULT_LABEL, RESTART_INTERVAL_ANNOTATION
from tests.support.diagnosis import codes_for, diagnose, only
from tests.support.nodes import TOLERATE_TEST_TAINT, MakeNode
from tests.support.wait import eventually

Obj = dict[str, Any]
NOW = CheckSettings(pod_not_ready_seconds=0, pod_pending_seconds=0)


def pinned_pod(name: str, namespace: str, node: str, *, fault: str | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {FAULT_LABEL: fault} if fault else {},
            "annotations": {RESTART_INTERVAL_ANNOTATION: "2s"},
        },
        "spec": {
            "nodeName": node,  # bypasses the scheduler: lands even on a NotReady/cordoned node
            "containers": [{"name": "app", "image": "registry.example.com/shop/api:1"}],
            "terminationGracePeriodSeconds": 0,
        },
    }


async def node_condition(kube: KubeClient, name: str, type_: str) -> str:
    node: Obj = await kube.get(resources.NODE, name)
    for cond in node.get("status", {}).get("conditions") or []:
        if cond["type"] == type_:
            return str(cond["status"])
    return ""


async def running_ready(kube: KubeClient, namespace: str, name: str) -> None:
    async def get() -> Obj:
        result: Obj = await kube.get(resources.POD, name, namespace)
        return result

    def ready(pod: Obj) -> bool:
        conditions = pod.get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    await eventually(get, ready, timeout=90, what=f"pod {name} Ready")


async def until(
    kube: KubeClient, namespace: str | None, ok: Callable[[Report], bool], what: str, timeout: float = 90
) -> Report:
    return await eventually(lambda: diagnose(kube, namespace, settings=NOW), ok, timeout=timeout, interval=1.0, what=what)


def the(report: Report, code: str, name: str) -> Finding:
    found = only(report, code, name)
    assert len(found) == 1, report.findings
    return found[0]


async def test_not_ready_node_blast_radius_and_pod_cause(kube: KubeClient, namespace: str, make_node: MakeNode) -> None:
    node = await make_node("not-ready")
    await kube.create(pinned_pod("crasher", namespace, node, fault="crashloop-error"))
    await kube.create(pinned_pod("sleeper", namespace, node))
    await kube.create({**pinned_pod("web", namespace, ""), "spec": {"containers": [{"name": "app", "image": "web:1"}]}})
    await running_ready(kube, namespace, "web")  # with no pending grace, a pod still starting would be reported

    def settled(r: Report) -> bool:
        item = only(r, "KS501", node)
        crash = only(r, "KS101", "crasher")
        return bool(item and crash and any("not-ready" in t for t in item[0].evidence.get("taints", [])))

    report = await until(kube, namespace, settled, "KS501 with the controller's taint and KS101 on crasher")
    item = the(report, "KS501", node)
    assert item.object == ObjectKey("Node", "", node)
    assert item.evidence["status"] == "False"
    assert item.evidence["reason"] == "KubeletNotReady"
    assert "PLEG is not healthy" in item.evidence["message"]
    assert item.evidence["pods_in_loaded_namespaces"] == 2  # a namespaced diagnosis sees only its pods
    assert {k.name for k in item.related} == {"crasher", "sleeper"}
    # the controller's not-ready taints are evidence, never findings of their own
    assert codes_for(report, "Node", node) == {"KS501"}

    crash = the(report, "KS101", "crasher")
    assert crash.cause == ObjectKey("Node", "", node)
    assert crash.evidence["node_ready"] == "False"
    assert codes_for(report, "Pod", "web") == set()

    # A cluster-wide diagnosis counts every pod on the node (a tolerate-everything
    # DaemonSet of a concurrent test may have landed there too: ask the API).
    everything = await diagnose(kube, settings=NOW)
    on_node = await kube.list(resources.POD, field_selector=f"spec.nodeName={node}")
    running = [p for p in on_node.items if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    assert the(everything, "KS501", node).evidence["pods"] == len(running) >= 2

    # The node recovers: no node finding, and the crash loop is the pod's own problem again.
    await kube.patch(resources.NODE, node, {"metadata": {"labels": {FAULT_LABEL: None}}})
    report = await until(
        kube, namespace,
        lambda r: not only(r, "KS501", node) and any(f.cause is None for f in only(r, "KS101", "crasher")),
        "node Ready again",
    )
    assert codes_for(report, "Node", node) == set()


async def test_memory_pressure_on_a_ready_node(kube: KubeClient, namespace: str, make_node: MakeNode) -> None:
    node = await make_node()
    await eventually(lambda: node_condition(kube, node, "Ready"), lambda s: s == "True", timeout=60, what="node Ready")
    await kube.create(pinned_pod("tenant", namespace, node))
    healthy = await diagnose(kube, namespace, settings=NOW)
    assert codes_for(healthy, "Node", node) == set()  # a Ready node is silent

    await kube.patch(resources.NODE, node, {"metadata": {"labels": {FAULT_LABEL: "memory-pressure"}}})
    report = await until(kube, namespace, lambda r: bool(only(r, "KS502", node)), "KS502")
    item = the(report, "KS502", node)
    assert item.evidence["condition"] == "MemoryPressure"
    assert item.evidence["reason"] == "KubeletHasInsufficientMemory"
    assert "insufficient memory" in item.evidence["message"]
    assert {k.name for k in item.related} == {"tenant"}
    assert codes_for(report, "Node", node) == {"KS502"}  # Ready stays True: no KS501

    await kube.patch(resources.NODE, node, {"metadata": {"labels": {FAULT_LABEL: None}}})
    await until(kube, namespace, lambda r: not codes_for(r, "Node", node), "pressure gone")


async def test_cordoned_node_with_workload_then_only_daemonset(kube: KubeClient, namespace: str, make_node: MakeNode) -> None:
    node = await make_node(cordoned=True)
    await kube.create(pinned_pod("straggler", namespace, node))
    await kube.create(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {
                        "nodeSelector": {"kubernetes.io/hostname": node},
                        "tolerations": TOLERATE_TEST_TAINT,
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "agent", "image": "registry.example.com/agent:1"}],
                    },
                },
            },
        }
    )

    async def agent_pods() -> list[Obj]:
        listed = await kube.list(resources.POD, namespace=namespace, label_selector="app=agent")
        return [p for p in listed.items if p.get("spec", {}).get("nodeName") == node]

    await eventually(agent_pods, lambda pods: len(pods) == 1, timeout=90, what="DaemonSet pod on the cordoned node")
    report = await until(kube, namespace, lambda r: bool(only(r, "KS506", node)), "KS506")
    item = the(report, "KS506", node)
    assert item.evidence["workload_pods"] == [f"{namespace}/straggler"]  # the DaemonSet pod does not count
    assert item.evidence["pods_in_loaded_namespaces"] == 1
    assert [k.name for k in item.related] == ["straggler"]

    await kube.delete(resources.POD, "straggler", namespace=namespace, grace_period_seconds=0)
    report = await until(kube, namespace, lambda r: not only(r, "KS506", node), "KS506 gone once drained")
    assert codes_for(report, "Node", node) == set()
    assert len(await agent_pods()) == 1  # still cordoned, still running its DaemonSet pod: silent
