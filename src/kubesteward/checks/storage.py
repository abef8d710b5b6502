"""Storage analyzers (KS4xx): PersistentVolumeClaims, PersistentVolumes, StorageClasses.

A Pending PVC is explained from the model in the order the PV controller
itself decides: a pre-bound volumeName, then the StorageClass (named and
missing, or unnamed with no default), then the binding mode (a
WaitForFirstConsumer claim waits for its pod, which is fine), and only then
"pending for too long" with the provisioner's events as evidence.

The pods stuck on a Pending PVC are the pods analyzer's findings (their cause
is the PVC); here they only appear as ``related``. A StatefulSet whose
volumeClaimTemplates name a missing StorageClass is reported through the PVCs
it creates, so each broken thing yields one finding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from kubesteward.checks.base import analyzer
from kubesteward.checks.evidence import event_lines
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Finding, Severity, finding
from kubesteward.findings.catalogue.storage import (
    MULTIPLE_DEFAULT_CLASSES,
    PV_FAILED,
    PV_RELEASED,
    PVC_CLASS_MISSING,
    PVC_LOST,
    PVC_NO_DEFAULT_CLASS,
    PVC_PENDING,
)
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, ObjectKey, key_of
from kubesteward.model.semantics import lifecycle

# Both annotations are still honoured by the DefaultStorageClass admission plugin
# and the PV controller (the beta one survives in older installers' manifests).
DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
# Set by the scheduler on a WaitForFirstConsumer claim once it picked a node for
# the consuming pod: from then on, provisioning is the provisioner's job.
SELECTED_NODE_ANNOTATION = "volume.kubernetes.io/selected-node"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"




# --------------------------------------------------------------------------- helpers


def is_default_class(sc: o.StorageClass) -> bool:
    annotations = sc.metadata.annotations or {}
    return any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


def _claim_users(model: ClusterModel) -> dict[tuple[str, str], list[o.Pod]]:
    """Pods per (namespace, claim) that mount it through a persistentVolumeClaim volume."""
    users: dict[tuple[str, str], list[o.Pod]] = defaultdict(list)
    for pod in model.pods:
        for volume in pod.spec.volumes or ():
            if volume.persistentVolumeClaim is not None:
                users[(pod.metadata.namespace, volume.persistentVolumeClaim.claimName)].append(pod)
    return users


@dataclass
class _Claim:
    """A PVC with everything the checks below need to know about it."""

    pvc: o.PersistentVolumeClaim
    pods: list[o.Pod]  # pods mounting it (any phase)
    owner_pod: ObjectKey | None  # generic ephemeral volume: the pod owning the claim

    @property
    def key(self) -> ObjectKey:
        return key_of(self.pvc)

    @property
    def consumers(self) -> list[o.Pod]:
        """Pods that still want the volume (completed ones do not)."""
        return [p for p in self.pods if not lifecycle.finished(p)]

    @property
    def related(self) -> list[ObjectKey]:
        keys = [key_of(p) for p in self.pods]
        if self.owner_pod is not None and self.owner_pod not in keys:
            keys.append(self.owner_pod)
        return keys

    @property
    def fill(self) -> dict[str, str]:
        return {"namespace": self.key.namespace, "pvc": self.key.name}


def _claims(model: ClusterModel) -> Iterator[_Claim]:
    users = _claim_users(model)
    for pvc in model.pvcs:
        ref = pvc.metadata.controller()
        owner = model.owner_key(pvc) if ref is not None and ref.kind == "Pod" else None
        yield _Claim(pvc, users.get((pvc.metadata.namespace, pvc.metadata.name), []), owner)


def _pod_names(pods: list[o.Pod]) -> list[str]:
    return sorted(p.metadata.name for p in pods)


# --------------------------------------------------------------------------- claims


@analyzer(codes=[PVC_CLASS_MISSING, PVC_NO_DEFAULT_CLASS, PVC_PENDING, PVC_LOST], requires=["PersistentVolumeClaim"])
def claims(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for claim in _claims(model):
        # A claim going away is on its way out; a stuck deletion is a different problem.
        if lifecycle.going_away(claim.pvc.metadata, leaving):
            continue
        if claim.pvc.status.phase == "Lost":
            yield _lost(claim)
        elif claim.pvc.status.phase == "Pending":
            found = _pending(model, claim, settings)
            if found is not None:
                yield found


def _lost(claim: _Claim) -> Finding:
    volume = claim.pvc.spec.volumeName
    return finding(
        PVC_LOST, claim.key, f"bound volume {volume or '(unknown)'} no longer exists; the claim is Lost",
        evidence={"volume_name": volume, "pods": _pod_names(claim.pods)},
        fill={**claim.fill, "volume": volume} if volume else claim.fill,
        cause=ObjectKey("PersistentVolume", "", volume) if volume else None,
        related=claim.related,
    )


def _classless_volumes_available(model: ClusterModel) -> bool:
    return any(pv.status.phase == "Available" and not pv.spec.storageClassName for pv in model.every("PersistentVolume"))


def _volumes_with_class(model: ClusterModel, name: str) -> int:
    return sum(1 for pv in model.every("PersistentVolume") if pv.spec.storageClassName == name)


def _pending(model: ClusterModel, claim: _Claim, settings: CheckSettings) -> Finding | None:
    pvc = claim.pvc
    name = pvc.spec.storageClassName
    # Pre-bound to a named volume: the PV controller never looks at classes or provisioners then.
    if pvc.spec.volumeName:
        return _stuck(model, claim, settings, None)
    if name and model.has("StorageClass") and model.storage_class(name) is None:
        # Static volumes may use a class name without a StorageClass object ("manual" in the docs);
        # then the class is fine and the claim just waits for a matching volume.
        if not (model.has("PersistentVolume") and _volumes_with_class(model, name)):
            return _class_missing(model, claim, name, settings)
        return _stuck(model, claim, settings, None)
    if name is None and model.has("StorageClass") and not any(is_default_class(sc) for sc in model.every("StorageClass")):
        if not (model.has("PersistentVolume") and _classless_volumes_available(model)):
            return _no_default(model, claim, settings)
        return _stuck(model, claim, settings, None)
    sc = model.storage_class(name) if name else _effective_default(model) if name is None else None
    if sc is not None and sc.volumeBindingMode == WAIT_FOR_FIRST_CONSUMER and not _provisioning_started(model, claim):
        return None  # binds once a consuming pod is scheduled; until then Pending is the normal state
    return _stuck(model, claim, settings, sc)


def _effective_default(model: ClusterModel) -> o.StorageClass | None:
    """The default class a class-less claim gets (the newest one when several are marked)."""
    defaults = [sc for sc in model.every("StorageClass") if is_default_class(sc)]
    return max(defaults, key=lambda sc: (sc.metadata.creationTimestamp or "", sc.metadata.name), default=None)


def _provisioning_started(model: ClusterModel, claim: _Claim) -> bool:
    """For WaitForFirstConsumer: a pod wants it AND the scheduler picked a node (or provisioning failed)."""
    if not claim.consumers:
        return False
    picked = SELECTED_NODE_ANNOTATION in (claim.pvc.metadata.annotations or {})
    return picked or bool(model.events_for(claim.pvc))


def _class_missing(model: ClusterModel, claim: _Claim, name: str, settings: CheckSettings) -> Finding:
    users = _pod_names(claim.consumers)
    waiting = f"; {len(users)} pod{'s' if len(users) != 1 else ''} waiting for it" if users else ""
    return finding(
        PVC_CLASS_MISSING, claim.key, f"StorageClass {name} does not exist{waiting}",
        evidence={
            "storage_class": name,
            "available_classes": sorted(sc.metadata.name for sc in model.every("StorageClass")),
            "pods": users,
            "events": event_lines(model, claim.pvc, settings.evidence_events),
        },
        fill={**claim.fill, "class": name},
        cause=ObjectKey("StorageClass", "", name),
        related=claim.related,
    )


def _no_default(model: ClusterModel, claim: _Claim, settings: CheckSettings) -> Finding:
    users = _pod_names(claim.consumers)
    return finding(
        PVC_NO_DEFAULT_CLASS, claim.key, "no storageClassName and no default StorageClass: nothing will provision it",
        evidence={
            "available_classes": sorted(sc.metadata.name for sc in model.every("StorageClass")),
            "pods": users,
            "events": event_lines(model, claim.pvc, settings.evidence_events),
        },
        fill=claim.fill,
        related=claim.related,
    )


def _latest_note(model: ClusterModel, pvc: o.PersistentVolumeClaim, limit: int) -> list[str]:
    """Warning events, or else the newest normal one: "waiting for a volume to be created, either by
    external provisioner X" is the best evidence that a provisioner is simply not running."""
    lines = event_lines(model, pvc, limit)
    if lines:
        return lines
    normal = model.events_for(pvc, warnings_only=False)[:1]
    return [f"{e.reason}: {e.message}" for e in normal]


def _stuck(model: ClusterModel, claim: _Claim, settings: CheckSettings, sc: o.StorageClass | None) -> Finding | None:
    pvc = claim.pvc
    age = model.age_seconds(pvc.metadata.creationTimestamp)
    # Same grace as a pending pod: provisioning a volume is part of starting the pod that needs it.
    if age is not None and age < settings.pod_pending_seconds:
        return None
    volume = pvc.spec.volumeName
    missing_volume = bool(volume) and model.has("PersistentVolume") and model.get("PersistentVolume", "", volume) is None
    users = _pod_names(claim.consumers)
    if missing_volume:
        reason = f"pre-bound volume {volume} does not exist"
    elif volume:
        reason = f"waiting for pre-bound volume {volume}"
    elif sc is not None:
        which = "default StorageClass" if pvc.spec.storageClassName is None else "StorageClass"
        reason = f"{which} {sc.metadata.name} (provisioner {sc.provisioner or 'none'}) has not provided a volume"
    elif pvc.spec.storageClassName == "":
        reason = "no Available PersistentVolume without a class matches it"
    else:
        reason = "not bound to any volume"
    since = f" for {age / 60:.0f}m" if age is not None else ""
    return finding(
        PVC_PENDING, claim.key, f"Pending{since}: {reason}",
        evidence={
            "storage_class": pvc.spec.storageClassName or (sc.metadata.name if sc else None),
            "provisioner": sc.provisioner if sc else None,
            "binding_mode": sc.volumeBindingMode if sc else None,
            "volume_name": volume,
            "access_modes": pvc.spec.accessModes or [],
            "pods": users,
            "events": _latest_note(model, pvc, settings.evidence_events),
        },
        # Nobody waits on it yet (as far as we can see): worth fixing, but no outage.
        severity=Severity.WARNING if not users and model.has("Pod", pvc.metadata.namespace) else None,
        fill={**claim.fill, "class": pvc.spec.storageClassName} if pvc.spec.storageClassName else claim.fill,
        cause=ObjectKey("PersistentVolume", "", volume) if missing_volume else None,
        related=claim.related,
    )


# --------------------------------------------------------------------------- classes


@analyzer(codes=[MULTIPLE_DEFAULT_CLASSES], requires=["StorageClass"])
def default_classes(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    defaults = sorted((sc for sc in model.every("StorageClass") if is_default_class(sc)), key=lambda sc: sc.metadata.name)
    if len(defaults) < 2:
        return
    names = [sc.metadata.name for sc in defaults]
    # The admission plugin gives class-less claims the newest default; say which one that is.
    newest = _effective_default(model)
    assert newest is not None
    yield finding(
        MULTIPLE_DEFAULT_CLASSES, key_of(defaults[0]),
        f"{len(defaults)} StorageClasses are marked default ({', '.join(names)}); claims without a class get {newest.metadata.name}",
        evidence={"default_classes": names, "effective_default": newest.metadata.name},
        fill={"class": names[0]},
        related=[key_of(sc) for sc in defaults[1:]],
    )


# --------------------------------------------------------------------------- volumes


def _claim_ref(pv: o.PersistentVolume) -> ObjectKey | None:
    ref = pv.spec.claimRef
    return ObjectKey("PersistentVolumeClaim", ref.namespace, ref.name) if ref is not None and ref.name else None


@analyzer(codes=[PV_FAILED, PV_RELEASED], requires=["PersistentVolume"])
def volumes(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for pv in model.pvs:
        if lifecycle.terminating(pv.metadata):
            continue
        if pv.status.phase == "Failed":
            yield _failed(model, pv, settings)
        elif pv.status.phase == "Released":
            found = _released(model, pv, settings)
            if found is not None:
                yield found


def _volume_evidence(model: ClusterModel, pv: o.PersistentVolume, settings: CheckSettings) -> dict[str, object]:
    claim = _claim_ref(pv)
    return {
        "reason": pv.status.reason,
        "message": pv.status.message,
        "reclaim_policy": pv.spec.persistentVolumeReclaimPolicy,
        "storage_class": pv.spec.storageClassName,
        "claim": f"{claim.namespace}/{claim.name}" if claim else None,
        "events": event_lines(model, pv, settings.evidence_events),
    }


def _failed(model: ClusterModel, pv: o.PersistentVolume, settings: CheckSettings) -> Finding:
    detail = pv.status.message or pv.status.reason or "no reason recorded"
    claim = _claim_ref(pv)
    return finding(
        PV_FAILED, key_of(pv), f"reclaiming failed: {detail}",
        evidence=_volume_evidence(model, pv, settings),
        fill={"volume": pv.metadata.name},
        related=[claim] if claim else [],
    )


def _released(model: ClusterModel, pv: o.PersistentVolume, settings: CheckSettings) -> Finding | None:
    # The API defaults an unset policy to Retain.
    policy = pv.spec.persistentVolumeReclaimPolicy or "Retain"
    warnings = event_lines(model, pv, settings.evidence_events)
    if policy != "Retain" and not warnings:
        return None  # Delete/Recycle is in progress: the volume disappears or becomes Available shortly
    claim = _claim_ref(pv)
    former = f" (was {claim.namespace}/{claim.name})" if claim else ""
    if policy == "Retain":
        message = f"claim deleted{former}; reclaim policy Retain keeps the data, but no new claim can bind until it is cleaned up"
    else:
        message = f"claim deleted{former}; reclaim policy {policy} is not completing: {warnings[0]}"
    return finding(
        PV_RELEASED, key_of(pv), message,
        evidence=_volume_evidence(model, pv, settings),
        fill={"volume": pv.metadata.name},
        related=[claim] if claim else [],
    )
