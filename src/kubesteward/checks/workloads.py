"""Workload analyzers (KS2xx): controllers that do not deliver the pods they promise.

A workload finding is a *symptom* of its pods: "Deployment unavailable" is
explained by the pods' own findings (OOMKilled, CrashLoopBackOff, Pending),
which the incident builder groups under the workload through the owner chain.
So these findings rank after pod findings, carry a one-line summary of why the
pods are unhealthy (computed here from the pods, never from other analyzers),
and list the pods in ``related`` for blast radius. When every unhealthy pod of
a workload shares one cause the model can see (a NotReady node, an unbound
PVC) the finding points at it, so the workload joins that incident.

Noise control: a workload is only reported when the shortfall is real and not
a rollout in progress: one of its pods is clearly failing (CrashLoopBackOff,
ImagePullBackOff, CreateContainerConfigError, ...), or has been unready/pending for longer
than the pod grace thresholds, or the controller itself says so (a condition
that has been False for that long, FailedCreate events). Scaled-to-zero
workloads and completed Jobs are silent; paused Deployments are info at most.

CronJob schedules are checked with a small cron evaluator (5 fields, names,
ranges, steps, ``@hourly``-style macros, ``@every``, ``CRON_TZ=``) that walks
forward from ``lastScheduleTime``; see :class:`CronSchedule`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kubesteward.checks.base import analyzer, in_service
from kubesteward.checks.cron import CronSchedule
from kubesteward.checks.evidence import event_lines, human_duration
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Finding, Severity, finding
from kubesteward.findings.catalogue.workloads import (
    KS201,
    KS202,
    KS203,
    KS204,
    KS205,
    KS206,
    KS207,
    KS208,
    KS209,
    KS210,
    KS211,
    KS212,
    KS213,
    KS214,
)
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, ObjectKey, key_of, parse_time
from kubesteward.model.objects import condition
from kubesteward.model.selectors import format_selector

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
T = TypeVar("T")


# --------------------------------------------------------------------------- pod health

# Waiting reasons that mean "this will not fix itself soon"; others
# (ContainerCreating, PodInitializing) are normal start-up.
FAILING_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "StartError",
        "PreStartHookError",
        "PostStartHookError",
    }
)
_STARTING = frozenset({"ContainerCreating", "PodInitializing"})


@dataclass(frozen=True)
class PodProblem:
    """Why one pod is not serving, in a few words (``CrashLoopBackOff (OOMKilled)``)."""

    pod: o.Pod
    summary: str
    failing: bool  # clearly broken now, no grace period needed
    pending: bool
    since: str | None  # when it stopped being Ready (or was created)


def pod_problem(pod: o.Pod) -> PodProblem | None:
    """The problem of a pod that should serve but does not; None when it is Ready or done."""
    if pod.metadata.deletionTimestamp or pod.status.phase == "Succeeded":
        return None  # terminating (rollouts) and completed pods are not unhealthy
    ready = condition(pod.status.conditions, "Ready")
    if ready is not None and ready.status == "True":
        return None
    statuses = pod.status.containerStatuses or []
    if ready is None and statuses and all(s.ready for s in statuses):
        return None  # hand-written status without conditions: the containers say it
    since = (ready.lastTransitionTime if ready is not None else None) or pod.metadata.creationTimestamp
    if pod.status.phase == "Failed":
        why = pod.status.reason or _last_termination(pod) or "Failed"
        return PodProblem(pod, f"Failed ({why})", True, False, since)
    container = _container_problem(pod)
    if container is not None:
        text, failing = container
        return PodProblem(pod, text, failing, pod.status.phase == "Pending", since)
    if pod.status.phase == "Pending" or not pod.status.phase:
        scheduled = condition(pod.status.conditions, "PodScheduled")
        # Unschedulable is not "failing" at once: a cluster autoscaler may be adding a node, a
        # claim may be provisioning. Like the pod checks, give it pod_pending_seconds.
        if scheduled is not None and scheduled.status == "False":
            return PodProblem(pod, f"Pending ({scheduled.reason or 'Unschedulable'})", False, True, since)
        return PodProblem(pod, "Pending", False, True, since)
    return PodProblem(pod, "Running, not ready", False, False, since)


def _container_problem(pod: o.Pod) -> tuple[str, bool] | None:
    statuses = list(pod.status.initContainerStatuses or []) + list(pod.status.containerStatuses or [])
    for status in statuses:
        state = status.state
        waiting = state.waiting if state is not None else None
        if waiting is not None and waiting.reason and waiting.reason not in _STARTING:
            detail = _termination_text(status.lastState.terminated if status.lastState else None)
            text = f"{waiting.reason} ({detail})" if detail else waiting.reason
            return text, waiting.reason in FAILING_WAITING
        terminated = state.terminated if state is not None else None
        if terminated is not None and terminated.exitCode != 0:
            return f"Terminated ({_termination_text(terminated)})", True
    return None


def _termination_text(terminated: o.ContainerStateTerminated | None) -> str:
    if terminated is None:
        return ""
    if terminated.reason == "OOMKilled":
        return "OOMKilled"
    if terminated.reason and terminated.reason not in ("Error", "Completed"):
        return f"{terminated.reason}, exit {terminated.exitCode}"
    return f"exit {terminated.exitCode}"


def _last_termination(pod: o.Pod) -> str:
    for status in pod.status.containerStatuses or ():
        terminated = status.state.terminated if status.state else None
        if terminated is not None and terminated.exitCode != 0:
            return _termination_text(terminated)
    return ""


def live_pods(pods: Iterable[o.Pod]) -> list[o.Pod]:
    """Pods that are meant to be running: not terminating, not completed."""
    return [p for p in pods if not p.metadata.deletionTimestamp and p.status.phase != "Succeeded"]


def pod_problems(pods: Iterable[o.Pod]) -> list[PodProblem]:
    return [p for p in (pod_problem(pod) for pod in pods) if p is not None]


def describe_pods(problems: Sequence[PodProblem], total: int) -> str:
    """``3/3 pods CrashLoopBackOff (OOMKilled); 1/3 pods Pending (Unschedulable)``."""
    counts = Counter(p.summary for p in problems)
    return "; ".join(f"{n}/{total} pods {summary}" for summary, n in counts.most_common())


def overdue(model: ClusterModel, settings: CheckSettings, problems: Iterable[PodProblem]) -> bool:
    """Is any pod clearly failing (or waiting on a claim that cannot bind), or unready/pending
    longer than the grace thresholds?"""
    for problem in problems:
        if problem.failing or (problem.pending and _blocked_claim(model, problem.pod) is not None):
            return True
        limit = settings.pod_pending_seconds if problem.pending else settings.pod_not_ready_seconds
        age = model.age_seconds(problem.since)
        if age is not None and age >= limit:
            return True
    return False


def shared_cause(model: ClusterModel, problems: Sequence[PodProblem]) -> ObjectKey | None:
    """The one object every unhealthy pod waits on (a NotReady node, an unbound PVC), if any."""
    causes = {_pod_cause(model, p) for p in problems}
    if len(causes) != 1:
        return None
    return causes.pop()


def _pod_cause(model: ClusterModel, problem: PodProblem) -> ObjectKey | None:
    pod = problem.pod
    node = model.node(pod.spec.nodeName) if pod.spec.nodeName else None
    if node is not None:
        ready = condition(node.status.conditions, "Ready")
        if ready is None or ready.status != "True":
            return key_of(node)
    if problem.pending and model.has("PersistentVolumeClaim", pod.metadata.namespace):
        for volume in pod.spec.volumes or ():
            claim = volume.persistentVolumeClaim
            if claim is None:
                continue
            pvc = model.pvc(pod.metadata.namespace, claim.claimName)
            if pvc is None or pvc.status.phase != "Bound":
                return ObjectKey("PersistentVolumeClaim", pod.metadata.namespace, claim.claimName)
    return None


def _blocked_claim(model: ClusterModel, pod: o.Pod) -> str | None:
    """A claim of the pod that cannot bind as things stand: it does not exist, or its
    StorageClass does not (or it names none and there is no default). Provisioning
    in progress is not blocked."""
    ns = pod.metadata.namespace
    if not model.has("PersistentVolumeClaim", ns):
        return None
    for volume in pod.spec.volumes or ():
        if volume.persistentVolumeClaim is None:
            continue
        name = volume.persistentVolumeClaim.claimName
        pvc = model.pvc(ns, name)
        if pvc is None:
            return name
        if pvc.status.phase == "Bound" or pvc.spec.volumeName or not model.has("StorageClass"):
            continue
        wanted = pvc.spec.storageClassName
        if (wanted is None and not model.default_storage_classes) or (wanted and model.storage_class(wanted) is None):
            return name
    return None


def workload_fill(workload: Any, problems: Sequence[PodProblem] = ()) -> dict[str, str]:
    """What a workload finding's remediation can name: the workload's selector and its first
    pod in trouble (the object's own name and namespace are filled by ``finding``)."""
    fill: dict[str, str] = {}
    selector = getattr(workload.spec, "selector", None)
    if selector is not None and (selector.matchLabels or selector.matchExpressions):
        fill["selector"] = format_selector(selector)
    if problems:
        fill["pod"] = problems[0].pod.metadata.name
    return fill


_MISSING_ACCOUNT = re.compile(r'serviceaccount "(?P<name>[^"]+)" not found')


def _create_fill(workload: Any, message: str) -> dict[str, str]:
    """A create failure's: the workload's, and the ServiceAccount the API server did not find."""
    missing = _MISSING_ACCOUNT.search(message)
    return {**workload_fill(workload), **({"serviceaccount": missing["name"]} if missing else {})}


def pod_keys(pods: Iterable[o.Pod]) -> list[ObjectKey]:
    return sorted(key_of(p) for p in pods)


# --------------------------------------------------------------------------- ownership


def owned(model: ClusterModel, owner: Any, kind: str) -> list[Any]:
    """Objects of ``kind`` controlled by ``owner`` (by uid; by name for files without uids)."""
    found = [c for c in model.children(owner) if c.kind == kind]
    if found or owner.metadata.uid:
        return found
    ns, name = owner.metadata.namespace, owner.metadata.name
    return [
        c
        for c in model.objects(kind)
        if c.metadata.namespace == ns
        and (ref := c.metadata.controller()) is not None
        and ref.kind == owner.kind
        and ref.name == name
    ]


def workload_pods(model: ClusterModel, workload: Any) -> list[o.Pod]:
    """Pods of a workload, directly or through its ReplicaSets/Jobs."""
    pods = model.pods_of(workload)
    if pods or workload.metadata.uid:
        return pods
    out: list[o.Pod] = []
    for child_kind in ("ReplicaSet", "Job"):
        for child in owned(model, workload, child_kind):
            out.extend(owned(model, child, "Pod"))
    return out + owned(model, workload, "Pod")


def _events(model: ClusterModel, settings: CheckSettings, *objects: Any) -> list[str]:
    lines: list[str] = []
    for obj in objects:
        if obj is not None:
            lines.extend(event_lines(model, obj, settings.evidence_events))
    return lines[: settings.evidence_events]


def _failed_create(model: ClusterModel, obj: Any) -> bool:
    """The controller reported that the API server rejected its pods (quota, admission)."""
    return any(e.reason == "FailedCreate" for e in model.events_for(obj))


def _condition_lines(conditions: list[o.Condition] | None, *types: str) -> list[str]:
    out = []
    for cond in conditions or ():
        if cond.type in types:
            text = f"{cond.type}={cond.status}"
            if cond.reason:
                text += f" {cond.reason}"
            if cond.message:
                text += f": {cond.message}"
            out.append(text)
    return out


def _stale(meta: o.ObjectMeta, observed: int) -> bool:
    """The controller has not yet acted on the latest spec, so status describes an older one."""
    return bool(meta.generation) and bool(observed) and observed < meta.generation


def _desired(replicas: int | None) -> int:
    return 1 if replicas is None else replicas


# --------------------------------------------------------------------------- deployments


def _revision(rs: o.ReplicaSet) -> tuple[int, str]:
    raw = (rs.metadata.annotations or {}).get(REVISION_ANNOTATION, "")
    return (int(raw) if raw.isdigit() else 0, rs.metadata.creationTimestamp or "")


def _replica_failure(dep: o.Deployment, replicasets: Sequence[o.ReplicaSet]) -> tuple[o.ReplicaSet | None, o.Condition] | None:
    """A ReplicaFailure=True condition on one of the Deployment's ReplicaSets (or copied onto it)."""
    for rs in sorted(replicasets, key=_revision, reverse=True):
        cond = condition(rs.status.conditions, "ReplicaFailure")
        if cond is not None and cond.status == "True":
            return rs, cond
    cond = condition(dep.status.conditions, "ReplicaFailure")
    if cond is not None and cond.status == "True":
        return None, cond
    return None


@dataclass
class _DeploymentView:
    """Everything the Deployment checks read, gathered once."""

    dep: o.Deployment
    desired: int
    newest: o.ReplicaSet | None
    replicasets: list[o.ReplicaSet]
    pods: list[o.Pod]
    problems: list[PodProblem]
    evidence: dict[str, Any]


def _deployment_view(model: ClusterModel, settings: CheckSettings, dep: o.Deployment) -> _DeploymentView:
    replicasets = owned(model, dep, "ReplicaSet")
    newest = max(replicasets, key=_revision, default=None)
    pods = live_pods(workload_pods(model, dep))
    problems = pod_problems(pods)
    st = dep.status
    desired = _desired(dep.spec.replicas)
    evidence: dict[str, Any] = {
        "desired": desired,
        "ready": st.readyReplicas,
        "available": st.availableReplicas,
        "updated": st.updatedReplicas,
        "replica_set": newest.metadata.name if newest else None,
        "conditions": _condition_lines(st.conditions, "Available", "Progressing", "ReplicaFailure"),
        "pods": describe_pods(problems, len(pods)),
        "events": _events(model, settings, dep, newest),
    }
    return _DeploymentView(dep, desired, newest, replicasets, pods, problems, evidence)


@analyzer(codes=[KS201, KS202, KS203, KS204, KS205], requires=["Deployment"])
def deployments(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    """At most one finding per Deployment: the most specific of create failure,
    paused, stuck rollout, unavailable, partly ready (the others are evidence)."""
    for dep in in_service(model, model.deployments):
        if _desired(dep.spec.replicas) == 0 or _stale(dep.metadata, dep.status.observedGeneration):
            continue  # scaled to zero on purpose, or status not yet about this spec
        if _quiet(model, dep):
            continue
        view = _deployment_view(model, settings, dep)
        found = (
            _create_failure(model, view)
            or _paused(view)
            or _rollout_stuck(model, view)
            or _unavailable(model, settings, view)
            or _not_all_ready(model, settings, view)
        )
        if found is not None:
            yield found


def _rollout_complete(dep: o.Deployment) -> bool:
    desired = _desired(dep.spec.replicas)
    return dep.status.updatedReplicas >= desired and dep.status.availableReplicas >= desired


def _deadline_exceeded(dep: o.Deployment) -> bool:
    progressing = condition(dep.status.conditions, "Progressing")
    return progressing is not None and progressing.status == "False" and progressing.reason == "ProgressDeadlineExceeded"


def _quiet(model: ClusterModel, dep: o.Deployment) -> bool:
    """None of the five checks below can fire: their preconditions, from the
    Deployment's own status. Most Deployments of a cluster are quiet, and this
    spares building their view (pods, pod problems, events): half the cost of
    this analyzer on 10k pods."""
    if _is_unavailable(dep) or dep.status.readyReplicas < _desired(dep.spec.replicas):
        return False
    if not _rollout_complete(dep) and (dep.spec.paused or _deadline_exceeded(dep)):
        return False
    return _replica_failure(dep, owned(model, dep, "ReplicaSet")) is None


def _create_failure(model: ClusterModel, view: _DeploymentView) -> Finding | None:
    failure = _replica_failure(view.dep, view.replicasets)
    if failure is None:
        return None
    rs, cond = failure
    rs_name = rs.metadata.name if rs is not None else view.evidence.get("replica_set")
    evidence = {**view.evidence, "replica_set": rs_name, "reason": cond.reason, "message": cond.message}
    if rs is not None:
        evidence["events"] = event_lines(model, rs) or view.evidence.get("events")
    return finding(
        KS204,
        key_of(view.dep),
        f"ReplicaSet {rs_name} cannot create pods ({view.dep.status.availableReplicas}/{view.desired} available): "
        f"{cond.reason}: {cond.message}",
        evidence=evidence,
        fill=_create_fill(view.dep, cond.message),
        related=pod_keys(view.pods),
    )


def _paused(view: _DeploymentView) -> Finding | None:
    dep = view.dep
    if not dep.spec.paused:
        return None
    st = dep.status
    if _rollout_complete(dep):
        return None  # paused after a complete rollout: nothing pending
    return finding(
        KS205,
        key_of(dep),
        f"paused with {st.updatedReplicas}/{view.desired} replicas on the current template "
        f"and {st.availableReplicas}/{view.desired} available",
        evidence=view.evidence,
        fill=workload_fill(dep, view.problems),
        related=pod_keys(view.pods),
    )


def _is_unavailable(dep: o.Deployment) -> bool:
    available = condition(dep.status.conditions, "Available")
    return (available is not None and available.status == "False") or dep.status.availableReplicas == 0


def _rollout_stuck(model: ClusterModel, view: _DeploymentView) -> Finding | None:
    dep = view.dep
    if not _deadline_exceeded(dep):
        return None
    st = dep.status
    if _rollout_complete(dep):
        return None  # the condition lags a rollout that has in fact completed
    unavailable = _is_unavailable(dep)
    new_pods = [p for p in view.pods if view.newest is not None and model.owner(p) is view.newest]
    new_ids = {id(p) for p in new_pods}
    new_problems = [p for p in view.problems if id(p.pod) in new_ids] or view.problems
    summary = describe_pods(new_problems, len(new_pods) or len(view.pods))
    deadline = dep.spec.progressDeadlineSeconds or 600
    message = (
        f"rollout of ReplicaSet {view.evidence.get('replica_set') or '?'} made no progress for {deadline}s; "
        f"{st.updatedReplicas}/{view.desired} updated, {st.availableReplicas}/{view.desired} available"
    )
    return finding(
        KS202,
        key_of(dep),
        message + (f": {summary}" if summary else ""),
        evidence={**view.evidence, "pods": summary or view.evidence.get("pods"), "progress_deadline_seconds": deadline},
        severity=Severity.ERROR if unavailable else Severity.WARNING,
        fill=workload_fill(dep, new_problems),
        cause=shared_cause(model, new_problems),
        related=pod_keys(view.pods),
    )


def _unavailable(model: ClusterModel, settings: CheckSettings, view: _DeploymentView) -> Finding | None:
    dep = view.dep
    if not _is_unavailable(dep):
        return None
    available = condition(dep.status.conditions, "Available")
    age = model.age_seconds(available.lastTransitionTime) if available is not None else None
    long_false = available is not None and available.status == "False" and age is not None and age >= settings.pod_not_ready_seconds
    if not (overdue(model, settings, view.problems) or long_false):
        return None  # pods are still starting
    summary = view.evidence.get("pods")
    return finding(
        KS201,
        key_of(dep),
        f"{dep.status.availableReplicas}/{view.desired} replicas available" + (f": {summary}" if summary else ""),
        evidence=view.evidence,
        fill=workload_fill(dep, view.problems),
        cause=shared_cause(model, view.problems),
        related=pod_keys(view.pods),
    )


def _not_all_ready(model: ClusterModel, settings: CheckSettings, view: _DeploymentView) -> Finding | None:
    dep = view.dep
    if dep.status.readyReplicas >= view.desired or not overdue(model, settings, view.problems):
        return None
    summary = view.evidence.get("pods")
    return finding(
        KS203,
        key_of(dep),
        f"{dep.status.readyReplicas}/{view.desired} replicas ready" + (f": {summary}" if summary else ""),
        evidence=view.evidence,
        fill=workload_fill(dep, view.problems),
        cause=shared_cause(model, view.problems),
        related=pod_keys(view.pods),
    )


# --------------------------------------------------------------------------- replicasets


@analyzer(codes=[KS204], requires=["ReplicaSet"])
def replicasets(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    """ReplicaFailure on a ReplicaSet that no loaded Deployment reports for."""
    for rs in in_service(model, model.replicasets):
        cond = condition(rs.status.conditions, "ReplicaFailure")
        if cond is None or cond.status != "True":
            continue
        ref = rs.metadata.controller()
        if ref is not None and ref.kind == "Deployment" and model.has("Deployment", rs.metadata.namespace):
            continue  # the Deployment analyzer reports it on the Deployment
        pods = live_pods(owned(model, rs, "Pod"))
        yield finding(
            KS204,
            key_of(rs),
            f"cannot create pods ({rs.status.readyReplicas}/{_desired(rs.spec.replicas)} ready): {cond.reason}: {cond.message}",
            evidence={
                "desired": _desired(rs.spec.replicas),
                "ready": rs.status.readyReplicas,
                "reason": cond.reason,
                "message": cond.message,
                "events": _events(model, settings, rs),
            },
            fill=_create_fill(rs, cond.message),
            related=pod_keys(pods),
        )


# --------------------------------------------------------------------------- statefulsets, daemonsets


@analyzer(codes=[KS206], requires=["StatefulSet"])
def statefulsets(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for sts in in_service(model, model.statefulsets):
        desired = _desired(sts.spec.replicas)
        st = sts.status
        if desired == 0 or st.readyReplicas >= desired or _stale(sts.metadata, st.observedGeneration):
            continue
        pods = live_pods(workload_pods(model, sts))
        problems = pod_problems(pods)
        events = _events(model, settings, sts)
        # Missing pods have no pod to be overdue: the controller's FailedCreate events say it.
        if not (overdue(model, settings, problems) or _failed_create(model, sts)):
            continue
        summary = describe_pods(problems, len(pods))
        missing = desired - len(pods)
        detail = "; ".join(x for x in (summary, f"{missing} pods not created" if missing > 0 else "") if x)
        yield finding(
            KS206,
            key_of(sts),
            f"{st.readyReplicas}/{desired} replicas ready" + (f": {detail}" if detail else ""),
            evidence={
                "desired": desired,
                "ready": st.readyReplicas,
                "current": st.currentReplicas,
                "updated": st.updatedReplicas,
                "pods": summary,
                "events": events,
            },
            severity=Severity.ERROR if st.readyReplicas == 0 else Severity.WARNING,
            fill={**workload_fill(sts), "pod": _lowest_unready(sts, desired, pods)},
            cause=shared_cause(model, problems),
            related=pod_keys(pods),
        )


def _lowest_unready(sts: o.StatefulSet, desired: int, pods: Sequence[o.Pod]) -> str:
    """The pod of the lowest ordinal that is missing or not ready: with OrderedReady, the one
    holding up every higher ordinal."""
    ready = {p.metadata.name for p in pods if pod_problem(p) is None}
    name = sts.metadata.name
    return next((f"{name}-{i}" for i in range(desired) if f"{name}-{i}" not in ready), f"{name}-0")


@analyzer(codes=[KS214], requires=["StatefulSet", "Service"])
def statefulset_services(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for sts in in_service(model, model.statefulsets):
        name, ns = sts.spec.serviceName, sts.metadata.namespace
        # No serviceName: no per-pod DNS was asked for. Services not listed there: "not found" is not "missing".
        if not name or not model.has("Service", ns) or model.service(ns, name) is not None:
            continue
        selector = (sts.spec.selector.matchLabels if sts.spec.selector else None) or sts.spec.template.metadata.labels
        yield finding(
            KS214,
            key_of(sts),
            f"serviceName {name} names a Service that does not exist in namespace {ns}: its pods get no stable DNS names",
            evidence={"service": name},
            fill={"service": name, "selector": format_selector(selector or {})},
            cause=ObjectKey("Service", ns, name),
            related=pod_keys(workload_pods(model, sts)),
        )


@analyzer(codes=[KS207, KS208], requires=["DaemonSet"])
def daemonsets(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for ds in in_service(model, model.daemonsets):
        if _stale(ds.metadata, ds.status.observedGeneration):
            continue
        pods = live_pods(workload_pods(model, ds))
        yield from _daemonset_not_ready(model, settings, ds, pods)
        if ds.status.numberMisscheduled > 0:
            yield _daemonset_misscheduled(model, ds, pods)


def _daemonset_not_ready(
    model: ClusterModel, settings: CheckSettings, ds: o.DaemonSet, pods: list[o.Pod]
) -> Iterable[Finding]:
    st = ds.status
    desired = st.desiredNumberScheduled
    if desired == 0 or (st.numberReady >= desired and st.numberUnavailable == 0):
        return
    problems = pod_problems(pods)
    events = _events(model, settings, ds)
    if not (overdue(model, settings, problems) or _failed_create(model, ds)):
        return
    summary = describe_pods(problems, len(pods))
    yield finding(
        KS207,
        key_of(ds),
        f"{st.numberReady}/{desired} pods ready" + (f": {summary}" if summary else ""),
        evidence={
            "desired": desired,
            "ready": st.numberReady,
            "scheduled": st.currentNumberScheduled,
            "unavailable": st.numberUnavailable,
            "pods": summary,
            "nodes": sorted({p.pod.spec.nodeName for p in problems if p.pod.spec.nodeName}),
            "events": events,
        },
        severity=Severity.ERROR if st.numberReady == 0 else Severity.WARNING,
        fill=workload_fill(ds, problems),
        cause=shared_cause(model, problems),
        related=pod_keys(pods),
    )


def _daemonset_misscheduled(model: ClusterModel, ds: o.DaemonSet, pods: list[o.Pod]) -> Finding:
    selector = ds.spec.template.spec.nodeSelector or {}
    misplaced = []
    for pod in pods:
        node = model.node(pod.spec.nodeName) if pod.spec.nodeName else None
        labels = (node.metadata.labels or {}) if node is not None else None
        if labels is not None and any(labels.get(k) != v for k, v in selector.items()):
            misplaced.append(pod)
    return finding(
        KS208,
        key_of(ds),
        f"{ds.status.numberMisscheduled} pods run on nodes outside the DaemonSet's node selection",
        evidence={
            "misscheduled": ds.status.numberMisscheduled,
            "node_selector": ",".join(f"{k}={v}" for k, v in sorted(selector.items())),
            "nodes": sorted({p.spec.nodeName for p in misplaced}),
        },
        fill=workload_fill(ds),
        related=pod_keys(misplaced),
    )


# --------------------------------------------------------------------------- jobs


def job_outcome(job: o.Job) -> str:
    """``succeeded``, ``failed`` or ``running`` (suspended and pending Jobs count as running)."""
    for type_, outcome in (("Failed", "failed"), ("FailureTarget", "failed"), ("Complete", "succeeded"), ("SuccessCriteriaMet", "succeeded")):
        cond = condition(job.status.conditions, type_)
        if cond is not None and cond.status == "True":
            return outcome
    return "running"


def _job_started(job: o.Job) -> str:
    return job.status.startTime or job.metadata.creationTimestamp or ""


def _failure_condition(job: o.Job) -> o.Condition | None:
    for type_ in ("Failed", "FailureTarget"):
        cond = condition(job.status.conditions, type_)
        if cond is not None and cond.status == "True":
            return cond
    return None


def _last_failed_pod(pods: Sequence[o.Pod]) -> tuple[o.Pod, str, o.ContainerStateTerminated | None] | None:
    """The newest failed pod of a Job, the container that failed, and how it terminated."""
    best: tuple[str, o.Pod, str, o.ContainerStateTerminated | None] | None = None
    for pod in pods:
        for status in pod.status.containerStatuses or ():
            for state in (status.state, status.lastState):
                terminated = state.terminated if state is not None else None
                if terminated is not None and terminated.exitCode != 0:
                    when = terminated.finishedAt or pod.metadata.creationTimestamp or ""
                    if best is None or when > best[0]:
                        best = (when, pod, status.name, terminated)
        if pod.status.phase == "Failed" and best is None:
            best = (pod.metadata.creationTimestamp or "", pod, "", None)
    return None if best is None else best[1:]


def _superseded(job: o.Job, siblings: dict[ObjectKey, list[o.Job]]) -> bool:
    """A newer Job of the same CronJob succeeded, so this failure is history."""
    ref = job.metadata.controller()
    if ref is None or ref.kind != "CronJob":
        return False
    started = _job_started(job)
    group = siblings.get(ObjectKey("CronJob", job.metadata.namespace, ref.name), [])
    return any(_job_started(other) > started and job_outcome(other) == "succeeded" for other in group)


def _jobs_by_cronjob(model: ClusterModel) -> dict[ObjectKey, list[o.Job]]:
    index: dict[ObjectKey, list[o.Job]] = {}
    for job in model.jobs:
        ref = job.metadata.controller()
        if ref is not None and ref.kind == "CronJob":
            index.setdefault(ObjectKey("CronJob", job.metadata.namespace, ref.name), []).append(job)
    return index


@analyzer(codes=[KS209], requires=["Job"])
def jobs(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    siblings = _jobs_by_cronjob(model)
    for job in in_service(model, model.jobs):
        cond = _failure_condition(job)
        if cond is None:
            continue  # running, suspended or completed: silent
        pods = workload_pods(model, job)
        evidence: dict[str, Any] = {
            "reason": cond.reason,
            "message": cond.message,
            "failed": job.status.failed,
            "succeeded": job.status.succeeded,
            "completions": job.spec.completions,
            "backoff_limit": 6 if job.spec.backoffLimit is None else job.spec.backoffLimit,
            "active_deadline_seconds": job.spec.activeDeadlineSeconds,
            "events": _events(model, settings, job),
        }
        message = f"{cond.reason or 'Failed'}: {cond.message or 'the Job failed'} ({job.status.failed} failed, {job.status.succeeded} succeeded)"
        last = _last_failed_pod(pods)
        if last is not None:
            pod, container, terminated = last
            evidence.update(last_pod=pod.metadata.name, container=container or None)
            if terminated is not None:
                evidence.update(exit_code=terminated.exitCode, termination_reason=terminated.reason or None)
                message += f"; last pod {pod.metadata.name} exited with code {terminated.exitCode}"
                if terminated.reason:
                    message += f" ({terminated.reason})"
        superseded = _superseded(job, siblings)
        yield finding(
            KS209,
            key_of(job),
            message + ("; a newer run of its CronJob succeeded" if superseded else ""),
            evidence=evidence,
            severity=Severity.INFO if superseded else None,
            fill=_job_fill(job, last[0] if last is not None else None),
            related=pod_keys(pods),
        )


def _job_fill(job: o.Job, failed_pod: o.Pod | None) -> dict[str, str]:
    """A failed Job's: its last failed pod, and the CronJob that created it."""
    owner = job.metadata.controller()
    return {
        **({"pod": failed_pod.metadata.name} if failed_pod is not None else {}),
        **({"cronjob": owner.name} if owner is not None and owner.kind == "CronJob" else {}),
    }


# --------------------------------------------------------------------------- cronjobs


@analyzer(codes=[KS210, KS211, KS212, KS213], requires=["CronJob"])
def cronjobs(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for cj in in_service(model, model.cronjobs):
        jobs_ = sorted(owned(model, cj, "Job"), key=_job_started) if model.has("Job", cj.metadata.namespace) else None
        if cj.spec.suspend:
            yield finding(KS211, key_of(cj), f"suspended: schedule {cj.spec.schedule!r} creates no Jobs",
                          evidence={"schedule": cj.spec.schedule, "last_schedule_time": cj.status.lastScheduleTime})
        if jobs_:
            yield from _cronjob_failing(model, cj, jobs_)
        yield from _cronjob_schedule(model, settings, cj)


def _cronjob_failing(model: ClusterModel, cj: o.CronJob, jobs_: list[o.Job]) -> Iterable[Finding]:
    finished = [j for j in jobs_ if job_outcome(j) != "running"]
    failed: list[o.Job] = []
    for job in reversed(finished):
        if job_outcome(job) != "failed":
            break
        failed.append(job)
    if not failed:
        return
    newest = failed[0]
    cond = _failure_condition(newest)
    pods = [p for job in failed for p in workload_pods(model, job)]
    runs = "its last finished run" if len(failed) == 1 else f"its last {len(failed)} finished runs"
    yield finding(
        KS210,
        key_of(cj),
        f"{runs} failed, newest {newest.metadata.name}"
        + (f" ({cond.reason})" if cond is not None and cond.reason else ""),
        evidence={
            "consecutive_failures": len(failed),
            "failed_jobs": [j.metadata.name for j in failed],
            "last_successful_time": cj.status.lastSuccessfulTime,
            "schedule": cj.spec.schedule,
        },
        fill={"job": newest.metadata.name},
        related=[key_of(j) for j in failed] + pod_keys(pods),
    )


def _cronjob_schedule(model: ClusterModel, settings: CheckSettings, cj: o.CronJob) -> Iterable[Finding]:
    try:
        schedule = CronSchedule.parse(cj.spec.schedule, cj.spec.timeZone)
    except ValueError as exc:
        yield finding(KS213, key_of(cj), f"schedule {cj.spec.schedule!r} is not valid: {exc}",
                      evidence={"schedule": cj.spec.schedule, "time_zone": cj.spec.timeZone})
        return
    since = parse_time(cj.status.lastScheduleTime) or parse_time(cj.metadata.creationTimestamp)
    if since is None:
        return
    runs = schedule.fire_times(since, limit=2)
    if not runs:
        yield finding(KS213, key_of(cj), f"schedule {cj.spec.schedule!r} never matches a date",
                      evidence={"schedule": cj.spec.schedule, "time_zone": cj.spec.timeZone})
        return
    if cj.spec.suspend:
        return  # a suspended CronJob misses runs on purpose
    needed = max(1, math.ceil(settings.cronjob_missed_factor))
    due = schedule.fire_times(since, limit=needed)
    if len(due) < needed or due[-1] > model.now:
        return
    yield _missed_runs(model, settings, cj, schedule, since, runs)


def _missed_runs(
    model: ClusterModel, settings: CheckSettings, cj: o.CronJob, schedule: CronSchedule,
    since: dt.datetime, runs: list[dt.datetime],
) -> Finding:
    missed = len(schedule.fire_times(since, limit=100, until=model.now))
    interval = human_duration((runs[1] - runs[0]).total_seconds()) if len(runs) > 1 else None
    active = [ref.name for ref in cj.status.active or ()]
    message = (
        f"no run scheduled since {cj.status.lastScheduleTime or 'creation'}: "
        f"{missed}{'+' if missed >= 100 else ''} scheduled runs missed (schedule {cj.spec.schedule!r}"
        + (f", about every {interval}" if interval else "")
        + ")"
    )
    cause = None
    if active and cj.spec.concurrencyPolicy == "Forbid":
        message += f"; Job {active[0]} is still active and concurrencyPolicy Forbid blocks new runs"
        cause = ObjectKey("Job", cj.metadata.namespace, active[0])
    return finding(
        KS212,
        key_of(cj),
        message,
        evidence={
            "schedule": cj.spec.schedule,
            "time_zone": cj.spec.timeZone,
            "interval": interval,
            "last_schedule_time": cj.status.lastScheduleTime,
            "missed_runs": missed,
            "active_jobs": active,
            "concurrency_policy": cj.spec.concurrencyPolicy,
            "starting_deadline_seconds": cj.spec.startingDeadlineSeconds,
            "events": _events(model, settings, cj),
        },
        fill={"job": active[0]} if active else None,
        cause=cause,
    )
