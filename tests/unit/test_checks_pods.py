"""Pod analyzers (KS1xx) on models built from kubectl-style JSON at a fixed time."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubesteward.checks.engine import run_checks
from kubesteward.checks.pods import parse_scheduler_message, references
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Finding, Severity, Step
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.files import model_from_objects

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
NS = "shop"
Obj = dict[str, Any]


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def container(name: str = "app", image: str = "registry.example.com/shop/api:1.4.2", **extra: Any) -> Obj:
    return {"name": name, "image": image, **extra}


def running(name: str = "app", *, ready: bool = True, restarts: int = 0, last: Obj | None = None) -> Obj:
    status: Obj = {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": ago(600)}}}
    if last is not None:
        status["lastState"] = {"terminated": last}
    return status


def waiting(name: str, reason: str, message: str = "", *, restarts: int = 0, last: Obj | None = None) -> Obj:
    status: Obj = {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason, "message": message}}}
    if last is not None:
        status["lastState"] = {"terminated": last}
    return status


def terminated(reason: str, exit_code: int, finished: float = 60, message: str = "") -> Obj:
    out: Obj = {"reason": reason, "exitCode": exit_code, "startedAt": ago(finished + 30), "finishedAt": ago(finished)}
    if message:
        out["message"] = message
    return out


def cond(type_: str, status: str, since: float = 3600, reason: str = "", message: str = "") -> Obj:
    return {"type": type_, "status": status, "lastTransitionTime": ago(since), "reason": reason, "message": message}


def pod(
    name: str = "web",
    *,
    phase: str = "Running",
    node: str = "node-1",
    containers: list[Obj] | None = None,
    statuses: list[Obj] | None = None,
    conditions: list[Obj] | None = None,
    created: float = 7200,
    owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9f"),
    spec: Obj | None = None,
    status: Obj | None = None,
    metadata: Obj | None = None,
) -> Obj:
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{name}", "creationTimestamp": ago(created), **(metadata or {})}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": f"uid-{owner[1]}", "controller": True}]
    if statuses is None:
        statuses = [running()]
    if conditions is None:
        # Like the kubelet: Ready only when Running with every container ready (since an hour ago).
        ready = "True" if phase == "Running" and all(s.get("ready") for s in statuses) else "False"
        conditions = [cond("PodScheduled", "True"), cond("Ready", ready), cond("ContainersReady", ready)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"nodeName": node, "containers": containers or [container()], **(spec or {})},
        "status": {
            "phase": phase,
            "conditions": conditions,
            "containerStatuses": statuses,
            **(status or {}),
        },
    }


def node(name: str = "node-1", ready: str = "True", **conditions: str) -> Obj:
    conds = [cond("Ready", ready, 1800, "KubeletReady" if ready == "True" else "KubeletNotReady")]
    conds += [cond(t, s) for t, s in conditions.items()]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "status": {"conditions": conds, "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}},
    }


def event(obj: str, reason: str, message: str, *, type_: str = "Warning", count: int = 1, seen: float = 30) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{obj}.{reason}.{seen}", "namespace": NS},
        "involvedObject": {"kind": "Pod", "namespace": NS, "name": obj, "uid": f"uid-{obj}"},
        "reason": reason,
        "message": message,
        "type": type_,
        "count": count,
        "lastTimestamp": ago(seen),
    }


def configmap(name: str, *keys: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS}, "data": {k: "v" for k in keys}}


def secret(name: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}, "data": data}


def check(objects: list[Obj], **thresholds: Any) -> list[Finding]:
    model, _ = model_from_objects(objects, now=NOW)
    return run_checks(model, settings=CheckSettings(**thresholds), only=["KS1*"]).findings


def first_step(item: Finding) -> str:
    """What the compact view prints as "fix:" (the finding-specific step leads)."""
    return item.remediation.first.rendered()


def codes(findings: list[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


def one(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, findings
    return matching[0]


# --------------------------------------------------------------------------- healthy stays silent


def test_healthy_pod_with_existing_config_is_silent() -> None:
    healthy = pod(
        containers=[
            container(
                env=[{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                envFrom=[{"configMapRef": {"name": "settings"}}],
            )
        ],
        spec={"volumes": [{"name": "cfg", "configMap": {"name": "settings", "items": [{"key": "app.yaml", "path": "a"}]}}]},
    )
    objects = [healthy, configmap("settings", "app.yaml"), secret("db", password="c2VjcmV0"), node(),
               event("web", "Pulled", "Successfully pulled image", type_="Normal")]
    assert check(objects) == []


def test_completed_and_failed_job_pods_and_succeeded_pods_are_silent() -> None:
    done = pod("job-done", phase="Succeeded", owner=("Job", "backup-1"),
               statuses=[{"name": "app", "state": {"terminated": terminated("Completed", 0)}}])
    failed_job = pod("job-failed", phase="Failed", owner=("Job", "backup-2"),
                     statuses=[{"name": "app", "state": {"terminated": terminated("Error", 2)}}])
    bare_done = pod("once", phase="Succeeded", owner=None,
                    statuses=[{"name": "app", "state": {"terminated": terminated("Completed", 0)}}])
    assert check([done, failed_job, bare_done, node()]) == []


def test_old_restarts_and_few_recent_restarts_are_silent() -> None:
    old = pod("old", statuses=[running(restarts=40, last=terminated("Error", 1, finished=2 * 86400))])
    few = pod("few", statuses=[running(restarts=2, last=terminated("Error", 1, finished=300))])
    assert check([old, few, node()]) == []


def test_young_starting_and_young_unready_pods_are_silent() -> None:
    creating = pod("creating", phase="Pending", created=30, statuses=[waiting("app", "ContainerCreating")],
                   conditions=[cond("PodScheduled", "True", 29), cond("Ready", "False", 29)])
    starting = pod("starting", statuses=[running(ready=False)],
                   conditions=[cond("PodScheduled", "True"), cond("Ready", "False", 20, "ContainersNotReady")])
    assert check([creating, starting, node()]) == []


def test_young_unschedulable_pod_is_only_a_warning() -> None:
    new = pod("new", phase="Pending", node="", statuses=[], created=30,
              conditions=[cond("PodScheduled", "False", 30, "Unschedulable", "0/3 nodes are available: 3 Insufficient cpu.")])
    item = one(check([new, node()]), "KS106")
    assert item.severity == Severity.WARNING  # an autoscaler may still add a node
    assert item.evidence["pending_for"] == "30s"
    assert one(check([new, node()], pod_pending_seconds=10), "KS106").severity == Severity.ERROR


# --------------------------------------------------------------------------- crash loops and OOM


def test_crashloop_reports_last_termination_and_events() -> None:
    crashing = pod(statuses=[waiting("app", "CrashLoopBackOff", "back-off 40s restarting failed container", restarts=4,
                                     last=terminated("Error", 1, finished=45, message="panic: DB_URL not set"))])
    objects = [crashing, node(), event("web", "BackOff", "Back-off restarting failed container app", count=9)]
    found = check(objects)
    assert codes(found) == ["KS101"]  # not also "not ready": the crash loop explains that
    item = found[0]
    assert item.object == ObjectKey("Pod", NS, "web")
    assert item.severity == Severity.ERROR
    assert item.evidence["container"] == "app"
    assert item.evidence["reason"] == "Error"
    assert item.evidence["exit_code"] == 1
    assert item.evidence["exit_meaning"] == "application error"
    assert item.evidence["restarts"] == 4
    assert item.evidence["message"] == "panic: DB_URL not set"
    assert item.evidence["finished_at"] == ago(45)
    assert item.evidence["events"] == ["BackOff: Back-off restarting failed container app (x9)"]
    assert "exit code 1" in item.message and item.cause is None
    assert item.remediation.first == Step(
        "Read the output of the run that crashed (application error)", "kubectl logs -n shop web -c app --previous"
    )


@pytest.mark.parametrize(("limits", "expected"), [({"memory": "256Mi"}, "256Mi"), (None, "no memory limit set")])
def test_crashloop_on_oom_is_its_own_code_with_memory_limit(limits: Obj | None, expected: str) -> None:
    resources = {"limits": limits} if limits else {}
    oom = pod(containers=[container(resources=resources)],
              statuses=[waiting("app", "CrashLoopBackOff", restarts=7, last=terminated("OOMKilled", 137))])
    found = check([oom, node()])
    assert codes(found) == ["KS102"]
    item = found[0]
    assert item.severity == Severity.ERROR
    assert item.evidence["memory_limit"] == expected
    assert item.evidence["exit_code"] == 137 and item.evidence["restarts"] == 7
    assert expected.split()[0] in item.message
    assert ("above 256Mi" if limits else "node itself ran out of memory") in first_step(item)


def test_oomkilled_container_not_yet_in_crashloop() -> None:
    killed = pod(containers=[container(resources={"limits": {"memory": "128Mi"}})],
                 statuses=[{"name": "app", "restartCount": 0, "state": {"terminated": terminated("OOMKilled", 137, finished=2)}}])
    item = one(check([killed, node()]), "KS102")
    assert item.severity == Severity.ERROR and item.evidence["memory_limit"] == "128Mi"


def test_recent_oom_of_running_container_warns_and_old_one_is_silent() -> None:
    recent = pod("recent", statuses=[running(restarts=1, last=terminated("OOMKilled", 137, finished=600))])
    old = pod("old", statuses=[running(restarts=1, last=terminated("OOMKilled", 137, finished=3 * 86400))])
    found = check([recent, old, node()])
    assert [(f.code, f.object.name, f.severity) for f in found] == [("KS102", "recent", Severity.WARNING)]


def test_frequent_recent_restarts_warn() -> None:
    flapping = pod(statuses=[running(restarts=6, last=terminated("Error", 137, finished=120))])
    item = one(check([flapping, node()]), "KS109")
    assert item.severity == Severity.WARNING
    assert item.evidence["restarts"] == 6
    assert item.evidence["exit_code"] == 137
    assert item.evidence["finished_at"] == ago(120)
    # the threshold is a setting
    assert check([flapping, node()], restart_warning_count=10) == []


# --------------------------------------------------------------------------- images


def test_events_saying_the_same_thing_are_one_evidence_line_newest_first() -> None:
    crashing = pod(statuses=[waiting("app", "CrashLoopBackOff", "back-off", restarts=4,
                                     last=terminated("Error", 1, finished=45))])
    objects = [crashing, node(),
               event("web", "BackOff", "Back-off restarting failed container app", count=9, seen=20),
               event("web", "Unhealthy", "Liveness probe failed: connection refused", count=2, seen=60),
               event("web", "BackOff", "Back-off restarting failed container app", count=3, seen=600),
               event("web", "Failed", "Error: context deadline exceeded", seen=900)]
    [item] = check(objects)
    assert item.evidence["events"] == [
        "BackOff: Back-off restarting failed container app (x12)",
        "Unhealthy: Liveness probe failed: connection refused (x2)",
        "Failed: Error: context deadline exceeded",
    ]


def test_image_pull_backoff_takes_registry_error_from_failed_event() -> None:
    image = "registry.example.com/shop/api:nope"
    pulling = pod(phase="Pending", containers=[container(image=image)],
                  statuses=[waiting("app", "ImagePullBackOff", f'Back-off pulling image "{image}"')])
    error = f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": not found'
    objects = [
        pulling,
        node(),
        event("web", "Failed", f'Failed to pull image "{image}": {error}', seen=40),
        event("web", "Failed", "Error: ImagePullBackOff", seen=20),
    ]
    found = check(objects)
    assert codes(found) == ["KS103"]  # Pending for 2h, but the pull failure explains it: no KS107
    item = found[0]
    assert item.evidence["image"] == image
    assert item.evidence["reason"] == "ImagePullBackOff"
    assert item.evidence["error"] == error
    assert item.evidence["hint"] == "the image or tag does not exist in the registry"
    assert image in item.message and "not found" in item.message
    assert first_step(item) == f"Fix the image reference: {image} does not exist in its registry (check name and tag)"


def test_image_pull_error_from_waiting_message_and_unauthorized_hint() -> None:
    image = "private.example.com/team/app:1"
    message = f'Back-off pulling image "{image}": ErrImagePull: failed to authorize: 401 Unauthorized'
    pulling = pod(phase="Pending", containers=[container(image=image)], statuses=[waiting("app", "ImagePullBackOff", message)],
                  spec={"imagePullSecrets": [{"name": "regcred"}]})
    item = one(check([pulling, node(), secret("other", a="b")]), "KS103")
    assert item.evidence["error"] == "failed to authorize: 401 Unauthorized"
    assert "refused access" in item.evidence["hint"]
    assert item.evidence["missing_pull_secrets"] == ["regcred"]
    assert "imagePullSecrets lists regcred, which does not exist" in first_step(item)


def test_invalid_image_name() -> None:
    bad = pod(phase="Pending", containers=[container(image="Shop/API")],
              statuses=[waiting("app", "InvalidImageName", 'Failed to apply default image tag "Shop/API": couldn\'t parse image name')])
    item = one(check([bad, node()]), "KS103")
    assert item.evidence["reason"] == "InvalidImageName"
    assert item.evidence["hint"] == "the image reference is malformed"


# --------------------------------------------------------------------------- config references


def test_create_container_config_error_for_missing_configmap_is_ks104_with_cause() -> None:
    broken = pod(phase="Pending",
                 containers=[container(env=[{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}])],
                 statuses=[waiting("app", "CreateContainerConfigError", 'configmap "settings" not found')])
    found = check([broken, node(), configmap("unrelated", "x")])
    assert codes(found) == ["KS104"]  # not KS105 nor KS107: the missing object is the root
    item = found[0]
    assert item.cause == ObjectKey("ConfigMap", NS, "settings")
    assert item.evidence["missing"] == "object"
    assert item.evidence["references"] == ["env MODE of container app"]
    assert item.evidence["waiting"] == ['app: CreateContainerConfigError: configmap "settings" not found']
    assert item.remediation.first.text.startswith("Create it")
    assert item.remediation.first.command == "kubectl create configmap settings -n shop --from-literal=..."


def test_missing_secret_key_names_keys_never_values() -> None:
    broken = pod(phase="Pending",
                 containers=[container(env=[{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}])],
                 statuses=[waiting("app", "CreateContainerConfigError", 'couldn\'t find key password in Secret shop/db')])
    found = check([broken, node(), secret("db", username="aHVudGVyMg==")])
    item = one(found, "KS104")
    assert item.severity == Severity.ERROR
    assert item.cause == ObjectKey("Secret", NS, "db")
    assert item.evidence["missing"] == "keys" and item.evidence["keys"] == ["password"]
    assert "aHVudGVyMg==" not in repr(found)


def test_ready_pod_with_a_reference_gone_since_it_started_is_a_warning() -> None:
    latent = pod(containers=[container(envFrom=[{"configMapRef": {"name": "settings"}}])])  # Running and Ready
    item = one(check([latent, node(), configmap("other")]), "KS104")
    assert item.severity == Severity.WARNING
    assert "will fail to restart" in item.message
    assert item.cause == ObjectKey("ConfigMap", NS, "settings")


def test_offline_manifest_references_checked_and_optional_respected() -> None:
    manifest: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "offline", "namespace": NS},
        "spec": {
            "containers": [container(envFrom=[{"secretRef": {"name": "api-keys"}}, {"configMapRef": {"name": "extra", "optional": True}}])],
            "volumes": [
                {"name": "cfg", "configMap": {"name": "settings", "items": [{"key": "missing.yaml", "path": "m"}]}},
                {"name": "opt", "secret": {"secretName": "maybe", "optional": True}},
                {"name": "proj", "projected": {"sources": [{"secret": {"name": "tls"}},
                                                           {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}},
            ],
        },
    }
    found = check([manifest, configmap("settings", "app.yaml"), secret("unrelated")])
    by_cause = {f.cause: f for f in found}
    assert codes(found) == ["KS104", "KS104", "KS104"]
    assert {f.severity for f in found} == {Severity.ERROR}  # nothing runs yet: not "latent"
    assert set(by_cause) == {ObjectKey("Secret", NS, "api-keys"), ObjectKey("ConfigMap", NS, "settings"), ObjectKey("Secret", NS, "tls")}
    assert by_cause[ObjectKey("ConfigMap", NS, "settings")].evidence["keys"] == ["missing.yaml"]
    assert by_cause[ObjectKey("Secret", NS, "tls")].evidence["references"] == ["projected volume proj"]


def test_references_skip_only_the_service_account_token_volume() -> None:
    token = {"name": "kube-api-access-x7k2p", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    ]}}
    user = {"name": "bundle", "projected": {"sources": [{"configMap": {"name": "trust-bundle"}}]}}
    model, _ignored = model_from_objects([pod(spec={"volumes": [token, user]})])
    assert [(r.kind, r.name, r.where) for r in references(model.pods[0])] == [
        ("ConfigMap", "trust-bundle", "projected volume bundle")
    ]


def test_never_claims_missing_when_configmaps_were_not_loaded() -> None:
    manifest = pod(containers=[container(envFrom=[{"configMapRef": {"name": "settings"}}])])
    assert check([manifest, node()]) == []  # no ConfigMap kind in the input: cannot know


def test_other_create_container_config_error_is_ks105() -> None:
    root = pod(statuses=[waiting("app", "CreateContainerConfigError", "container has runAsNonRoot and image will run as root")])
    item = one(check([root, node(), configmap("x")]), "KS105")
    assert item.evidence["message"] == "container has runAsNonRoot and image will run as root"


# --------------------------------------------------------------------------- pending


def unschedulable(name: str, message: str, **kwargs: Any) -> Obj:
    return pod(name, phase="Pending", node="", statuses=[], created=600,
               conditions=[cond("PodScheduled", "False", 590, "Unschedulable", message)], **kwargs)


def test_unschedulable_insufficient_cpu_with_requests_and_largest_node() -> None:
    message = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
               "3 No preemption victims found for incoming pod.")
    huge = unschedulable("huge", message, containers=[container(resources={"requests": {"cpu": "5", "memory": "64Mi"}}),
                                                      container("sidecar", resources={"requests": {"cpu": "500m"}})])
    item = one(check([huge, node("node-1"), node("node-2")]), "KS106")
    assert item.severity == Severity.ERROR  # pending for 10 minutes
    assert item.evidence["scheduler_message"] == message
    assert item.evidence["reasons"] == [{"reason": "insufficient cpu", "nodes": 3, "detail": "Insufficient cpu"}]
    assert item.evidence["requests"] == {"cpu": "5500m"}
    assert item.evidence["largest_node_allocatable"] == {"cpu": "4"}
    assert item.evidence["larger_than_any_node"] == ["cpu"]
    assert "requests cpu 5500m but the largest node has 4 allocatable" in item.message
    assert first_step(item) == "Lower the pod's cpu request (5500m) or add capacity: the largest node has 4 allocatable"


def test_unschedulable_taint_and_selector_named() -> None:
    message = ("0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, "
               "3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: "
               "4 Preemption is not helpful for scheduling.")
    picky = unschedulable("picky", message, spec={"nodeSelector": {"disk": "nvme"}})
    item = one(check([picky, node()]), "KS106")
    assert [(r["reason"], r["nodes"]) for r in item.evidence["reasons"]] == [
        ("untolerated taint", 1), ("node selector/affinity mismatch", 3)]
    assert item.evidence["taints"] == ["dedicated=gpu"]
    assert item.evidence["selector"] == "disk=nvme"
    assert "dedicated=gpu" in item.message
    # the selector rules out 3 nodes, the taint 1: the selector's fix leads
    assert first_step(item).startswith("No node has labels disk=nvme: fix `nodeSelector`")
    assert "Add a toleration for taint dedicated=gpu" not in item.remediation.text  # only the lead step is specific


def test_unschedulable_on_unbound_pvc_points_at_the_claim() -> None:
    message = "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    db = unschedulable("db-0", message, spec={"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]})
    claim: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data-db-0", "namespace": NS},
                  "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}}
    item = one(check([db, claim, node()]), "KS106")
    assert item.cause == ObjectKey("PersistentVolumeClaim", NS, "data-db-0")
    assert item.remediation.first.command == "kubectl describe pvc -n shop data-db-0"
    assert item.evidence["reasons"] == [{"reason": "unbound PVC", "nodes": 3, "detail": "pod has unbound immediate PersistentVolumeClaims"}]


def test_volume_node_affinity_conflict_points_at_the_claim() -> None:
    message = "0/3 nodes are available: 3 node(s) had volume node affinity conflict."
    db = unschedulable("db-1", message, spec={"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}}]})
    claim: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data-db-1", "namespace": NS},
                  "status": {"phase": "Bound"}}
    item = one(check([db, claim, node()]), "KS106")
    assert item.cause == ObjectKey("PersistentVolumeClaim", NS, "data-db-1")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("0/3 nodes are available: 1 Insufficient memory, 2 Too many pods.", [("insufficient memory", 1), ("insufficient pods", 2)]),
        ("0/2 nodes are available: 2 node(s) had untolerated taint {node.kubernetes.io/not-ready: }.", [("untolerated taint", 2)]),
        ("0/3 nodes are available: 1 node(s) had volume node affinity conflict, 2 node(s) were unschedulable.",
         [("volume node affinity conflict", 1), ("nodes cordoned", 2)]),
        ('0/3 nodes are available: persistentvolumeclaim "data" not found. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.',
         [("missing PVC", 3)]),
        ("no nodes available to schedule pods", [("no nodes", 0)]),
        # 1.34+: the DRA post-filter speaks before preemption
        ("0/3 nodes are available: 3 Insufficient cpu. no new claims to deallocate, preemption: 0/3 nodes are available: "
         "3 Preemption is not helpful for scheduling.", [("insufficient cpu", 3)]),
        ("0/2 nodes are available: 2 Insufficient nvidia.com/gpu.", [("insufficient nvidia.com/gpu", 2)]),
        ("0/5 nodes are available: 5 node(s) didn't match pod anti-affinity rules.", [("pod affinity/anti-affinity", 5)]),
    ],
)
def test_parse_scheduler_message(message: str, expected: list[tuple[str, int]]) -> None:
    assert [(r.category, r.nodes) for r in parse_scheduler_message(message)] == expected


def test_unschedulable_because_nodes_are_not_ready_points_at_a_node() -> None:
    message = "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }."
    item = one(check([unschedulable("stuck", message), node("node-1", ready="Unknown")]), "KS106")
    assert item.cause == ObjectKey("Node", "", "node-1")
    assert item.evidence["taints"] == ["node.kubernetes.io/unreachable"]
    assert first_step(item).startswith("Fix the nodes carrying node.kubernetes.io/unreachable")


def test_untolerated_custom_taint_suggests_a_toleration() -> None:
    message = "0/2 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}."
    item = one(check([unschedulable("plain", message), node()]), "KS106")
    assert first_step(item).startswith("Add a toleration for taint dedicated=gpu to the pod template")
    assert item.cause is None


def test_scheduled_but_container_creating_too_long() -> None:
    creating = pod(phase="Pending", created=900, statuses=[waiting("app", "ContainerCreating")],
                   conditions=[cond("PodScheduled", "True", 890), cond("Ready", "False", 890)])
    objects = [creating, node(), event("web", "FailedMount", 'MountVolume.SetUp failed for volume "data": timed out')]
    item = one(check(objects), "KS107")
    assert item.evidence["waiting"] == ["app: ContainerCreating"]
    assert item.evidence["node"] == "node-1"
    assert item.evidence["events"] == ['FailedMount: MountVolume.SetUp failed for volume "data": timed out']
    assert check(objects, pod_pending_seconds=3600) == []


def test_pending_without_any_scheduler_verdict() -> None:
    orphan = pod(phase="Pending", node="", statuses=[], conditions=[], spec={"schedulerName": "my-scheduler"})
    item = one(check([orphan, node()]), "KS107")
    assert item.evidence["scheduler"] == "my-scheduler"
    assert "no scheduler has reported" in item.message


# --------------------------------------------------------------------------- not ready, node cause


def test_running_not_ready_beyond_threshold_with_probe_failures() -> None:
    unready = pod(statuses=[running(ready=False)],
                  conditions=[cond("PodScheduled", "True"), cond("Ready", "False", 900, "ContainersNotReady", "containers with unready status: [app]")])
    probe = "Readiness probe failed: HTTP probe failed with statuscode: 503"
    objects = [unready, node(), event("web", "Unhealthy", probe, count=30)]
    item = one(check(objects), "KS108")
    assert item.evidence["containers"] == ["app"]
    assert item.evidence["probe_failures"] == [f"{probe} (x30)"]
    assert item.evidence["since"] == ago(900)
    assert item.cause is None
    assert check(objects, pod_not_ready_seconds=1200) == []


def test_pod_findings_on_not_ready_node_point_at_the_node() -> None:
    unready = pod("unready", node="node-2", statuses=[running(ready=False)],
                  conditions=[cond("PodScheduled", "True"), cond("Ready", "False", 900, "ContainersNotReady")])
    crashing = pod("crashing", node="node-2", statuses=[waiting("app", "CrashLoopBackOff", restarts=3, last=terminated("Error", 1))])
    fine = pod("elsewhere", node="node-1", statuses=[waiting("app", "CrashLoopBackOff", restarts=3, last=terminated("Error", 1))])
    found = check([unready, crashing, fine, node("node-1"), node("node-2", ready="False")])
    causes = {(f.code, f.object.name): f.cause for f in found}
    down = ObjectKey("Node", "", "node-2")
    assert causes == {("KS108", "unready"): down, ("KS101", "crashing"): down, ("KS101", "elsewhere"): None}
    assert one(found, "KS108").evidence["node_ready"] == "False"


# --------------------------------------------------------------------------- failed, evicted, terminating, init


def test_evicted_pod_with_node_still_under_pressure() -> None:
    message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 12Mi."
    evicted = pod("evicted", phase="Failed", statuses=[], status={"reason": "Evicted", "message": message})
    item = one(check([evicted, node("node-1", MemoryPressure="True")]), "KS110")
    assert item.evidence["message"] == message
    assert item.cause == ObjectKey("Node", "", "node-1")
    # once the node recovered, the eviction is history with no live cause
    assert one(check([evicted, node("node-1")]), "KS110").cause is None


def test_failed_bare_pod_reports_exit_code() -> None:
    failed = pod("migrate", phase="Failed", owner=None, spec={"restartPolicy": "Never"},
                 statuses=[{"name": "app", "state": {"terminated": terminated("Error", 3, message="schema mismatch")}}])
    item = one(check([failed, node()]), "KS111")
    assert item.evidence["exit_code"] == 3
    assert item.evidence["containers"] == [{"container": "app", "reason": "Error", "exit_code": 3, "message": "schema mismatch"}]


def test_stuck_terminating_with_finalizers_and_dead_node() -> None:
    stuck = pod("stuck", node="node-2", metadata={"deletionTimestamp": ago(1800), "finalizers": ["example.com/cleanup"]})
    leaving = pod("leaving", metadata={"deletionTimestamp": ago(10)})
    found = check([stuck, leaving, node("node-1"), node("node-2", ready="Unknown")])
    assert codes(found) == ["KS112"]
    item = found[0]
    assert item.object.name == "stuck"
    assert item.evidence["finalizers"] == ["example.com/cleanup"]
    assert item.cause == ObjectKey("Node", "", "node-2")
    assert item.remediation.first == Step(
        "Once node node-2 is confirmed gone, force the deletion, then fix the owner of finalizer example.com/cleanup",
        "kubectl delete pod -n shop stuck --grace-period=0 --force",
    )


def test_failing_init_container_keeps_pod_in_init() -> None:
    init = pod(phase="Pending", spec={"initContainers": [container("migrate")]},
               statuses=[waiting("app", "PodInitializing")],
               status={"initContainerStatuses": [waiting("migrate", "CrashLoopBackOff", restarts=5, last=terminated("Error", 2))]})
    found = check([init, node()])
    assert codes(found) == ["KS113"]  # no KS107: the init failure explains the Pending
    assert found[0].evidence["container"] == "migrate"
    assert found[0].evidence["exit_code"] == 2


def test_crashlooping_sidecar_is_a_crashloop_not_an_init_failure() -> None:
    sidecar = pod(spec={"initContainers": [container("proxy", restartPolicy="Always")]},
                  status={"initContainerStatuses": [waiting("proxy", "CrashLoopBackOff", restarts=5, last=terminated("Error", 1))]})
    found = check([sidecar, node()])
    assert codes(found) == ["KS101"]
    assert found[0].evidence["container"] == "proxy"
