"""Autoscaling and disruption analyzers (KS6xx) against the real control plane.

The real HPA controller reads real metrics (metrics-server scraping KWOK's
simulated usage, set per pod by the ``kwok.x-k8s.io/usage-cpu`` annotation);
the real disruption controller computes PDB status from real pods.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.findings import Severity
from kubesteward.model.cluster import ObjectKey
from kubesteward.sandbox.faults import FAULT_LABEL, USAGE_CPU_ANNOTATION
from tests.support.diagnosis import codes_for, diagnose, found, only, until
from tests.support.wait import eventually

Obj = dict[str, Any]


def resource_type(api_version: str, kind: str) -> ResourceType:
    found = resources.builtin(api_version, kind)
    assert found is not None, kind
    return found


HPA = resource_type("autoscaling/v2", "HorizontalPodAutoscaler")
TOLERATE_KWOK = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
# The HPA checks judge conditions at once here; the default grace (120s) is unit-tested.
NO_GRACE = CheckSettings(hpa_condition_seconds=0)


def deployment(name: str, replicas: int = 2, *, cpu_request: str | None = "100m", usage: str | None = None,
               fault: str | None = None) -> Obj:
    resources_: Obj = {"requests": {"cpu": cpu_request}} if cpu_request else {}
    labels = {"app": name, **({FAULT_LABEL: fault} if fault else {})}
    annotations = {USAGE_CPU_ANNOTATION: usage} if usage else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "tolerations": TOLERATE_KWOK,
                    "containers": [{"name": "app", "image": f"registry.example.com/shop/{name}:1.0", "resources": resources_}],
                },
            },
        },
    }


def hpa(name: str, target: str, *, max_replicas: int = 5, metrics: list[Obj] | None = None) -> Obj:
    cpu = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": max_replicas,
            "metrics": metrics or [cpu],
        },
    }


def pdb(name: str, app: str, **budget: Any) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}}, **budget},
    }


def condition(obj: Obj, type_: str) -> Obj:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == type_:
            result: Obj = cond
            return result
    return {}


async def test_hpa_problems_and_a_healthy_hpa(kube: KubeClient, namespace: str) -> None:
    external = [{"type": "External", "external": {"metric": {"name": "queue_depth"}, "target": {"type": "Value", "value": "10"}}}]
    for obj in (
        hpa("ghost", "no-such-deployment"),
        deployment("norequests", cpu_request=None),
        hpa("norequests", "norequests"),
        deployment("busy", replicas=1, usage="900m"),
        hpa("busy", "busy", max_replicas=2),
        deployment("queue", replicas=1),
        hpa("queue", "queue", metrics=external),
        deployment("calm", replicas=1, usage="10m"),
        hpa("calm", "calm"),
    ):
        await kube.create(obj, namespace=namespace)

    report = await until(
        kube, namespace,
        {("KS601", "ghost"), ("KS604", "norequests"), ("KS602", "queue"), ("KS603", "busy")},
        settings=NO_GRACE,
    )

    ghost = only(report, "KS601", "ghost")[0]
    assert ghost.cause == ObjectKey("Deployment", namespace, "no-such-deployment")
    assert codes_for(report, "HorizontalPodAutoscaler", "ghost") == {"KS601"}

    norequests = only(report, "KS604", "norequests")[0]
    assert norequests.cause == ObjectKey("Deployment", namespace, "norequests")
    assert norequests.evidence["containers"] == ["app (cpu)"]
    assert codes_for(report, "HorizontalPodAutoscaler", "norequests") == {"KS604"}  # not also KS602

    queue = only(report, "KS602", "queue")[0]
    assert queue.evidence["reason"] == "FailedGetExternalMetric"
    assert queue.severity is Severity.ERROR

    busy = only(report, "KS603", "busy")[0]
    assert busy.severity is Severity.WARNING
    assert busy.evidence["current_replicas"] == 2 and busy.evidence["max_replicas"] == 2

    # The healthy HPA: once it computes its metric it has headroom and says nothing.
    await eventually(
        lambda: kube.get(HPA, "calm", namespace),
        lambda obj: condition(obj, "ScalingActive").get("status") == "True",
        timeout=60,
        what="the calm HPA to read its metrics",
    )
    report = await diagnose(kube, namespace, settings=NO_GRACE)
    assert codes_for(report, "HorizontalPodAutoscaler", "calm") == set()

    # With the default grace (hpa_condition_seconds=120) a limit reached moments ago is a burst.
    limited = condition(await kube.get(HPA, "busy", namespace), "ScalingLimited")
    since = dt.datetime.fromisoformat(limited["lastTransitionTime"].replace("Z", "+00:00"))
    report = await diagnose(kube, namespace)
    if (dt.datetime.now(dt.UTC) - since).total_seconds() < CheckSettings().hpa_condition_seconds - 5:
        assert codes_for(report, "HorizontalPodAutoscaler", "busy") == set()


async def test_pdb_problems_and_a_healthy_pdb(kube: KubeClient, namespace: str) -> None:
    for obj in (
        deployment("strict"),
        pdb("strict", "strict", minAvailable=2),
        deployment("crashy", fault="crashloop-error"),
        pdb("crashy", "crashy", minAvailable=1),
        deployment("api"),
        pdb("api", "api", maxUnavailable=1),
        pdb("orphan", "nothing-has-this-label", maxUnavailable=1),
        deployment("shared"),
        pdb("shared-a", "shared", maxUnavailable=1),
        pdb("shared-b", "shared", minAvailable=1),
    ):
        await kube.create(obj, namespace=namespace)

    report = await until(
        kube,
        namespace,
        {("KS605", "strict"), ("KS606", "crashy"), ("KS607", "orphan"), ("KS608", "shared-a")},
        # Both "shared" pods exist (the ReplicaSet creates them one API call at a time).
        settled=lambda r: any(f.code == "KS608" and f.evidence["pods"] == 2 for f in r.findings),
    )

    strict = only(report, "KS605", "strict")[0]
    assert strict.evidence["min_available"] == 2 and strict.evidence["expected_pods"] == 2
    assert strict.evidence["disruptions_allowed"] == 0
    assert len(strict.related) == 2 and all(k.name.startswith("strict-") for k in strict.related)

    crashy = only(report, "KS606", "crashy")[0]
    assert crashy.cause == ObjectKey("Deployment", namespace, "crashy")
    assert "CrashLoopBackOff (exit 1)" in crashy.evidence["pods"]
    assert crashy.evidence["current_healthy"] == 0

    assert only(report, "KS607", "orphan")[0].severity is Severity.INFO
    shared = only(report, "KS608", "shared-a")[0]
    assert shared.evidence["budgets"] == ["shared-a", "shared-b"] and shared.evidence["pods"] == 2

    # The healthy budget, once the disruption controller has counted its pods, is silent.
    report = await eventually(
        lambda: diagnose(kube, namespace),
        lambda r: ("KS605", "strict") in found(r) and not codes_for(r, "PodDisruptionBudget", "api"),
        timeout=60,
        interval=2.0,
        what="the healthy PDB to be silent",
    )
    assert codes_for(report, "PodDisruptionBudget", "api") == set()
