"""Rollout state and revisions of Deployments, StatefulSets and DaemonSets: what a deploy waits
on, what it rolls back to, and what the workload analyzer judges.

A rollout is judged from the controller's status, and only once that status is about the
current spec: ``status.observedGeneration`` reaching ``metadata.generation`` (until then it
describes the previous spec, and a rollout that has not started would look complete). The
counts are then compared as ``kubectl rollout status`` compares them:

- Deployment: complete when every desired replica runs the current template
  (``updatedReplicas``), no replica of an older one is left (``replicas``), and every updated
  one is available (Ready for ``minReadySeconds``). This is also when the controller sets
  Progressing=True NewReplicaSetAvailable. A paused Deployment makes no progress and its
  progress deadline is not enforced. Once a new ReplicaSet has made no progress for
  ``progressDeadlineSeconds`` (600 by default) the controller sets Progressing=False
  ProgressDeadlineExceeded: the rollout has failed, though the controller keeps trying.
- StatefulSet (RollingUpdate): complete when every desired replica is Ready and the pods
  from the partition ordinal up run the update revision. With OnDelete the controller never
  replaces a pod: deleting the old pods is the rollout.
- DaemonSet (RollingUpdate): complete when every node that should run a pod runs an updated
  one and it is available. OnDelete: as for StatefulSets.

Revisions: a Deployment's are its ReplicaSets, numbered by the
``deployment.kubernetes.io/revision`` annotation (the Deployment carries its new ReplicaSet's
number; ``rollout undo`` renumbers the ReplicaSet it returns to as the newest), so its history
is its ReplicaSets in revision order and the newest is the current template's. StatefulSets and
DaemonSets keep theirs as ControllerRevisions, numbered by their ``revision`` field; a
StatefulSet's status names its current and update ControllerRevisions, and every pod of either
kind names its own in the ``controller-revision-hash`` label.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubesteward.model import objects as o
from kubesteward.model.semantics.ownership import controlled_by

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
# A Deployment's ReplicaSets and their pods carry their template's hash under this label.
POD_TEMPLATE_HASH = "pod-template-hash"
# StatefulSet pods carry their ControllerRevision's name under this label, DaemonSet pods (and
# the ControllerRevisions themselves) its hash: the name is then ``<daemonset>-<hash>``.
CONTROLLER_REVISION_HASH = "controller-revision-hash"
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"
ON_DELETE = "OnDelete"


class RolloutState(enum.Enum):
    UNOBSERVED = "unobserved"  # the controller has not reported on the current spec yet
    PROGRESSING = "progressing"
    PAUSED = "paused"  # a Deployment paused before it completed: no progress until resumed
    ON_DELETE = "on-delete"  # OnDelete strategy, pods still on an old revision: only deleting them proceeds
    DEADLINE_EXCEEDED = "deadline-exceeded"  # a Deployment made no progress for progressDeadlineSeconds
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class Rollout:
    """A workload's rollout as its status tells it."""

    kind: str
    namespace: str
    name: str
    state: RolloutState
    desired: int
    updated: int  # pods of the current template
    ready: int
    available: int
    total: int  # pods of every revision, old ones included
    # Deployment: its revision number ("3"); StatefulSet: the update ControllerRevision's name;
    # DaemonSet: "" (it is a ControllerRevision's: :func:`latest_revision`).
    revision: str
    message: str  # what it waits for, or why it stopped, in kubectl's terms

    @property
    def complete(self) -> bool:
        return self.state is RolloutState.COMPLETE

    @property
    def failed(self) -> bool:
        return self.state is RolloutState.DEADLINE_EXCEEDED


def desired_replicas(replicas: int | None) -> int:
    """``spec.replicas``, which the API server defaults to 1 when a manifest omits it."""
    return 1 if replicas is None else replicas


def status_current(meta: o.ObjectMeta, observed_generation: int) -> bool:
    """The controller has observed the current spec, so its status describes it."""
    return observed_generation >= meta.generation


def status_outdated(meta: o.ObjectMeta, observed_generation: int) -> bool:
    """The status describes an older spec (a change the controller has not acted on yet): judging
    it would judge the old spec. A status never written (a manifest file: observedGeneration 0)
    is not outdated: it is all there is to read."""
    return 0 < observed_generation < meta.generation


def _on_delete(strategy: o.UpdateStrategy | None) -> bool:
    return strategy is not None and strategy.type == ON_DELETE


# --------------------------------------------------------------------------- Deployments


def progress_deadline_exceeded(dep: o.Deployment) -> bool:
    """Progressing=False ProgressDeadlineExceeded: the newest ReplicaSet stopped making progress."""
    progressing = o.condition(dep.status.conditions, "Progressing")
    return progressing is not None and progressing.status == "False" and progressing.reason == PROGRESS_DEADLINE_EXCEEDED


def deployment_complete(dep: o.Deployment) -> bool:
    """Every desired replica updated and available, no old replica left (counts only: see
    :func:`deployment_state` for whether they are about the current spec)."""
    st = dep.status
    return (
        st.updatedReplicas >= desired_replicas(dep.spec.replicas)
        and st.replicas <= st.updatedReplicas
        and st.availableReplicas >= st.updatedReplicas
    )


def deployment_unavailable(dep: o.Deployment) -> bool:
    """Below its minimum availability: Available=False (fewer than ``replicas - maxUnavailable``
    replicas available), or not one replica available (also where no condition was written)."""
    available = o.condition(dep.status.conditions, "Available")
    return (available is not None and available.status == "False") or dep.status.availableReplicas == 0


def deployment_state(dep: o.Deployment) -> RolloutState:
    if not status_current(dep.metadata, dep.status.observedGeneration):
        return RolloutState.UNOBSERVED
    if deployment_complete(dep):
        return RolloutState.COMPLETE  # first: a deadline condition may lag the completion it was overtaken by
    if dep.spec.paused:
        return RolloutState.PAUSED
    if progress_deadline_exceeded(dep):
        return RolloutState.DEADLINE_EXCEEDED
    return RolloutState.PROGRESSING


def deployment_rollout(dep: o.Deployment) -> Rollout:
    st = dep.status
    desired = desired_replicas(dep.spec.replicas)
    state = deployment_state(dep)
    if state is RolloutState.DEADLINE_EXCEEDED:
        progressing = o.condition(st.conditions, "Progressing")
        deadline = dep.spec.progressDeadlineSeconds or DEFAULT_PROGRESS_DEADLINE_SECONDS
        progress = f"no progress for {deadline}s" + (f": {progressing.message}" if progressing and progressing.message else "")
    elif st.updatedReplicas < desired:
        progress = f"{st.updatedReplicas} of {desired} new replicas updated"
    elif st.replicas > st.updatedReplicas:
        progress = f"{st.replicas - st.updatedReplicas} old replicas pending termination"
    else:
        progress = f"{st.availableReplicas} of {st.updatedReplicas} updated replicas available"
    if state is RolloutState.PAUSED:
        progress = f"paused: {progress}"
    message = _message(state, dep.metadata, progress, complete=f"rolled out: {st.updatedReplicas} updated replicas available",
                       updated=st.updatedReplicas, wanted=desired)
    return Rollout(
        "Deployment", dep.metadata.namespace, dep.metadata.name, state, desired, st.updatedReplicas,
        st.readyReplicas, st.availableReplicas, st.replicas, str(deployment_revision(dep) or ""), message,
    )


def _revision_number(meta: o.ObjectMeta) -> int:
    raw = (meta.annotations or {}).get(REVISION_ANNOTATION, "")
    return int(raw) if raw.isdigit() else 0


def deployment_revision(dep: o.Deployment) -> int:
    """The revision the Deployment is at (its new ReplicaSet's); 0 before the controller numbered one."""
    return _revision_number(dep.metadata)


def replicaset_revision(rs: o.ReplicaSet) -> int:
    return _revision_number(rs.metadata)


def revision_order(rs: o.ReplicaSet) -> tuple[int, str]:
    """Newer last: by revision, then by creation (ReplicaSets of a manifest carry no revision)."""
    return _revision_number(rs.metadata), rs.metadata.creationTimestamp or ""


def replicasets_by_revision(dep: o.Deployment, replicasets: Iterable[o.ReplicaSet]) -> list[o.ReplicaSet]:
    """The Deployment's ReplicaSets among ``replicasets``, oldest revision first: its history."""
    return sorted((rs for rs in replicasets if controlled_by(rs, dep)), key=revision_order)


def new_replicaset(dep: o.Deployment, replicasets: Iterable[o.ReplicaSet]) -> o.ReplicaSet | None:
    """The ReplicaSet of the Deployment's current template: the newest revision (the controller
    numbers a new template's ReplicaSet, and one ``rollout undo`` returns to, above every other
    before it updates the Deployment's own annotation, which may lag it for a moment)."""
    history = replicasets_by_revision(dep, replicasets)
    return history[-1] if history else None


def previous_replicaset(dep: o.Deployment, replicasets: Iterable[o.ReplicaSet]) -> o.ReplicaSet | None:
    """The ReplicaSet of the revision before the current one: what ``kubectl rollout undo`` returns to."""
    history = replicasets_by_revision(dep, replicasets)
    return history[-2] if len(history) > 1 else None


# --------------------------------------------------------------------------- StatefulSets


def _partition(sts: o.StatefulSet) -> int:
    strategy = sts.spec.updateStrategy
    rolling = strategy.rollingUpdate if strategy is not None else None
    return rolling.partition if rolling is not None else 0


def _pod_by_pod_state(
    meta: o.ObjectMeta, observed: int, strategy: o.UpdateStrategy | None, *, updated: int, wanted: int, serving: int, desired: int
) -> RolloutState:
    """StatefulSets and DaemonSets replace their pods one by one: complete once the ``wanted``
    pods run the current template and the ``desired`` ones serve."""
    if not status_current(meta, observed):
        return RolloutState.UNOBSERVED
    if updated >= wanted and serving >= desired:
        return RolloutState.COMPLETE
    if updated < wanted and _on_delete(strategy):
        return RolloutState.ON_DELETE
    return RolloutState.PROGRESSING


def _message(state: RolloutState, meta: o.ObjectMeta, progress: str, *, complete: str, updated: int, wanted: int) -> str:
    """What the rollout waits for (``progress`` while it progresses), in kubectl's terms."""
    if state is RolloutState.UNOBSERVED:
        return f"waiting for the controller to observe generation {meta.generation}"
    if state is RolloutState.COMPLETE:
        return complete
    if state is RolloutState.ON_DELETE:
        return f"{updated} of {wanted} pods updated: OnDelete replaces a pod only once it is deleted"
    return progress


def statefulset_state(sts: o.StatefulSet) -> RolloutState:
    st = sts.status
    desired = desired_replicas(sts.spec.replicas)
    # The ordinals below the partition keep the current revision on purpose (a staged rollout).
    return _pod_by_pod_state(sts.metadata, st.observedGeneration, sts.spec.updateStrategy, updated=st.updatedReplicas,
                             wanted=desired - _partition(sts), serving=st.readyReplicas, desired=desired)


def statefulset_rollout(sts: o.StatefulSet) -> Rollout:
    st = sts.status
    desired = desired_replicas(sts.spec.replicas)
    wanted = desired - _partition(sts)
    revision = st.updateRevision or "?"
    if st.readyReplicas < desired:
        progress = f"{st.readyReplicas} of {desired} pods ready"
    else:
        progress = f"{st.updatedReplicas} of {wanted} pods updated to revision {revision}"
    state = statefulset_state(sts)
    message = _message(state, sts.metadata, progress, complete=f"rolled out: {st.updatedReplicas} pods at revision {revision}",
                       updated=st.updatedReplicas, wanted=wanted)
    return Rollout(
        "StatefulSet", sts.metadata.namespace, sts.metadata.name, state, desired, st.updatedReplicas,
        st.readyReplicas, st.availableReplicas, st.replicas, st.updateRevision, message,
    )


# --------------------------------------------------------------------------- DaemonSets


def daemonset_state(ds: o.DaemonSet) -> RolloutState:
    st = ds.status
    desired = st.desiredNumberScheduled
    return _pod_by_pod_state(ds.metadata, st.observedGeneration, ds.spec.updateStrategy, updated=st.updatedNumberScheduled,
                             wanted=desired, serving=st.numberAvailable, desired=desired)


def daemonset_rollout(ds: o.DaemonSet) -> Rollout:
    st = ds.status
    desired = st.desiredNumberScheduled
    if st.updatedNumberScheduled < desired:
        progress = f"{st.updatedNumberScheduled} of {desired} new pods updated"
    else:
        progress = f"{st.numberAvailable} of {desired} updated pods available"
    state = daemonset_state(ds)
    message = _message(state, ds.metadata, progress, complete=f"rolled out: {st.updatedNumberScheduled} updated pods available",
                       updated=st.updatedNumberScheduled, wanted=desired)
    return Rollout(
        "DaemonSet", ds.metadata.namespace, ds.metadata.name, state, desired, st.updatedNumberScheduled,
        st.numberReady, st.numberAvailable, st.currentNumberScheduled, "", message,
    )


def rollout_of(workload: Any) -> Rollout:
    """The rollout of a Deployment, StatefulSet or DaemonSet."""
    if isinstance(workload, o.Deployment):
        return deployment_rollout(workload)
    if isinstance(workload, o.StatefulSet):
        return statefulset_rollout(workload)
    if isinstance(workload, o.DaemonSet):
        return daemonset_rollout(workload)
    raise TypeError(f"{type(workload).__name__} has no rollout (Deployment, StatefulSet or DaemonSet)")


# --------------------------------------------------------------------------- ControllerRevisions, pods


def controller_revisions(owner: Any, revisions: Iterable[o.ControllerRevision]) -> list[o.ControllerRevision]:
    """The StatefulSet's or DaemonSet's ControllerRevisions among ``revisions``, oldest first."""
    return sorted((r for r in revisions if controlled_by(r, owner)), key=lambda r: r.revision)


def latest_revision(owner: Any, revisions: Iterable[o.ControllerRevision]) -> o.ControllerRevision | None:
    """The ControllerRevision of the workload's current template: a StatefulSet's update revision
    (by name, from its status), else the highest numbered, which is what a DaemonSet's is."""
    history = controller_revisions(owner, revisions)
    update = owner.status.updateRevision if isinstance(owner, o.StatefulSet) else ""
    for revision in history:
        if update and revision.metadata.name == update:
            return revision
    return history[-1] if history else None


def pod_revision(pod: o.Pod) -> str:
    """The revision a workload's pod was made from: its ``controller-revision-hash`` (StatefulSets,
    DaemonSets) or ``pod-template-hash`` (Deployments) label; "" for a pod of neither."""
    labels = pod.metadata.labels or {}
    return labels.get(CONTROLLER_REVISION_HASH) or labels.get(POD_TEMPLATE_HASH) or ""


def revision_hash(revision: o.ControllerRevision | o.ReplicaSet) -> str:
    """The hash of a revision's template, from its labels ("" when it carries none)."""
    labels = revision.metadata.labels or {}
    return labels.get(CONTROLLER_REVISION_HASH) or labels.get(POD_TEMPLATE_HASH) or ""


def pods_at(revision: o.ControllerRevision | o.ReplicaSet, pods: Iterable[o.Pod]) -> list[o.Pod]:
    """The pods among ``pods`` (a workload's) made from ``revision``: a StatefulSet's pods name
    their ControllerRevision, a DaemonSet's and a ReplicaSet's carry its hash."""
    names = {revision.metadata.name, revision_hash(revision)} - {""}
    return [p for p in pods if pod_revision(p) in names]
