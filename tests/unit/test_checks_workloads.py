"""Workload analyzers (KS2xx) on models built from kubectl-style JSON at a fixed time."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import pytest

from kubesteward.checks.engine import run_checks
from kubesteward.checks.workloads import CronSchedule, human_duration
from kubesteward.findings import Finding, Severity
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.files import model_from_objects
from tests.support.offline import only_one, pairs, run_codes

NOW = dt.datetime(2025, 1, 10, 12, 0, 0, tzinfo=dt.UTC)  # a Friday
NS = "shop"
Obj = dict[str, Any]


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cond(type_: str, status: str, reason: str = "", message: str = "", since: float = 3600) -> Obj:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": ago(since)}


def meta(name: str, kind: str, owner: Obj | None = None, created: float = 86400, **extra: Any) -> Obj:
    out: Obj = {"name": name, "namespace": NS, "uid": f"uid-{kind}-{name}", "creationTimestamp": ago(created), **extra}
    if owner is not None:
        out["ownerReferences"] = [
            {"kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"], "controller": True}
        ]
    return out


def template(requests: Obj | None = None) -> Obj:
    resources = {"requests": requests} if requests else {}
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "shop/api:1", "resources": resources}]}}


def deployment(
    name: str = "web",
    *,
    replicas: int | None = 3,
    ready: int = 3,
    available: int = 3,
    updated: int = 3,
    conditions: list[Obj] | None = None,
    paused: bool = False,
    generation: int = 1,
    observed: int = 1,
) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": name}}, "template": template(), "paused": paused}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name, "Deployment", generation=generation),
        "spec": spec,
        "status": {
            "observedGeneration": observed,
            "replicas": replicas or 0,
            "readyReplicas": ready,
            "availableReplicas": available,
            "updatedReplicas": updated,
            "conditions": conditions
            if conditions is not None
            else [cond("Available", "True", "MinimumReplicasAvailable"), cond("Progressing", "True", "NewReplicaSetAvailable")],
        },
    }


def replicaset(name: str, owner: Obj | None, *, revision: int = 1, replicas: int = 3, conditions: list[Obj] | None = None) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": meta(name, "ReplicaSet", owner, created=86400 - revision, annotations={"deployment.kubernetes.io/revision": str(revision)}),
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": 0, "conditions": conditions or []},
    }


def healthy_pod(name: str, owner: Obj | None, node: str = "node-1") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, "Pod", owner, labels={"app": "web"}),
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "shop/api:1"}]},
        "status": {
            "phase": "Running",
            "conditions": [cond("Ready", "True")],
            "containerStatuses": [{"name": "app", "ready": True, "state": {"running": {"startedAt": ago(3600)}}}],
        },
    }


def crashing_pod(name: str, owner: Obj | None, *, reason: str = "OOMKilled", exit_code: int = 137, node: str = "node-1") -> Obj:
    pod = healthy_pod(name, owner, node)
    pod["status"]["conditions"] = [cond("Ready", "False", "ContainersNotReady", since=60)]
    pod["status"]["containerStatuses"] = [
        {
            "name": "app",
            "ready": False,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
            "lastState": {"terminated": {"reason": reason, "exitCode": exit_code, "finishedAt": ago(30)}},
        }
    ]
    return pod


def waiting_pod(name: str, owner: Obj | None, reason: str, *, phase: str = "Pending", since: float = 60) -> Obj:
    pod = healthy_pod(name, owner)
    pod["metadata"]["creationTimestamp"] = ago(since)
    pod["status"]["phase"] = phase
    pod["status"]["conditions"] = [cond("Ready", "False", "ContainersNotReady", since=since)]
    pod["status"]["containerStatuses"] = [{"name": "app", "ready": False, "state": {"waiting": {"reason": reason}}}]
    return pod


def unready_pod(name: str, owner: Obj | None, *, since: float, node: str = "node-1") -> Obj:
    pod = healthy_pod(name, owner, node)
    pod["status"]["conditions"] = [cond("Ready", "False", "ContainersNotReady", since=since)]
    pod["status"]["containerStatuses"][0]["ready"] = False
    return pod


def event(obj: Obj, reason: str, message: str, count: int = 1) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{obj['metadata']['name']}.{reason.lower()}", "namespace": NS},
        "involvedObject": {"kind": obj["kind"], "name": obj["metadata"]["name"], "namespace": NS, "uid": obj["metadata"]["uid"]},
        "reason": reason,
        "message": message,
        "type": "Warning",
        "count": count,
        "lastTimestamp": ago(30),
    }


def diagnose(objects: list[Obj], **thresholds: Any) -> list[Finding]:
    return run_codes(objects, "KS2*", NOW, **thresholds)


codes = pairs
one = only_one


def pod_key(name: str) -> ObjectKey:
    return ObjectKey("Pod", NS, name)


# --------------------------------------------------------------------------- deployments


def test_available_deployment_is_silent() -> None:
    dep = deployment()
    rs = replicaset("web-abc", dep)
    assert diagnose([dep, rs, *(healthy_pod(f"web-abc-{i}", rs) for i in range(3))]) == []


def test_scaled_to_zero_deployment_is_silent() -> None:
    dep = deployment(replicas=0, ready=0, available=0, updated=0, conditions=[cond("Available", "True")])
    assert diagnose([dep]) == []


def test_crashlooping_deployment_is_unavailable_with_pod_summary() -> None:
    dep = deployment(
        ready=0,
        available=0,
        conditions=[
            cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", since=90),
            cond("Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "web-abc" is progressing.'),
        ],
    )
    rs = replicaset("web-abc", dep)
    pods = [crashing_pod(f"web-abc-{i}", rs) for i in range(3)]
    found = one(diagnose([dep, rs, *pods]), "KS201")
    assert found.object == ObjectKey("Deployment", NS, "web")
    assert found.severity is Severity.ERROR
    assert found.evidence["pods"] == "3/3 pods CrashLoopBackOff (OOMKilled)"
    assert found.evidence["desired"] == 3 and found.evidence["available"] == 0 and found.evidence["ready"] == 0
    assert found.evidence["replica_set"] == "web-abc"
    assert "Available=False MinimumReplicasUnavailable: Deployment does not have minimum availability." in found.evidence["conditions"]
    assert found.related == [pod_key(f"web-abc-{i}") for i in range(3)]
    assert found.cause is None
    assert "0/3 replicas available" in found.message


def test_deployment_whose_pods_are_still_starting_is_silent() -> None:
    dep = deployment(ready=0, available=0, conditions=[cond("Available", "False", "MinimumReplicasUnavailable", since=20)])
    rs = replicaset("web-abc", dep)
    pods = [waiting_pod(f"web-abc-{i}", rs, "ContainerCreating", since=20) for i in range(3)]
    assert diagnose([dep, rs, *pods]) == []


def test_deployment_unready_past_grace_is_unavailable() -> None:
    dep = deployment(ready=0, available=0, conditions=[cond("Available", "False", "MinimumReplicasUnavailable", since=200)])
    rs = replicaset("web-abc", dep)
    pods = [unready_pod(f"web-abc-{i}", rs, since=200) for i in range(3)]
    assert diagnose([dep, rs, *pods]) == []  # 200s < pod_not_ready_seconds (300)
    found = one(diagnose([dep, rs, *pods], pod_not_ready_seconds=100), "KS201")
    assert found.evidence["pods"] == "3/3 pods Running, not ready"


def test_deployment_condition_false_for_long_without_pods_is_unavailable() -> None:
    dep = deployment(ready=0, available=0, conditions=[cond("Available", "False", "MinimumReplicasUnavailable", since=3600)])
    found = one(diagnose([dep]), "KS201")
    assert found.related == []


def test_unavailable_pods_on_one_not_ready_node_point_at_the_node() -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node-9", "uid": "uid-node-9"},
        "status": {"conditions": [cond("Ready", "Unknown", "NodeStatusUnknown")]},
    }
    dep = deployment(ready=0, available=0, conditions=[cond("Available", "False", "MinimumReplicasUnavailable", since=900)])
    rs = replicaset("web-abc", dep)
    pods = [unready_pod(f"web-abc-{i}", rs, since=900, node="node-9") for i in range(3)]
    found = one(diagnose([node, dep, rs, *pods]), "KS201")
    assert found.cause == ObjectKey("Node", "", "node-9")


def test_progress_deadline_exceeded_while_old_replicas_serve_is_a_warning() -> None:
    dep = deployment(
        ready=3,
        available=3,
        updated=1,
        conditions=[
            cond("Available", "True", "MinimumReplicasAvailable"),
            cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "web-new" has timed out progressing.'),
        ],
    )
    old = replicaset("web-old", dep, revision=1)
    new = replicaset("web-new", dep, revision=2, replicas=1)
    pods = [healthy_pod(f"web-old-{i}", old) for i in range(3)] + [waiting_pod("web-new-0", new, "ImagePullBackOff")]
    found = one(diagnose([dep, old, new, *pods]), "KS202")
    assert found.severity is Severity.WARNING
    assert found.evidence["replica_set"] == "web-new"
    assert found.evidence["pods"] == "1/1 pods ImagePullBackOff"
    assert found.evidence["progress_deadline_seconds"] == 600
    assert "web-new" in found.message and "1/3 updated" in found.message
    assert len(found.related) == 4


def test_progress_deadline_exceeded_and_unavailable_is_an_error_reported_once() -> None:
    dep = deployment(
        ready=0,
        available=0,
        updated=2,
        conditions=[
            cond("Available", "False", "MinimumReplicasUnavailable"),
            cond("Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "web-abc" has timed out progressing.'),
        ],
    )
    dep["spec"]["progressDeadlineSeconds"] = 5
    rs = replicaset("web-abc", dep, replicas=2)
    findings = diagnose([dep, rs, crashing_pod("web-abc-0", rs), crashing_pod("web-abc-1", rs, reason="Error", exit_code=1)])
    assert codes(findings) == [("KS202", "web")]
    assert findings[0].severity is Severity.ERROR
    assert findings[0].evidence["progress_deadline_seconds"] == 5
    assert "1/2 pods CrashLoopBackOff (OOMKilled)" in findings[0].evidence["pods"]
    assert "1/2 pods CrashLoopBackOff (exit 1)" in findings[0].evidence["pods"]


def test_replica_failure_from_quota_is_reported_on_the_deployment() -> None:
    dep = deployment(ready=1, available=1, conditions=[cond("Available", "False", "MinimumReplicasUnavailable")])
    message = 'pods "web-abc-x" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=1, limited: pods=1'
    rs = replicaset("web-abc", dep, conditions=[cond("ReplicaFailure", "True", "FailedCreate", message)])
    objects = [dep, rs, healthy_pod("web-abc-0", rs), event(rs, "FailedCreate", f"Error creating: {message}", count=7)]
    findings = diagnose(objects)
    assert codes(findings) == [("KS204", "web")]
    found = findings[0]
    assert found.object == ObjectKey("Deployment", NS, "web")
    assert found.evidence["reason"] == "FailedCreate"
    assert found.evidence["message"] == message
    assert found.evidence["replica_set"] == "web-abc"
    assert found.evidence["events"] == [f"FailedCreate: Error creating: {message} (x7)"]
    assert "exceeded quota" in found.message


def test_replica_failure_on_a_standalone_replicaset_is_reported_on_it() -> None:
    rs = replicaset("batch", None, conditions=[cond("ReplicaFailure", "True", "FailedCreate", "forbidden: violates PodSecurity")])
    found = one(diagnose([rs]), "KS204")
    assert found.object == ObjectKey("ReplicaSet", NS, "batch")
    assert "violates PodSecurity" in found.message


def test_replicaset_of_a_loaded_deployment_is_not_reported_twice() -> None:
    dep = deployment(ready=2, available=2)
    rs = replicaset("web-abc", dep, conditions=[cond("ReplicaFailure", "True", "FailedCreate", "exceeded quota")])
    assert codes(diagnose([dep, rs])) == [("KS204", "web")]


def test_partly_ready_deployment_is_a_warning() -> None:
    dep = deployment(ready=2, available=2)
    rs = replicaset("web-abc", dep)
    pods = [healthy_pod("web-abc-0", rs), healthy_pod("web-abc-1", rs), crashing_pod("web-abc-2", rs, reason="Error", exit_code=1)]
    found = one(diagnose([dep, rs, *pods]), "KS203")
    assert found.severity is Severity.WARNING
    assert found.evidence["pods"] == "1/3 pods CrashLoopBackOff (exit 1)"
    assert found.message.startswith("2/3 replicas ready")


def test_rolling_update_with_a_young_pod_is_silent() -> None:
    dep = deployment(ready=2, available=2, updated=1, conditions=[cond("Available", "True"), cond("Progressing", "True", "ReplicaSetUpdated")])
    old = replicaset("web-old", dep, revision=1, replicas=2)
    new = replicaset("web-new", dep, revision=2, replicas=1)
    pods = [healthy_pod("web-old-0", old), healthy_pod("web-old-1", old), waiting_pod("web-new-0", new, "ContainerCreating", since=5)]
    assert diagnose([dep, old, new, *pods]) == []


def test_paused_deployment_mid_rollout_is_info_and_complete_one_is_silent() -> None:
    paused = deployment("half", ready=3, available=3, updated=1, paused=True)
    done = deployment("done", paused=True)
    findings = diagnose([paused, done])
    assert codes(findings) == [("KS205", "half")]
    assert findings[0].severity is Severity.INFO


def test_status_of_an_older_generation_is_not_judged() -> None:
    dep = deployment(ready=0, available=0, generation=3, observed=2, conditions=[cond("Available", "False", since=3600)])
    assert diagnose([dep]) == []


# --------------------------------------------------------------------------- statefulsets, daemonsets


def statefulset(name: str = "db", replicas: int = 3, ready: int = 3) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(name, "StatefulSet"),
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template()},
        "status": {"replicas": replicas, "readyReplicas": ready, "currentReplicas": replicas, "updatedReplicas": replicas},
    }


def test_ready_statefulset_is_silent() -> None:
    sts = statefulset()
    assert diagnose([sts, *(healthy_pod(f"db-{i}", sts) for i in range(3))]) == []


def headless(name: str, ns: str = NS) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {**meta(name, "Service"), "namespace": ns},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}}}


def governed(service: str) -> Obj:
    sts = statefulset()
    sts["spec"]["serviceName"] = service
    return sts


def test_statefulset_whose_governing_service_does_not_exist_is_reported() -> None:
    sts = governed("db-headless")
    pods = [healthy_pod(f"db-{i}", sts) for i in range(3)]
    found = one(diagnose([sts, *pods, headless("web")]), "KS214")
    assert found.object == ObjectKey("StatefulSet", NS, "db") and found.severity is Severity.WARNING
    assert found.cause == ObjectKey("Service", NS, "db-headless") and found.evidence == {"service": "db-headless"}
    assert "db-headless" in found.message and len(found.related) == 3
    assert "kubectl create service clusterip db-headless -n shop --clusterip=None" in found.remediation.text
    assert "kubectl set selector --local -f - app=db" in found.remediation.text
    assert "kubectl delete statefulset db -n shop --cascade=orphan" in found.remediation.text


def test_statefulset_governing_service_silent_when_it_exists_is_unnamed_or_could_not_be_listed() -> None:
    sts = governed("db-headless")
    assert diagnose([sts, headless("db-headless")]) == []
    assert diagnose([governed(""), headless("web")]) == []  # no serviceName: no per-pod DNS asked for
    assert diagnose([sts]) == []  # no Service listed at all: the check is skipped, not "missing"
    # Services listed only in another namespace (RBAC): "not found" there is not "missing" here.
    model, _ = model_from_objects([sts, headless("web", ns="other")], now=NOW)
    model.partial["Service"] = {"other"}
    assert [f.code for f in run_checks(model, only=["KS214"]).findings] == []
    model.partial["Service"] = {"other", NS}
    assert [f.code for f in run_checks(model, only=["KS214"]).findings] == ["KS214"]


def test_a_missing_governing_service_is_an_incident_apart_from_the_pods_trouble() -> None:
    sts = governed("db-headless")
    sts["status"]["readyReplicas"] = 0
    crashing = waiting_pod("db-0", sts, "CrashLoopBackOff", phase="Running", since=3600)
    model, _ = model_from_objects([sts, crashing, headless("web")], now=NOW)
    report = run_checks(model, only=["KS1*", "KS2*"])
    incidents = {i.root: sorted((f.code, f.object.name) for f in i.findings) for i in report.incidents}
    assert incidents == {
        ObjectKey("StatefulSet", NS, "db"): [("KS101", "db-0"), ("KS206", "db")],
        ObjectKey("Service", NS, "db-headless"): [("KS214", "db")],
    }


def test_explain_shows_the_governing_service_code() -> None:
    out = subprocess.run([sys.executable, "-m", "kubesteward", "explain", "KS214"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "KS214 StatefulSet's governing Service does not exist" in out.stdout
    assert "spec.serviceName" in out.stdout and "--clusterip=None" in out.stdout


def test_statefulset_stuck_on_an_unbound_claim_points_at_the_claim() -> None:
    sts = statefulset(ready=0)
    pod = waiting_pod("db-0", sts, "ContainerCreating", since=30)
    pod["status"] = {
        "phase": "Pending",
        "conditions": [cond("PodScheduled", "False", "Unschedulable", "pod has unbound immediate PersistentVolumeClaims", since=600)],
    }
    pod["spec"] = {"containers": [{"name": "db"}], "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("data-db-0", "PVC"), "status": {"phase": "Pending"}}
    # Unschedulable for 30s may be a claim being provisioned: within pod_pending_seconds, silent.
    assert diagnose([sts, pod, pvc]) == []
    pod["metadata"]["creationTimestamp"] = ago(600)
    found = one(diagnose([sts, pod, pvc]), "KS206")
    assert found.severity is Severity.ERROR
    assert found.cause == ObjectKey("PersistentVolumeClaim", NS, "data-db-0")
    assert found.evidence["pods"] == "1/1 pods Pending (Unschedulable)"
    assert "2 pods not created" in found.message
    assert found.related == [pod_key("db-0")]


def test_statefulset_waiting_on_a_claim_that_cannot_bind_is_reported_at_once() -> None:
    sts = statefulset(replicas=1, ready=0)
    pod = waiting_pod("db-0", sts, "ContainerCreating", since=15)
    pod["status"] = {"phase": "Pending", "conditions": [cond("PodScheduled", "False", "Unschedulable", since=15)]}
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]
    pvc: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta("data-db-0", "PVC"),
                "spec": {"storageClassName": "fast-ssd"}, "status": {"phase": "Pending"}}
    standard = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard"}, "provisioner": "x"}
    found = one(diagnose([sts, pod, pvc, standard]), "KS206")
    assert found.cause == ObjectKey("PersistentVolumeClaim", NS, "data-db-0")
    # The same claim while its (existing) StorageClass provisions a volume: still within the grace.
    pvc["spec"]["storageClassName"] = "standard"
    assert diagnose([sts, pod, pvc, standard]) == []


def test_statefulset_without_pods_is_reported_only_with_failed_create_events() -> None:
    sts = statefulset(ready=0)
    noise = event(sts, "RecreatingFailedPod", "StatefulSet shop/db is recreating failed Pod db-0")
    assert diagnose([sts, noise]) == []
    blocked = event(sts, "FailedCreate", 'create Pod db-0 in StatefulSet db failed error: pods "db-0" is forbidden: exceeded quota')
    found = one(diagnose([sts, noise, blocked]), "KS206")
    assert "3 pods not created" in found.message
    assert any(line.startswith("FailedCreate:") for line in found.evidence["events"])


def test_pod_without_conditions_but_ready_containers_is_healthy() -> None:
    sts = statefulset(replicas=1, ready=0)
    pod = healthy_pod("db-0", sts)
    del pod["status"]["conditions"]
    pod["metadata"]["creationTimestamp"] = ago(86400)
    assert diagnose([sts, pod]) == []


def test_partly_ready_statefulset_is_a_warning() -> None:
    sts = statefulset(ready=2)
    pods = [healthy_pod("db-0", sts), healthy_pod("db-1", sts), crashing_pod("db-2", sts)]
    found = one(diagnose([sts, *pods]), "KS206")
    assert found.severity is Severity.WARNING


def daemonset(name: str = "agent", desired: int = 3, ready: int = 3, unavailable: int = 0, misscheduled: int = 0) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta(name, "DaemonSet"),
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": {"spec": {"nodeSelector": {"pool": "edge"}, "containers": [{"name": "a"}]}}},
        "status": {
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": desired,
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": unavailable,
            "numberMisscheduled": misscheduled,
        },
    }


def node(name: str, labels: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"uid-{name}", "labels": labels},
            "status": {"conditions": [cond("Ready", "True")]}}


def test_ready_daemonset_is_silent() -> None:
    ds = daemonset()
    assert diagnose([ds, *(healthy_pod(f"agent-{i}", ds, node=f"node-{i}") for i in range(3))]) == []


def test_daemonset_with_a_crashing_pod_is_not_ready() -> None:
    ds = daemonset(ready=2, unavailable=1)
    pods = [healthy_pod("agent-0", ds, "node-0"), healthy_pod("agent-1", ds, "node-1"), crashing_pod("agent-2", ds, node="node-2")]
    found = one(diagnose([ds, *pods]), "KS207")
    assert found.severity is Severity.WARNING
    assert found.evidence["nodes"] == ["node-2"]
    assert found.evidence["pods"] == "1/3 pods CrashLoopBackOff (OOMKilled)"
    assert found.related == [pod_key("agent-0"), pod_key("agent-1"), pod_key("agent-2")]


def test_misscheduled_daemonset_pods_are_named() -> None:
    ds = daemonset(desired=1, ready=1, misscheduled=1)
    objects = [ds, node("node-0", {"pool": "edge"}), node("node-1", {"pool": "core"}),
               healthy_pod("agent-0", ds, "node-0"), healthy_pod("agent-1", ds, "node-1")]
    found = one(diagnose(objects), "KS208")
    assert found.evidence["nodes"] == ["node-1"]
    assert found.related == [pod_key("agent-1")]


# --------------------------------------------------------------------------- jobs


def job(name: str, *, outcome: str | None, owner: Obj | None = None, started: float = 600, failed: int = 0, succeeded: int = 0,
        reason: str = "BackoffLimitExceeded", backoff: int | None = 2) -> Obj:
    conditions = []
    if outcome == "failed":
        conditions = [cond("FailureTarget", "True", reason, "Job has reached the specified backoff limit"),
                      cond("Failed", "True", reason, "Job has reached the specified backoff limit")]
    elif outcome == "succeeded":
        conditions = [cond("SuccessCriteriaMet", "True", "CompletionsReached"), cond("Complete", "True", "CompletionsReached")]
    spec: Obj = {"template": template()}
    if backoff is not None:
        spec["backoffLimit"] = backoff
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(name, "Job", owner, created=started),
        "spec": spec,
        "status": {"startTime": ago(started), "failed": failed, "succeeded": succeeded, "conditions": conditions},
    }


def failed_pod(name: str, owner: Obj, exit_code: int, finished: float) -> Obj:
    pod = healthy_pod(name, owner)
    pod["spec"]["restartPolicy"] = "Never"
    pod["status"] = {
        "phase": "Failed",
        "containerStatuses": [{"name": "app", "state": {"terminated": {"reason": "Error", "exitCode": exit_code, "finishedAt": ago(finished)}}}],
    }
    return pod


def completed_pod(name: str, owner: Obj) -> Obj:
    pod = healthy_pod(name, owner)
    pod["status"] = {
        "phase": "Succeeded",
        "conditions": [cond("Ready", "False", "PodCompleted")],
        "containerStatuses": [{"name": "app", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}],
    }
    return pod


def test_completed_job_and_its_pods_are_silent() -> None:
    done = job("report", outcome="succeeded", succeeded=1)
    assert diagnose([done, completed_pod("report-x", done)]) == []


def test_failed_job_reports_counts_and_the_last_exit_code() -> None:
    failed = job("migrate", outcome="failed", failed=3)
    pods = [failed_pod("migrate-a", failed, 1, finished=500), failed_pod("migrate-b", failed, 2, finished=100)]
    found = one(diagnose([failed, *pods]), "KS209")
    assert found.severity is Severity.ERROR
    assert found.evidence["reason"] == "BackoffLimitExceeded"
    assert found.evidence["failed"] == 3 and found.evidence["succeeded"] == 0 and found.evidence["backoff_limit"] == 2
    assert found.evidence["last_pod"] == "migrate-b"
    assert found.evidence["exit_code"] == 2
    assert found.evidence["container"] == "app"
    assert "exited with code 2" in found.message
    assert found.related == [pod_key("migrate-a"), pod_key("migrate-b")]


def test_job_past_its_deadline_is_failed_even_without_pods() -> None:
    late = job("slow", outcome="failed", reason="DeadlineExceeded", backoff=None)
    late["spec"]["activeDeadlineSeconds"] = 1
    found = one(diagnose([late]), "KS209")
    assert found.evidence["reason"] == "DeadlineExceeded"
    assert found.evidence["active_deadline_seconds"] == 1
    assert found.evidence["backoff_limit"] == 6  # the API default
    assert "exit_code" not in found.evidence


def test_running_job_is_silent() -> None:
    assert diagnose([job("batch", outcome=None)]) == []


# --------------------------------------------------------------------------- cronjobs


def cronjob(name: str = "nightly", schedule: str = "*/5 * * * *", *, last: float | None = 60, suspend: bool = False,
            active: list[Obj] | None = None, policy: str = "Allow", time_zone: str | None = None) -> Obj:
    status: Obj = {}
    if last is not None:
        status["lastScheduleTime"] = ago(last)
    if active:
        status["active"] = [{"kind": "Job", "name": j["metadata"]["name"], "namespace": NS, "uid": j["metadata"]["uid"]} for j in active]
    spec: Obj = {"schedule": schedule, "suspend": suspend, "concurrencyPolicy": policy, "jobTemplate": {"spec": {}}}
    if time_zone:
        spec["timeZone"] = time_zone
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(name, "CronJob", created=7 * 86400), "spec": spec, "status": status}


def test_cronjob_with_failing_recent_runs() -> None:
    cj = cronjob()
    jobs = [
        job("nightly-1", outcome="succeeded", owner=cj, started=900),
        job("nightly-2", outcome="failed", owner=cj, started=600, failed=3),
        job("nightly-3", outcome="failed", owner=cj, started=300, failed=3),
        job("nightly-4", outcome=None, owner=cj, started=10),
    ]
    findings = diagnose([cj, *jobs])
    assert codes(findings) == [("KS209", "nightly-2"), ("KS209", "nightly-3"), ("KS210", "nightly")]
    found = one(findings, "KS210")
    assert found.evidence["consecutive_failures"] == 2
    assert found.evidence["failed_jobs"] == ["nightly-3", "nightly-2"]
    assert ObjectKey("Job", NS, "nightly-3") in found.related
    assert all(f.severity is Severity.ERROR for f in findings)


def test_cronjob_that_recovered_keeps_only_an_info_about_the_old_failure() -> None:
    cj = cronjob()
    jobs = [job("nightly-1", outcome="failed", owner=cj, started=600), job("nightly-2", outcome="succeeded", owner=cj, started=300)]
    findings = diagnose([cj, *jobs])
    assert codes(findings) == [("KS209", "nightly-1")]
    assert findings[0].severity is Severity.INFO


def test_suspended_cronjob_is_info_and_not_missing_runs() -> None:
    findings = diagnose([cronjob(suspend=True, last=86400)])
    assert codes(findings) == [("KS211", "nightly")]
    assert findings[0].severity is Severity.INFO


@pytest.mark.parametrize(("last", "missed"), [(5 * 60, None), (10 * 60, None), (15 * 60, 3), (20 * 60, 4)])
def test_cronjob_missing_runs_after_three_intervals(last: float, missed: int | None) -> None:
    # NOW is 12:00; with */5, a last schedule at 11:40 has missed 11:45, 11:50, 11:55 and 12:00;
    # one at 11:50 has only 11:55 and 12:00 behind it (fewer than cronjob_missed_factor = 3).
    findings = diagnose([cronjob(last=last)])
    if missed is None:
        assert findings == []
    else:
        found = one(findings, "KS212")
        assert found.evidence["missed_runs"] == missed
        assert found.evidence["interval"] == "5m"
        assert found.severity is Severity.WARNING


def test_cronjob_missed_factor_is_configurable() -> None:
    assert codes(diagnose([cronjob(last=10 * 60)], cronjob_missed_factor=2)) == [("KS212", "nightly")]


def test_never_scheduled_cronjob_counts_from_creation() -> None:
    found = one(diagnose([cronjob(schedule="@hourly", last=None)]), "KS212")
    assert found.evidence["missed_runs"] == 100  # a week of hourly runs, capped
    assert "100+" in found.message


def test_stuck_active_job_with_forbid_is_named_as_the_cause() -> None:
    stuck = job("nightly-1", outcome=None, started=3 * 3600)
    cj = cronjob(schedule="0 * * * *", last=3 * 3600, active=[stuck], policy="Forbid")
    found = one(diagnose([cj, stuck]), "KS212")
    assert found.cause == ObjectKey("Job", NS, "nightly-1")
    assert found.evidence["active_jobs"] == ["nightly-1"]
    assert "concurrencyPolicy Forbid" in found.message


def test_weekday_schedule_is_not_missing_runs_over_the_weekend() -> None:
    # Saturday noon; last run Friday 09:00: the next runs (Mon, Tue, Wed) are all in the future.
    saturday = NOW + dt.timedelta(days=1)
    model, _ = model_from_objects([cronjob(schedule="0 9 * * 1-5", last=3 * 3600)], now=saturday)
    assert run_checks(model, only=["KS2*"]).findings == []


@pytest.mark.parametrize(("schedule", "needle"), [("61 * * * *", "outside"), ("* * *", "5 fields"), ("0 0 30 2 *", "never matches")])
def test_invalid_schedule(schedule: str, needle: str) -> None:
    found = one(diagnose([cronjob(schedule=schedule)]), "KS213")
    assert needle in found.message


# --------------------------------------------------------------------------- cron evaluation


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("@hourly", "2025-01-10 12:00", ["2025-01-10 13:00", "2025-01-10 14:00"]),
        ("@daily", "2025-01-10 12:00", ["2025-01-11 00:00", "2025-01-12 00:00"]),
        ("@weekly", "2025-01-10 12:00", ["2025-01-12 00:00", "2025-01-19 00:00"]),  # Sundays
        ("@monthly", "2025-01-31 00:00", ["2025-02-01 00:00", "2025-03-01 00:00"]),
        ("*/15 * * * *", "2025-01-10 12:07", ["2025-01-10 12:15", "2025-01-10 12:30"]),
        ("5/20 * * * *", "2025-01-10 12:00", ["2025-01-10 12:05", "2025-01-10 12:25"]),
        ("0 9 * * 1-5", "2025-01-10 09:00", ["2025-01-13 09:00", "2025-01-14 09:00"]),  # Fri -> Mon
        ("0 0 * JAN,jul sun", "2025-01-27 00:00", ["2025-07-06 00:00", "2025-07-13 00:00"]),
        ("0 0 13 * 5", "2025-01-10 12:00", ["2025-01-13 00:00", "2025-01-17 00:00"]),  # day 13 OR Friday
        ("0 0 * * 7", "2025-01-10 12:00", ["2025-01-12 00:00", "2025-01-19 00:00"]),  # 7 is Sunday
        ("30 23 31 * *", "2025-01-31 23:30", ["2025-03-31 23:30", "2025-05-31 23:30"]),
        ("@every 90m", "2025-01-10 12:00", ["2025-01-10 13:30", "2025-01-10 15:00"]),
        ("CRON_TZ=Europe/Berlin 0 9 * * *", "2025-01-10 12:00", ["2025-01-11 08:00", "2025-01-12 08:00"]),
    ],
)
def test_cron_fire_times(schedule: str, after: str, expected: list[str]) -> None:
    runs = CronSchedule.parse(schedule).fire_times(utc(after), limit=2)
    assert runs == [utc(x) for x in expected]


def test_cron_time_zone_follows_daylight_saving() -> None:
    schedule = CronSchedule.parse("0 9 * * *", "America/New_York")
    assert schedule.fire_times(utc("2025-03-08 15:00"), limit=2) == [utc("2025-03-09 13:00"), utc("2025-03-10 13:00")]


@pytest.mark.parametrize("bad", ["", "* * * *", "*/0 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * FUNDAY", "@every soon", "5-1 * * * *"])
def test_cron_rejects_invalid_schedules(bad: str) -> None:
    with pytest.raises(ValueError):
        CronSchedule.parse(bad)


def test_human_duration() -> None:
    assert [human_duration(s) for s in (0, 59, 90, 3600, 86400 + 7200)] == ["0s", "59s", "1m30s", "1h", "1d2h"]


def test_objects_on_their_way_out_are_not_judged() -> None:
    broken = deployment(ready=0, available=0, conditions=[cond("Available", "False", since=3600)])
    terminating_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS, "deletionTimestamp": ago(10)},
                      "status": {"phase": "Terminating"}}
    assert codes(diagnose([broken])) == [("KS201", "web")]
    assert diagnose([broken, terminating_ns]) == []
    broken["metadata"]["deletionTimestamp"] = ago(5)
    assert diagnose([broken]) == []
