"""Autoscaling and disruption analyzers (KS6xx) on models built from kubectl-style JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubesteward.findings import Finding, Severity
from kubesteward.model.cluster import ObjectKey
from tests.support.offline import only_one, pairs, run_codes

NOW = dt.datetime(2025, 1, 10, 12, 0, 0, tzinfo=dt.UTC)
NS = "shop"
Obj = dict[str, Any]


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cond(type_: str, status: str, reason: str = "", message: str = "", since: float = 3600) -> Obj:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": ago(since)}


def meta(name: str, kind: str, owner: Obj | None = None, **extra: Any) -> Obj:
    out: Obj = {"name": name, "namespace": NS, "uid": f"uid-{kind}-{name}", "creationTimestamp": ago(86400), **extra}
    if owner is not None:
        out["ownerReferences"] = [
            {"kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": True}
        ]
    return out


def container(name: str = "app", requests: Obj | None = None) -> Obj:
    return {"name": name, "image": "shop/api:1", "resources": {"requests": requests} if requests else {}}


def deployment(name: str = "web", replicas: int = 3, containers: list[Obj] | None = None) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, "Deployment"),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers or [container(requests={"cpu": "100m"})]}},
        },
        "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "updatedReplicas": replicas,
                   "conditions": [cond("Available", "True")]},
    }


def replicaset(dep: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta(f"{dep['metadata']['name']}-abc", "ReplicaSet", dep),
            "spec": {"replicas": dep["spec"]["replicas"]}}


def pod(name: str, owner: Obj | None, *, labels: Obj | None = None, ready: bool = True, containers: list[Obj] | None = None,
        crash: bool = False) -> Obj:
    ready = ready and not crash
    status: Obj = {"phase": "Running", "conditions": [cond("Ready", "True" if ready else "False", since=60)],
                   "containerStatuses": [{"name": "app", "ready": ready, "state": {"running": {}}}]}
    if crash:
        status["containerStatuses"] = [{"name": "app", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta(name, "Pod", owner, labels=labels or {"app": "web"}),
            "spec": {"nodeName": "node-1", "containers": containers or [container(requests={"cpu": "100m"})]}, "status": status}


def hpa(
    name: str = "web",
    *,
    target: str = "web",
    kind: str = "Deployment",
    metrics: list[Obj] | None = None,
    conditions: list[Obj] | None = None,
    current: int = 2,
    desired: int = 2,
    max_replicas: int = 5,
) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(name, "HPA"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": metrics if metrics is not None else [cpu_utilization()],
        },
        "status": {
            "currentReplicas": current,
            "desiredReplicas": desired,
            "conditions": conditions
            if conditions is not None
            else [
                cond("AbleToScale", "True", "ReadyForNewScale"),
                cond("ScalingActive", "True", "ValidMetricFound"),
                cond("ScalingLimited", "False", "DesiredWithinRange"),
            ],
        },
    }


def cpu_utilization(resource: str = "cpu", target_type: str = "Utilization") -> Obj:
    target: Obj = {"type": target_type}
    if target_type == "Utilization":
        target["averageUtilization"] = 80
    else:
        target["averageValue"] = "200m"
    return {"type": "Resource", "resource": {"name": resource, "target": target}}


def pdb(name: str = "web", *, selector: Obj | None = None, min_available: Any = None, max_unavailable: Any = None,
        expected: int = 3, healthy: int = 3, desired: int = 2, allowed: int = 1, since: float = 3600) -> Obj:
    spec: Obj = {"selector": selector if selector is not None else {"matchLabels": {"app": "web"}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    reason = "SufficientPods" if allowed > 0 else "InsufficientPods"
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name, "PDB"),
        "spec": spec,
        "status": {"expectedPods": expected, "currentHealthy": healthy, "desiredHealthy": desired, "disruptionsAllowed": allowed,
                   "conditions": [cond("DisruptionAllowed", "True" if allowed > 0 else "False", reason, since=since)]},
    }


def diagnose(objects: list[Obj], **thresholds: Any) -> list[Finding]:
    return run_codes(objects, "KS6*", NOW, **thresholds)


codes = pairs
one = only_one


def healthy_web() -> list[Obj]:
    dep = deployment()
    rs = replicaset(dep)
    return [dep, rs, *(pod(f"web-abc-{i}", rs) for i in range(3))]


# --------------------------------------------------------------------------- HPA


def test_hpa_with_headroom_is_silent() -> None:
    assert diagnose([*healthy_web(), hpa()]) == []


def test_hpa_target_missing_when_the_kind_was_loaded() -> None:
    findings = diagnose([deployment("api"), hpa(target="web")])
    found = one(findings, "KS601")
    assert codes(findings) == [("KS601", "web")]
    assert found.cause == ObjectKey("Deployment", NS, "web")
    assert found.evidence["target"] == "Deployment/web"


def test_hpa_target_of_an_unloaded_kind_is_not_called_missing() -> None:
    # No StatefulSet was loaded (e.g. RBAC), so "not found" proves nothing.
    assert diagnose([deployment("api"), hpa(target="db", kind="StatefulSet")]) == []


def test_hpa_on_pods_without_cpu_requests() -> None:
    dep = deployment(containers=[container("app"), container("sidecar", {"cpu": "10m"})])
    rs = replicaset(dep)
    pods = [pod(f"web-abc-{i}", rs, containers=[container("app"), container("sidecar", {"cpu": "10m"})]) for i in range(2)]
    conditions = [
        cond("AbleToScale", "True", "SucceededGetScale"),
        cond("ScalingActive", "False", "FailedGetResourceMetric",
             "the HPA was unable to compute the replica count: failed to get cpu utilization: missing request for cpu in container app of Pod web-abc-0",
             since=30),
    ]
    findings = diagnose([dep, rs, *pods, hpa(conditions=conditions)])
    assert codes(findings) == [("KS604", "web")]  # not also KS602: this is the reason it fails
    found = findings[0]
    assert found.cause == ObjectKey("Deployment", NS, "web")
    assert found.evidence["containers"] == ["app (cpu)"]
    assert found.evidence["source"].startswith("pod web-abc-")
    assert ObjectKey("Pod", NS, "web-abc-0") in found.related


def test_hpa_requests_are_read_from_the_template_when_there_are_no_pods() -> None:
    dep = deployment(containers=[container("app", {"cpu": "100m"})])
    found = one(diagnose([dep, hpa(metrics=[cpu_utilization("memory")], conditions=[])]), "KS604")
    assert found.evidence == {**found.evidence, "containers": ["app (memory)"], "source": "pod template"}


def test_hpa_requests_defaulted_into_pods_by_a_limitrange_are_enough() -> None:
    dep = deployment(containers=[container("app")])
    rs = replicaset(dep)
    assert diagnose([dep, rs, pod("web-abc-0", rs, containers=[container("app", {"cpu": "100m"})]), hpa(conditions=[])]) == []


def test_hpa_average_value_targets_do_not_need_requests() -> None:
    dep = deployment(containers=[container("app")])
    assert diagnose([dep, hpa(metrics=[cpu_utilization(target_type="AverageValue")], conditions=[])]) == []


def test_hpa_that_cannot_get_metrics_is_reported_after_the_grace_period() -> None:
    failing = [cond("AbleToScale", "True"), cond("ScalingActive", "False", "FailedGetExternalMetric",
                                                 "unable to get external metric shop/queue_depth: no metrics returned", since=600)]
    external = [{"type": "External", "external": {"metric": {"name": "queue_depth"}}}]
    found = one(diagnose([*healthy_web(), hpa(metrics=external, conditions=failing)]), "KS602")
    assert found.evidence["reason"] == "FailedGetExternalMetric"
    assert found.evidence["metrics"] == ["External"]
    assert "queue_depth" in found.message
    assert found.severity is Severity.ERROR
    # The same condition 30s old is metrics lag, not a finding.
    failing[1]["lastTransitionTime"] = ago(30)
    assert diagnose([*healthy_web(), hpa(metrics=external, conditions=failing)]) == []


def test_hpa_unable_to_update_scale() -> None:
    failing = [cond("AbleToScale", "False", "FailedUpdateScale", "forbidden: cannot update deployments/scale", since=900)]
    found = one(diagnose([*healthy_web(), hpa(conditions=failing)]), "KS602")
    assert found.evidence["reason"] == "FailedUpdateScale"


def test_hpa_of_a_workload_scaled_to_zero_is_silent() -> None:
    disabled = [cond("AbleToScale", "True"), cond("ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")]
    assert diagnose([*healthy_web(), hpa(conditions=disabled, current=0, desired=0)]) == []


def test_hpa_pinned_at_max() -> None:
    limited = [cond("AbleToScale", "True"), cond("ScalingActive", "True", "ValidMetricFound"),
               cond("ScalingLimited", "True", "TooManyReplicas", "the desired replica count is more than the maximum replica count", since=900)]
    found = one(diagnose([*healthy_web(), hpa(conditions=limited, current=5, desired=5)]), "KS603")
    assert found.severity is Severity.WARNING
    assert found.evidence["max_replicas"] == 5 and found.evidence["current_replicas"] == 5
    # At the minimum (TooFewReplicas) is normal; a fresh limit is a burst.
    limited[2].update(reason="TooFewReplicas")
    assert diagnose([*healthy_web(), hpa(conditions=limited, current=1, desired=1)]) == []
    limited[2].update(reason="TooManyReplicas", lastTransitionTime=ago(20))
    assert diagnose([*healthy_web(), hpa(conditions=limited, current=5, desired=5)]) == []


# --------------------------------------------------------------------------- PDB


def test_pdb_with_disruptions_allowed_is_silent() -> None:
    assert diagnose([*healthy_web(), pdb(max_unavailable=1)]) == []


def test_pdb_requiring_every_pod_blocks_drains_forever() -> None:
    findings = diagnose([*healthy_web(), pdb(min_available=3, desired=3, allowed=0)])
    found = one(findings, "KS605")
    assert found.severity is Severity.WARNING
    assert found.evidence["min_available"] == 3 and found.evidence["expected_pods"] == 3
    assert found.cause is None
    assert len(found.related) == 3
    assert "minAvailable 3" in found.message


def test_pdb_max_unavailable_zero_is_the_same_config_problem() -> None:
    found = one(diagnose([*healthy_web(), pdb(max_unavailable=0, desired=3, allowed=0)]), "KS605")
    assert found.evidence["max_unavailable"] == 0


def test_pdb_blocked_by_unhealthy_pods_points_at_their_workload() -> None:
    dep = deployment()
    rs = replicaset(dep)
    pods = [pod("web-abc-0", rs), pod("web-abc-1", rs, crash=True), pod("web-abc-2", rs, crash=True)]
    findings = diagnose([dep, rs, *pods, pdb(min_available=2, healthy=1, desired=2, allowed=0)])
    found = one(findings, "KS606")
    assert found.cause == ObjectKey("Deployment", NS, "web")
    assert found.evidence["pods"] == "2/3 pods CrashLoopBackOff (exit 1)"
    assert found.evidence["current_healthy"] == 1


def test_pdb_momentarily_blocked_during_a_rollout_is_silent() -> None:
    dep = deployment()
    rs = replicaset(dep)
    pods = [pod("web-abc-0", rs), pod("web-abc-1", rs), pod("web-abc-2", rs, ready=False)]  # unready 60s, not failing
    assert diagnose([dep, rs, *pods, pdb(min_available=3, expected=4, healthy=2, desired=3, allowed=0, since=30)]) == []


def test_pdb_selecting_no_pods_is_info() -> None:
    findings = diagnose([*healthy_web(), pdb(selector={"matchLabels": {"app": "wbe"}}, expected=0, healthy=0, desired=0, allowed=0)])
    found = one(findings, "KS607")
    assert found.severity is Severity.INFO
    assert found.evidence["selector"] == "app=wbe"


def test_pdb_selecting_nothing_is_not_judged_without_pods() -> None:
    assert diagnose([pdb(expected=0, healthy=0, desired=0, allowed=0)]) == []


def test_pods_covered_by_two_budgets() -> None:
    objects = [*healthy_web(), pdb("web-a", max_unavailable=1), pdb("web-b", selector={"matchExpressions": [{"key": "app", "operator": "Exists"}]})]
    found = one(diagnose(objects), "KS608")
    assert found.object == ObjectKey("PodDisruptionBudget", NS, "web-a")
    assert found.evidence == {"budgets": ["web-a", "web-b"], "pods": 3}
    assert ObjectKey("PodDisruptionBudget", NS, "web-b") in found.related


def test_budgets_in_a_terminating_namespace_are_not_judged() -> None:
    orphan = pdb(selector={"matchLabels": {"app": "gone"}}, expected=0, healthy=0, desired=0, allowed=0)
    namespace: Obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}, "status": {"phase": "Active"}}
    assert codes(diagnose([namespace, orphan, *healthy_web()])) == [("KS607", "web")]
    namespace["status"]["phase"] = "Terminating"
    assert diagnose([namespace, orphan, *healthy_web()]) == []
