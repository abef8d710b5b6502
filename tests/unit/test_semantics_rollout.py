"""Rollout state and revisions (model.semantics.rollout) on hand-built Deployments, StatefulSets,
DaemonSets, ReplicaSets and ControllerRevisions."""

from __future__ import annotations

import pytest

from kubesteward.model import objects as o
from kubesteward.model.semantics import rollout
from kubesteward.model.semantics.rollout import RolloutState


def meta(name: str, *, generation: int = 1, owner: o.ObjectMeta | None = None, owner_kind: str = "",
         revision: int | None = None, created: str = "2025-01-10T12:00:00Z", labels: dict[str, str] | None = None) -> o.ObjectMeta:
    refs = [o.OwnerReference(kind=owner_kind, name=owner.name, uid=owner.uid, controller=True)] if owner is not None else None
    annotations = {rollout.REVISION_ANNOTATION: str(revision)} if revision is not None else None
    return o.ObjectMeta(name=name, namespace="shop", uid=f"uid-{name}", generation=generation, creationTimestamp=created,
                        ownerReferences=refs, annotations=annotations, labels=labels)


def progressing(status: str, reason: str, message: str = "") -> o.Condition:
    return o.Condition(type="Progressing", status=status, reason=reason, message=message)


def deployment(*, replicas: int | None = 3, updated: int = 3, available: int = 3, ready: int | None = None, total: int | None = None,
               generation: int = 2, observed: int = 2, paused: bool = False, revision: int | None = 2,
               conditions: list[o.Condition] | None = None, deadline: int | None = None) -> o.Deployment:
    return o.Deployment(
        metadata=meta("web", generation=generation, revision=revision),
        spec=o.DeploymentSpec(replicas=replicas, paused=paused, progressDeadlineSeconds=deadline),
        status=o.WorkloadStatus(
            observedGeneration=observed, replicas=updated if total is None else total, updatedReplicas=updated,
            readyReplicas=available if ready is None else ready, availableReplicas=available, conditions=conditions,
        ),
    )


# --------------------------------------------------------------------------- Deployments


def test_a_deployment_with_every_replica_updated_and_available_is_complete() -> None:
    state = rollout.deployment_rollout(deployment())
    assert state.state is RolloutState.COMPLETE and state.complete and not state.failed
    assert (state.desired, state.updated, state.available, state.total) == (3, 3, 3, 3)
    assert state.revision == "2"
    assert state.message == "rolled out: 3 updated replicas available"


@pytest.mark.parametrize(
    ("dep", "message"),
    [
        (deployment(updated=1, available=3, total=4), "1 of 3 new replicas updated"),
        (deployment(updated=3, available=3, total=4), "1 old replicas pending termination"),
        (deployment(updated=3, available=2), "2 of 3 updated replicas available"),
    ],
    ids=["updating", "old-replica-left", "updated-not-available"],
)
def test_a_deployment_short_of_complete_is_progressing_and_says_what_it_waits_for(dep: o.Deployment, message: str) -> None:
    state = rollout.deployment_rollout(dep)
    assert state.state is RolloutState.PROGRESSING and not state.complete
    assert state.message == message


def test_a_status_about_an_older_generation_is_unobserved_whatever_its_counts() -> None:
    dep = deployment(generation=3, observed=2)  # the counts of the previous spec look complete
    assert rollout.deployment_state(dep) is RolloutState.UNOBSERVED
    assert rollout.deployment_rollout(dep).message == "waiting for the controller to observe generation 3"
    assert rollout.status_outdated(dep.metadata, dep.status.observedGeneration)


def test_observed_generation_zero_is_unobserved_live_but_not_outdated_for_the_analyzers() -> None:
    fresh = deployment(generation=1, observed=0)  # just created: the controller has not written a status
    assert rollout.deployment_state(fresh) is RolloutState.UNOBSERVED
    assert not rollout.status_outdated(fresh.metadata, 0)  # there is no newer status to wait for before judging
    manifest = deployment(generation=0, observed=0, updated=0, available=0)  # a file: no generation, no status
    assert rollout.status_current(manifest.metadata, 0)
    assert rollout.deployment_state(manifest) is RolloutState.PROGRESSING


def test_a_paused_deployment_is_paused_until_complete() -> None:
    half = deployment(updated=1, available=3, total=4, paused=True)
    assert rollout.deployment_state(half) is RolloutState.PAUSED
    assert rollout.deployment_rollout(half).message == "paused: 1 of 3 new replicas updated"
    assert rollout.deployment_state(deployment(paused=True)) is RolloutState.COMPLETE


def test_progress_deadline_exceeded_is_a_failed_rollout() -> None:
    stuck = deployment(updated=1, available=3, total=4, deadline=30, conditions=[
        progressing("False", "ProgressDeadlineExceeded", 'ReplicaSet "web-new" has timed out progressing.')])
    state = rollout.deployment_rollout(stuck)
    assert state.state is RolloutState.DEADLINE_EXCEEDED and state.failed
    assert state.message == 'no progress for 30s: ReplicaSet "web-new" has timed out progressing.'
    assert rollout.progress_deadline_exceeded(stuck)


def test_completion_overrides_a_deadline_condition_that_lags_it_and_pausing_suspends_the_deadline() -> None:
    exceeded = [progressing("False", "ProgressDeadlineExceeded")]
    assert rollout.deployment_state(deployment(conditions=exceeded)) is RolloutState.COMPLETE
    assert rollout.deployment_state(deployment(updated=1, total=4, paused=True, conditions=exceeded)) is RolloutState.PAUSED


def test_replicas_omitted_means_one_and_unavailability_reads_the_condition_or_the_count() -> None:
    assert rollout.desired_replicas(None) == 1 and rollout.desired_replicas(0) == 0
    assert rollout.deployment_rollout(deployment(replicas=None, updated=1, available=1)).desired == 1
    available_false = [o.Condition(type="Available", status="False", reason="MinimumReplicasUnavailable")]
    assert rollout.deployment_unavailable(deployment(available=2, conditions=available_false))
    assert rollout.deployment_unavailable(deployment(available=0))
    assert not rollout.deployment_unavailable(deployment(available=2))


# --------------------------------------------------------------------------- Deployment revisions


def replicaset(name: str, dep: o.Deployment, revision: int | None, created: str = "2025-01-10T12:00:00Z") -> o.ReplicaSet:
    return o.ReplicaSet(metadata=meta(name, owner=dep.metadata, owner_kind="Deployment", revision=revision, created=created,
                                      labels={rollout.POD_TEMPLATE_HASH: name.removeprefix("web-")}))


def test_the_new_replicaset_is_the_newest_revision_and_the_previous_one_is_what_undo_returns_to() -> None:
    dep = deployment(revision=3)
    # `rollout undo` to the first template renumbered its ReplicaSet 3: the new one, though created first.
    undone = replicaset("web-a", dep, 3, created="2025-01-10T11:00:00Z")
    second = replicaset("web-b", dep, 2, created="2025-01-10T13:00:00Z")
    stranger = o.ReplicaSet(metadata=meta("other-x", revision=9))  # not the Deployment's
    history = [second, undone, stranger]
    assert rollout.new_replicaset(dep, history) is undone
    assert rollout.previous_replicaset(dep, history) is second
    assert [rs.metadata.name for rs in rollout.replicasets_by_revision(dep, history)] == ["web-b", "web-a"]
    assert rollout.replicaset_revision(undone) == 3 and rollout.deployment_revision(dep) == 3


def test_without_revision_numbers_the_newest_replicaset_is_the_new_one() -> None:
    dep = deployment(revision=None)
    old = replicaset("web-a", dep, None, created="2025-01-10T11:00:00Z")
    new = replicaset("web-b", dep, None, created="2025-01-10T12:00:00Z")
    assert rollout.new_replicaset(dep, [new, old]) is new
    assert rollout.previous_replicaset(dep, [new, old]) is old
    assert rollout.new_replicaset(dep, []) is None and rollout.previous_replicaset(dep, [new]) is None
    assert rollout.deployment_rollout(dep).revision == ""


def test_a_replicaset_matches_its_owner_by_name_in_manifests_without_uids() -> None:
    dep = deployment()
    dep.metadata.uid = ""
    rs = o.ReplicaSet(metadata=o.ObjectMeta(name="web-a", namespace="shop", annotations={rollout.REVISION_ANNOTATION: "2"},
                                            ownerReferences=[o.OwnerReference(kind="Deployment", name="web", controller=True)]))
    elsewhere = o.ReplicaSet(metadata=o.ObjectMeta(name="web-b", namespace="other",
                                                   ownerReferences=[o.OwnerReference(kind="Deployment", name="web", controller=True)]))
    assert rollout.replicasets_by_revision(dep, [rs, elsewhere]) == [rs]


def test_pods_map_to_their_replicaset_by_template_hash() -> None:
    dep = deployment()
    rs = replicaset("web-7d9f", dep, 2)
    pods = [o.Pod(metadata=o.ObjectMeta(name=f"web-{h}-x", labels={rollout.POD_TEMPLATE_HASH: h})) for h in ("7d9f", "5c4b")]
    assert rollout.pods_at(rs, pods) == [pods[0]]
    assert rollout.pod_revision(pods[1]) == "5c4b"


# --------------------------------------------------------------------------- StatefulSets


def statefulset(*, replicas: int = 3, ready: int = 3, updated: int = 3, partition: int | None = None, strategy: str = "RollingUpdate",
                generation: int = 2, observed: int = 2, current: str = "db-6f7b", update: str = "db-6f7b") -> o.StatefulSet:
    rolling = o.RollingUpdate(partition=partition) if partition is not None else None
    return o.StatefulSet(
        metadata=meta("db", generation=generation),
        spec=o.StatefulSetSpec(replicas=replicas, updateStrategy=o.UpdateStrategy(type=strategy, rollingUpdate=rolling)),
        status=o.StatefulSetStatus(observedGeneration=observed, replicas=replicas, readyReplicas=ready, currentReplicas=replicas - updated,
                                   updatedReplicas=updated, availableReplicas=ready, currentRevision=current, updateRevision=update),
    )


def test_statefulset_rollout_states() -> None:
    done = rollout.statefulset_rollout(statefulset())
    assert done.state is RolloutState.COMPLETE and done.revision == "db-6f7b"
    assert done.message == "rolled out: 3 pods at revision db-6f7b"
    updating = rollout.statefulset_rollout(statefulset(updated=1, current="db-6f7b", update="db-8a1c"))
    assert updating.state is RolloutState.PROGRESSING and updating.revision == "db-8a1c"
    assert updating.message == "1 of 3 pods updated to revision db-8a1c"
    assert rollout.statefulset_rollout(statefulset(ready=2)).message == "2 of 3 pods ready"
    assert rollout.statefulset_state(statefulset(generation=3)) is RolloutState.UNOBSERVED


def test_a_partitioned_statefulset_is_complete_once_the_ordinals_above_the_partition_are_updated() -> None:
    assert rollout.statefulset_state(statefulset(updated=1, partition=2)) is RolloutState.COMPLETE
    assert rollout.statefulset_state(statefulset(updated=0, partition=2)) is RolloutState.PROGRESSING


def test_an_on_delete_statefulset_waits_for_its_pods_to_be_deleted() -> None:
    waiting = rollout.statefulset_rollout(statefulset(updated=1, strategy="OnDelete", update="db-8a1c"))
    assert waiting.state is RolloutState.ON_DELETE
    assert "OnDelete replaces a pod only once it is deleted" in waiting.message
    assert rollout.statefulset_state(statefulset(strategy="OnDelete")) is RolloutState.COMPLETE


# --------------------------------------------------------------------------- DaemonSets


def daemonset(*, desired: int = 3, updated: int = 3, available: int = 3, strategy: str | None = None,
              generation: int = 1, observed: int = 1) -> o.DaemonSet:
    return o.DaemonSet(
        metadata=meta("agent", generation=generation),
        spec=o.DaemonSetSpec(updateStrategy=o.UpdateStrategy(type=strategy) if strategy else None),
        status=o.DaemonSetStatus(desiredNumberScheduled=desired, currentNumberScheduled=desired, updatedNumberScheduled=updated,
                                 numberAvailable=available, numberReady=available, observedGeneration=observed),
    )


def test_daemonset_rollout_states() -> None:
    assert rollout.daemonset_rollout(daemonset()).state is RolloutState.COMPLETE
    assert rollout.daemonset_rollout(daemonset(updated=1)).message == "1 of 3 new pods updated"
    assert rollout.daemonset_rollout(daemonset(available=2)).message == "2 of 3 updated pods available"
    assert rollout.daemonset_state(daemonset(updated=1, strategy="OnDelete")) is RolloutState.ON_DELETE
    assert rollout.daemonset_state(daemonset(generation=2)) is RolloutState.UNOBSERVED


def controller_revision(name: str, owner: o.ObjectMeta, kind: str, number: int, hash_: str) -> o.ControllerRevision:
    return o.ControllerRevision(metadata=meta(name, owner=owner, owner_kind=kind, labels={rollout.CONTROLLER_REVISION_HASH: hash_}),
                                revision=number)


def test_controller_revisions_map_to_the_current_revision_and_its_pods() -> None:
    ds = daemonset()
    old = controller_revision("agent-5b6c", ds.metadata, "DaemonSet", 1, "5b6c")
    new = controller_revision("agent-9d8e", ds.metadata, "DaemonSet", 2, "9d8e")
    stranger = controller_revision("other-1a2b", meta("other"), "DaemonSet", 7, "1a2b")
    assert rollout.controller_revisions(ds, [new, stranger, old]) == [old, new]
    assert rollout.latest_revision(ds, [new, stranger, old]) is new  # a DaemonSet's: the highest number
    pods = [o.Pod(metadata=o.ObjectMeta(name=f"agent-{h}", labels={rollout.CONTROLLER_REVISION_HASH: h})) for h in ("5b6c", "9d8e")]
    assert rollout.pods_at(new, pods) == [pods[1]]  # DaemonSet pods carry the hash

    sts = statefulset(updated=1, current="db-6f7b", update="db-8a1c")
    current = controller_revision("db-6f7b", sts.metadata, "StatefulSet", 1, "6f7b")
    update = controller_revision("db-8a1c", sts.metadata, "StatefulSet", 2, "8a1c")
    assert rollout.latest_revision(sts, [current, update]) is update
    sts_pods = [o.Pod(metadata=o.ObjectMeta(name=f"db-{i}", labels={rollout.CONTROLLER_REVISION_HASH: r}))
                for i, r in enumerate(("db-6f7b", "db-6f7b", "db-8a1c"))]
    assert rollout.pods_at(update, sts_pods) == [sts_pods[2]]  # StatefulSet pods name the revision
    assert rollout.latest_revision(sts, []) is None


def test_rollout_of_dispatches_by_kind_and_refuses_others() -> None:
    assert rollout.rollout_of(deployment()).kind == "Deployment"
    assert rollout.rollout_of(statefulset()).kind == "StatefulSet"
    assert rollout.rollout_of(daemonset()).kind == "DaemonSet"
    with pytest.raises(TypeError, match="Job has no rollout"):
        rollout.rollout_of(o.Job())
