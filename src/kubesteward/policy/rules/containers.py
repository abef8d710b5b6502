"""Policy rules on containers (codes and prose in ``findings/catalogue/policy_containers.py``):
resources, probes, images, pull policy.

Resources count what the API server and the LimitRange admission plugin fill in: a limit alone
makes the request, and a LimitRange of the namespace (when the set holds it) defaults both; pod-level
resources (``spec.resources``) cover every container of the pod. Probes
are judged only on containers meant to keep running.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kubesteward.findings.catalogue.policy_containers import (
    KS700,
    KS701,
    KS702,
    KS703,
    KS704,
    KS705,
    KS706,
    KS707,
    KS708,
    KS710,
    KS711,
    KS712,
    KS713,
)
from kubesteward.model.semantics.images import ImageRef, from_allowed_registry, parse_image
from kubesteward.model.semantics.pod_security import mapping
from kubesteward.model.semantics.pod_templates import ContainerRef, PodTemplate
from kubesteward.model.semantics.quantity import parse_quantity
from kubesteward.policy.context import PolicyContext, meta
from kubesteward.policy.registry import Violation, pod_rule

# Kinds whose pods run to completion: no probes expected.
_RUN_TO_COMPLETION = frozenset({"Job", "CronJob"})
_PROBE_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")


# -- resources ------------------------------------------------------------------------------------


def _resources(ref: ContainerRef, which: str) -> Mapping[str, Any]:
    return mapping(mapping(ref.container.get("resources")).get(which))


def _limit_range_defaults(template: PodTemplate, ctx: PolicyContext) -> tuple[set[str], set[str]]:
    """Resources a LimitRange of the template's namespace (in the set) defaults for containers:
    (requests, limits). ``defaultRequest`` fills requests; ``default`` fills limits, and requests too
    where no default request is given (the API server then copies the limit)."""
    namespace = str(meta(template.owner).get("namespace") or "")
    requests: set[str] = set()
    limits: set[str] = set()
    for limit_range in ctx.of_kind("LimitRange"):
        if str(meta(limit_range).get("namespace") or "") != namespace:
            continue
        items = mapping(limit_range.get("spec")).get("limits")
        for item in items if isinstance(items, list) else []:
            item = mapping(item)
            if item.get("type") != "Container":
                continue
            limits.update(map(str, mapping(item.get("default"))))
            requests.update(map(str, mapping(item.get("defaultRequest"))))
            requests.update(map(str, mapping(item.get("default"))))
    return requests, limits


def _resourced(template: PodTemplate) -> Iterator[ContainerRef]:
    """Containers that take resources (ephemeral debug containers cannot set them)."""
    return template.containers(init=True, ephemeral=False)


def _pod_level(template: PodTemplate, which: str) -> Mapping[str, Any]:
    """The pod's own ``resources`` (pod-level resources, 1.34+): they bound every container together."""
    return mapping(mapping(template.spec.get("resources")).get(which))


def _missing_request(template: PodTemplate, ctx: PolicyContext, resource: str) -> Iterator[Violation]:
    defaulted_requests, _ = _limit_range_defaults(template, ctx)
    pod_level = {*_pod_level(template, "requests"), *_pod_level(template, "limits")}
    if resource in defaulted_requests or resource in pod_level:
        return
    for ref in _resourced(template):
        if resource not in _resources(ref, "requests") and resource not in _resources(ref, "limits"):
            yield Violation(f"container {ref.name} has no {resource} request", ref.field("resources"),
                            {"container": ref.name, "resource": resource})


def _missing_limit(template: PodTemplate, ctx: PolicyContext, resource: str) -> Iterator[Violation]:
    _, defaulted_limits = _limit_range_defaults(template, ctx)
    if resource in defaulted_limits or resource in _pod_level(template, "limits"):
        return
    for ref in _resourced(template):
        if resource not in _resources(ref, "limits"):
            yield Violation(f"container {ref.name} has no {resource} limit", ref.field("resources"),
                            {"container": ref.name, "resource": resource})


@pod_rule(KS700, reads=["LimitRange"])
def cpu_request_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    return _missing_request(template, ctx, "cpu")


@pod_rule(KS701, reads=["LimitRange"])
def memory_request_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    return _missing_request(template, ctx, "memory")


@pod_rule(KS702, reads=["LimitRange"])
def memory_limit_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    return _missing_limit(template, ctx, "memory")


@pod_rule(KS703, optional=True, reads=["LimitRange"])
def cpu_limit_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    return _missing_limit(template, ctx, "cpu")


@pod_rule(KS704)
def request_above_limit(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    yield from _above(_pod_level(template, "requests"), _pod_level(template, "limits"), "the pod",
                      template.field("resources"), {})
    for ref in _resourced(template):
        yield from _above(_resources(ref, "requests"), _resources(ref, "limits"), f"container {ref.name}",
                          ref.field("resources"), {"container": ref.name})


def _above(requests: Mapping[str, Any], limits: Mapping[str, Any], who: str, path: tuple[str | int, ...],
           evidence: Mapping[str, str]) -> Iterator[Violation]:
    for resource, requested in requests.items():
        if resource not in limits:
            continue
        request, limit = parse_quantity(_text(requested)), parse_quantity(_text(limits[resource]))
        if request is not None and limit is not None and request > limit:
            yield Violation(f"{who} requests {requested} {resource}, above its limit {limits[resource]}",
                            (*path, "requests", str(resource)),
                            {**evidence, "resource": str(resource), "request": str(requested),
                             "limit": str(limits[resource])})


def _text(value: Any) -> str | int | float | None:
    return value if isinstance(value, (str, int, float)) else None


# -- probes ---------------------------------------------------------------------------------------


def _long_running(template: PodTemplate) -> Iterator[ContainerRef]:
    """Containers meant to keep running: none for a Job, a CronJob or a bare Pod that runs to
    completion; else the containers and the native sidecars."""
    if template.kind in _RUN_TO_COMPLETION:
        return
    if template.kind == "Pod" and template.spec.get("restartPolicy") in ("Never", "OnFailure"):
        return
    for ref in template.containers(init=True, ephemeral=False):
        if not ref.init or ref.sidecar:
            yield ref


@pod_rule(KS705)
def liveness_probe_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in _long_running(template):
        if not isinstance(ref.container.get("livenessProbe"), Mapping):
            yield Violation(f"container {ref.name} has no liveness probe", ref.field("livenessProbe"),
                            {"container": ref.name})


@pod_rule(KS706)
def readiness_probe_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in _long_running(template):
        if not isinstance(ref.container.get("readinessProbe"), Mapping):
            yield Violation(f"container {ref.name} has no readiness probe", ref.field("readinessProbe"),
                            {"container": ref.name})


@pod_rule(KS707, optional=True)
def startup_probe_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in _long_running(template):
        probes = ref.container
        if isinstance(probes.get("livenessProbe"), Mapping) and not isinstance(probes.get("startupProbe"), Mapping):
            yield Violation(f"container {ref.name} has a liveness probe but no startup probe",
                            ref.field("startupProbe"), {"container": ref.name})


def _handler(probe: Mapping[str, Any]) -> tuple[str, Any] | None:
    for name in _PROBE_HANDLERS:
        if name in probe:
            return name, probe[name]
    return None


def _gives_up_after(probe: Mapping[str, Any]) -> int:
    """Seconds of consecutive failures after which the kubelet acts (defaults 3 × 10 s)."""
    period, threshold = probe.get("periodSeconds", 10), probe.get("failureThreshold", 3)
    return (period if isinstance(period, int) else 10) * (threshold if isinstance(threshold, int) else 3)


@pod_rule(KS708)
def liveness_like_readiness(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in template.containers(init=True, ephemeral=False):
        liveness, readiness = ref.container.get("livenessProbe"), ref.container.get("readinessProbe")
        if not (isinstance(liveness, Mapping) and isinstance(readiness, Mapping)):
            continue
        handler = _handler(liveness)
        if handler is None or handler != _handler(readiness):
            continue
        live_after, ready_after = _gives_up_after(liveness), _gives_up_after(readiness)
        if live_after <= ready_after:
            yield Violation(
                f"container {ref.name}'s liveness probe runs its readiness check and gives up after {live_after}s "
                f"(readiness: {ready_after}s)",
                ref.field("livenessProbe"),
                {"container": ref.name, "handler": handler[0], "liveness_gives_up_s": live_after,
                 "readiness_gives_up_s": ready_after},
            )


# -- images ---------------------------------------------------------------------------------------


def _images(template: PodTemplate) -> Iterator[tuple[ContainerRef, str, ImageRef]]:
    for ref in template.containers(init=True, ephemeral=True):
        image = ref.container.get("image")
        if isinstance(image, str) and image.strip():
            yield ref, image, parse_image(image)


@pod_rule(KS710)
def image_floating(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref, text, image in _images(template):
        if image.floating:
            how = "the tag latest" if image.tag == "latest" else "no tag"
            yield Violation(f"container {ref.name} runs image {text} with {how}: whatever latest is when pulled",
                            ref.field("image"), {"container": ref.name, "image": text})


@pod_rule(KS711, optional=True)
def image_not_pinned(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref, text, image in _images(template):
        if image.digest is None and not image.floating:  # a floating one is KS710's
            yield Violation(f"container {ref.name} runs image {text}, not pinned by digest", ref.field("image"),
                            {"container": ref.name, "image": text})


@pod_rule(KS712)
def image_registry_not_allowed(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    allowed = ctx.settings.allowed_registries
    if not allowed:
        return
    for ref, text, image in _images(template):
        if not from_allowed_registry(image, allowed):
            yield Violation(f"container {ref.name} runs image {text} from {image.registry}, not an allowed registry",
                            ref.field("image"), {"container": ref.name, "image": text, "registry": image.registry})


@pod_rule(KS713)
def pull_policy_stale(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref, text, image in _images(template):
        policy = ref.container.get("imagePullPolicy")
        if policy == "Never":
            reason = "imagePullPolicy Never: it runs only where a node already holds the image"
        elif policy == "IfNotPresent" and image.floating:
            reason = f"imagePullPolicy IfNotPresent on {text}: each node keeps the latest it pulled first"
        else:
            continue
        yield Violation(f"container {ref.name} sets {reason}", ref.field("imagePullPolicy"),
                        {"container": ref.name, "image": text, "pull_policy": str(policy)})
