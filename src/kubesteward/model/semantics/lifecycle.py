"""Where an object is in its life: going away, finished, evicted, run to completion.

*Going away* means being deleted: the API server has accepted a delete and set
``deletionTimestamp``, and the object lingers only for its finalizers or its pods' grace
period. An object in a namespace being deleted is going away too, even before the namespace
controller reaches it: pods go first, so every workload, budget, Service and Ingress left in
the namespace would look broken meanwhile, and a namespace deletion must not be an alert storm.

A pod is *finished* once its phase is terminal (Succeeded or Failed): the kubelet runs none of
its containers again. *Live* pods are the ones meant to be running: neither going away nor
completed. A Failed pod stays live: it is a failure of its controller's (a crash that
``restartPolicy`` does not restart, an eviction), not something done.
"""

from __future__ import annotations

from collections.abc import Iterable, Set

from kubesteward.model import objects as o
from kubesteward.model.semantics.ownership import controller_kind

_NO_NAMESPACES: frozenset[str] = frozenset()


def terminating(meta: o.ObjectMeta) -> bool:
    """Deleted and waiting for its finalizers or grace period (``deletionTimestamp`` set)."""
    return bool(meta.deletionTimestamp)


def namespace_terminating(namespace: o.Namespace) -> bool:
    """A namespace being deleted: phase Terminating, or deleted before its status said so."""
    return namespace.status.phase == "Terminating" or bool(namespace.metadata.deletionTimestamp)


def terminating_namespaces(namespaces: Iterable[o.Namespace]) -> frozenset[str]:
    """The names of the namespaces being deleted, computed once per pass so that asking
    :func:`going_away` of each object costs a set lookup, not a namespace lookup."""
    return frozenset(ns.metadata.name for ns in namespaces if namespace_terminating(ns))


def going_away(meta: o.ObjectMeta, leaving: Set[str] = _NO_NAMESPACES) -> bool:
    """Being deleted, or in one of the namespaces being deleted (``leaving``,
    from :func:`terminating_namespaces`)."""
    return bool(meta.deletionTimestamp) or (bool(leaving) and meta.namespace in leaving)


def finished(pod: o.Pod) -> bool:
    """Phase Succeeded or Failed: terminal, nothing in the pod will run again."""
    return pod.status.phase in ("Succeeded", "Failed")


def completed(pod: o.Pod) -> bool:
    """Phase Succeeded: every container exited 0 and none will restart (a Job's pod that did its work)."""
    return pod.status.phase == "Succeeded"


def live(pod: o.Pod) -> bool:
    """Meant to be running: not terminating (a rollout's old pods) and not completed. Failed pods are live."""
    return not pod.metadata.deletionTimestamp and pod.status.phase != "Succeeded"


def live_pods(pods: Iterable[o.Pod]) -> list[o.Pod]:
    return [p for p in pods if live(p)]


def evicted(pod: o.Pod) -> bool:
    """Evicted by its kubelet to reclaim memory, disk or PIDs: phase Failed, reason Evicted
    (an API-initiated eviction deletes the pod instead, which is :func:`terminating`)."""
    return pod.status.phase == "Failed" and pod.status.reason == "Evicted"


def owned_by_job(pod: o.Pod) -> bool:
    """Controlled by a Job: its failures are the Job's to count against its backoffLimit."""
    return controller_kind(pod.metadata) == "Job"


def finishing(pod: o.Pod) -> bool:
    """A run-to-completion pod (restartPolicy Never or OnFailure) with an app container that
    already exited 0: it is unready because it is done, not because something is wrong."""
    if pod.spec.restartPolicy == "Always":
        return False
    for status in pod.status.containerStatuses or ():
        terminated = status.state.terminated if status.state is not None else None
        if terminated is not None and terminated.exitCode == 0:
            return True
    return False


# --------------------------------------------------------------------------- jobs

# Terminal Job conditions, in the order they decide. FailureTarget and SuccessCriteriaMet come
# first (1.31+): the Job controller sets them when it has decided, then waits for the pods to
# stop before it adds Failed or Complete.
_JOB_OUTCOMES = (("Failed", "failed"), ("FailureTarget", "failed"), ("Complete", "succeeded"), ("SuccessCriteriaMet", "succeeded"))


def job_outcome(job: o.Job) -> str:
    """``succeeded``, ``failed`` or ``running`` (suspended and pending Jobs count as running)."""
    for type_, outcome in _JOB_OUTCOMES:
        cond = o.condition(job.status.conditions, type_)
        if cond is not None and cond.status == "True":
            return outcome
    return "running"


def job_failure(job: o.Job) -> o.Condition | None:
    """The condition saying the Job failed (its reason: BackoffLimitExceeded, DeadlineExceeded…), if it did."""
    for type_ in ("Failed", "FailureTarget"):
        cond = o.condition(job.status.conditions, type_)
        if cond is not None and cond.status == "True":
            return cond
    return None
