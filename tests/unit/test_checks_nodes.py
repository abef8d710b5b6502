"""Node analyzers (KS5xx) on models built from kubectl-style JSON at a fixed time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubesteward.checks.engine import run_checks
from kubesteward.checks.nodes import human_duration
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Finding, Severity
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.files import model_from_objects

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
Obj = dict[str, Any]

HEALTHY = {"MemoryPressure": "False", "DiskPressure": "False", "PIDPressure": "False", "NetworkUnavailable": "False"}


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(
    name: str = "node-1",
    *,
    ready: str = "True",
    since: float = 3600,
    reason: str = "KubeletReady",
    message: str = "kubelet is posting ready status",
    conditions: dict[str, str] | None = None,
    unschedulable: bool = False,
    taints: list[Obj] | None = None,
) -> Obj:
    conds = [{"type": "Ready", "status": ready, "reason": reason, "message": message, "lastTransitionTime": ago(since)}]
    for type_, status in {**HEALTHY, **(conditions or {})}.items():
        conds.append({"type": type_, "status": status, "reason": f"Kubelet{type_}{status}", "message": f"{type_} is {status}",
                      "lastTransitionTime": ago(since)})
    spec: Obj = {}
    if unschedulable:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec,
            "status": {"conditions": conds, "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}


def pod(name: str, node_name: str = "node-1", *, owner: str | None = "ReplicaSet", phase: str = "Running") -> Obj:
    meta: Obj = {"name": name, "namespace": "apps", "uid": f"uid-{name}", "creationTimestamp": ago(7200)}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": owner, "name": f"{name}-owner", "uid": f"uid-{name}-owner", "controller": True}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": ago(3600)}],
                   "containerStatuses": [{"name": "app", "ready": True, "state": {"running": {"startedAt": ago(3600)}}}]},
    }


def check(objects: list[Obj], **thresholds: Any) -> list[Finding]:
    model, _ = model_from_objects(objects, now=NOW)
    return run_checks(model, settings=CheckSettings(**thresholds), only=["KS5*"]).findings


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def test_ready_nodes_are_silent() -> None:
    drained = node("drained", unschedulable=True)
    daemons_only = node("daemons", unschedulable=True)
    objects = [
        node("node-1"),
        drained,
        daemons_only,
        pod("ds-agent", "daemons", owner="DaemonSet"),
        pod("static", "daemons", owner="Node"),  # mirror pod of a static pod
        pod("finished", "daemons", phase="Succeeded"),
        pod("web", "node-1"),
    ]
    assert check(objects) == []


def test_not_ready_node_with_duration_pods_and_taints_as_evidence() -> None:
    broken = node(
        "node-2",
        ready="False",
        since=750,
        reason="KubeletNotReady",
        message="container runtime is down: PLEG is not healthy",
        taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}],
    )
    objects = [broken, node("node-1"), pod("a", "node-2"), pod("b", "node-2"), pod("done", "node-2", phase="Succeeded"),
               pod("c", "node-1")]
    found = check(objects)
    assert codes(found) == ["KS501"]  # the not-ready taints are symptoms, not findings
    item = found[0]
    assert item.object == ObjectKey("Node", "", "node-2")
    assert item.severity == Severity.ERROR
    assert item.evidence["status"] == "False"
    assert item.evidence["reason"] == "KubeletNotReady"
    assert item.evidence["message"] == "container runtime is down: PLEG is not healthy"
    assert item.evidence["not_ready_for"] == "12m"
    assert item.evidence["pods"] == 2
    assert item.evidence["taints"] == ["node.kubernetes.io/not-ready:NoSchedule", "node.kubernetes.io/not-ready:NoExecute"]
    assert sorted(k.name for k in item.related) == ["a", "b"]
    assert "NotReady for 12m" in item.message
    assert item.remediation.text.startswith("- On node node-2: `journalctl -u kubelet --since -1h`")


def test_unknown_node_reports_once_not_per_unknown_condition() -> None:
    gone = node("node-3", ready="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                conditions={k: "Unknown" for k in HEALTHY})
    found = check([gone])
    assert codes(found) == ["KS501"]
    assert found[0].evidence["status"] == "Unknown"
    assert "not reporting" in found[0].message


def test_not_ready_threshold_is_a_setting() -> None:
    flapping = node("node-2", ready="False", since=20)
    assert codes(check([flapping])) == ["KS501"]  # default 0: report at once
    assert check([flapping], node_not_ready_seconds=60) == []


@pytest.mark.parametrize(
    ("condition", "code", "severity"),
    [("MemoryPressure", "KS502", Severity.WARNING), ("DiskPressure", "KS503", Severity.WARNING),
     ("PIDPressure", "KS504", Severity.WARNING), ("NetworkUnavailable", "KS505", Severity.ERROR)],
)
def test_condition_codes(condition: str, code: str, severity: Severity) -> None:
    found = check([node("node-1", conditions={condition: "True"}), pod("a", "node-1")])
    assert codes(found) == [code]
    assert found[0].severity == severity
    assert found[0].evidence["condition"] == condition
    assert found[0].evidence["reason"] == f"Kubelet{condition}True"
    assert found[0].evidence["pods"] == 1
    assert [k.name for k in found[0].related] == ["a"]


def test_cordoned_node_with_workload_pods_warns() -> None:
    objects = [node("node-1", unschedulable=True), pod("web-1", "node-1"), pod("ds", "node-1", owner="DaemonSet"),
               pod("bare", "node-1", owner=None)]
    found = check(objects)
    assert codes(found) == ["KS506"]
    assert found[0].severity == Severity.WARNING
    assert found[0].evidence["pods"] == 2
    assert found[0].evidence["workload_pods"] == ["apps/bare", "apps/web-1"]
    assert "kubectl drain node-1 --ignore-daemonsets" in found[0].remediation.first.rendered()


def test_cordoned_not_ready_node_reports_only_not_ready() -> None:
    objects = [node("node-1", ready="False", unschedulable=True), pod("web-1", "node-1")]
    assert codes(check(objects)) == ["KS501"]


def test_without_pods_loaded_nodes_are_still_checked_but_not_counted() -> None:
    model, _ = model_from_objects([node("node-1", ready="False", unschedulable=True)], now=NOW)
    report = run_checks(model, only=["KS5*"])
    assert [f.code for f in report.findings] == ["KS501"]
    assert "pods" not in report.findings[0].evidence  # unknown, not zero
    assert [s.analyzer for s in report.skipped_checks] == ["nodes.cordoned_nodes"]


def test_namespaced_load_counts_only_the_loaded_pods_and_says_so() -> None:
    model, _ = model_from_objects([node("node-1", ready="False"), pod("a", "node-1")], now=NOW)
    model.partial["Pod"] = {"apps"}  # what a namespaced live load records
    item = run_checks(model, only=["KS5*"]).findings[0]
    assert item.evidence["pods_in_loaded_namespaces"] == 1
    assert "pods" not in item.evidence
    assert "at least 1 pod(s) on it" in item.message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "an unknown time"), (5, "5s"), (192, "3m12s"), (750, "12m"), (3600, "1h"), (11100, "3h5m"), (187200, "2d4h"), (-3, "0s")],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text
