"""evaluate_with_events: a model evaluated without events, then with the events the analyzers asked for."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from kubesteward.checks.engine import run_checks
from kubesteward.diagnosis import evaluate_with_events
from kubesteward.model.cluster import ClusterModel
from kubesteward.model.files import model_from_objects

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def statefulset(name: str, namespace: str) -> dict[str, Any]:
    # Three replicas wanted, none created: no pod is overdue, so only the controller's
    # FailedCreate events say that something is wrong.
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}}},
            "status": {"observedGeneration": 1, "replicas": 0, "readyReplicas": 0}}


def failed_create(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.1", "namespace": namespace},
            "involvedObject": {"kind": "StatefulSet", "namespace": namespace, "name": name, "uid": f"uid-{name}"},
            "type": "Warning", "reason": "FailedCreate", "lastTimestamp": "2026-11-22T11:59:00Z",
            "message": f'create Pod {name}-0 in StatefulSet {name} failed error: pods "{name}-0" is forbidden: exceeded quota'}


def crashing_pod(name: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "app:1"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "app", "ready": False, "restartCount": 5, "image": "app:1",
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "Error", "exitCode": 1,
                                             "finishedAt": "2026-11-22T11:58:00Z"}}}]}}


def back_off(pod: str, namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{pod}.1", "namespace": namespace},
            "involvedObject": {"kind": "Pod", "namespace": namespace, "name": pod, "uid": f"uid-{pod}"},
            "type": "Warning", "reason": "BackOff", "message": "Back-off restarting failed container",
            "count": 7, "lastTimestamp": "2026-11-22T11:59:30Z"}


OBJECTS = [
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
     "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    statefulset("db", "quota"), failed_create("db", "quota"),
    crashing_pod("api", "shop"), back_off("api", "shop"),
    {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "other.1", "namespace": "elsewhere"},
     "involvedObject": {"kind": "Pod", "namespace": "elsewhere", "name": "gone"}, "type": "Warning",
     "reason": "BackOff", "message": "about a pod nobody reports on"},
]


def without_events(model: ClusterModel) -> ClusterModel:
    bare = ClusterModel(now=model.now, loaded=model.loaded - {"Event"})
    for kind in ("Node", "StatefulSet", "Pod"):
        bare.add(kind, model.objects(kind))
    return bare


def test_events_are_listed_where_asked_and_the_findings_are_those_of_the_whole_model() -> None:
    whole, _ = model_from_objects(OBJECTS, now=NOW)
    expected = run_checks(whole).findings
    assert {(f.code, f.object.name) for f in expected} >= {("KS206", "db"), ("KS101", "api")}

    # Without its events, the StatefulSet looks like one still starting.
    assert ("KS206", "db") not in {(f.code, f.object.name) for f in run_checks(without_events(whole)).findings}

    bare = without_events(whole)
    asked: list[set[str]] = []

    async def list_events(where: set[str]) -> None:
        asked.append(set(where))
        bare.add("Event", [e for e in whole.events if e.metadata.namespace in where])
        bare.loaded.add("Event")

    result = asyncio.run(evaluate_with_events(bare, list_events))
    # Once, for the namespaces whose objects' events an analyzer read; never "elsewhere".
    assert asked == [{"quota", "shop"}]
    assert [(f.code, f.object, f.message, f.evidence) for f in result.findings] == [
        (f.code, f.object, f.message, f.evidence) for f in expected
    ]
    api = next(f for f in result.findings if f.object.name == "api")
    assert api.evidence["events"] == ["BackOff: Back-off restarting failed container (x7)"]


def test_a_namespace_diagnosis_reads_its_own_events_only() -> None:
    whole, _ = model_from_objects(OBJECTS, now=NOW)
    bare = without_events(whole)
    asked: list[set[str]] = []

    async def list_events(where: set[str]) -> None:
        asked.append(set(where))

    asyncio.run(evaluate_with_events(bare, list_events, namespace="shop"))
    assert asked == [{"shop"}]


def test_nothing_asked_nothing_listed() -> None:
    healthy, _ = model_from_objects(OBJECTS[:1], now=NOW)
    calls: list[set[str]] = []

    async def list_events(where: set[str]) -> None:
        calls.append(where)

    assert asyncio.run(evaluate_with_events(healthy, list_events)).findings == []
    assert calls == []
