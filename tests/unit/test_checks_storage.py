"""Storage analyzers (KS4xx) on hand-built models shaped like ``kubectl get -o json`` output."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from kubesteward.checks import storage
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Code, Finding, Severity
from kubesteward.findings.incidents import build_incidents
from kubesteward.model.cluster import ClusterModel, ObjectKey
from kubesteward.model.files import model_from_objects

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


OLD = ago(7200)
YOUNG = ago(20)
NS = "db"
Obj = dict[str, Any]
Analyzer = Callable[[ClusterModel, CheckSettings], Iterable[Finding]]
DEFAULT = {"storageclass.kubernetes.io/is-default-class": "true"}
UNSET = object()  # storageClassName absent (not the same as "")


# --------------------------------------------------------------------------- builders


def meta(name: str, ns: str = NS, *, created: str = OLD, **extra: Any) -> Obj:
    m: Obj = {"name": name, "creationTimestamp": created, **extra}
    if ns:
        m["namespace"] = ns
    return m


def storage_class(name: str, *, default: bool = False, mode: str = "Immediate", created: str = OLD,
                  annotations: dict[str, str] | None = None) -> Obj:
    return {"kind": "StorageClass", "metadata": meta(name, "", created=created, annotations=annotations or (DEFAULT if default else {})),
            "provisioner": "ebs.csi.aws.com", "volumeBindingMode": mode}


def pvc(name: str, cls: object = "fast", *, phase: str = "Pending", volume: str = "", created: str = OLD, **metadata: Any) -> Obj:
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if cls is not UNSET:
        spec["storageClassName"] = cls
    if volume:
        spec["volumeName"] = volume
    return {"kind": "PersistentVolumeClaim", "metadata": meta(name, created=created, **metadata), "spec": spec, "status": {"phase": phase}}


def pv(name: str, *, phase: str = "Bound", cls: str = "fast", policy: str = "Retain", claim: str | None = "data",
       reason: str = "", message: str = "") -> Obj:
    spec: Obj = {"storageClassName": cls, "persistentVolumeReclaimPolicy": policy, "capacity": {"storage": "1Gi"}}
    if claim:
        spec["claimRef"] = {"kind": "PersistentVolumeClaim", "namespace": NS, "name": claim}
    return {"kind": "PersistentVolume", "metadata": meta(name, ""), "spec": spec,
            "status": {"phase": phase, "reason": reason, "message": message}}


def pod(name: str, claim: str, *, phase: str = "Pending", owner: tuple[str, str] | None = None) -> Obj:
    m = meta(name)
    if owner:
        m["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": f"uid-{owner[0]}-{owner[1]}", "controller": True}]
    return {"kind": "Pod", "metadata": m,
            "spec": {"containers": [{"name": "db"}], "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]},
            "status": {"phase": phase}}


def event(kind: str, name: str, reason: str, message: str, type_: str = "Warning", ns: str = NS) -> Obj:
    return {"kind": "Event", "metadata": meta(f"{name}.{reason.lower()}", ns or "default"),
            "involvedObject": {"kind": kind, "name": name, "namespace": ns}, "reason": reason, "message": message,
            "type": type_, "count": 3, "lastTimestamp": ago(30)}


def build(*objects: Obj, loaded: Iterable[str] = ()) -> ClusterModel:
    for obj in objects:
        obj["metadata"].setdefault("uid", f"uid-{obj['kind']}-{obj['metadata']['name']}")
    model, ignored = model_from_objects(list(objects), now=NOW)
    assert not ignored
    model.loaded.update(loaded)  # kinds listed but empty (e.g. a cluster without any StorageClass)
    return model


def run(analyzer: Analyzer, model: ClusterModel, settings: CheckSettings | None = None) -> list[Finding]:
    return list(analyzer(model, settings or CheckSettings()))


def codes(findings: Iterable[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


# --------------------------------------------------------------------------- healthy


def test_bound_claims_and_volumes_are_silent() -> None:
    model = build(storage_class("fast", default=True), pvc("data", phase="Bound", volume="pv-1"), pv("pv-1"),
                  pv("spare", phase="Available", claim=None), pod("db-0", "data", phase="Running"))
    assert run(storage.claims, model) == []
    assert run(storage.volumes, model) == []
    assert run(storage.default_classes, model) == []


def test_young_pending_claim_is_still_provisioning() -> None:
    model = build(storage_class("fast"), pvc("data", created=YOUNG))
    assert run(storage.claims, model) == []


# --------------------------------------------------------------------------- storage classes


def test_claim_naming_a_missing_storage_class() -> None:
    model = build(storage_class("standard"), pvc("data", "gp2", created=YOUNG), pod("db-0", "data"), pod("other", "else"),
                  event("PersistentVolumeClaim", "data", "ProvisioningFailed", 'storageclass.storage.k8s.io "gp2" not found'))
    [f] = run(storage.claims, model)  # definitive: no grace period
    assert f.code == "KS401" and f.severity is Severity.ERROR
    assert f.object == ObjectKey("PersistentVolumeClaim", NS, "data")
    assert f.cause == ObjectKey("StorageClass", "", "gp2")
    assert f.related == [ObjectKey("Pod", NS, "db-0")]
    assert f.evidence["storage_class"] == "gp2" and f.evidence["available_classes"] == ["standard"]
    assert f.evidence["pods"] == ["db-0"]
    assert f.evidence["events"] == ['ProvisioningFailed: storageclass.storage.k8s.io "gp2" not found (x3)']
    assert "1 pod waiting" in f.message and "gp2" in f.remediation.text


def test_missing_class_is_linked_into_one_incident_with_its_pods() -> None:
    model = build(pvc("data", "gp2"), pod("db-0", "data"), loaded=["StorageClass"])
    [f] = run(storage.claims, model)
    [incident] = build_incidents(model, [f])
    assert incident.root == ObjectKey("StorageClass", "", "gp2") and incident.pods == 1


def test_class_name_used_only_by_static_volumes_is_not_missing() -> None:
    # The docs' "manual" class: PVs carry the name, no StorageClass object exists.
    model = build(storage_class("fast"), pvc("data", "manual"), pv("pv-small", phase="Available", cls="manual", claim=None))
    [f] = run(storage.claims, model)
    assert f.code == "KS404" and f.cause is None


def test_missing_class_needs_storage_classes_loaded() -> None:
    model = build(pvc("data", "gp2", created=YOUNG))  # StorageClass not listed (RBAC): cannot say "missing"
    assert run(storage.claims, model) == []


def test_claim_without_class_and_no_default_class() -> None:
    model = build(storage_class("slow"), pvc("data", UNSET), pod("db-0", "data"))
    [f] = run(storage.claims, model)
    assert f.code == "KS402" and f.severity is Severity.ERROR
    assert f.evidence["available_classes"] == ["slow"] and f.related == [ObjectKey("Pod", NS, "db-0")]


def test_claim_without_class_is_fine_when_a_default_exists_or_a_classless_volume_is_available() -> None:
    with_default = build(storage_class("slow", default=True), pvc("data", UNSET, created=YOUNG))
    assert run(storage.claims, with_default) == []
    [stuck] = run(storage.claims, with_default, CheckSettings(pod_pending_seconds=5))  # the default applies
    assert stuck.code == "KS404" and stuck.evidence["storage_class"] == "slow" and "default StorageClass slow" in stuck.message
    static = build(storage_class("slow"), pvc("data", UNSET, created=YOUNG), pv("pv-1", phase="Available", cls="", claim=None))
    assert run(storage.claims, static) == []


def test_explicit_empty_class_means_static_binding_not_default() -> None:
    model = build(storage_class("slow"), pvc("data", ""))
    [f] = run(storage.claims, model)
    assert f.code == "KS404" and "without a class" in f.message


def test_more_than_one_default_storage_class() -> None:
    beta = {"storageclass.beta.kubernetes.io/is-default-class": "true"}
    model = build(storage_class("b-fast", default=True, created=ago(100)), storage_class("a-slow", annotations=beta, created=ago(9000)),
                  storage_class("c-other"))
    [f] = run(storage.default_classes, model)
    assert f.code == "KS403" and f.severity is Severity.WARNING
    assert f.object == ObjectKey("StorageClass", "", "a-slow")
    assert f.related == [ObjectKey("StorageClass", "", "b-fast")]
    assert f.evidence == {"default_classes": ["a-slow", "b-fast"], "effective_default": "b-fast"}


# --------------------------------------------------------------------------- pending


def test_wait_for_first_consumer_without_consumer_is_silent() -> None:
    model = build(storage_class("local", mode="WaitForFirstConsumer"), pvc("data", "local"))
    assert run(storage.claims, model) == []


def test_wait_for_first_consumer_waiting_for_its_pod_to_schedule_is_silent() -> None:
    # The pod is Pending (unschedulable, say): the pods analyzer explains that, not the claim.
    model = build(storage_class("local", mode="WaitForFirstConsumer"), pvc("data", "local"), pod("db-0", "data"))
    assert run(storage.claims, model) == []


def test_wait_for_first_consumer_failing_after_node_selection() -> None:
    selected = {"volume.kubernetes.io/selected-node": "n1"}
    model = build(storage_class("local", mode="WaitForFirstConsumer"), pvc("data", "local", annotations=selected), pod("db-0", "data"))
    [f] = run(storage.claims, model)
    assert f.code == "KS404" and f.severity is Severity.ERROR
    assert f.evidence["binding_mode"] == "WaitForFirstConsumer" and f.evidence["pods"] == ["db-0"]


def test_pending_with_provisioning_failures_carries_the_events() -> None:
    failed = event("PersistentVolumeClaim", "data", "ProvisioningFailed", "rpc error: quota exceeded")
    model = build(storage_class("fast"), pvc("data"), failed, pod("db-0", "data"))
    [f] = run(storage.claims, model)
    assert f.code == "KS404" and f.severity is Severity.ERROR
    assert f.evidence["events"] == ["ProvisioningFailed: rpc error: quota exceeded (x3)"]
    assert f.evidence["provisioner"] == "ebs.csi.aws.com" and f.evidence["storage_class"] == "fast"
    assert "Pending for 120m" in f.message


def test_pending_without_any_pod_is_only_a_warning_and_shows_the_provisioner_note() -> None:
    waiting = event("PersistentVolumeClaim", "data", "ExternalProvisioning",
                    "Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com'", type_="Normal")
    model = build(storage_class("fast"), pvc("data"), waiting, pod("done", "data", phase="Succeeded"))
    [f] = run(storage.claims, model)
    assert f.code == "KS404" and f.severity is Severity.WARNING
    assert f.evidence["events"][0].startswith("ExternalProvisioning: Waiting for a volume")
    assert "pods" not in f.evidence and f.related == [ObjectKey("Pod", NS, "done")]


def test_pending_without_pods_loaded_is_not_downgraded() -> None:
    # Pods could not be listed: "no pod uses it" is unknown, so keep the code's severity.
    [f] = run(storage.claims, build(storage_class("fast"), pvc("data")))
    assert f.code == "KS404" and f.severity is Severity.ERROR


def test_pending_grace_follows_the_settings() -> None:
    model = build(storage_class("fast"), pvc("data", created=YOUNG))
    assert codes(run(storage.claims, model, CheckSettings(pod_pending_seconds=5))) == ["KS404"]


def test_prebound_to_a_volume_that_does_not_exist() -> None:
    model = build(storage_class("fast"), pvc("data", "gp2", volume="pv-gone"), pv("pv-other"))
    [f] = run(storage.claims, model)  # volumeName wins: the missing class is irrelevant then
    assert f.code == "KS404" and f.cause == ObjectKey("PersistentVolume", "", "pv-gone")
    assert "pv-gone does not exist" in f.message


def test_generic_ephemeral_claim_is_related_to_its_owner_pod() -> None:
    model = build(pvc("web-0-cache", "gp2", ownerReferences=[{"kind": "Pod", "name": "web-0", "uid": "uid-Pod-web-0", "controller": True}]),
                  {"kind": "Pod", "metadata": meta("web-0"), "spec": {"containers": [{"name": "c"}]}}, loaded=["StorageClass"])
    [f] = run(storage.claims, model)
    assert f.code == "KS401" and f.related == [ObjectKey("Pod", NS, "web-0")]


def test_claim_being_deleted_is_skipped() -> None:
    model = build(storage_class("fast"), pvc("data", "gp2", deletionTimestamp=YOUNG))
    assert run(storage.claims, model) == []


# --------------------------------------------------------------------------- lost, failed, released


def test_lost_claim_points_at_its_vanished_volume() -> None:
    model = build(pvc("data", phase="Lost", volume="pv-1"), pod("db-0", "data", phase="Running"))
    [f] = run(storage.claims, model)
    assert f.code == "KS405" and f.severity is Severity.ERROR
    assert f.cause == ObjectKey("PersistentVolume", "", "pv-1") and f.related == [ObjectKey("Pod", NS, "db-0")]
    assert f.evidence == {"volume_name": "pv-1", "pods": ["db-0"]}


def test_failed_volume_reports_reason_and_message() -> None:
    model = build(pv("pv-1", phase="Failed", policy="Delete", reason="VolumeFailedDelete", message="host_path deleter only supports /tmp/.+"))
    [f] = run(storage.volumes, model)
    assert f.code == "KS406" and f.severity is Severity.ERROR
    assert f.evidence["reason"] == "VolumeFailedDelete" and f.evidence["message"] == "host_path deleter only supports /tmp/.+"
    assert f.evidence["claim"] == f"{NS}/data" and f.related == [ObjectKey("PersistentVolumeClaim", NS, "data")]
    assert "host_path deleter" in f.message


def test_released_retained_volume_is_a_warning() -> None:
    model = build(pv("pv-1", phase="Released", policy="Retain"))
    [f] = run(storage.volumes, model)
    assert f.code == "KS407" and f.severity is Severity.WARNING
    assert f.evidence["reclaim_policy"] == "Retain" and f"was {NS}/data" in f.message
    assert "kubectl patch pv pv-1" in f.remediation.text


def test_released_delete_volume_is_silent_unless_reclaim_fails() -> None:
    assert run(storage.volumes, build(pv("pv-1", phase="Released", policy="Delete"))) == []
    failing = event("PersistentVolume", "pv-1", "VolumeFailedDelete", "driver not found", ns="")
    [f] = run(storage.volumes, build(pv("pv-1", phase="Released", policy="Delete"), failing))
    assert f.code == "KS407" and "driver not found" in f.message


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("code", [c for c in storage.__dict__.values() if isinstance(c, Code)], ids=lambda c: c.code)
def test_codes_are_documented(code: Code) -> None:
    assert code.code.startswith("KS4") and code.area == "storage"
    assert len(code.explanation) > 150 and "kubectl" in code.remediation.text
