"""Pod and container health: the one definition of a failing container and of a ready pod.

A container is **failing** when waiting will not fix it: it waits in a back-off the kubelet
entered after an error (:data:`FAILING_REASONS`: a crash loop, an image that cannot be
pulled, a container that cannot be created or started), or it terminated with an error (a
non-zero exit code, or the OOM killer). Not failing: running (even unready: readiness is the
pod's, see :func:`pod_ready`), starting (:data:`STARTING_REASONS`), waiting for a reason not
known here (it gets the grace a start gets), exited 0 (an init step done, a run-to-completion
container finished), or restarted in the past (history: :func:`pod_restarts`).

Init containers are steps that must each exit 0 before the app containers start, except
*sidecars* (init containers with ``restartPolicy: Always``, Kubernetes 1.28+), which start
first and then run beside the app containers: they are judged like app containers. Every
container counts, sidecars included: a crash-looping sidecar keeps the pod unready.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain

from kubesteward.model import objects as o
from kubesteward.model.semantics.lifecycle import live

# Waiting reasons of a container starting as it should.
STARTING_REASONS = frozenset({"ContainerCreating", "PodInitializing"})
# The image cannot be pulled: each retry pulls the same missing, forbidden or unreachable image.
IMAGE_PULL_REASONS = frozenset(
    {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable", "SignatureValidationFailed"}
)
# The kubelet cannot create or start the container (a configuration it refuses, a runtime
# error, a failing lifecycle hook); StartError is containerd's word for a start that failed.
CREATE_REASONS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "StartError", "PreStartHookError", "PostStartHookError"}
)
CRASH_LOOP = "CrashLoopBackOff"
OOM_KILLED = "OOMKilled"
# Waiting reasons of a failing container.
FAILING_REASONS = IMAGE_PULL_REASONS | CREATE_REASONS | {CRASH_LOOP}


def waiting(status: o.ContainerStatus) -> o.ContainerStateWaiting | None:
    return status.state.waiting if status.state is not None else None


def terminated(status: o.ContainerStatus) -> o.ContainerStateTerminated | None:
    return status.state.terminated if status.state is not None else None


def last_terminated(status: o.ContainerStatus) -> o.ContainerStateTerminated | None:
    """How the previous run ended: what a crash loop's cause is read from."""
    return status.lastState.terminated if status.lastState is not None else None


def running(status: o.ContainerStatus) -> bool:
    return status.state is not None and status.state.running is not None


def is_sidecar(pod: o.Pod, name: str) -> bool:
    """An init container that runs beside the app containers (``restartPolicy: Always``)."""
    for container in pod.spec.initContainers or ():
        if container.name == name:
            return container.restartPolicy == "Always"
    return False


def container_statuses(pod: o.Pod) -> Iterator[tuple[o.ContainerStatus, bool]]:
    """Every container status, init containers first, each with ``True`` for an init *step*
    (an init container that must exit 0 before the app containers start; a sidecar is not one)."""
    for status in pod.status.initContainerStatuses or ():
        yield status, not is_sidecar(pod, status.name)
    for status in pod.status.containerStatuses or ():
        yield status, False


def exited_with_error(term: o.ContainerStateTerminated) -> bool:
    """A termination that is a failure: a non-zero exit code, or the OOM killer's (137, though
    some runtimes report the reason alone)."""
    return term.exitCode != 0 or term.reason == OOM_KILLED


def container_failing(status: o.ContainerStatus) -> bool:
    """Whether the container is failing now (the module's definition)."""
    state = status.state
    if state is None:
        return False
    if state.waiting is not None:
        return state.waiting.reason in FAILING_REASONS
    return state.terminated is not None and exited_with_error(state.terminated)


def failing_containers(pod: o.Pod) -> Iterator[o.ContainerStatus]:
    """The pod's failing containers, init containers first."""
    for status in chain(pod.status.initContainerStatuses or (), pod.status.containerStatuses or ()):
        if container_failing(status):
            yield status


def has_failing_container(pod: o.Pod) -> bool:
    return next(failing_containers(pod), None) is not None


def pod_ready(pod: o.Pod) -> bool:
    """The pod's Ready condition is True: every container passes its readiness probe and every
    readiness gate holds; what Services route to and rollouts count. A status without conditions
    (a hand-written manifest) is read from its containers: ready when it lists some, all ready."""
    ready = o.condition(pod.status.conditions, "Ready")
    if ready is not None:
        return ready.status == "True"
    statuses = pod.status.containerStatuses
    return bool(statuses) and all(s.ready for s in statuses or ())


def pod_restarts(pod: o.Pod) -> int:
    """Container restarts over the pod's life, init containers and sidecars included."""
    total = 0
    for status in pod.status.containerStatuses or ():
        total += status.restartCount
    for status in pod.status.initContainerStatuses or ():
        total += status.restartCount
    return total


# --------------------------------------------------------------------------- why a pod does not serve

PENDING = "Pending"


@dataclass(frozen=True, slots=True)
class PodProblem:
    """Why one live pod is not serving, in a few words (``CrashLoopBackOff (OOMKilled)``)."""

    pod: o.Pod
    summary: str
    failing: bool  # clearly broken now (a failing container, a Failed pod): no grace period applies
    pending: bool
    since: str | None  # when it stopped being Ready (or was created)

    @property
    def starting(self) -> bool:
        """Pending with nothing saying it cannot start yet (no scheduler verdict, no container
        problem): how every pod begins."""
        return self.pending and self.summary == PENDING


def pod_problem(pod: o.Pod) -> PodProblem | None:
    """The problem of a pod that should serve but does not; None when it is ready, or not live
    (going away, completed: see :func:`kubesteward.model.semantics.lifecycle.live`)."""
    if not live(pod) or pod_ready(pod):
        return None
    ready = o.condition(pod.status.conditions, "Ready")
    since = (ready.lastTransitionTime if ready is not None else None) or pod.metadata.creationTimestamp
    if pod.status.phase == "Failed":
        why = pod.status.reason or _first_error(pod) or "Failed"
        return PodProblem(pod, f"Failed ({why})", True, False, since)
    container = _container_problem(pod)
    if container is not None:
        text, failing = container
        return PodProblem(pod, text, failing, pod.status.phase == "Pending", since)
    if pod.status.phase == "Pending" or not pod.status.phase:
        scheduled = o.condition(pod.status.conditions, "PodScheduled")
        # Unschedulable is not failing at once: a cluster autoscaler may be adding a node, a
        # claim may be provisioning. The pending grace applies.
        if scheduled is not None and scheduled.status == "False":
            return PodProblem(pod, f"{PENDING} ({scheduled.reason or 'Unschedulable'})", False, True, since)
        return PodProblem(pod, PENDING, False, True, since)
    return PodProblem(pod, "Running, not ready", False, False, since)


def pod_problems(pods: Iterable[o.Pod]) -> list[PodProblem]:
    return [p for p in map(pod_problem, pods) if p is not None]


def _container_problem(pod: o.Pod) -> tuple[str, bool] | None:
    """The first container that is not running for a reason (starting is none), as its summary
    and whether it is failing; a waiting reason not known to be failing gets the start's grace."""
    for status in chain(pod.status.initContainerStatuses or (), pod.status.containerStatuses or ()):
        state = status.state
        if state is None:
            continue
        wait = state.waiting
        if wait is not None and wait.reason and wait.reason not in STARTING_REASONS:
            detail = termination_text(last_terminated(status))
            return (f"{wait.reason} ({detail})" if detail else wait.reason), container_failing(status)
        term = state.terminated
        if term is not None and exited_with_error(term):
            return f"Terminated ({termination_text(term)})", True
    return None


def termination_text(term: o.ContainerStateTerminated | None) -> str:
    """``OOMKilled``, ``exit 1``, ``ContainerCannotRun, exit 128``: how a container ended, briefly."""
    if term is None:
        return ""
    if term.reason == OOM_KILLED:
        return OOM_KILLED
    if term.reason and term.reason not in ("Error", "Completed"):
        return f"{term.reason}, exit {term.exitCode}"
    return f"exit {term.exitCode}"


def _first_error(pod: o.Pod) -> str:
    for status in pod.status.containerStatuses or ():
        term = terminated(status)
        if term is not None and exited_with_error(term):
            return termination_text(term)
    return ""
