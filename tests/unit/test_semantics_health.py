"""Container and pod health, lifecycle and ownership (model.semantics) on hand-built objects."""

from __future__ import annotations

from typing import Any

import pytest

from kubesteward.model import objects as o
from kubesteward.model.semantics import health, lifecycle, ownership


def status(name: str = "app", *, waiting: str | None = None, exit_code: int | None = None, reason: str = "",
           running: bool = False, ready: bool = False, restarts: int = 0) -> o.ContainerStatus:
    state = o.ContainerState(
        waiting=o.ContainerStateWaiting(reason=waiting) if waiting is not None else None,
        terminated=o.ContainerStateTerminated(exitCode=exit_code, reason=reason) if exit_code is not None else None,
        running=o.ContainerStateRunning() if running else None,
    )
    return o.ContainerStatus(name=name, ready=ready, restartCount=restarts, state=state)


def pod(*, phase: str = "Running", ready: str | None = "False", containers: list[o.ContainerStatus] | None = None,
        inits: list[o.ContainerStatus] | None = None, init_specs: list[o.Container] | None = None, reason: str = "",
        restart_policy: Any = "Always", conditions: list[o.Condition] | None = None, **meta: Any) -> o.Pod:
    conds = list(conditions or ())
    if ready is not None:
        conds.append(o.Condition(type="Ready", status=ready, lastTransitionTime="2025-01-10T12:00:00Z"))
    return o.Pod(
        metadata=o.ObjectMeta(name="web-0", namespace="shop", creationTimestamp="2025-01-10T11:00:00Z", **meta),
        spec=o.PodSpec(initContainers=init_specs, restartPolicy=restart_policy),
        status=o.PodStatus(phase=phase, reason=reason, conditions=conds or None, containerStatuses=containers,
                           initContainerStatuses=inits),
    )


# --------------------------------------------------------------------------- a failing container


@pytest.mark.parametrize(
    ("container", "failing"),
    [
        (status(waiting="CrashLoopBackOff"), True),
        (status(waiting="ImagePullBackOff"), True),
        (status(waiting="SignatureValidationFailed"), True),
        (status(waiting="CreateContainerConfigError"), True),
        (status(waiting="StartError"), True),
        (status(waiting="ContainerCreating"), False),  # starting
        (status(waiting="SomethingNew"), False),  # not known to be failing: it gets a start's grace
        (status(exit_code=1, reason="Error"), True),
        (status(exit_code=137, reason="OOMKilled"), True),
        (status(exit_code=0, reason="OOMKilled"), True),  # a runtime reporting the reason alone
        (status(exit_code=0, reason="Completed"), False),  # done, not failed
        (status(running=True), False),  # even unready: readiness is the pod's
        (o.ContainerStatus(name="app"), False),  # no state reported yet
    ],
)
def test_a_failing_container(container: o.ContainerStatus, failing: bool) -> None:
    assert health.container_failing(container) is failing


def test_init_steps_and_sidecars() -> None:
    sidecar = o.Container(name="proxy", restartPolicy="Always")
    p = pod(init_specs=[o.Container(name="migrate"), sidecar], inits=[status("migrate", exit_code=0), status("proxy", running=True)],
            containers=[status("app", running=True)])
    assert [(s.name, step) for s, step in health.container_statuses(p)] == [("migrate", True), ("proxy", False), ("app", False)]
    assert health.is_sidecar(p, "proxy") and not health.is_sidecar(p, "migrate") and not health.is_sidecar(p, "app")


def test_failing_containers_count_init_containers_and_sidecars() -> None:
    p = pod(inits=[status("proxy", waiting="CrashLoopBackOff")], containers=[status("app", running=True)],
            init_specs=[o.Container(name="proxy", restartPolicy="Always")])
    assert [s.name for s in health.failing_containers(p)] == ["proxy"] and health.has_failing_container(p)
    assert not health.has_failing_container(pod(containers=[status(running=True)]))


def test_pod_ready_reads_the_condition_or_a_hand_written_status() -> None:
    assert health.pod_ready(pod(ready="True", containers=[status(running=True, ready=False)]))
    assert not health.pod_ready(pod(ready="False", containers=[status(running=True, ready=True)]))
    assert health.pod_ready(pod(ready=None, containers=[status(running=True, ready=True)]))
    assert not health.pod_ready(pod(ready=None, containers=[]))


def test_restarts_add_up_over_init_and_app_containers() -> None:
    assert health.pod_restarts(pod(inits=[status("init", restarts=2)], containers=[status(restarts=3), status("b", restarts=1)])) == 6


# --------------------------------------------------------------------------- why a pod does not serve


def unschedulable() -> o.Condition:
    return o.Condition(type="PodScheduled", status="False", reason="Unschedulable")


@pytest.mark.parametrize(
    ("subject", "summary", "failing", "pending"),
    [
        (pod(containers=[status(waiting="CrashLoopBackOff")]), "CrashLoopBackOff", True, False),
        (pod(phase="Pending", containers=[status(waiting="ErrImagePull")]), "ErrImagePull", True, True),
        (pod(containers=[status(exit_code=2, reason="Error")]), "Terminated (exit 2)", True, False),
        (pod(phase="Failed", reason="Evicted"), "Failed (Evicted)", True, False),
        (pod(phase="Failed", containers=[status(exit_code=3, reason="Error")]), "Failed (exit 3)", True, False),
        (pod(phase="Pending", conditions=[unschedulable()]), "Pending (Unschedulable)", False, True),
        (pod(phase="Pending", containers=[status(waiting="ContainerCreating")]), "Pending", False, True),
        (pod(containers=[status(running=True)]), "Running, not ready", False, False),
    ],
)
def test_pod_problem(subject: o.Pod, summary: str, failing: bool, pending: bool) -> None:
    problem = health.pod_problem(subject)
    assert problem is not None
    assert (problem.summary, problem.failing, problem.pending) == (summary, failing, pending)
    assert problem.since == "2025-01-10T12:00:00Z"
    assert problem.starting is (summary == "Pending")


def test_crash_loops_name_how_the_last_run_ended() -> None:
    crashing = status(waiting="CrashLoopBackOff")
    crashing.lastState = o.ContainerState(terminated=o.ContainerStateTerminated(exitCode=137, reason="OOMKilled"))
    problem = health.pod_problem(pod(containers=[crashing]))
    assert problem is not None and problem.summary == "CrashLoopBackOff (OOMKilled)"


def test_ready_terminating_and_completed_pods_have_no_problem() -> None:
    assert health.pod_problem(pod(ready="True")) is None
    assert health.pod_problem(pod(deletionTimestamp="2025-01-10T12:00:00Z", containers=[status(waiting="CrashLoopBackOff")])) is None
    assert health.pod_problem(pod(phase="Succeeded")) is None
    assert [p.summary for p in health.pod_problems([pod(ready="True"), pod(phase="Failed", reason="Evicted")])] == ["Failed (Evicted)"]


# --------------------------------------------------------------------------- lifecycle


def namespace(name: str, phase: str = "Active", deleted: str | None = None) -> o.Namespace:
    return o.Namespace(metadata=o.ObjectMeta(name=name, deletionTimestamp=deleted), status=o.NamespaceStatus(phase=phase))


def test_going_away_is_being_deleted_or_in_a_namespace_being_deleted() -> None:
    leaving = lifecycle.terminating_namespaces([namespace("shop", "Terminating"), namespace("old", deleted="2025-01-10T12:00:00Z"),
                                               namespace("live")])
    assert leaving == {"shop", "old"}
    assert lifecycle.going_away(o.ObjectMeta(namespace="shop"), leaving)
    assert lifecycle.going_away(o.ObjectMeta(namespace="live", deletionTimestamp="2025-01-10T12:00:00Z"), leaving)
    assert not lifecycle.going_away(o.ObjectMeta(namespace="live"), leaving)
    assert not lifecycle.going_away(o.ObjectMeta(namespace="shop"))  # no namespaces known: only its own deletion


def test_pod_lifecycle() -> None:
    evicted = pod(phase="Failed", reason="Evicted")
    assert lifecycle.evicted(evicted) and lifecycle.finished(evicted) and lifecycle.live(evicted)  # a failure, still counted
    assert not lifecycle.evicted(pod(reason="Evicted"))  # only the kubelet's eviction fails the pod
    done = pod(phase="Succeeded")
    assert lifecycle.completed(done) and lifecycle.finished(done) and not lifecycle.live(done)
    assert not lifecycle.live(pod(deletionTimestamp="2025-01-10T12:00:00Z"))
    job_pod = pod(ownerReferences=[o.OwnerReference(kind="Job", name="migrate", controller=True)])
    assert lifecycle.owned_by_job(job_pod) and not lifecycle.owned_by_job(pod())


def test_a_run_to_completion_pod_with_a_container_done_is_finishing() -> None:
    containers = [status("main", exit_code=0, reason="Completed"), status("proxy", running=True)]
    assert lifecycle.finishing(pod(restart_policy="Never", containers=containers))
    assert not lifecycle.finishing(pod(restart_policy="Always", containers=containers))  # it will be restarted
    assert not lifecycle.finishing(pod(restart_policy="Never", containers=[status("main", exit_code=1, reason="Error")]))


def test_job_outcome_reads_terminal_conditions() -> None:
    def job(*conditions: tuple[str, str]) -> o.Job:
        return o.Job(status=o.JobStatus(conditions=[o.Condition(type=t, status=s, reason=f"{t}Reason") for t, s in conditions]))

    assert lifecycle.job_outcome(job()) == "running"
    assert lifecycle.job_outcome(job(("Complete", "True"))) == "succeeded"
    assert lifecycle.job_outcome(job(("SuccessCriteriaMet", "True"))) == "succeeded"
    failing = job(("FailureTarget", "True"))
    assert lifecycle.job_outcome(failing) == "failed"
    failure = lifecycle.job_failure(failing)
    assert failure is not None and failure.reason == "FailureTargetReason"
    assert lifecycle.job_failure(job(("Failed", "False"))) is None


# --------------------------------------------------------------------------- ownership


def owned(name: str, owner_kind: str, owner_name: str, uid: str = "", namespace: str = "shop") -> o.ReplicaSet:
    ref = o.OwnerReference(kind=owner_kind, name=owner_name, uid=uid, controller=True)
    return o.ReplicaSet(metadata=o.ObjectMeta(name=name, namespace=namespace, uid=f"uid-{name}", ownerReferences=[ref]))


def test_controlled_by_matches_by_uid_else_by_kind_and_name_in_the_namespace() -> None:
    dep = o.Deployment(metadata=o.ObjectMeta(name="web", namespace="shop", uid="uid-web"))
    assert ownership.controlled_by(owned("web-a", "Deployment", "web", uid="uid-web"), dep)
    assert not ownership.controlled_by(owned("web-b", "Deployment", "web", uid="uid-older-web"), dep)  # a namesake, recreated
    bare = o.Deployment(metadata=o.ObjectMeta(name="web", namespace="shop"))  # a manifest without uids
    assert ownership.controlled_by(owned("web-a", "Deployment", "web"), bare)
    assert not ownership.controlled_by(owned("web-a", "Deployment", "web", namespace="other"), bare)
    assert not ownership.controlled_by(owned("web-a", "StatefulSet", "web"), bare)
    assert ownership.controller_kind(owned("web-a", "Deployment", "web").metadata) == "Deployment"


def test_root_owner_walks_the_controller_chain_and_stops_at_a_cycle() -> None:
    chain = {"pod": "rs", "rs": "deployment"}
    assert ownership.root_owner("pod", chain.get) == "deployment"
    assert ownership.root_owner("alone", chain.get) == "alone"
    looped = {"a": "b", "b": "a"}
    assert ownership.root_owner("a", looped.get) in ("a", "b")  # bounded, never endless
