"""Workload analyzers (KS2xx) against the real control plane.

The real Deployment/ReplicaSet/StatefulSet/DaemonSet/Job/CronJob controllers
and scheduler act on the objects; KWOK plays the kubelet, and the
``kubesteward.io/fault`` label makes pods fail as a kubelet would report it.
Healthy objects live in the same namespaces and must stay silent.

Job pods: KWOK completes every Job pod without a fault label, and its fault
stages never mark a pod Failed (crash-looping pods stay Running). So a
failing Job pod is held with the ``not-ready`` fault and then given the
status a kubelet writes for a container that exited non-zero (phase Failed,
terminated exit code) through the pods/status subresource; the real Job
controller does the rest (counts the failure, sets Failed/BackoffLimitExceeded).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.findings import Severity
from kubesteward.model.cluster import ObjectKey
from kubesteward.sandbox.faults import FAULT_LABEL
from tests.support.diagnosis import codes_for, diagnose, only, until
from tests.support.wait import eventually

Obj = dict[str, Any]


def resource_type(api_version: str, kind: str) -> ResourceType:
    found = resources.builtin(api_version, kind)
    assert found is not None, kind
    return found


CRONJOB = resource_type("batch/v1", "CronJob")
JOB = resource_type("batch/v1", "Job")
TOLERATE_KWOK = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
# Only the sandbox's own nodes: other suites add tainted or broken nodes of their own.
SANDBOX_NODES = {"type": "kwok"}


def pod_template(app: str, fault: str | None = None, *, restart: str = "Always") -> Obj:
    labels = {"app": app, **({FAULT_LABEL: fault} if fault else {})}
    return {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 0,
            "tolerations": TOLERATE_KWOK,
            "containers": [{"name": "app", "image": f"registry.example.com/shop/{app}:1.0"}],
        },
    }


def deployment(name: str, replicas: int = 2, fault: str | None = None, **spec: Any) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name, fault), **spec},
    }


def statefulset(name: str, replicas: int = 2, fault: str | None = None) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": {"app": name}}, "template": pod_template(name, fault)},
    }


def headless(name: str) -> Obj:
    """The governing Service of the StatefulSet of the same name (its pods' DNS names)."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"clusterIP": "None", "selector": {"app": name}, "ports": [{"port": 80}]}}


def daemonset(name: str, fault: str | None = None) -> Obj:
    template = pod_template(name, fault)
    template["spec"]["nodeSelector"] = SANDBOX_NODES
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template},
    }


def job_spec(app: str, fault: str | None = None, **spec: Any) -> Obj:
    return {"template": pod_template(app, fault, restart="Never"), **spec}


def job(name: str, fault: str | None = None, **spec: Any) -> Obj:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": job_spec(name, fault, **spec)}


async def fail_pod(kube: KubeClient, namespace: str, name: str, exit_code: int) -> None:
    """Write what a kubelet reports for a container that exited with ``exit_code`` (restartPolicy Never)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    terminated = {"exitCode": exit_code, "reason": "Error", "startedAt": now, "finishedAt": now}
    status = {
        "phase": "Failed",
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodFailed", "lastTransitionTime": now}],
        "containerStatuses": [
            {"name": "app", "image": "registry.example.com/shop/app:1.0", "imageID": "", "ready": False,
             "restartCount": 0, "state": {"terminated": terminated}}
        ],
    }
    await kube.patch(resources.POD, name, {"status": status}, namespace=namespace, subresource="status")


async def pods_of_job(kube: KubeClient, namespace: str, job_name: str) -> list[Obj]:
    result = await kube.list(resources.POD, namespace=namespace, label_selector=f"job-name={job_name}")
    items: list[Obj] = result.items
    return items


async def test_failing_deployments_statefulsets_and_daemonsets(kube: KubeClient, namespace: str) -> None:
    for obj in (
        deployment("oom", fault="crashloop-oom"),
        deployment("stuck", fault="not-ready", progressDeadlineSeconds=5),
        deployment("healthy"),
        statefulset("db", fault="crashloop-error"),
        headless("db"),
        statefulset("cache"),
        headless("cache"),
        daemonset("agent", fault="crashloop-error"),
        daemonset("logs"),
        job("report"),
    ):
        await kube.create(obj, namespace=namespace)

    report = await until(
        kube,
        namespace,
        {("KS201", "oom"), ("KS202", "stuck"), ("KS206", "db"), ("KS207", "agent")},
        # Both "oom" pods exist and have crashed at least once.
        settled=lambda r: any(f.code == "KS201" and f.evidence.get("pods", "").startswith("2/2 pods") for f in r.findings),
    )

    oom = only(report, "KS201", "oom")[0]
    assert oom.severity is Severity.ERROR
    assert oom.evidence["desired"] == 2 and oom.evidence["available"] == 0
    assert "CrashLoopBackOff (OOMKilled)" in oom.evidence["pods"]
    assert oom.evidence["replica_set"].startswith("oom-")
    assert any(c.startswith("Available=False MinimumReplicasUnavailable") for c in oom.evidence["conditions"])
    assert len(oom.related) == 2 and all(k.kind == "Pod" and k.name.startswith("oom-") for k in oom.related)

    stuck = only(report, "KS202", "stuck")[0]
    assert stuck.severity is Severity.ERROR  # never available, not just slow
    assert stuck.evidence["progress_deadline_seconds"] == 5
    assert "Running, not ready" in stuck.evidence["pods"]
    assert codes_for(report, "Deployment", "stuck") == {"KS202"}  # not also "unavailable"

    db = only(report, "KS206", "db")[0]
    assert db.severity is Severity.ERROR
    assert "CrashLoopBackOff (exit 1)" in db.evidence["pods"]
    # OrderedReady: db-1 is not created while db-0 crash-loops.
    assert db.related == [ObjectKey("Pod", namespace, "db-0")]

    agent = only(report, "KS207", "agent")[0]
    assert agent.evidence["ready"] == 0 and agent.evidence["desired"] >= 1
    assert "CrashLoopBackOff (exit 1)" in agent.evidence["pods"]

    # Healthy neighbours, once their controllers have converged, say nothing.
    report = await eventually(
        lambda: diagnose(kube, namespace),
        lambda r: not any(codes_for(r, kind, name) for kind, name in (("Deployment", "healthy"), ("StatefulSet", "cache"), ("DaemonSet", "logs"), ("Job", "report"))),
        timeout=60,
        interval=2.0,
        what="healthy objects to be silent",
    )
    assert {f.object.name for f in report.findings if f.code.startswith("KS2")} == {"oom", "stuck", "db", "agent"}


async def test_statefulset_whose_governing_service_does_not_exist(kube: KubeClient, namespace: str) -> None:
    orphan = statefulset("db", replicas=1)
    orphan["spec"]["serviceName"] = "db-headless"
    for obj in (orphan, statefulset("cache", replicas=1), headless("cache")):
        await kube.create(obj, namespace=namespace)

    report = await until(kube, namespace, {("KS214", "db")}, settled=lambda r: bool(only(r, "KS214", "db")[0].related))

    [db] = only(report, "KS214", "db")
    assert db.severity is Severity.WARNING and db.cause == ObjectKey("Service", namespace, "db-headless")
    assert db.related == [ObjectKey("Pod", namespace, "db-0")]  # the StatefulSet runs: only its DNS names are missing
    assert f"kubectl create service clusterip db-headless -n {namespace} --clusterip=None" in db.remediation.text
    assert codes_for(report, "StatefulSet", "cache") == set()
    # Its own incident, rooted at the Service it names.
    [incident] = [i for i in report.incidents if db in i.findings]
    assert incident.root == ObjectKey("Service", namespace, "db-headless") and incident.findings == [db]


async def test_deployment_blocked_by_quota(kube: KubeClient, namespace: str) -> None:
    await kube.create(
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "pods"}, "spec": {"hard": {"pods": "1"}}},
        namespace=namespace,
    )
    # The quota controller must have counted usage before admission enforces the limit.
    quota_rt = resource_type("v1", "ResourceQuota")
    await eventually(
        lambda: kube.get(quota_rt, "pods", namespace),
        lambda q: "used" in q.get("status", {}),
        timeout=30,
        what="quota status",
    )
    await kube.create(deployment("web", replicas=3), namespace=namespace)

    # The ReplicaSet's ReplicaFailure condition and its FailedCreate event are written
    # separately (the event recorder is asynchronous): wait for both.
    report = await until(
        kube, namespace, {("KS204", "web")}, settled=lambda r: any("events" in f.evidence for f in only(r, "KS204", "web"))
    )
    web = only(report, "KS204", "web")[0]
    assert web.object == ObjectKey("Deployment", namespace, "web")
    assert web.evidence["reason"] == "FailedCreate"
    assert "exceeded quota" in web.evidence["message"]
    assert any(line.startswith("FailedCreate:") and "exceeded quota" in line for line in web.evidence["events"])
    assert codes_for(report, "Deployment", "web") == {"KS204"}


async def test_failed_jobs_and_a_completed_one(kube: KubeClient, namespace: str) -> None:
    await kube.create(job("migrate", fault="not-ready", backoffLimit=0), namespace=namespace)
    await kube.create(job("slow", fault="not-ready", activeDeadlineSeconds=2), namespace=namespace)
    await kube.create(job("done"), namespace=namespace)

    pods = await eventually(
        lambda: pods_of_job(kube, namespace, "migrate"),
        lambda items: any(p.get("status", {}).get("phase") == "Running" for p in items),
        timeout=60,
        what="the migrate Job's pod to run",
    )
    await fail_pod(kube, namespace, pods[0]["metadata"]["name"], exit_code=3)

    report = await until(kube, namespace, {("KS209", "migrate"), ("KS209", "slow")})
    migrate = only(report, "KS209", "migrate")[0]
    assert migrate.severity is Severity.ERROR
    assert migrate.evidence["reason"] == "BackoffLimitExceeded"
    assert migrate.evidence["backoff_limit"] == 0 and migrate.evidence["failed"] == 1
    assert migrate.evidence["exit_code"] == 3
    assert migrate.evidence["last_pod"] == pods[0]["metadata"]["name"]
    assert ObjectKey("Pod", namespace, pods[0]["metadata"]["name"]) in migrate.related

    slow = only(report, "KS209", "slow")[0]
    assert slow.evidence["reason"] == "DeadlineExceeded"
    assert slow.evidence["active_deadline_seconds"] == 2

    report = await eventually(
        lambda: diagnose(kube, namespace),
        lambda r: any(f.code == "KS209" for f in r.findings) and not codes_for(r, "Job", "done"),
        timeout=30,
        what="the completed Job to be silent",
    )
    done = await kube.get(JOB, "done", namespace)
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in done["status"].get("conditions", []))
    assert not any(f.object.kind == "Pod" and f.object.name.startswith("done-") for f in report.findings)


async def test_cronjobs_failing_suspended_and_missing_runs(kube: KubeClient, namespace: str) -> None:
    # A CronJob whose (real, controller-created) run fails.
    failing = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job_spec("nightly", "not-ready", backoffLimit=0)}},
    }
    suspended = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "paused"},
        "spec": {"schedule": "0 3 * * *", "suspend": True, "jobTemplate": {"spec": job_spec("paused")}},
    }
    blocked = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "blocked"},
        "spec": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid", "jobTemplate": {"spec": job_spec("blocked")}},
    }
    await kube.create(failing, namespace=namespace)
    await kube.create(suspended, namespace=namespace)
    created = await kube.create(blocked, namespace=namespace)
    await _block_with_a_stuck_run(kube, namespace, created)

    # The controller starts the first run at the next minute boundary.
    pods = await eventually(
        lambda: kube.list(resources.POD, namespace=namespace, label_selector="app=nightly"),
        lambda result: any(p.get("status", {}).get("phase") == "Running" for p in result.items),
        timeout=90,
        what="the CronJob's first run",
    )
    first = next(p for p in pods.items if p.get("status", {}).get("phase") == "Running")
    await fail_pod(kube, namespace, first["metadata"]["name"], exit_code=2)
    job_name = first["metadata"]["labels"]["job-name"]

    report = await until(kube, namespace, {("KS209", job_name), ("KS210", "nightly"), ("KS211", "paused"), ("KS212", "blocked")})
    run = only(report, "KS209", job_name)[0]
    assert run.severity is Severity.ERROR and run.evidence["exit_code"] == 2
    cron = only(report, "KS210", "nightly")[0]
    assert cron.evidence["failed_jobs"][0] == job_name
    assert ObjectKey("Job", namespace, job_name) in cron.related
    assert only(report, "KS211", "paused")[0].severity is Severity.INFO
    stuck = only(report, "KS212", "blocked")[0]
    assert stuck.cause == ObjectKey("Job", namespace, "blocked-stuck")
    assert stuck.evidence["active_jobs"] == ["blocked-stuck"]
    assert stuck.evidence["missed_runs"] >= 3
    assert codes_for(report, "CronJob", "paused") == {"KS211"}  # suspended: no "missing runs"


async def _block_with_a_stuck_run(kube: KubeClient, namespace: str, cronjob: Obj) -> None:
    """Forbid + a run that never ends: the controller skips every later run and lastScheduleTime stops.

    The stuck run is a Job owned by the CronJob and recorded as its active run with a
    lastScheduleTime 30 minutes back, which is the state the controller leaves behind
    when such a run started half an hour ago.
    """
    meta = cronjob["metadata"]
    owner = {"apiVersion": "batch/v1", "kind": "CronJob", "name": meta["name"], "uid": meta["uid"], "controller": True}
    stuck = job("blocked-stuck", fault="not-ready")
    stuck["metadata"]["ownerReferences"] = [owner]
    stuck["spec"]["template"]["metadata"]["labels"]["app"] = "blocked"
    created = await kube.create(stuck, namespace=namespace)
    started = dt.datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00")) - dt.timedelta(minutes=30)
    started = started.replace(minute=started.minute - started.minute % 5, second=0)
    status = {
        "lastScheduleTime": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "active": [{"apiVersion": "batch/v1", "kind": "Job", "name": "blocked-stuck", "namespace": namespace, "uid": created["metadata"]["uid"]}],
    }
    await kube.patch(CRONJOB, meta["name"], {"status": status}, namespace=namespace, subresource="status")
