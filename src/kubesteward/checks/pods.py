"""Pod analyzers (KS1xx): why a pod does not run, is not Ready, or keeps dying.

One problem, one finding. The analyzers share a notion of "this pod already
has a container problem" (a failing container, as ``model.semantics.health``
defines it, that a container code reports: crash loop, OOM kill, image pull,
config error, failing init container) so that the consequences of that problem
(the pod is Pending, or Running but not Ready, or has restarts) are not reported
a second time. Pods that are going away (deleted, or in a namespace being
deleted: ``model.semantics.lifecycle``) only get KS112, Succeeded pods get
nothing, and Failed pods of Jobs are the Job analyzer's.

Cause links: a finding on a pod bound to a NotReady/Unknown node names that
Node as its cause; a missing ConfigMap/Secret names that object; a pod
waiting for an unbound PVC names the PVC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kubesteward.checks.base import analyzer
from kubesteward.checks.evidence import container_spec, event_lines, human_duration, limit_of, request_of
from kubesteward.checks.nodes import CONDITION_TAINTS, node_down
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Finding, Severity, Step, finding, fix
from kubesteward.findings.catalogue.pods import (
    KS101,
    KS102,
    KS103,
    KS104,
    KS105,
    KS106,
    KS107,
    KS108,
    KS109,
    KS110,
    KS111,
    KS112,
    KS113,
)
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, ObjectKey, key_of
from kubesteward.model.objects import condition
from kubesteward.model.semantics import health, lifecycle
from kubesteward.model.semantics.quantity import format_bytes, parse_quantity
from kubesteward.model.semantics.selectors import format_selector

# --------------------------------------------------------------------------- container states

_EXIT_MEANINGS = {
    1: "application error",
    2: "misuse of shell builtin / invalid arguments",
    126: "command not executable",
    127: "command not found",
    128: "invalid exit argument",
    130: "interrupted (SIGINT)",
    134: "aborted (SIGABRT)",
    137: "killed (SIGKILL: OOM killer or liveness probe)",
    139: "segmentation fault (SIGSEGV)",
    143: "terminated (SIGTERM)",
}


def _explained(status: o.ContainerStatus, init: bool) -> bool:
    """Whether a container-level code (KS101-105, KS113) reports this container: each failing one
    (:func:`health.container_failing`) but an app container that exited with an error and is not
    crash-looping (yet), which only its pod's state shows (not Ready, then Failed)."""
    if not health.container_failing(status):
        return False
    term = health.terminated(status)
    return term is None or init or term.reason == health.OOM_KILLED


def has_container_problem(pod: o.Pod) -> bool:
    return any(_explained(status, init) for status, init in health.container_statuses(pod))


def _exit_meaning(code: int | None) -> str | None:
    if code is None:
        return None
    if code in _EXIT_MEANINGS:
        return _EXIT_MEANINGS[code]
    return f"killed by signal {code - 128}" if code > 128 else None


# --------------------------------------------------------------------------- common helpers


def node_cause(model: ClusterModel, pod: o.Pod) -> ObjectKey | None:
    """The pod's node when it is NotReady/Unknown: the likely root of anything wrong with the pod."""
    name = pod.spec.nodeName
    node = model.node(name) if name else None
    if node is None or not node_down(node):
        return None
    return ObjectKey("Node", "", name)


def _node_evidence(model: ClusterModel, pod: o.Pod) -> dict[str, Any]:
    """``node`` always, ``node_ready`` when the node is down (why the cause points at it)."""
    name = pod.spec.nodeName
    node = model.node(name) if name else None
    ready = condition(node.status.conditions, "Ready") if node else None
    return {"node": name, "node_ready": ready.status if ready is not None and ready.status != "True" else None}


def _on_node_suffix(cause: ObjectKey | None) -> str:
    return f" (node {cause.name} is NotReady)" if cause is not None else ""


def _claims(pod: o.Pod) -> list[str]:
    """The PersistentVolumeClaims the pod mounts, in volume order."""
    return [v.persistentVolumeClaim.claimName for v in pod.spec.volumes or () if v.persistentVolumeClaim is not None]


def _pod_ref(pod: o.Pod) -> str:
    return f"-n {pod.metadata.namespace} {pod.metadata.name}"


# --------------------------------------------------------------------------- KS101, KS102, KS103, KS105, KS113


@analyzer(codes=[KS101, KS102, KS103, KS105, KS113], requires=["Pod"])
def container_failures(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for pod in model.pods:
        if lifecycle.going_away(pod.metadata, leaving) or lifecycle.finished(pod):
            continue
        for status, init in health.container_statuses(pod):
            if _uneventful(status):
                continue
            item = _container_finding(model, settings, pod, status, init)
            if item is not None:
                yield item


def _uneventful(status: o.ContainerStatus) -> bool:
    """Neither waiting nor terminated, now or before: :func:`_container_finding` has
    nothing to say. The state of nearly every container, so it is tested first."""
    state, last = status.state, status.lastState
    return (state is None or (state.waiting is None and state.terminated is None)) and (
        last is None or last.terminated is None
    )


def _container_finding(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, status: o.ContainerStatus, init: bool
) -> Finding | None:
    waiting = health.waiting(status)
    terminated = health.terminated(status)
    last = health.last_terminated(status)
    if waiting is not None and waiting.reason == health.CRASH_LOOP:
        if last is not None and last.reason == health.OOM_KILLED:
            return _oom(model, settings, pod, status, last, Severity.ERROR, "is crash-looping: OOMKilled")
        return _init_failure(model, settings, pod, status, last) if init else _crashloop(model, settings, pod, status, last)
    if waiting is not None and waiting.reason in health.IMAGE_PULL_REASONS:
        return _image_pull(model, settings, pod, status, waiting, init)
    if waiting is not None and waiting.reason in health.CREATE_REASONS:
        # A missing ConfigMap/Secret/key is KS104 (the root cause, with its own cause link).
        if waiting.reason == "CreateContainerConfigError" and any(
            ref.container == status.name for ref in missing_references(model, pod)
        ):
            return None
        return _create_error(model, settings, pod, status, waiting)
    if terminated is not None and terminated.reason == health.OOM_KILLED:
        return _oom(model, settings, pod, status, terminated, Severity.ERROR, "was OOMKilled")
    if init and terminated is not None and health.exited_with_error(terminated):
        return _init_failure(model, settings, pod, status, terminated)
    if health.running(status) and last is not None and last.reason == health.OOM_KILLED:
        age = model.age_seconds(last.finishedAt)
        if age is not None and age <= settings.restart_recent_seconds:
            verb = f"runs again but was OOMKilled {human_duration(age)} ago"
            return _oom(model, settings, pod, status, last, Severity.WARNING, verb)
    return None


def _termination_evidence(term: o.ContainerStateTerminated | None) -> dict[str, Any]:
    if term is None:
        return {}
    return {
        "reason": term.reason or "unknown",
        "exit_code": term.exitCode,
        "exit_meaning": _exit_meaning(term.exitCode),
        "message": term.message,
        "finished_at": term.finishedAt,
    }


def _crashloop(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, status: o.ContainerStatus, last: o.ContainerStateTerminated | None
) -> Finding:
    cause = node_cause(model, pod)
    how = f"last exit {last.reason or 'unknown'} (exit code {last.exitCode})" if last else "last exit unknown"
    waiting = health.waiting(status)
    meaning = _exit_meaning(last.exitCode) if last else None
    step = Step(
        "Read the output of the run that crashed" + (f" ({meaning})" if meaning else ""),
        f"kubectl logs {_pod_ref(pod)} -c {status.name} --previous",
    )
    return finding(
        KS101,
        key_of(pod),
        f"container {status.name} is in CrashLoopBackOff: {how}, {status.restartCount} restart(s){_on_node_suffix(cause)}",
        evidence={
            "container": status.name,
            **_termination_evidence(last),
            "restarts": status.restartCount,
            "back_off": waiting.message if waiting else None,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        remediation=fix(KS101, step, instead_of_first=True),
        cause=cause,
    )


def _oom(
    model: ClusterModel,
    settings: CheckSettings,
    pod: o.Pod,
    status: o.ContainerStatus,
    term: o.ContainerStateTerminated,
    severity: Severity,
    verb: str,
) -> Finding:
    spec = container_spec(pod, status.name)
    limit = limit_of(spec, "memory")
    limit_text = f"memory limit {limit}" if limit else "no memory limit set (the node ran out of memory)"
    cause = node_cause(model, pod)
    if limit:
        step = Step(
            f"Raise `resources.limits.memory` of container {status.name} above {limit} "
            "(its real peak plus headroom), or bound its memory use",
            _raise_memory_limit(model, pod, status.name, limit),
        )
    else:
        step = Step(
            f"Set `resources.requests.memory` and `limits.memory` on container {status.name}: "
            "without a limit, the node itself ran out of memory"
        )
    return finding(
        KS102,
        key_of(pod),
        f"container {status.name} {verb} (exit code {term.exitCode}), {limit_text}, "
        f"{status.restartCount} restart(s){_on_node_suffix(cause)}",
        severity=severity,
        remediation=fix(KS102, step),
        evidence={
            "container": status.name,
            **_termination_evidence(term),
            "memory_limit": limit or "no memory limit set",
            "memory_request": request_of(spec, "memory"),
            "restarts": status.restartCount,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=cause,
    )


# The kinds ``kubectl set resources`` changes the pod template of (a pod's own resources are immutable).
_TEMPLATED = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})


def _raise_memory_limit(model: ClusterModel, pod: o.Pod, container: str, limit: str) -> str | None:
    """The command doubling a container's memory limit in its workload's template (a start: its real peak
    plus headroom is the goal), or None for a pod no workload templates."""
    root = model.root_key(pod)
    bytes_ = parse_quantity(limit)
    if root.kind not in _TEMPLATED or not bytes_:
        return None
    return (
        f"kubectl set resources {root.kind.lower()}/{root.name} -n {root.namespace} -c {container} "
        f"--limits=memory={format_bytes(2 * bytes_)}"
    )


def _init_failure(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, status: o.ContainerStatus, term: o.ContainerStateTerminated | None
) -> Finding:
    cause = node_cause(model, pod)
    how = f"{term.reason or 'Error'}, exit code {term.exitCode}" if term else "no exit status"
    evidence: dict[str, Any] = {"container": status.name, **_termination_evidence(term), "restarts": status.restartCount}
    if term is not None and term.reason == health.OOM_KILLED:
        evidence["memory_limit"] = limit_of(container_spec(pod, status.name), "memory") or "no memory limit set"
    return finding(
        KS113,
        key_of(pod),
        f"init container {status.name} keeps failing ({how}), {status.restartCount} restart(s): "
        f"the pod is stuck in Init{_on_node_suffix(cause)}",
        evidence={**evidence, **_node_evidence(model, pod), "events": event_lines(model, pod, settings.evidence_events)},
        remediation=fix(
            KS113, Step(f"Read why init container {status.name} fails", f"kubectl logs {_pod_ref(pod)} -c {status.name} --previous"),
            instead_of_first=True,
        ),
        cause=cause,
    )


# Kubelet messages: event 'Failed to pull image "x": <error>'; waiting message (ImagePullBackOff)
# 'Back-off pulling image "x"' with, since 1.30, ': ErrImagePull: <error>' appended.
_PULL_EVENT = re.compile(r'^Failed to pull image "(?P<image>[^"]+)": (?P<error>.+)$', re.S)
_PULL_BACKOFF = re.compile(r'pulling image "(?P<image>[^"]+)"(?::\s*(?:ErrImagePull:\s*)?(?P<error>.+))?$', re.S)


def _pull_error(model: ClusterModel, pod: o.Pod, image: str, waiting: o.ContainerStateWaiting) -> str | None:
    """The registry's own words: newest matching Failed event, else what the waiting message carries."""
    for event in model.events_for(pod):
        match = _PULL_EVENT.match(event.message) if event.reason == "Failed" else None
        if match and match["image"] == image:
            return match["error"].strip()
    if waiting.reason in ("ErrImagePull", "InvalidImageName", "ErrImageNeverPull"):
        return waiting.message or None
    match = _PULL_BACKOFF.search(waiting.message)
    return match["error"].strip() if match and match["error"] else None


@dataclass(frozen=True)
class PullHint:
    needles: tuple[str, ...]  # lowercase substrings of the registry's error
    hint: str  # what it means, for the evidence
    step: str  # the first remediation step ({image}, {node} are filled in)


# First match wins: "denied ... does not exist" is an access problem before a missing image.
PULL_HINTS: tuple[PullHint, ...] = (
    PullHint(("invalid reference format", "couldn't parse image"), "the image reference is malformed",
             "Fix the malformed image reference {image!r} in the pod template"),
    PullHint(("toomanyrequests", "rate limit"), "the registry is rate-limiting pulls: authenticate or use a mirror",
             "Authenticate pulls of {image} (imagePullSecrets) or use a registry mirror"),
    PullHint(("unauthorized", "authentication required", "access denied", "denied", "forbidden"),
             "the registry refused access: the image is private (check imagePullSecrets) or does not exist",
             "Check that {image} exists, and give the pod credentials for its registry: "
             "a docker-registry Secret in `imagePullSecrets`"),
    PullHint(("not found", "manifest unknown", "name unknown", "does not exist"), "the image or tag does not exist in the registry",
             "Fix the image reference: {image} does not exist in its registry (check name and tag)"),
    PullHint(("no such host", "i/o timeout", "connection refused", "dial tcp", "x509", "tls handshake", "deadline exceeded"),
             "the node cannot reach the registry (DNS, proxy, firewall or certificate)",
             "Check that node {node} can reach the registry of {image} (DNS, proxy, firewall, CA certificates)"),
)
NEVER_PULL = PullHint((), "imagePullPolicy is Never and the image is not on the node",
                      "Set `imagePullPolicy: IfNotPresent` or preload {image} on node {node}")


def _pull_hint(error: str | None, reason: str) -> PullHint | None:
    if reason == "ErrImageNeverPull":
        return NEVER_PULL
    text = (error or "").lower()
    return next((h for h in PULL_HINTS if any(n in text for n in h.needles)), None)


def _image_pull(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, status: o.ContainerStatus, waiting: o.ContainerStateWaiting, init: bool
) -> Finding:
    spec = container_spec(pod, status.name)
    image = (spec.image if spec else "") or status.image
    error = _pull_error(model, pod, image, waiting)
    hint = _pull_hint(error, waiting.reason)
    missing_secrets = [
        ref.name for ref in pod.spec.imagePullSecrets or ()
        if model.has("Secret", pod.metadata.namespace) and model.secret(pod.metadata.namespace, ref.name) is None
    ]
    what = "init container" if init else "container"
    cause = node_cause(model, pod)
    unlisted = f" (imagePullSecrets lists {', '.join(missing_secrets)}, which does not exist)" if missing_secrets else ""
    if hint is not None:
        step = Step(hint.step.format(image=image, node=pod.spec.nodeName or "?") + unlisted)
    else:
        step = Step(f"Read the Failed event with the registry's full error{unlisted}", f"kubectl describe pod {_pod_ref(pod)}")
    return finding(
        KS103,
        key_of(pod),
        f"{what} {status.name} cannot pull image {image} ({waiting.reason})"
        + (f": {error}" if error else "")
        + _on_node_suffix(cause),
        evidence={
            "container": status.name,
            "image": image,
            "reason": waiting.reason,
            "error": error,
            "hint": hint.hint if hint else None,
            "message": waiting.message,
            "missing_pull_secrets": missing_secrets,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        remediation=fix(KS103, step, instead_of_first=hint is None),
        cause=cause,
    )


def _create_error(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, status: o.ContainerStatus, waiting: o.ContainerStateWaiting
) -> Finding:
    cause = node_cause(model, pod)
    detail = f": {waiting.message}" if waiting.message else ""
    return finding(
        KS105,
        key_of(pod),
        f"container {status.name} cannot be created ({waiting.reason}){detail}{_on_node_suffix(cause)}",
        remediation=fix(
            KS105, Step(f"Read the kubelet's error for container {status.name}", f"kubectl describe pod {_pod_ref(pod)}"),
            instead_of_first=True,
        ),
        evidence={
            "container": status.name,
            "reason": waiting.reason,
            "message": waiting.message,
            "restarts": status.restartCount,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=cause,
    )


# --------------------------------------------------------------------------- KS104 references


@dataclass(frozen=True)
class Reference:
    """One use of a ConfigMap/Secret (or one key of it) in a pod spec."""

    kind: str  # "ConfigMap" or "Secret"
    name: str
    key: str | None  # None: the whole object (envFrom, volume without items)
    optional: bool
    where: str  # "env DB_HOST", "envFrom", "volume config"
    container: str = ""  # "" for volumes (they affect every container mounting them)


def _container_references(container: o.Container) -> Iterator[Reference]:
    name = container.name
    for env in container.env or ():
        source = env.valueFrom
        if source is None:
            continue
        if source.configMapKeyRef is not None:
            ref = source.configMapKeyRef
            yield Reference("ConfigMap", ref.name, ref.key, ref.optional, f"env {env.name}", name)
        if source.secretKeyRef is not None:
            ref = source.secretKeyRef
            yield Reference("Secret", ref.name, ref.key, ref.optional, f"env {env.name}", name)
    for env_from in container.envFrom or ():
        if env_from.configMapRef is not None:
            yield Reference("ConfigMap", env_from.configMapRef.name, None, env_from.configMapRef.optional, "envFrom", name)
        if env_from.secretRef is not None:
            yield Reference("Secret", env_from.secretRef.name, None, env_from.secretRef.optional, "envFrom", name)


def _keyed(kind: str, name: str, items: list[o.KeyToPath] | None, optional: bool, where: str) -> Iterator[Reference]:
    """A volume source: the object itself, plus each key its ``items`` project."""
    yield Reference(kind, name, None, optional, where)
    for item in items or ():
        yield Reference(kind, name, item.key, optional, where)


def _volume_references(volume: o.Volume) -> Iterator[Reference]:
    if volume.configMap is None and volume.secret is None and volume.projected is None:
        return  # emptyDir, hostPath, a PVC...
    where = f"volume {volume.name}"
    if volume.configMap is not None:
        yield from _keyed("ConfigMap", volume.configMap.name, volume.configMap.items, volume.configMap.optional, where)
    if volume.secret is not None:
        yield from _keyed("Secret", volume.secret.secretName, volume.secret.items, volume.secret.optional, where)
    for source in (volume.projected.sources or ()) if volume.projected else ():
        for kind, ref in (("ConfigMap", source.configMap), ("Secret", source.secret)):
            if ref is not None:
                yield from _keyed(kind, ref.name, ref.items, ref.optional, f"projected {where}")


# The projected volume admission adds to every pod for its service-account token.
TOKEN_VOLUME_PREFIX = "kube-api-access-"


def references(pod: o.Pod) -> Iterator[Reference]:
    """Every ConfigMap/Secret use in the pod spec, containers (init too) first, then
    volumes, but for the service-account token volume (never missing)."""
    spec = pod.spec
    for containers in (spec.initContainers, spec.containers):
        for container in containers or ():
            if container.env or container.envFrom:
                yield from _container_references(container)
    for volume in spec.volumes or ():
        if volume.projected is not None and volume.name.startswith(TOKEN_VOLUME_PREFIX):
            continue  # the token volume every pod gets: it only names kube-root-ca.crt (see IMPLICIT_CONFIGMAPS)
        yield from _volume_references(volume)


# Published into every namespace by a controller (kube-root-ca.crt backs every pod's
# service-account token volume); often absent from exported manifests, never really missing.
IMPLICIT_CONFIGMAPS = frozenset({"kube-root-ca.crt", "openshift-service-ca.crt"})


def _is_missing(model: ClusterModel, namespace: str, ref: Reference) -> bool:
    if ref.optional or not ref.name or not model.has(ref.kind, namespace):
        return False  # optional, or we could not look: never claim "missing"
    if ref.kind == "ConfigMap" and ref.name in IMPLICIT_CONFIGMAPS:
        return False
    obj = model.configmap(namespace, ref.name) if ref.kind == "ConfigMap" else model.secret(namespace, ref.name)
    if obj is None:
        return True
    return ref.key is not None and ref.key not in (obj.keys or ())


def missing_references(model: ClusterModel, pod: o.Pod) -> list[Reference]:
    return [ref for ref in references(pod) if _is_missing(model, pod.metadata.namespace, ref)]


@analyzer(codes=[KS104], requires=["Pod"])
def missing_config(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for pod in model.pods:
        if lifecycle.going_away(pod.metadata, leaving) or lifecycle.finished(pod):
            continue
        missing = missing_references(model, pod)
        if not missing:
            continue
        grouped: dict[tuple[str, str], list[Reference]] = {}
        for ref in missing:
            grouped.setdefault((ref.kind, ref.name), []).append(ref)
        for (kind, name), refs in grouped.items():
            yield _missing_finding(model, settings, pod, kind, name, refs)


def _missing_finding(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, kind: str, name: str, refs: list[Reference]
) -> Finding:
    ns = pod.metadata.namespace
    exists = (model.configmap(ns, name) if kind == "ConfigMap" else model.secret(ns, name)) is not None
    keys = sorted({r.key for r in refs if r.key is not None})
    uses = sorted({f"{r.where} of container {r.container}" if r.container else r.where for r in refs})
    if exists:
        what = f"key(s) {', '.join(keys)} that {kind} {name} does not have"
        step = Step(f"Add key(s) {', '.join(keys)} to {kind} {name} in namespace {ns}, or mark the reference `optional: true`")
    else:
        what = f"{kind} {name}, which does not exist in namespace {ns}"
        create = "configmap" if kind == "ConfigMap" else "secret generic"
        step = Step(
            "Create it, or fix the reference / mark it `optional: true`", f"kubectl create {create} {name} -n {ns} --from-literal=..."
        )
    waiting = [
        f"{s.name}: {w.reason}: {w.message}" if w.message else f"{s.name}: {w.reason}"
        for s, _ in health.container_statuses(pod)
        if (w := health.waiting(s)) is not None and w.reason in health.CREATE_REASONS | {"ContainerCreating"}
    ]
    # A Ready pod started before the object/key went away: latent, it breaks on the next restart.
    latent = health.pod_ready(pod)
    return finding(
        KS104,
        key_of(pod),
        f"references {what} ({'; '.join(uses)})" + ("; it runs now, but will fail to restart" if latent else ""),
        severity=Severity.WARNING if latent else None,
        remediation=fix(KS104, step, instead_of_first=True),
        evidence={
            "kind": kind,
            "name": name,
            "missing": "keys" if exists else "object",
            "keys": keys,
            "references": uses,
            "container": next((r.container for r in refs if r.container), None),
            "waiting": waiting,
            "node": pod.spec.nodeName,
            "events": event_lines(model, pod, settings.evidence_events),
        },
        # The object is the root cause even when it does not exist (creating it fixes the pod).
        cause=ObjectKey(kind, ns, name),
    )


# --------------------------------------------------------------------------- KS106, KS107 pending


@dataclass(frozen=True)
class SchedulingReason:
    category: str  # "insufficient cpu", "untolerated taint", ...
    nodes: int  # how many nodes failed for this reason
    detail: str  # the scheduler's own words
    taint: str | None = None
    pvc: str | None = None

    def as_evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.category, "nodes": self.nodes, "detail": self.detail}
        if self.taint is not None:
            out["taint"] = self.taint
        if self.pvc is not None:
            out["pvc"] = self.pvc
        return out


_SCHED_HEAD = re.compile(r"^\s*(?P<free>\d+)/(?P<total>\d+) nodes are available:\s*(?P<rest>.*)$", re.S)
_COUNTED = re.compile(r"^(?P<count>\d+) (?P<text>.+)$", re.S)
_TAINT = re.compile(r"\{(?P<key>[^:}]+):\s*(?P<value>[^}]*)\}")
_PVC_NOT_FOUND = re.compile(r'persistentvolumeclaim "(?P<name>[^"]+)" not found')
_CATEGORIES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), category)
    for pattern, category in (
        (r"^Too many pods", "insufficient pods"),
        (r"untolerated taint|taint.*didn't tolerate", "untolerated taint"),
        (r"didn't match Pod's node affinity|didn't match node selector|node affinity/selector", "node selector/affinity mismatch"),
        (r"volume node affinity conflict", "volume node affinity conflict"),
        (r"unbound immediate PersistentVolumeClaims", "unbound PVC"),
        (r'persistentvolumeclaim ".*" not found', "missing PVC"),
        (r"didn't find available persistent volumes to bind", "no persistent volume to bind"),
        (r"anti-affinity|pod affinity", "pod affinity/anti-affinity"),
        (r"were unschedulable", "nodes cordoned"),
        (r"free ports", "host port conflict"),
        (r"topology spread", "topology spread constraints"),
        (r"max volume count", "volume count limit"),
        (r"no nodes available", "no nodes"),
    )
)


def _categorize(text: str) -> str:
    insufficient = re.match(r"^Insufficient ([\w./-]+)", text)
    if insufficient:
        return f"insufficient {insufficient[1]}"
    for pattern, category in _CATEGORIES:
        if pattern.search(text):
            return category
    return "other"


def parse_scheduler_message(message: str) -> list[SchedulingReason]:
    """Split "0/3 nodes are available: 1 X, 2 Y. preemption: ..." into (category, node count) reasons.

    The reasons end at the first sentence break; what follows is the post-filter
    plugins' (DRA "no new claims to deallocate", "preemption: ...") explanation of
    why evicting other pods would not help. Items without a count ("pod has unbound
    immediate PersistentVolumeClaims") hold for every node.
    """
    head = _SCHED_HEAD.match(message)
    if head is None:
        text = message.strip().rstrip(".")
        return [_reason(text, 0)] if text else []
    total = int(head["total"])
    # Taint keys and resource names contain dots, but never ". " (dot, space).
    body = re.split(r"\.(?:\s|$)", head["rest"], maxsplit=1)[0].strip()
    reasons = []
    for item in re.split(r",\s+(?=\d+ )", body):
        item = item.strip()
        counted = _COUNTED.match(item)
        if counted is not None:
            reasons.append(_reason(counted["text"].strip(), int(counted["count"])))
        elif item:
            reasons.append(_reason(item, total))
    return reasons


def _reason(text: str, nodes: int) -> SchedulingReason:
    taint = _TAINT.search(text)
    pvc = _PVC_NOT_FOUND.search(text)
    taint_text = None
    if taint is not None:
        value = taint["value"].strip()
        taint_text = f"{taint['key'].strip()}={value}" if value else taint["key"].strip()
    return SchedulingReason(_categorize(text), nodes, text, taint_text, pvc["name"] if pvc else None)


def _format_quantity(resource: str, value: float) -> str:
    if resource == "cpu":
        return f"{value:g}" if value >= 1 and value == int(value) else f"{value * 1000:.0f}m"
    if resource in ("memory", "ephemeral-storage") or resource.startswith("hugepages-"):
        return format_bytes(value)
    return f"{value:g}"


def pod_request(pod: o.Pod, resource: str) -> float | None:
    """Effective request: sum over app containers, or the largest init container if bigger."""
    apps = [parse_quantity(request_of(c, resource)) for c in pod.spec.containers]
    inits = [parse_quantity(request_of(c, resource)) for c in pod.spec.initContainers or ()]
    total = sum(v for v in apps if v)
    peak = max((v for v in inits if v), default=0.0)
    effective = max(total, peak)
    return effective or None


def _largest_allocatable(model: ClusterModel, resource: str) -> float | None:
    values = [parse_quantity((n.status.allocatable or {}).get(resource)) for n in model.every("Node")]
    found = [v for v in values if v is not None]
    return max(found) if found else None


def _resource_evidence(model: ClusterModel, pod: o.Pod, reasons: list[SchedulingReason]) -> dict[str, Any]:
    requests: dict[str, str] = {}
    largest: dict[str, str] = {}
    never_fits: list[str] = []
    for reason in reasons:
        if not reason.category.startswith("insufficient ") or reason.category == "insufficient pods":
            continue
        resource = reason.category.removeprefix("insufficient ")
        wanted = pod_request(pod, resource)
        if wanted is None:
            continue
        requests[resource] = _format_quantity(resource, wanted)
        biggest = _largest_allocatable(model, resource) if model.has("Node") else None
        if biggest is not None:
            largest[resource] = _format_quantity(resource, biggest)
            if wanted > biggest:
                never_fits.append(resource)
    return {"requests": requests, "largest_node_allocatable": largest, "larger_than_any_node": never_fits}


def _pvc_cause(model: ClusterModel, pod: o.Pod, reasons: list[SchedulingReason]) -> ObjectKey | None:
    """The claim the scheduler is stuck on: one it names as missing; for "unbound immediate
    PersistentVolumeClaims" the pod's first unbound (or missing) claim; for a volume node
    affinity conflict the pod's first claim (its volume lives where no usable node is)."""
    ns = pod.metadata.namespace
    for reason in reasons:
        if reason.pvc is not None:
            return ObjectKey("PersistentVolumeClaim", ns, reason.pvc)
    categories = {r.category for r in reasons}
    claims = _claims(pod)
    if "unbound PVC" in categories:
        for name in claims:
            pvc = model.pvc(ns, name)
            if (pvc is not None and pvc.status.phase != "Bound") or (pvc is None and model.has("PersistentVolumeClaim", ns)):
                return ObjectKey("PersistentVolumeClaim", ns, name)
    if "volume node affinity conflict" in categories and claims:
        return ObjectKey("PersistentVolumeClaim", ns, claims[0])
    return None


def _taint_cause(model: ClusterModel, reasons: list[SchedulingReason]) -> ObjectKey | None:
    """No node fits because nodes are down (not-ready/unreachable taints): the first such node."""
    down_taints = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
    if not any(r.taint and r.taint.split("=")[0] in down_taints for r in reasons):
        return None
    down = sorted(n.metadata.name for n in model.every("Node") if node_down(n))
    return ObjectKey("Node", "", down[0]) if down else None


def _scheduling_step(pod: o.Pod, reason: SchedulingReason, resources: dict[str, Any], claim: str) -> Step | None:
    """The concrete first fix for the scheduler's main reason (None: the catalogue's steps)."""
    category = reason.category
    resource = category.removeprefix("insufficient ")
    if resource in resources["requests"]:
        largest = resources["largest_node_allocatable"].get(resource)
        bound = f": the largest node has {largest} allocatable" if largest else ""
        return Step(f"Lower the pod's {resource} request ({resources['requests'][resource]}) or add capacity{bound}")
    if category == "untolerated taint" and reason.taint:
        if reason.taint.split("=")[0] in CONDITION_TAINTS:
            # The node controller's taint for a sick node: tolerating it would only hide the node problem.
            return Step(f"Fix the nodes carrying {reason.taint} (their node findings say why); do not tolerate this taint")
        return Step(f"Add a toleration for taint {reason.taint} to the pod template, or run it on nodes without that taint")
    if category == "node selector/affinity mismatch":
        if pod.spec.nodeSelector:
            labels = format_selector(pod.spec.nodeSelector)
            pairs = " ".join(f"{key}={value}" for key, value in sorted(pod.spec.nodeSelector.items()))
            return Step(f"No node has labels {labels}: fix `nodeSelector`, or label a node", f"kubectl label node <node> {pairs}")
        return Step("No node matches the pod's node affinity: compare `spec.affinity` with the nodes' labels",
                    "kubectl get nodes --show-labels")
    if reason.pvc is not None or category == "unbound PVC":
        return Step("The pod waits for this claim to be bound (or created)", f"kubectl describe pvc -n {pod.metadata.namespace} {claim}")
    if category == "nodes cordoned":
        return Step("Uncordon a node once maintenance is over, or add nodes: the schedulable ones are full or cordoned",
                    "kubectl uncordon <node>")
    return None


def _pending_age(model: ClusterModel, pod: o.Pod, scheduled: o.Condition | None) -> float | None:
    since = pod.metadata.creationTimestamp or (scheduled.lastTransitionTime if scheduled else None)
    return model.age_seconds(since)


@analyzer(codes=[KS106, KS107], requires=["Pod"])
def pending_pods(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for pod in model.pods:
        if pod.status.phase != "Pending" or lifecycle.going_away(pod.metadata, leaving):
            continue
        scheduled = condition(pod.status.conditions, "PodScheduled")
        age = _pending_age(model, pod, scheduled)
        young = age is not None and age < settings.pod_pending_seconds
        if scheduled is not None and scheduled.status == "False":
            # The scheduler's verdict is reported at once (it names the root cause: a PVC,
            # a taint), but only as a warning while young: an autoscaler may be adding a node.
            if scheduled.reason != "SchedulingGated":  # gated on purpose (a queue controller releases it)
                yield _unschedulable(model, settings, pod, scheduled, age, Severity.WARNING if young else Severity.ERROR)
        elif not young and not has_container_problem(pod) and not missing_references(model, pod):
            yield _stuck_pending(model, settings, pod, age)


def _unschedulable(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, scheduled: o.Condition, age: float | None, severity: Severity
) -> Finding:
    reasons = parse_scheduler_message(scheduled.message)
    summary = ", ".join(f"{r.category}" + (f" ({r.taint})" if r.taint else "") + f" on {r.nodes} node(s)" for r in reasons)
    resources = _resource_evidence(model, pod, reasons)
    categories = {r.category for r in reasons}
    selector_mismatch = "node selector/affinity mismatch" in categories
    message = f"Pending for {human_duration(age)}, cannot be scheduled: {summary or scheduled.message or scheduled.reason}"
    cause = _pvc_cause(model, pod, reasons)
    claim = cause.name if cause is not None else "<claim>"
    # The reason that rules out the most nodes leads the fix.
    ranked = sorted(reasons, key=lambda r: -r.nodes)
    steps = [step for r in ranked if (step := _scheduling_step(pod, r, resources, claim)) is not None]
    for resource in resources["larger_than_any_node"]:
        message += (
            f"; requests {resource} {resources['requests'][resource]} but the largest node has "
            f"{resources['largest_node_allocatable'][resource]} allocatable"
        )
    return finding(
        KS106,
        key_of(pod),
        message,
        severity=severity,
        evidence={
            "pending_for": human_duration(age) if age is not None else None,
            "scheduler_message": scheduled.message,
            "reason": scheduled.reason,
            "reasons": [r.as_evidence() for r in reasons],
            **resources,
            "taints": sorted({r.taint for r in reasons if r.taint}),
            "selector": format_selector(pod.spec.nodeSelector) if selector_mismatch and pod.spec.nodeSelector else None,
            "events": event_lines(model, pod, settings.evidence_events),
        },
        remediation=fix(KS106, steps[0]) if steps else None,
        fill={"claim": cause.name} if cause is not None else None,
        cause=cause or _taint_cause(model, reasons),
    )


def _stuck_pending(model: ClusterModel, settings: CheckSettings, pod: o.Pod, age: float | None) -> Finding:
    node = pod.spec.nodeName
    waiting = [f"{s.name}: {w.reason}" for s, _ in health.container_statuses(pod) if (w := health.waiting(s)) is not None and w.reason]
    node_missing = bool(node) and model.has("Node") and model.node(node) is None
    cause = node_cause(model, pod)
    if not node:
        scheduler = pod.spec.schedulerName or "default-scheduler"
        what = f"not scheduled and no scheduler has reported on it (schedulerName {scheduler})"
    elif node_missing:
        what = f"bound to node {node}, which does not exist"
    else:
        what = f"on node {node}" + (f", containers {', '.join(waiting)}" if waiting else "")
    return finding(
        KS107,
        key_of(pod),
        f"Pending for {human_duration(age)}: {what}{_on_node_suffix(cause)}",
        remediation=fix(
            KS107, Step("Read its events: they name the step that is stuck", f"kubectl describe pod {_pod_ref(pod)}"), instead_of_first=True
        ),
        fill={"claim": claims[0]} if (claims := _claims(pod)) else None,
        evidence={
            "waiting": waiting,
            "scheduler": pod.spec.schedulerName if not node else None,
            "node_missing": node_missing or None,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=cause or (ObjectKey("Node", "", node) if node_missing else None),
    )


# --------------------------------------------------------------------------- KS108 not ready


def _probe_failures(model: ClusterModel, pod: o.Pod, limit: int) -> list[str]:
    lines = []
    for event in model.events_for(pod):
        if event.reason == "Unhealthy" and "eadiness" in event.message:  # Readiness/readiness probe failed
            count = f" (x{event.occurrences})" if event.occurrences > 1 else ""
            lines.append(f"{event.message}{count}")
    return lines[:limit]


@analyzer(codes=[KS108], requires=["Pod"])
def not_ready_pods(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for pod in model.pods:
        if pod.status.phase != "Running" or lifecycle.going_away(pod.metadata, leaving):
            continue
        ready = condition(pod.status.conditions, "Ready")  # first: it rules out almost every pod
        if ready is None or ready.status == "True" or has_container_problem(pod) or lifecycle.finishing(pod):
            continue
        since = model.age_seconds(ready.lastTransitionTime)
        if since is not None and since < settings.pod_not_ready_seconds:
            continue  # starting up: within the grace period
        yield _not_ready(model, settings, pod, ready, since)


def _not_ready(model: ClusterModel, settings: CheckSettings, pod: o.Pod, ready: o.Condition, since: float | None) -> Finding:
    unready = [s.name for s in pod.status.containerStatuses or () if not s.ready]
    probes = _probe_failures(model, pod, settings.evidence_events)
    cause = node_cause(model, pod)
    detail = f": {ready.message}" if ready.message else (f" ({ready.reason})" if ready.reason else "")
    why = f"; {probes[0]}" if probes else ""
    return finding(
        KS108,
        key_of(pod),
        f"Running but not Ready for {human_duration(since)}{detail}{why}{_on_node_suffix(cause)}",
        remediation=fix(
            KS108,
            Step(
                f"Compare the readiness probe of {', '.join(unready) or 'its containers'} with what the app serves "
                "(its Unhealthy events quote the error)",
                f"kubectl describe pod {_pod_ref(pod)}",
            ),
            instead_of_first=True,
        ),
        evidence={
            "containers": unready,
            "reason": ready.reason,
            "message": ready.message,
            "since": ready.lastTransitionTime,
            "probe_failures": probes,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=cause,
    )


# --------------------------------------------------------------------------- KS109 restarts


@analyzer(codes=[KS109], requires=["Pod"])
def restarting_containers(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    """WARNING for >= restart_warning_count restarts with the last one recent; silent otherwise.

    Silence (rather than INFO) for old or few restarts: a pod that restarted once
    during a node upgrade last week is healthy, and listing it is the noise this
    tool exists to avoid.
    """
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for pod in model.pods:
        if pod.status.phase != "Running" or lifecycle.going_away(pod.metadata, leaving):
            continue
        for status, init in health.container_statuses(pod):
            if init or status.restartCount < settings.restart_warning_count or _explained(status, init):
                continue
            last = health.last_terminated(status)
            age = model.age_seconds(last.finishedAt) if last else None
            if last is None or age is None or age > settings.restart_recent_seconds:
                continue  # old news (or no record of when): silent
            if last.reason == health.OOM_KILLED:
                continue  # KS102 (warning) reports a recent OOM kill of a running container
            yield _restarts(model, settings, pod, status, last, age)


def _restarts(
    model: ClusterModel, settings: CheckSettings, pod: o.Pod, status: o.ContainerStatus, last: o.ContainerStateTerminated, age: float
) -> Finding:
    cause = node_cause(model, pod)
    return finding(
        KS109,
        key_of(pod),
        f"container {status.name} restarted {status.restartCount} times, last {human_duration(age)} ago "
        f"({last.reason or 'unknown'}, exit code {last.exitCode}){_on_node_suffix(cause)}",
        remediation=fix(
            KS109, Step("Read why the last run ended", f"kubectl logs {_pod_ref(pod)} -c {status.name} --previous"), instead_of_first=True
        ),
        evidence={
            "container": status.name,
            "restarts": status.restartCount,
            **_termination_evidence(last),
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=cause,
    )


# --------------------------------------------------------------------------- KS110, KS111 failed, KS102 for OOM


def _pressure_cause(model: ClusterModel, pod: o.Pod) -> ObjectKey | None:
    """An evicted pod's node, when it is down or still under the pressure that evicted it."""
    node = model.node(pod.spec.nodeName) if pod.spec.nodeName else None
    if node is None:
        return None
    pressure = any(
        c.type in ("MemoryPressure", "DiskPressure", "PIDPressure") and c.status == "True" for c in node.status.conditions or ()
    )
    return key_of(node) if pressure or node_down(node) else None


@analyzer(codes=[KS110, KS111, KS102], requires=["Pod"])
def failed_pods(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    leaving = lifecycle.terminating_namespaces(model.every("Namespace"))
    for pod in model.pods:
        if pod.status.phase != "Failed" or lifecycle.going_away(pod.metadata, leaving) or lifecycle.owned_by_job(pod):
            continue
        if lifecycle.evicted(pod):
            yield _evicted(model, settings, pod)
            continue
        oom = [(s, t) for s, _ in health.container_statuses(pod) if (t := health.terminated(s)) is not None and t.reason == health.OOM_KILLED]
        if oom:
            status, term = oom[0]
            yield _oom(model, settings, pod, status, term, Severity.ERROR, "was OOMKilled and the pod failed")
        else:
            yield _failed(model, settings, pod)


def _evicted(model: ClusterModel, settings: CheckSettings, pod: o.Pod) -> Finding:
    node = pod.spec.nodeName or "?"
    return finding(
        KS110,
        key_of(pod),
        f"evicted from node {node}: {pod.status.message or 'no message'}",
        evidence={
            "reason": pod.status.reason,
            "message": pod.status.message,
            "node": pod.spec.nodeName,
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=_pressure_cause(model, pod),
    )


def _failed(model: ClusterModel, settings: CheckSettings, pod: o.Pod) -> Finding:
    exits = [
        {"container": s.name, "reason": t.reason, "exit_code": t.exitCode, "message": t.message or None}
        for s, _ in health.container_statuses(pod)
        if (t := health.terminated(s)) is not None and health.exited_with_error(t)
    ]
    first = exits[0] if exits else None
    how = f"container {first['container']} exited {first['reason'] or 'Error'} (exit code {first['exit_code']})" if first else ""
    why = pod.status.reason or ""
    text = "; ".join(x for x in (why, pod.status.message, how) if x) or "no reason recorded"
    cause = node_cause(model, pod)
    container_flag = f" -c {first['container']}" if first else ""
    return finding(
        KS111,
        key_of(pod),
        f"Failed: {text}{_on_node_suffix(cause)}",
        remediation=fix(KS111, Step("Read what the failed run printed", f"kubectl logs {_pod_ref(pod)}{container_flag}")),
        evidence={
            "reason": pod.status.reason,
            "message": pod.status.message,
            "containers": [{k: v for k, v in x.items() if v is not None} for x in exits],
            "container": first["container"] if first else None,
            "exit_code": first["exit_code"] if first else None,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=cause,
    )


# --------------------------------------------------------------------------- KS112 terminating


@analyzer(codes=[KS112], requires=["Pod"])
def terminating_pods(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for pod in model.pods:
        deleted = pod.metadata.deletionTimestamp
        # deletionTimestamp is "now + grace period" at delete time: its age is time past the grace.
        age = model.age_seconds(deleted) if deleted else None
        if age is None or age < settings.terminating_stuck_seconds:
            continue
        yield _terminating(model, settings, pod, age)


def _terminating(model: ClusterModel, settings: CheckSettings, pod: o.Pod, age: float) -> Finding:
    finalizers = list(pod.metadata.finalizers or ())
    node = pod.spec.nodeName
    node_missing = bool(node) and model.has("Node") and model.node(node) is None
    cause = node_cause(model, pod)
    reasons = []
    if finalizers:
        reasons.append(f"finalizers {', '.join(finalizers)} not removed")
    if cause is not None:
        reasons.append(f"node {node} is NotReady, no kubelet confirms the containers stopped")
    elif node_missing:
        reasons.append(f"node {node} no longer exists")
    if cause is not None or node_missing:
        # A forced delete still waits for finalizers.
        then = f", then fix the owner of finalizer {finalizers[0]}" if finalizers else ""
        step = Step(
            f"Once node {node} is confirmed gone, force the deletion{then}", f"kubectl delete pod {_pod_ref(pod)} --grace-period=0 --force"
        )
    elif finalizers:
        patch = """'{"metadata":{"finalizers":null}}'"""
        step = Step(
            f"Fix the controller that owns finalizer {finalizers[0]}; as a last resort, remove the finalizers",
            f"kubectl patch pod {_pod_ref(pod)} -p {patch}",
        )
    else:
        step = Step(f"Read its events, then the kubelet log on node {node or '?'}", f"kubectl describe pod {_pod_ref(pod)}")
    return finding(
        KS112,
        key_of(pod),
        f"Terminating for {human_duration(age)} past its grace period" + (f": {'; '.join(reasons)}" if reasons else ""),
        remediation=fix(KS112, step),
        evidence={
            "deletion_timestamp": pod.metadata.deletionTimestamp,
            "finalizers": finalizers,
            "node_missing": node_missing or None,
            **_node_evidence(model, pod),
            "events": event_lines(model, pod, settings.evidence_events),
        },
        cause=cause,
    )
