"""Node analyzers (KS5xx): nodes that cannot run pods, or are about to evict them.

Only conditions the kubelet (or the node controller) reports are read. The
taints ``node.kubernetes.io/not-ready`` and ``.../unreachable`` are the node
controller's *reaction* to the Ready condition, so they appear as evidence of
KS501, never as findings of their own; the same goes for the pressure taints.
A condition whose status is ``Unknown`` (the node stopped reporting) is
covered by KS501 alone: "MemoryPressure Unknown" says nothing about memory.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubesteward.checks.base import analyzer
from kubesteward.checks.evidence import event_lines, human_duration
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Code, Finding, Step, finding, fix
from kubesteward.findings.catalogue.nodes import KS501, KS502, KS503, KS504, KS505, KS506
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, key_of
from kubesteward.model.objects import condition
from kubesteward.model.semantics import lifecycle

# Controller-managed taints that mirror node conditions (symptoms, not causes).
CONDITION_TAINTS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/network-unavailable",
        "node.kubernetes.io/unschedulable",
    }
)


_CONDITION_CODES: dict[str, Code] = {
    "MemoryPressure": KS502,
    "DiskPressure": KS503,
    "PIDPressure": KS504,
    "NetworkUnavailable": KS505,
}


# --------------------------------------------------------------------------- helpers shared with pods.py


def ready_condition(node: o.Node) -> o.Condition | None:
    return condition(node.status.conditions, "Ready")


def node_down(node: o.Node) -> bool:
    """Ready is False or Unknown. A node that has not reported Ready yet is not "down"."""
    ready = ready_condition(node)
    return ready is not None and ready.status != "True"


def active_pods(model: ClusterModel, node: o.Node) -> list[o.Pod]:
    """Pods bound to the node that have not finished (Succeeded/Failed pods hold no resources)."""
    return [p for p in model.pods_on_node(node.metadata.name) if not lifecycle.finished(p)]


def _is_workload_pod(pod: o.Pod) -> bool:
    """Pods a drain has to move: not DaemonSet pods, not static (mirror) pods owned by the Node."""
    ref = pod.metadata.controller()
    return ref is None or ref.kind not in ("DaemonSet", "Node")


def _taint_text(taint: o.Taint) -> str:
    value = f"={taint.value}" if taint.value else ""
    return f"{taint.key}{value}:{taint.effect}"


def _pods_evidence(model: ClusterModel, pods: list[o.Pod]) -> dict[str, int]:
    """How many pods the node runs, honestly: all of them, only those of the loaded
    namespaces (a namespaced diagnosis), or nothing when pods were not loaded at all."""
    if model.has("Pod"):
        return {"pods": len(pods)}
    return {"pods_in_loaded_namespaces": len(pods)} if "Pod" in model.loaded else {}


def _pods_text(model: ClusterModel, pods: list[o.Pod]) -> str:
    if model.has("Pod"):
        return f"{len(pods)} pod(s)"
    return f"at least {len(pods)} pod(s)" if "Pod" in model.loaded else ""


# --------------------------------------------------------------------------- analyzers


@analyzer(codes=[KS501], requires=["Node"])
def not_ready_nodes(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for node in model.nodes:
        ready = ready_condition(node)
        if ready is None or ready.status == "True":
            continue
        since = model.age_seconds(ready.lastTransitionTime)
        if since is not None and since < settings.node_not_ready_seconds:
            continue  # flapping, not (yet) an incident
        yield _not_ready_finding(model, settings, node, ready, since)


def _not_ready_finding(
    model: ClusterModel, settings: CheckSettings, node: o.Node, ready: o.Condition, since: float | None
) -> Finding:
    pods = active_pods(model, node)
    state = "NotReady" if ready.status == "False" else "Ready=Unknown (not reporting)"
    detail = f" ({ready.reason})" if ready.reason else ""
    text = f": {ready.message}" if ready.message else ""
    count = _pods_text(model, pods)
    on_it = f"; {count} on it" if count else ""
    message = f"{state} for {human_duration(since)}{detail}{text}{on_it}"
    symptoms = [_taint_text(t) for t in node.spec.taints or () if t.key in CONDITION_TAINTS]
    name = node.metadata.name
    if ready.status == "False":  # the kubelet itself reports the failure
        step = Step(f"On node {name}", "journalctl -u kubelet --since -1h")
    else:
        step = Step(f"Its kubelet stopped reporting: check that machine {name} is up, and its kubelet", "systemctl status kubelet")
    return finding(
        KS501,
        key_of(node),
        message,
        evidence={
            "status": ready.status,
            "reason": ready.reason,
            "message": ready.message,
            "since": ready.lastTransitionTime,
            "not_ready_for": human_duration(since) if since is not None else None,
            **_pods_evidence(model, pods),
            "taints": symptoms,
            "events": event_lines(model, node, settings.evidence_events),
        },
        remediation=fix(KS501, step),
        related=[key_of(p) for p in pods],
    )


@analyzer(codes=list(_CONDITION_CODES.values()), requires=["Node"])
def node_conditions(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for node in model.nodes:
        for cond in node.status.conditions or ():
            code = _CONDITION_CODES.get(cond.type)
            # Exactly "True": "Unknown" means the node stopped reporting (KS501's business).
            if code is None or cond.status != "True":
                continue
            yield _condition_finding(model, settings, node, cond, code)


def _condition_finding(
    model: ClusterModel, settings: CheckSettings, node: o.Node, cond: o.Condition, code: Code
) -> Finding:
    pods = active_pods(model, node)
    since = model.age_seconds(cond.lastTransitionTime)
    detail = f" ({cond.reason})" if cond.reason else ""
    text = f": {cond.message}" if cond.message else ""
    return finding(
        code,
        key_of(node),
        f"{cond.type} for {human_duration(since)}{detail}{text}",
        evidence={
            "condition": cond.type,
            "reason": cond.reason,
            "message": cond.message,
            "since": cond.lastTransitionTime,
            **_pods_evidence(model, pods),
            "events": event_lines(model, node, settings.evidence_events),
        },
        related=[key_of(p) for p in pods],
    )


@analyzer(codes=[KS506], requires=["Node", "Pod"])
def cordoned_nodes(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for node in model.nodes:
        if not node.spec.unschedulable or node_down(node):
            continue
        workload = [p for p in active_pods(model, node) if _is_workload_pod(p)]
        if not workload:
            continue  # cordoned and drained: maintenance or scale-down, nothing to do
        names = sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in workload)
        yield finding(
            KS506,
            key_of(node),
            f"cordoned (SchedulingDisabled) but {_pods_text(model, workload)} not run by a DaemonSet still run on it",
            evidence={
                **_pods_evidence(model, workload),
                "workload_pods": names[:10],
                "events": event_lines(model, node, settings.evidence_events),
            },
            related=[key_of(p) for p in workload],
        )
