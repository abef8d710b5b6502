"""Storage diagnosis (KS4xx) against the real control plane.

The real PV controller of kube-controller-manager binds, releases and fails
volumes; the sandbox has no StorageClass and no provisioner, so claims that
need one stay Pending for real. StorageClasses and PersistentVolumes are
cluster-scoped: every test uses unique names and deletes them afterwards, and
default classes (which change cluster-wide behaviour) are removed in ``finally``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kubesteward.checks.engine import run_checks
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import NotFound
from kubesteward.findings.incidents import build_incidents
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.load import load_cluster
from tests.support.diagnosis import codes_for, diagnose, only
from tests.support.wait import eventually

Obj = dict[str, Any]


def builtin(api_version: str, kind: str) -> resources.ResourceType:
    found = resources.builtin(api_version, kind)
    assert found is not None, kind
    return found


PVCS = builtin("v1", "PersistentVolumeClaim")
PVS = builtin("v1", "PersistentVolume")
CLASSES = builtin("storage.k8s.io/v1", "StorageClass")
WAIT = 90.0
DEFAULT_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
# A claim waits pod_pending_seconds before "stuck Pending" is reported; tests cannot wait that long.
NO_GRACE = CheckSettings(pod_pending_seconds=0, pod_not_ready_seconds=0)


# --------------------------------------------------------------------------- manifests


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def claim(name: str, storage_class: str | None = None, *, volume: str = "") -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    if volume:
        spec["volumeName"] = volume
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def pod_using(name: str, claim_name: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "containers": [{"name": "db", "image": "registry.local/db:1", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}],
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


def storage_class_manifest(name: str, *, default: bool = False, mode: str = "Immediate") -> Obj:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "annotations": {DEFAULT_ANNOTATION: "true"} if default else {}},
        # No such provisioner runs in the sandbox: claims of this class are never provisioned.
        "provisioner": "kubesteward.io/no-such-provisioner",
        "volumeBindingMode": mode,
        "reclaimPolicy": "Delete",
    }


def host_path_volume(name: str, policy: str, path: str, *, reserved_for: tuple[str, str]) -> Obj:
    """A PV reserved for one claim (namespace, name) through ``claimRef``. Without the reservation
    any class-less claim may take it, e.g. a claim of an earlier test whose namespace is still being
    deleted: with no default StorageClass, a claim without ``storageClassName`` binds to PVs of
    class "" (this stole the volume in CI, and the pre-bound claim stayed Pending)."""
    namespace, claim_name = reserved_for
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": policy,
            "storageClassName": "",
            "hostPath": {"path": path},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": namespace, "name": claim_name},
        },
    }


# --------------------------------------------------------------------------- helpers


class ClusterScoped:
    """Creates cluster-scoped objects and deletes every one of them at the end, whatever happens."""

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube
        self.created: list[tuple[resources.ResourceType, str]] = []

    async def create(self, rt: resources.ResourceType, obj: Obj) -> str:
        await self.kube.create(obj)
        name = str(obj["metadata"]["name"])
        self.created.append((rt, name))
        return name

    async def cleanup(self) -> None:
        for rt, name in reversed(self.created):
            try:
                if rt is PVS:
                    # A bound volume is protected by a finalizer until its claim is gone.
                    await self.kube.patch(rt, name, {"metadata": {"finalizers": None}})
                await self.kube.delete(rt, name)
            except NotFound:
                pass


@pytest.fixture
async def cluster_scoped(kube: KubeClient) -> AsyncIterator[ClusterScoped]:
    tracker = ClusterScoped(kube)
    try:
        yield tracker
    finally:
        await tracker.cleanup()


async def phase_of(kube: KubeClient, rt: resources.ResourceType, name: str, namespace: str | None = None) -> str:
    try:
        obj = await kube.get(rt, name, namespace)
    except NotFound:
        return "<gone>"
    return str(obj.get("status", {}).get("phase", ""))


async def wait_phase(kube: KubeClient, rt: resources.ResourceType, name: str, phase: str, namespace: str | None = None) -> None:
    await eventually(lambda: phase_of(kube, rt, name, namespace), lambda p: p == phase, timeout=WAIT,
                     what=f"{rt.kind} {name} to be {phase}")


async def wait_event(kube: KubeClient, namespace: str, involved: str, reason: str) -> None:
    async def reasons() -> set[str]:
        events = await kube.list(resources.EVENT, namespace=namespace, field_selector=f"involvedObject.name={involved}")
        return {str(e.get("reason")) for e in events.items}

    await eventually(reasons, lambda found: reason in found, timeout=WAIT, what=f"a {reason} event for {involved}")


async def no_default_class(kube: KubeClient) -> bool:
    items = (await kube.list(CLASSES)).items
    return not any((sc["metadata"].get("annotations") or {}).get(DEFAULT_ANNOTATION) == "true" for sc in items)


def findings_on(report_findings: list[Any], pick: Callable[[ObjectKey], bool]) -> list[str]:
    return sorted(f"{f.code} {f.object}" for f in report_findings if f.code.startswith("KS4") and pick(f.object))


# --------------------------------------------------------------------------- tests


async def test_claim_naming_a_missing_storage_class(kube: KubeClient, namespace: str) -> None:
    missing = unique("ks-missing")
    await kube.create(claim("data", missing), namespace=namespace)
    await kube.create(pod_using("db", "data"), namespace=namespace)
    # The real PV controller says so too: ProvisioningFailed 'storageclass ... not found'.
    await wait_event(kube, namespace, "data", "ProvisioningFailed")

    model = await load_cluster(kube, namespace=namespace)
    report = run_checks(model)

    [f] = only(report, "KS401", "data")
    assert f.cause == ObjectKey("StorageClass", "", missing)
    assert f.related == [ObjectKey("Pod", namespace, "db")]
    assert f.evidence["storage_class"] == missing and f.evidence["pods"] == ["db"]
    assert any(line.startswith("ProvisioningFailed:") and missing in line for line in f.evidence["events"])
    assert codes_for(report, "PersistentVolumeClaim", "data") == {"KS401"}  # one finding per broken thing
    # The claim, its pod and whatever the pods analyzer says about it form one incident rooted at the class.
    [incident] = [i for i in build_incidents(model, report.findings) if f in i.findings]
    assert incident.root == ObjectKey("StorageClass", "", missing)


async def test_claim_without_class_and_no_default_class(kube: KubeClient, namespace: str) -> None:
    if not await no_default_class(kube):
        pytest.skip("the cluster has a default StorageClass")
    await kube.create(claim("data"), namespace=namespace)
    await wait_phase(kube, PVCS, "data", "Pending", namespace)

    report = await diagnose(kube, namespace)

    [f] = only(report, "KS402", "data")
    assert f.severity.label == "error" and f.object.namespace == namespace


async def test_two_default_storage_classes(kube: KubeClient, namespace: str, cluster_scoped: ClusterScoped) -> None:
    first = await cluster_scoped.create(CLASSES, storage_class_manifest(unique("ks-a-default"), default=True))
    second = await cluster_scoped.create(CLASSES, storage_class_manifest(unique("ks-b-default"), default=True))

    report = await diagnose(kube, namespace)

    [f] = only(report, "KS403")
    assert {first, second} <= set(f.evidence["default_classes"])
    assert {f.object, *f.related} >= {ObjectKey("StorageClass", "", first), ObjectKey("StorageClass", "", second)}


async def test_pending_claims_by_binding_mode(kube: KubeClient, namespace: str, cluster_scoped: ClusterScoped) -> None:
    lazy = await cluster_scoped.create(CLASSES, storage_class_manifest(unique("ks-wffc"), mode="WaitForFirstConsumer"))
    eager = await cluster_scoped.create(CLASSES, storage_class_manifest(unique("ks-immediate")))
    await kube.create(claim("later", lazy), namespace=namespace)
    await kube.create(claim("never", eager), namespace=namespace)
    # The PV controller hands "never" to the (absent) external provisioner and says it waits for it.
    await wait_event(kube, namespace, "never", "ExternalProvisioning")
    await wait_event(kube, namespace, "later", "WaitForFirstConsumer")

    report = await diagnose(kube, namespace, settings=NO_GRACE)

    # A WaitForFirstConsumer claim without a pod is simply waiting: healthy.
    assert codes_for(report, "PersistentVolumeClaim", "later") == set()
    [f] = only(report, "KS404", "never")
    assert f.severity.label == "warning"  # no pod mounts it yet
    assert f.evidence["provisioner"] == "kubesteward.io/no-such-provisioner"
    assert f.evidence["storage_class"] == eager and f.evidence["binding_mode"] == "Immediate"
    assert any("kubesteward.io/no-such-provisioner" in line for line in f.evidence["events"])
    # Within the default grace the same claim is still "being provisioned".
    assert codes_for(await diagnose(kube, namespace), "PersistentVolumeClaim", "never") == set()


async def test_released_volume_after_claim_deletion(kube: KubeClient, namespace: str, cluster_scoped: ClusterScoped) -> None:
    volume = await cluster_scoped.create(PVS, host_path_volume(unique("ks-retain"), "Retain", "/kubesteward-e2e/retain", reserved_for=(namespace, "data")))
    await kube.create(claim("data", "", volume=volume), namespace=namespace)
    await wait_phase(kube, PVCS, "data", "Bound", namespace)
    await wait_phase(kube, PVS, volume, "Bound")

    bound = await diagnose(kube, namespace, settings=NO_GRACE)
    assert findings_on(bound.findings, lambda k: k.name in (volume, "data")) == []  # healthy binding: silent

    await kube.delete(PVCS, "data", namespace=namespace)
    await wait_phase(kube, PVS, volume, "Released")

    report = await diagnose(kube, namespace)

    [f] = only(report, "KS407", volume)
    assert f.severity.label == "warning"
    assert f.evidence["reclaim_policy"] == "Retain" and f.evidence["claim"] == f"{namespace}/data"
    assert f.related == [ObjectKey("PersistentVolumeClaim", namespace, "data")]


async def test_failed_volume_reports_the_controller_message(kube: KubeClient, namespace: str, cluster_scoped: ClusterScoped) -> None:
    # The in-tree hostPath deleter refuses paths outside /tmp/: with reclaim policy Delete the PV
    # controller marks the volume Failed (and, by design, touches nothing on disk).
    volume = await cluster_scoped.create(PVS, host_path_volume(unique("ks-delete"), "Delete", "/kubesteward-e2e/delete", reserved_for=(namespace, "data")))
    await kube.create(claim("data", "", volume=volume), namespace=namespace)
    await wait_phase(kube, PVCS, "data", "Bound", namespace)
    await kube.delete(PVCS, "data", namespace=namespace)
    await wait_phase(kube, PVS, volume, "Failed")

    report = await diagnose(kube, namespace)

    [f] = only(report, "KS406", volume)
    assert f.severity.label == "error"
    assert "/kubesteward-e2e/delete" in f.evidence["message"] and f.evidence["reclaim_policy"] == "Delete"
    assert f.evidence["message"] in f.message


async def test_claim_whose_volume_vanished_is_lost(kube: KubeClient, namespace: str, cluster_scoped: ClusterScoped) -> None:
    volume = await cluster_scoped.create(PVS, host_path_volume(unique("ks-lost"), "Retain", "/kubesteward-e2e/lost", reserved_for=(namespace, "data")))
    await kube.create(claim("data", "", volume=volume), namespace=namespace)
    await wait_phase(kube, PVCS, "data", "Bound", namespace)
    # Force the volume away past its pv-protection finalizer: the PV controller then marks the claim Lost.
    await kube.delete(PVS, volume)
    await kube.patch(PVS, volume, {"metadata": {"finalizers": None}})
    await wait_phase(kube, PVCS, "data", "Lost", namespace)

    report = await diagnose(kube, namespace)

    [f] = only(report, "KS405", "data")
    assert f.cause == ObjectKey("PersistentVolume", "", volume) and f.evidence["volume_name"] == volume
