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
from kubesteward.model.semantics import health, lifecycle, rollout
from kubesteward.model.semantics.ownership import controlled_by
from kubesteward.model.semantics.selectors import format_selector

T = TypeVar("T")


# --------------------------------------------------------------------------- pod health

def describe_pods(problems: Sequence[health.PodProblem], total: int) -> str:
    """``3/3 pods CrashLoopBackOff (OOMKilled); 1/3 pods Pending (Unschedulable)``."""
    counts = Counter(p.summary for p in problems)
    return "; ".join(f"{n}/{total} pods {summary}" for summary, n in counts.most_common())


def overdue(model: ClusterModel, settings: CheckSettings, problems: Iterable[health.PodProblem]) -> bool:
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


def shared_cause(model: ClusterModel, problems: Sequence[health.PodProblem]) -> ObjectKey | None:
    """The one object every unhealthy pod waits on (a NotReady node, an unbound PVC), if any."""
    causes = {_pod_cause(model, p) for p in problems}
    if len(causes) != 1:
        return None
    return causes.pop()


def _pod_cause(model: ClusterModel, problem: health.PodProblem) -> ObjectKey | None:
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


def workload_fill(workload: Any, problems: Sequence[health.PodProblem] = ()) -> dict[str, str]:
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
    ns = owner.metadata.namespace
    return [c for c in model.objects(kind) if c.metadata.namespace == ns and controlled_by(c, owner)]


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


# --------------------------------------------------------------------------- deployments


def _replica_failure(dep: o.Deployment, replicasets: Sequence[o.ReplicaSet]) -> tuple[o.ReplicaSet | None, o.Condition] | None:
    """A ReplicaFailure=True condition on one of the Deployment's ReplicaSets (or copied onto it)."""
    for rs in sorted(replicasets, key=rollout.revision_order, reverse=True):
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
    problems: list[health.PodProblem]
    evidence: dict[str, Any]


def _deployment_view(model: ClusterModel, settings: CheckSettings, dep: o.Deployment) -> _DeploymentView:
    replicasets = owned(model, dep, "ReplicaSet")
    newest = rollout.new_replicaset(dep, replicasets)
    pods = lifecycle.live_pods(workload_pods(model, dep))
    problems = health.pod_problems(pods)
    st = dep.status
    desired = rollout.desired_replicas(dep.spec.replicas)
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
        if rollout.desired_replicas(dep.spec.replicas) == 0 or rollout.status_outdated(dep.metadata, dep.status.observedGeneration):
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


def _quiet(model: ClusterModel, dep: o.Deployment) -> bool:
    """None of the five checks below can fire: their preconditions, from the
    Deployment's own status. Most Deployments of a cluster are quiet, and this
    spares building their view (pods, pod problems, events), most of this
    analyzer's cost on a big cluster."""
    if rollout.deployment_unavailable(dep) or dep.status.readyReplicas < rollout.desired_replicas(dep.spec.replicas):
        return False
    if not rollout.deployment_complete(dep) and (dep.spec.paused or rollout.progress_deadline_exceeded(dep)):
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
    if rollout.deployment_complete(dep):
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


def _rollout_stuck(model: ClusterModel, view: _DeploymentView) -> Finding | None:
    dep = view.dep
    if not rollout.progress_deadline_exceeded(dep):
        return None
    st = dep.status
    if rollout.deployment_complete(dep):
        return None  # the condition lags a rollout that has in fact completed
    unavailable = rollout.deployment_unavailable(dep)
    new_pods = [p for p in view.pods if view.newest is not None and model.owner(p) is view.newest]
    new_ids = {id(p) for p in new_pods}
    new_problems = [p for p in view.problems if id(p.pod) in new_ids] or view.problems
    summary = describe_pods(new_problems, len(new_pods) or len(view.pods))
    deadline = dep.spec.progressDeadlineSeconds or rollout.DEFAULT_PROGRESS_DEADLINE_SECONDS
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
    if not rollout.deployment_unavailable(dep):
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
        pods = lifecycle.live_pods(owned(model, rs, "Pod"))
        yield finding(
            KS204,
            key_of(rs),
            f"cannot create pods ({rs.status.readyReplicas}/{rollout.desired_replicas(rs.spec.replicas)} ready): {cond.reason}: {cond.message}",
            evidence={
                "desired": rollout.desired_replicas(rs.spec.replicas),
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
        desired = rollout.desired_replicas(sts.spec.replicas)
        st = sts.status
        if desired == 0 or st.readyReplicas >= desired or rollout.status_outdated(sts.metadata, st.observedGeneration):
            continue
        pods = lifecycle.live_pods(workload_pods(model, sts))
        problems = health.pod_problems(pods)
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
    ready = {p.metadata.name for p in pods if health.pod_problem(p) is None}
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
        if rollout.status_outdated(ds.metadata, ds.status.observedGeneration):
            continue
        pods = lifecycle.live_pods(workload_pods(model, ds))
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
    problems = health.pod_problems(pods)
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


def _job_started(job: o.Job) -> str:
    return job.status.startTime or job.metadata.creationTimestamp or ""


def _last_failed_pod(pods: Sequence[o.Pod]) -> tuple[o.Pod, str, o.ContainerStateTerminated | None] | None:
    """The newest failed pod of a Job, the container that failed, and how it terminated."""
    best: tuple[str, o.Pod, str, o.ContainerStateTerminated | None] | None = None
    for pod in pods:
        for status in pod.status.containerStatuses or ():
            for terminated in (health.terminated(status), health.last_terminated(status)):
                if terminated is not None and health.exited_with_error(terminated):
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
    return any(_job_started(other) > started and lifecycle.job_outcome(other) == "succeeded" for other in group)


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
        cond = lifecycle.job_failure(job)
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
    finished = [j for j in jobs_ if lifecycle.job_outcome(j) != "running"]
    failed: list[o.Job] = []
    for job in reversed(finished):
        if lifecycle.job_outcome(job) != "failed":
            break
        failed.append(job)
    if not failed:
        return
    newest = failed[0]
    cond = lifecycle.job_failure(newest)
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
