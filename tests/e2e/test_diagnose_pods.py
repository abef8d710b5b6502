"""Pod diagnosis (KS1xx) against the real control plane.

Pods are scheduled by the real kube-scheduler; KWOK plays the kubelet and
produces the failures asked for by the ``kubesteward.io/fault`` label. Each
test diagnoses its namespace through the real loader and engine and checks
code, object, evidence and cause, and that a healthy pod next to the broken
one stays silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesteward.checks.engine import Report
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import NotFound
from kubesteward.findings import Finding, Severity
from kubesteward.model.cluster import ObjectKey
from kubesteward.sandbox.faults import FAULT_LABEL, RESTART_INTERVAL_ANNOTATION
from tests.support.diagnosis import codes_for, diagnose, only
from tests.support.wait import eventually

Obj = dict[str, Any]
CONFIGMAPS = resources.by_name("configmaps")
JOBS = resources.by_name("jobs")
assert CONFIGMAPS is not None and JOBS is not None

# No grace periods: report as soon as the cluster shows the state.
NOW = CheckSettings(pod_not_ready_seconds=0, pod_pending_seconds=0, terminating_stuck_seconds=0)


def pod_manifest(
    name: str,
    namespace: str,
    *,
    fault: str | None = None,
    image: str = "registry.example.com/shop/api:1.4.2",
    cpu: str = "100m",
    memory_limit: str | None = None,
    extra: Obj | None = None,
    metadata: Obj | None = None,
) -> Obj:
    resources_: Obj = {"requests": {"cpu": cpu, "memory": "64Mi"}}
    if memory_limit:
        resources_["limits"] = {"memory": memory_limit}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {FAULT_LABEL: fault} if fault else {},
            # Crash fast and regularly instead of the kubelet's 10s..5m back-off.
            "annotations": {RESTART_INTERVAL_ANNOTATION: "2s"},
            **(metadata or {}),
        },
        "spec": {
            "containers": [{"name": "app", "image": image, "resources": resources_}],
            "terminationGracePeriodSeconds": 0,
            **(extra or {}),
        },
    }


async def until(
    kube: KubeClient, namespace: str, ok: Callable[[Report], bool], what: str, settings: CheckSettings = NOW, timeout: float = 90
) -> Report:
    return await eventually(
        lambda: diagnose(kube, namespace, settings=settings), ok, timeout=timeout, interval=1.0, what=what
    )


async def running_ready(kube: KubeClient, namespace: str, name: str) -> None:
    async def get() -> Obj:
        result: Obj = await kube.get(resources.POD, name, namespace)
        return result

    def ready(pod: Obj) -> bool:
        conditions = pod.get("status", {}).get("conditions") or []
        return pod["status"].get("phase") == "Running" and any(
            c["type"] == "Ready" and c["status"] == "True" for c in conditions
        )

    await eventually(get, ready, timeout=90, what=f"pod {name} Running and Ready")


def the(report: Report, code: str, name: str) -> Finding:
    found = only(report, code, name)
    assert len(found) == 1, report.findings
    return found[0]


async def test_crashloop_error_with_exit_code_and_healthy_neighbour_silent(kube: KubeClient, namespace: str) -> None:
    await kube.create(pod_manifest("web", namespace))
    await kube.create(pod_manifest("worker", namespace, fault="crashloop-error"))
    await running_ready(kube, namespace, "web")

    report = await until(kube, namespace, lambda r: bool(only(r, "KS101", "worker")), "KS101 on worker")
    item = the(report, "KS101", "worker")
    assert item.object == ObjectKey("Pod", namespace, "worker")
    assert item.evidence["container"] == "app"
    assert item.evidence["reason"] == "Error"
    assert item.evidence["exit_code"] == 1
    assert item.evidence["restarts"] >= 1
    assert item.evidence["finished_at"]
    assert "CrashLoopBackOff" in item.message
    assert any(line.startswith("BackOff:") for line in item.evidence["events"])
    assert item.cause is None  # its node is healthy
    # one problem, one finding: no "not ready" on top of the crash loop
    assert codes_for(report, "Pod", "worker") == {"KS101"}
    assert codes_for(report, "Pod", "web") == set()


async def test_crashloop_oom_reports_memory_limit(kube: KubeClient, namespace: str) -> None:
    await kube.create(pod_manifest("eater", namespace, fault="crashloop-oom", memory_limit="256Mi"))
    await kube.create(pod_manifest("unbounded", namespace, fault="crashloop-oom"))

    report = await until(
        kube, namespace, lambda r: bool(only(r, "KS102", "eater") and only(r, "KS102", "unbounded")), "KS102 on both"
    )
    eater = the(report, "KS102", "eater")
    assert eater.evidence["memory_limit"] == "256Mi"
    assert eater.evidence["exit_code"] == 137
    assert eater.evidence["reason"] == "OOMKilled"
    assert "256Mi" in eater.message
    assert the(report, "KS102", "unbounded").evidence["memory_limit"] == "no memory limit set"
    assert not only(report, "KS101")  # OOM is its own code, not also a generic crash loop


async def test_image_pull_names_image_and_registry_error(kube: KubeClient, namespace: str) -> None:
    image = "registry.example.com/shop/api:does-not-exist"
    await kube.create(pod_manifest("puller", namespace, fault="image-pull", image=image))
    await kube.create(pod_manifest("web", namespace))
    await running_ready(kube, namespace, "web")

    report = await until(kube, namespace, lambda r: bool(only(r, "KS103", "puller")), "KS103 on puller")
    item = the(report, "KS103", "puller")
    assert item.evidence["image"] == image
    assert item.evidence["reason"] == "ImagePullBackOff"
    assert "not found" in item.evidence["error"]
    assert item.evidence["hint"] == "the image or tag does not exist in the registry"
    # the pod is Pending, but the pull failure explains it (pending threshold is 0 here)
    assert codes_for(report, "Pod", "puller") == {"KS103"}
    assert codes_for(report, "Pod", "web") == set()


async def test_not_ready_beyond_threshold_with_probe_failures(kube: KubeClient, namespace: str) -> None:
    await kube.create(pod_manifest("probe", namespace, fault="not-ready"))

    report = await until(
        kube, namespace, lambda r: bool(only(r, "KS108", "probe") and only(r, "KS108", "probe")[0].evidence.get("probe_failures")),
        "KS108 with probe failures",
    )
    item = the(report, "KS108", "probe")
    assert item.evidence["containers"] == ["app"]
    assert item.evidence["message"] == "containers with unready status: [app]"
    assert any("Readiness probe failed" in line for line in item.evidence["probe_failures"])
    # with the default 5-minute grace a freshly started pod is not reported
    fresh = await diagnose(kube, namespace)
    assert not only(fresh, "KS108", "probe")


async def test_unschedulable_cpu_and_selector_from_the_real_scheduler(kube: KubeClient, namespace: str) -> None:
    await kube.create(pod_manifest("huge", namespace, cpu="5000"))
    await kube.create(pod_manifest("picky", namespace, extra={"nodeSelector": {"disktype": "nvme-nowhere"}}))

    report = await until(
        kube, namespace, lambda r: bool(only(r, "KS106", "huge") and only(r, "KS106", "picky")), "KS106 on both"
    )
    huge = the(report, "KS106", "huge")
    assert "Insufficient cpu" in huge.evidence["scheduler_message"]
    cpu = [r for r in huge.evidence["reasons"] if r["reason"] == "insufficient cpu"]
    assert cpu and cpu[0]["nodes"] >= 3  # the sandbox's three nodes at least
    assert huge.evidence["requests"] == {"cpu": "5000"}
    assert huge.evidence["larger_than_any_node"] == ["cpu"]

    picky = the(report, "KS106", "picky")
    assert any(r["reason"] == "node selector/affinity mismatch" for r in picky.evidence["reasons"])
    assert picky.evidence["selector"] == "disktype=nvme-nowhere"
    assert "requests" not in picky.evidence

    assert huge.severity == Severity.ERROR  # pending threshold 0
    # younger than the default pending threshold: reported, but only as a warning (an autoscaler may add a node)
    young = await diagnose(kube, namespace)
    assert {f.severity for f in only(young, "KS106")} == {Severity.WARNING}
    assert len(only(young, "KS106")) == 2


async def test_missing_configmap_and_key_then_fixed(kube: KubeClient, namespace: str) -> None:
    env = [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}]
    extra = {
        "containers": [{"name": "app", "image": "registry.example.com/shop/api:1", "env": env}],
        "volumes": [{"name": "tls", "secret": {"secretName": "tls-certs"}},
                    {"name": "opt", "configMap": {"name": "optional-extra", "optional": True}}],
    }
    await kube.create(pod_manifest("api", namespace, extra=extra))

    report = await until(kube, namespace, lambda r: len(only(r, "KS104", "api")) == 2, "two KS104 on api")
    causes = {f.cause for f in only(report, "KS104", "api")}
    assert causes == {ObjectKey("ConfigMap", namespace, "settings"), ObjectKey("Secret", namespace, "tls-certs")}

    # the ConfigMap appears, but without the key
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
                       "data": {"other": "x"}})
    report = await until(
        kube, namespace,
        lambda r: any(f.evidence.get("missing") == "keys" for f in only(r, "KS104", "api")), "KS104 missing key",
    )
    keyed = next(f for f in only(report, "KS104", "api") if f.cause == ObjectKey("ConfigMap", namespace, "settings"))
    assert keyed.evidence["keys"] == ["mode"]
    assert keyed.evidence["references"] == ["env MODE of container app"]

    # key added and secret created: nothing left
    await kube.patch(CONFIGMAPS, "settings", {"data": {"mode": "fast"}}, namespace=namespace)
    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls-certs", "namespace": namespace},
                       "stringData": {"tls.crt": "not-a-real-cert"}})
    await until(kube, namespace, lambda r: not only(r, "KS104", "api"), "KS104 gone")


async def test_recent_restarts_of_recovered_pod_warn(kube: KubeClient, namespace: str) -> None:
    await kube.create(pod_manifest("flaky", namespace, fault="crashloop-error"))

    async def restarts() -> int:
        pod: Obj = await kube.get(resources.POD, "flaky", namespace)
        statuses = pod.get("status", {}).get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0))

    await eventually(restarts, lambda n: n >= 2, timeout=90, what="two restarts")
    await kube.patch(resources.POD, "flaky", {"metadata": {"labels": {FAULT_LABEL: None}}}, namespace=namespace)
    await running_ready(kube, namespace, "flaky")

    settings = CheckSettings(restart_warning_count=2)
    report = await until(kube, namespace, lambda r: bool(only(r, "KS109", "flaky")), "KS109", settings=settings)
    item = the(report, "KS109", "flaky")
    assert item.evidence["restarts"] >= 2
    assert item.evidence["reason"] == "Error" and item.evidence["exit_code"] == 1
    assert codes_for(report, "Pod", "flaky") == {"KS109"}  # healthy now: no crash loop, no not-ready
    # below the warning count: silent
    assert not only(await diagnose(kube, namespace, settings=CheckSettings(restart_warning_count=50)), "KS109")


async def test_stuck_terminating_with_finalizer(kube: KubeClient, namespace: str) -> None:
    finalizer = "kubesteward.io/test-hold"
    await kube.create(pod_manifest("held", namespace, metadata={"finalizers": [finalizer]}))
    await running_ready(kube, namespace, "held")
    await kube.delete(resources.POD, "held", namespace=namespace, grace_period_seconds=0)
    try:
        report = await until(kube, namespace, lambda r: bool(only(r, "KS112", "held")), "KS112 on held")
        item = the(report, "KS112", "held")
        assert item.evidence["finalizers"] == [finalizer]
        assert item.evidence["deletion_timestamp"]
        assert finalizer in item.message
        assert codes_for(report, "Pod", "held") == {"KS112"}
        # within the default 10-minute threshold it is just "being deleted"
        assert not only(await diagnose(kube, namespace), "KS112")
    finally:
        try:
            await kube.patch(resources.POD, "held", {"metadata": {"finalizers": None}}, namespace=namespace)
        except NotFound:
            pass


async def test_evicted_pod_reported_and_completed_job_pod_silent(kube: KubeClient, namespace: str) -> None:
    await kube.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "backup", "namespace": namespace},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                                           "containers": [{"name": "backup", "image": "registry.example.com/backup:1"}]}}},
        }
    )
    await kube.create(pod_manifest("evictee", namespace))
    await running_ready(kube, namespace, "evictee")
    # KWOK has no real memory to run out of: write the status a kubelet writes when it evicts.
    message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 20Mi."
    await kube.patch(
        resources.POD, "evictee", {"status": {"phase": "Failed", "reason": "Evicted", "message": message}},
        namespace=namespace, subresource="status",
    )

    async def job_done() -> Obj:
        job: Obj = await kube.get(JOBS, "backup", namespace)
        return job

    await eventually(job_done, lambda j: j.get("status", {}).get("succeeded", 0) >= 1, timeout=90, what="job succeeded")
    report = await until(kube, namespace, lambda r: bool(only(r, "KS110", "evictee")), "KS110 on evictee")
    item = the(report, "KS110", "evictee")
    assert item.evidence["reason"] == "Evicted"
    assert item.evidence["message"] == message
    assert item.evidence["node"]
    job_pods = [f for f in report.findings if f.object.kind == "Pod" and f.object.name.startswith("backup-")]
    assert job_pods == []
    assert report.counts["Pod"] >= 2  # the Job's pod was loaded, and judged healthy
