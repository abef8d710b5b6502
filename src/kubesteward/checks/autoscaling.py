"""Autoscaling and disruption analyzers (KS6xx): HPAs that cannot scale, PDBs that block.

HPA: what the controller itself reports (its AbleToScale / ScalingActive /
ScalingLimited conditions) plus two structural checks it cannot phrase well:
a scale target that does not exist, and Utilization metrics on pods without
requests for that resource. Conditions younger than ``hpa_condition_seconds``
are ignored: metrics lag new pods by a scrape or two, and an HPA at its
maximum for a minute is a burst, not a problem.

PDB: ``disruptionsAllowed == 0`` is split in two, because the fixes differ:
the budget itself demands every pod (minAvailable = replicas, maxUnavailable 0:
node drains block forever, a config problem) versus pods being unhealthy right
now (a symptom, linked to the workload that owns those pods).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from kubesteward.checks.base import analyzer, in_service
from kubesteward.checks.evidence import event_lines
from kubesteward.checks.settings import CheckSettings
from kubesteward.checks.workloads import describe_pods, overdue, pod_keys, workload_pods
from kubesteward.findings import Finding, finding
from kubesteward.findings.catalogue.autoscaling import KS601, KS602, KS603, KS604, KS605, KS606, KS607, KS608
from kubesteward.model import objects as o
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel, ObjectKey, key_of
from kubesteward.model.objects import condition
from kubesteward.model.semantics.autoscaling import utilization_resources
from kubesteward.model.semantics.health import pod_problems
from kubesteward.model.semantics.lifecycle import live_pods
from kubesteward.model.semantics.selectors import format_selector

# Kinds an HPA commonly targets that the model holds (others, e.g. Argo Rollouts, are not checked).
_SCALABLE = ("Deployment", "StatefulSet", "ReplicaSet")


# --------------------------------------------------------------------------- HPA


@analyzer(codes=[KS601, KS602, KS603, KS604], requires=["HorizontalPodAutoscaler"])
def horizontal_pod_autoscalers(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for hpa in in_service(model, model.hpas):
        ns = hpa.metadata.namespace
        ref = hpa.spec.scaleTargetRef
        target_key = ObjectKey(ref.kind, ns, ref.name)
        if ref.kind in KIND_ATTRS and model.has(ref.kind, ns) and model.get(*target_key) is None:
            yield _target_missing(model, settings, hpa, target_key)
            continue  # its conditions only repeat FailedGetScale
        target = model.get(*target_key)
        pods = live_pods(workload_pods(model, target)) if target is not None else []
        related = [target_key, *pod_keys(pods)]
        broken = _missing_requests(model, settings, hpa, target, pods, related) or _failing(model, settings, hpa, related)
        if broken is not None:
            yield broken
        pinned = _pinned(model, settings, hpa, related)
        if pinned is not None:
            yield pinned


def _target_missing(model: ClusterModel, settings: CheckSettings, hpa: o.HorizontalPodAutoscaler, target: ObjectKey) -> Finding:
    return finding(
        KS601,
        key_of(hpa),
        f"scale target {target.kind}/{target.name} does not exist",
        evidence={
            "target": f"{target.kind}/{target.name}",
            "conditions": _condition_lines(hpa, "AbleToScale"),
            "events": event_lines(model, hpa, settings.evidence_events),
        },
        fill={"target_kind": target.kind.lower()},
        cause=target,
    )


def _condition_lines(hpa: o.HorizontalPodAutoscaler, *types: str) -> list[str]:
    return [
        f"{c.type}={c.status} {c.reason}: {c.message}".rstrip(": ")
        for c in hpa.status.conditions or ()
        if c.type in types
    ]


def _settled(model: ClusterModel, settings: CheckSettings, cond: o.Condition) -> bool:
    """The condition has held long enough to be more than metrics lag or a burst."""
    age = model.age_seconds(cond.lastTransitionTime)
    return age is None or age >= settings.hpa_condition_seconds


def _failing(
    model: ClusterModel, settings: CheckSettings, hpa: o.HorizontalPodAutoscaler, related: list[ObjectKey]
) -> Finding | None:
    conds = hpa.status.conditions
    able = condition(conds, "AbleToScale")
    active = condition(conds, "ScalingActive")
    if able is not None and able.status == "False":
        bad = able
    elif active is not None and active.status == "False" and active.reason != "ScalingDisabled":
        bad = active
    else:
        return None
    if not _settled(model, settings, bad):
        return None
    return finding(
        KS602,
        key_of(hpa),
        f"{bad.type}=False {bad.reason}: {bad.message}",
        evidence={
            "reason": bad.reason,
            "message": bad.message,
            "target": f"{hpa.spec.scaleTargetRef.kind}/{hpa.spec.scaleTargetRef.name}",
            "current_replicas": hpa.status.currentReplicas,
            "metrics": _metric_names(hpa),
            "events": event_lines(model, hpa, settings.evidence_events),
        },
        related=related,
    )


def _pinned(
    model: ClusterModel, settings: CheckSettings, hpa: o.HorizontalPodAutoscaler, related: list[ObjectKey]
) -> Finding | None:
    limited = condition(hpa.status.conditions, "ScalingLimited")
    if limited is None or limited.status != "True" or limited.reason != "TooManyReplicas":
        return None
    if hpa.status.currentReplicas < hpa.spec.maxReplicas or not _settled(model, settings, limited):
        return None
    return finding(
        KS603,
        key_of(hpa),
        f"at maxReplicas {hpa.spec.maxReplicas} and wants {hpa.status.desiredReplicas or 'more'}: {limited.message}",
        evidence={
            "current_replicas": hpa.status.currentReplicas,
            "desired_replicas": hpa.status.desiredReplicas,
            "min_replicas": hpa.spec.minReplicas or 1,
            "max_replicas": hpa.spec.maxReplicas,
            "metrics": _metric_names(hpa),
            "since": limited.lastTransitionTime,
        },
        related=related,
    )


def _metric_names(hpa: o.HorizontalPodAutoscaler) -> list[str]:
    out = []
    for metric in hpa.spec.metrics or ():
        source = metric.resource or metric.containerResource
        out.append(f"{metric.type}/{source.name}" if source is not None else metric.type)
    return out


def _target_containers(target: Any, pods: Sequence[o.Pod]) -> tuple[str, list[o.Container]]:
    """Containers whose requests the HPA will read: a live pod's (LimitRange defaults
    included), else the pod template's. Pods of one revision share requests, so one pod
    per template stands for all of them."""
    if pods:
        newest = max(pods, key=lambda p: p.metadata.creationTimestamp or "")
        return f"pod {newest.metadata.name}", list(newest.spec.containers)
    template = getattr(getattr(target, "spec", None), "template", None)
    if isinstance(template, o.PodTemplate):
        return "pod template", list(template.spec.containers)
    return "", []


def _missing_requests(
    model: ClusterModel,
    settings: CheckSettings,
    hpa: o.HorizontalPodAutoscaler,
    target: Any,
    pods: Sequence[o.Pod],
    related: list[ObjectKey],
) -> Finding | None:
    active = condition(hpa.status.conditions, "ScalingActive")
    if target is None or (active is not None and active.status == "True"):
        return None  # no target to read, or the HPA computes utilization fine
    source, containers = _target_containers(target, pods)
    missing: list[str] = []
    resources: list[str] = []
    for resource, only in utilization_resources(hpa):
        for container in containers:
            if only and container.name != only:
                continue
            requests = (container.resources.requests if container.resources else None) or {}
            if resource not in requests:
                missing.append(f"{container.name} ({resource})")
                resources.append(resource)
    if not missing:
        return None
    ref = hpa.spec.scaleTargetRef
    return finding(
        KS604,
        key_of(hpa),
        f"scales on {'/'.join(sorted(set(resources)))} utilization but {ref.kind}/{ref.name} "
        f"has no request for it in container(s) {', '.join(missing)} ({source})",
        evidence={
            "target": f"{ref.kind}/{ref.name}",
            "containers": missing,
            "source": source,
            "conditions": _condition_lines(hpa, "ScalingActive"),
            "events": event_lines(model, hpa, settings.evidence_events),
        },
        fill={"target": f"{ref.kind.lower()}/{ref.name}", "container": missing[0].split(" ", 1)[0]},
        cause=key_of(target),
        related=related,
    )


# --------------------------------------------------------------------------- PDB


@analyzer(codes=[KS605, KS606, KS607], requires=["PodDisruptionBudget"])
def pod_disruption_budgets(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for pdb in in_service(model, model.pdbs):
        ns = pdb.metadata.namespace
        st = pdb.status
        pods = model.select_pods(ns, pdb.spec.selector) if model.has("Pod", ns) else None
        if st.expectedPods > 0 and st.disruptionsAllowed <= 0:
            found = _blocked(model, settings, pdb, pods or [])
            if found is not None:
                yield found
        elif pods is not None and not pods:
            yield finding(
                KS607,
                key_of(pdb),
                f"selector {format_selector(pdb.spec.selector)} matches no pod in {ns}",
                evidence={"selector": format_selector(pdb.spec.selector)},
            )


def _budget(pdb: o.PodDisruptionBudget) -> str:
    spec = pdb.spec
    if spec.minAvailable is not None:
        return f"minAvailable {spec.minAvailable}"
    if spec.maxUnavailable is not None:
        return f"maxUnavailable {spec.maxUnavailable}"
    return "no minAvailable/maxUnavailable"


def _blocked(model: ClusterModel, settings: CheckSettings, pdb: o.PodDisruptionBudget, pods: list[o.Pod]) -> Finding | None:
    st = pdb.status
    evidence: dict[str, Any] = {
        "min_available": pdb.spec.minAvailable,
        "max_unavailable": pdb.spec.maxUnavailable,
        "expected_pods": st.expectedPods,
        "current_healthy": st.currentHealthy,
        "desired_healthy": st.desiredHealthy,
        "disruptions_allowed": st.disruptionsAllowed,
        "selector": format_selector(pdb.spec.selector),
    }
    live = live_pods(pods)
    if st.desiredHealthy >= st.expectedPods:
        return finding(
            KS605,
            key_of(pdb),
            f"{_budget(pdb)} requires all {st.expectedPods} expected pods healthy: "
            "no eviction is ever allowed, node drains will block",
            evidence=evidence,
            fill=_scale_fill(model, live, st.expectedPods + 1),
            related=pod_keys(live),
        )
    problems = pod_problems(live)
    allowed = condition(st.conditions, "DisruptionAllowed")
    long_blocked = allowed is not None and allowed.status == "False" and _older(model, allowed, settings.pod_not_ready_seconds)
    if not (overdue(model, settings, problems) or long_blocked):
        return None  # pods are starting or rolling: a momentary zero
    evidence["pods"] = describe_pods(problems, len(live))
    return finding(
        KS606,
        key_of(pdb),
        f"{st.currentHealthy}/{st.desiredHealthy} required pods healthy ({_budget(pdb)}), so no eviction is allowed"
        + (f": {evidence['pods']}" if evidence["pods"] else ""),
        evidence=evidence,
        cause=_common_root(model, [p.pod for p in problems]),
        related=pod_keys(live),
    )


def _scale_fill(model: ClusterModel, pods: Sequence[o.Pod], replicas: int) -> dict[str, str]:
    """The workload to scale (owning most of the pods) and to how many replicas."""
    root = _common_root(model, pods)
    if root is None or root.kind not in _SCALABLE:
        return {}
    return {"workload": f"{root.kind.lower()}/{root.name}", "replicas": str(replicas)}


def _older(model: ClusterModel, cond: o.Condition, seconds: float) -> bool:
    age = model.age_seconds(cond.lastTransitionTime)
    return age is not None and age >= seconds


def _common_root(model: ClusterModel, pods: Sequence[o.Pod]) -> ObjectKey | None:
    """The workload owning most of the unhealthy pods (what their own findings group under)."""
    roots = Counter(model.root_key(p) for p in pods)
    return roots.most_common(1)[0][0] if roots else None


@analyzer(codes=[KS608], requires=["PodDisruptionBudget", "Pod"])
def overlapping_budgets(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    by_namespace: dict[str, list[o.PodDisruptionBudget]] = {}
    for pdb in in_service(model, model.pdbs):
        by_namespace.setdefault(pdb.metadata.namespace, []).append(pdb)
    for ns, budgets in sorted(by_namespace.items()):
        if len(budgets) < 2:
            continue
        covering: dict[ObjectKey, list[str]] = {}
        for pdb in budgets:
            for pod in live_pods(model.select_pods(ns, pdb.spec.selector)):
                covering.setdefault(key_of(pod), []).append(pdb.metadata.name)
        groups: dict[tuple[str, ...], list[ObjectKey]] = {}
        for pod_key, covered_by in covering.items():
            if len(covered_by) > 1:
                groups.setdefault(tuple(sorted(covered_by)), []).append(pod_key)
        for names, pods in sorted(groups.items()):
            yield finding(
                KS608,
                ObjectKey("PodDisruptionBudget", ns, names[0]),
                f"{len(pods)} pods are selected by {len(names)} budgets ({', '.join(names)}): evictions of them always fail",
                evidence={"budgets": list(names), "pods": len(pods)},
                related=[ObjectKey("PodDisruptionBudget", ns, n) for n in names[1:]] + sorted(pods),
            )
