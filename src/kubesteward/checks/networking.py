"""Networking analyzers (KS3xx): Services and their endpoints, Ingresses, NetworkPolicies.

The central question is "can traffic sent to this Service reach a ready pod?".
kubesteward answers it from the EndpointSlices the control plane wrote (what
kube-proxy and ingress controllers actually route to), and only then looks at
the selected pods to tell a configuration error (the selector matches nothing,
a named targetPort no pod defines) from a symptom (the pods exist but are not
ready: the pods' own findings are the cause).
"""

from __future__ import annotations

import difflib
import enum
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from kubesteward.checks.base import analyzer, in_service
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Finding, Severity, finding
from kubesteward.findings.catalogue.networking import (
    INGRESS_BACKEND_UNAVAILABLE,
    INGRESS_CLASS_MISSING,
    INGRESS_NO_CLASS,
    INGRESS_PORT_MISSING,
    INGRESS_SERVICE_MISSING,
    INGRESS_TLS_SECRET_INVALID,
    INGRESS_TLS_SECRET_MISSING,
    NETWORK_POLICY_SELECTS_NOTHING,
    SERVICE_NAMED_PORT_MISSING,
    SERVICE_NO_READY_ENDPOINTS,
    SERVICE_PORT_NOT_DECLARED,
    SERVICE_SCALED_TO_ZERO,
    SERVICE_SELECTS_NOTHING,
    SERVICE_WITHOUT_SELECTOR_EMPTY,
)
from kubesteward.model import objects as o
from kubesteward.model.cluster import ENDPOINT_KINDS, ClusterModel, ObjectKey, key_of
from kubesteward.model.semantics import health, lifecycle
from kubesteward.model.semantics.ingress import BackendUse, backend_uses, port_label, service_has_port
from kubesteward.model.semantics.selectors import format_selector, map_selector_matches, selector_matches

# Legacy (pre-IngressClass) way of choosing a controller; still honoured by
# ingress-nginx, Traefik and others, and still common in Helm charts.
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"

# Service meshes inject these sidecars, which declare their own ports (metrics,
# admin). Those say nothing about which ports the application listens on, so
# they must not turn "the app declares no ports" into "the app declares other ports".
MESH_SIDECARS = frozenset({"istio-proxy", "linkerd-proxy"})

MAX_LISTED = 5  # pods, ports or hints listed in evidence; the rest is counted



def _kubectl_ref(key: ObjectKey) -> str:
    return f"{key.kind.lower()}/{key.name}"



# --------------------------------------------------------------------------- pod helpers


def pod_ready(pod: o.Pod) -> bool:
    """Ready and not terminating: what the EndpointSlice controller counts as a ready endpoint."""
    return health.pod_ready(pod) and not lifecycle.terminating(pod.metadata)


def pod_state(pod: o.Pod) -> str:
    """A few words on why a pod is not ready, for evidence ("CrashLoopBackOff", "Pending")."""
    if lifecycle.terminating(pod.metadata):
        return "Terminating"
    if lifecycle.finished(pod):
        return pod.status.phase
    for status in list(pod.status.initContainerStatuses or []) + list(pod.status.containerStatuses or []):
        waiting = status.state.waiting if status.state else None
        if waiting is not None and waiting.reason:
            return waiting.reason
    if pod.status.phase == "Running":
        return "Running, not ready"
    scheduled = o.condition(pod.status.conditions, "PodScheduled")
    if scheduled is not None and scheduled.status == "False" and scheduled.reason:
        return f"Pending ({scheduled.reason})"
    return pod.status.reason or pod.status.phase or "Unknown"


def pod_settling(model: ClusterModel, pod: o.Pod, settings: CheckSettings) -> bool:
    """Still within its startup grace: pending or unready for less than the thresholds the pods
    analyzer uses, counted from the Ready condition's last transition, and not clearly failing
    (a failing container gets no startup grace)."""
    if lifecycle.finished(pod) or health.has_failing_container(pod):
        return False
    ready = o.condition(pod.status.conditions, "Ready")
    since = (ready.lastTransitionTime if ready else None) or pod.metadata.creationTimestamp
    limit = settings.pod_pending_seconds if pod.status.phase == "Pending" else settings.pod_not_ready_seconds
    age = model.age_seconds(since)
    return age is not None and age < limit


def _pod_lines(pods: Iterable[o.Pod]) -> list[str]:
    pods = list(pods)
    lines = [f"{p.metadata.name}: {pod_state(p)}" for p in pods[:MAX_LISTED]]
    if len(pods) > MAX_LISTED:
        lines.append(f"... and {len(pods) - MAX_LISTED} more")
    return lines


def _main_containers(pod: o.Pod) -> list[o.Container]:
    return [c for c in pod.spec.containers if c.name not in MESH_SIDECARS]


# --------------------------------------------------------------------------- service endpoints


class EndpointProblem(enum.Enum):
    NO_PODS = "selector matches no pods"
    NO_READY = "no selected pod is ready"
    SCALED_TO_ZERO = "backing workloads are scaled to zero"
    NO_SELECTOR = "no selector and no endpoints"


@dataclass
class EndpointDiagnosis:
    """Why a Service has no ready endpoint, and what that points at."""

    problem: EndpointProblem
    pods: list[o.Pod] = field(default_factory=list)
    workloads: list[ObjectKey] = field(default_factory=list)  # templates matching the selector
    cause: ObjectKey | None = None


@dataclass(frozen=True)
class _Template:
    """A workload whose pod template a selector matches."""

    key: ObjectKey
    replicas: int  # desired pods
    created: str | None


def _template_matches(model: ClusterModel, namespace: str, selector: Mapping[str, str]) -> list[_Template]:
    """Workloads whose pod template the Service selector matches, with their desired pod count.

    Only kinds that were loaded for this namespace are consulted; missing ones just mean
    fewer hints (a selector matching no pod is then still called a configuration error).
    """
    found: list[_Template] = []
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        if not model.has(kind, namespace):
            continue
        for wl in model.objects(kind):
            if wl.metadata.namespace != namespace or not map_selector_matches(selector, wl.spec.template.metadata.labels):
                continue
            if kind == "DaemonSet":
                # A DaemonSet wants as many pods as it has eligible nodes; with none, zero.
                replicas = wl.status.desiredNumberScheduled
            else:
                replicas = 1 if wl.spec.replicas is None else wl.spec.replicas
            found.append(_Template(key_of(wl), replicas, wl.metadata.creationTimestamp))
    return found


def _all_young(model: ClusterModel, timestamps: Iterable[str | None], grace: float) -> bool:
    ages = [model.age_seconds(ts) for ts in timestamps]
    return bool(ages) and all(age is not None and age < grace for age in ages)


def _dominant_root(model: ClusterModel, pods: list[o.Pod]) -> ObjectKey:
    """The owner (top of chain) of most of the pods: a canary and a stable Deployment behind one
    Service still need one cause link, and the bigger group is the better headline."""
    roots = Counter(model.root_key(p) for p in pods)
    return min(roots, key=lambda k: (-roots[k], k))


def diagnose_endpoints(model: ClusterModel, svc: o.Service, settings: CheckSettings) -> EndpointDiagnosis | None:
    """Why the Service has no ready endpoint: the first answer of :func:`diagnose_selection`,
    :func:`diagnose_readiness` and :func:`diagnose_selectorless`, each of which tells from only
    the kinds it reads (None from all three: it has one, cannot have any, is still starting, or
    the kinds needed to tell were not loaded)."""
    return (
        diagnose_selection(model, svc, settings)
        or diagnose_readiness(model, svc, settings)
        or diagnose_selectorless(model, svc)
    )


def _selects(svc: o.Service) -> bool:
    """Has a selector and routes to pods (ExternalName Services have no endpoints at all)."""
    return bool(svc.spec.selector) and svc.spec.type != "ExternalName"


def diagnose_selection(model: ClusterModel, svc: o.Service, settings: CheckSettings) -> EndpointDiagnosis | None:
    """A Service whose selector selects no pod: the selector matches nothing, or only workloads
    scaled to zero, or workloads that have no pods. No pod means no endpoint, so this needs only
    the namespace's pods (and whichever workloads were loaded, for hints); endpoints, when known,
    can only silence it (ready ones written by hand for a Service with a selector)."""
    ns = svc.metadata.namespace
    if not _selects(svc) or not model.has("Pod", ns):
        return None
    if model.endpoints_known(ns) and model.ready_endpoints(svc) > 0:
        return None  # first: the common, healthy case costs no pod lookup
    if model.service_pods(svc):
        return None  # diagnose_readiness's question
    assert svc.spec.selector
    return _no_pods(model, svc, svc.spec.selector, settings)


def diagnose_readiness(model: ClusterModel, svc: o.Service, settings: CheckSettings) -> EndpointDiagnosis | None:
    """A Service that selects pods but has no ready endpoint (EndpointSlices, else Endpoints).

    Headless Services are judged the same way on purpose: with publishNotReadyAddresses (the usual
    StatefulSet peer-discovery setup) the controller already marks unready pods' endpoints ready, so
    they stay silent; without it, DNS returns nothing for them, which is the same outage."""
    ns = svc.metadata.namespace
    if not _selects(svc) or not model.has("Pod", ns) or not model.endpoints_known(ns):
        return None
    if model.ready_endpoints(svc) > 0:
        return None
    pods = model.service_pods(svc)
    if not pods:
        return None  # diagnose_selection's question
    if any(pod_ready(p) for p in pods):
        return None  # the endpoints controller has not caught up with a ready pod yet
    if all(pod_settling(model, p, settings) for p in pods):
        return None  # a fresh rollout, a brand-new app, or a readiness blip: give it the pods' grace
    return EndpointDiagnosis(EndpointProblem.NO_READY, pods=pods, cause=_dominant_root(model, pods))


def diagnose_selectorless(model: ClusterModel, svc: o.Service) -> EndpointDiagnosis | None:
    """A Service without selector and without any endpoint: whoever should manage its endpoints
    has not (any endpoint at all, even not ready, means someone does). Needs no pods."""
    ns = svc.metadata.namespace
    if svc.spec.selector or svc.spec.type == "ExternalName" or not model.endpoints_known(ns):
        return None
    return None if model.has_endpoints(svc) else EndpointDiagnosis(EndpointProblem.NO_SELECTOR)


def _no_pods(model: ClusterModel, svc: o.Service, selector: Mapping[str, str], settings: CheckSettings) -> EndpointDiagnosis | None:
    templates = _template_matches(model, svc.metadata.namespace, selector)
    if not templates:
        return EndpointDiagnosis(EndpointProblem.NO_PODS)
    wanting = [t for t in templates if t.replicas > 0]
    if not wanting:
        return EndpointDiagnosis(EndpointProblem.SCALED_TO_ZERO, workloads=[t.key for t in templates])
    # The selector is right but the workload has no pods: it cannot create them (quota, admission,
    # missing ServiceAccount). The workload's findings explain it; give it a moment after creation.
    if _all_young(model, (t.created for t in wanting), settings.pod_pending_seconds):
        return None
    keys = sorted(t.key for t in wanting)
    return EndpointDiagnosis(EndpointProblem.NO_READY, workloads=keys, cause=keys[0])


def _alike(a: str, b: str) -> bool:
    """Plausibly the same word mistyped or versioned: "shop" / "shop-v2", "frontend" / "fronted"."""
    return a in b or b in a or difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


def _near_misses(model: ClusterModel, namespace: str, selector: Mapping[str, str]) -> list[str]:
    """Labels that almost match: for each selector key, what pods have instead (another value,
    or the wanted value under another key). A pod matching every *other* pair of the selector
    is a near miss whatever the difference; otherwise (single-pair selectors) the difference
    must look like a typo, or every pod with an ``app`` label would be listed."""
    hints: Counter[str] = Counter()
    for pod in model.pods_in(namespace):
        labels = pod.metadata.labels or {}
        for key, wanted in sorted(selector.items()):
            others = {k: v for k, v in selector.items() if k != key}
            if others and not map_selector_matches(others, labels):
                continue
            if key in labels:
                if others or _alike(labels[key], wanted):
                    hints[f"{key}={labels[key]} (selector wants {key}={wanted})"] += 1
                continue
            # Same value under a different key: a typo in the key ("ap=web" vs "app=web").
            for other_key, value in labels.items():
                if value == wanted and other_key not in selector and (others or _alike(other_key, key)):
                    hints[f"{other_key}={value} (selector wants {key}={wanted})"] += 1
    return [f"{hint} on {n} pod{'s' if n > 1 else ''}" for hint, n in hints.most_common(3)]


def _matching_elsewhere(model: ClusterModel, svc: o.Service, selector: Mapping[str, str]) -> list[str]:
    """Namespaces where pods do match: a Service never selects across namespaces."""
    return sorted(
        {p.metadata.namespace for p in model.every("Pod") if p.metadata.namespace != svc.metadata.namespace and map_selector_matches(selector, p.metadata.labels)}
    )


# The three questions of diagnose_endpoints, one analyzer each, so each is skipped only for
# lack of what it reads: a dump without endpoints still says a selector matches nothing.


@analyzer(codes=[SERVICE_SELECTS_NOTHING, SERVICE_SCALED_TO_ZERO, SERVICE_NO_READY_ENDPOINTS], requires=["Service", "Pod"])
def service_selectors(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for svc in in_service(model, _unserved(model)):
        diagnosis = diagnose_selection(model, svc, settings)
        if diagnosis is not None:
            yield _endpoint_finding(model, svc, diagnosis)


@analyzer(codes=[SERVICE_NO_READY_ENDPOINTS], requires=["Service", "Pod", ENDPOINT_KINDS])
def service_endpoints(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for svc in in_service(model, _unserved(model)):
        diagnosis = diagnose_readiness(model, svc, settings)
        if diagnosis is not None:
            yield _endpoint_finding(model, svc, diagnosis)


def _unserved(model: ClusterModel) -> Iterator[o.Service]:
    """The Services with a selector and no ready endpoint known: the few both questions are
    about, picked out before anything costs more than a lookup (most Services are healthy)."""
    known: dict[str, bool] = {}
    for svc in model.services:
        ns = svc.metadata.namespace
        if ns not in known:
            known[ns] = model.endpoints_known(ns)
        if _selects(svc) and not (known[ns] and model.ready_endpoints(svc) > 0):
            yield svc


@analyzer(codes=[SERVICE_WITHOUT_SELECTOR_EMPTY], requires=["Service", ENDPOINT_KINDS])
def selectorless_services(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for svc in in_service(model, (s for s in model.services if not s.spec.selector)):
        diagnosis = diagnose_selectorless(model, svc)
        if diagnosis is not None:
            yield _endpoint_finding(model, svc, diagnosis)


def _endpoint_finding(model: ClusterModel, svc: o.Service, diagnosis: EndpointDiagnosis) -> Finding:
    key = key_of(svc)
    ns, name = key.namespace, key.name
    selector = format_selector(svc.spec.selector) if svc.spec.selector else ""
    fill = {"namespace": ns, "service": name, "selector": selector}
    problem = diagnosis.problem
    if problem is EndpointProblem.NO_SELECTOR:
        return finding(
            SERVICE_WITHOUT_SELECTOR_EMPTY, key, f"Service {name} has no selector and no endpoints",
            fill=fill,
        )
    if problem is EndpointProblem.NO_PODS:
        assert svc.spec.selector
        hints = _near_misses(model, ns, svc.spec.selector)
        hint = f"; near miss: {hints[0]}" if hints else ""
        return finding(
            SERVICE_SELECTS_NOTHING, key, f"selector {selector} matches no pod in namespace {ns}{hint}",
            evidence={
                "selector": selector,
                "near_misses": hints,
                "matching_pods_in": _matching_elsewhere(model, svc, svc.spec.selector),
            },
            fill=fill,
            related=[key_of(i) for i in model.ingresses_for(svc)],
        )
    if problem is EndpointProblem.SCALED_TO_ZERO:
        names = ", ".join(str(k) for k in diagnosis.workloads)
        return finding(
            SERVICE_SCALED_TO_ZERO, key, f"no pods to serve: {names} scaled to zero",
            evidence={"selector": selector, "workloads": [str(k) for k in diagnosis.workloads]},
            fill={**fill, "workload": _kubectl_ref(diagnosis.workloads[0])},
            related=diagnosis.workloads,
        )
    pods = diagnosis.pods
    if pods:
        message = f"none of the {len(pods)} selected pod{'s' if len(pods) > 1 else ''} is ready"
    else:
        message = f"{', '.join(str(k) for k in diagnosis.workloads)} matches the selector but has no pods"
    return finding(
        SERVICE_NO_READY_ENDPOINTS, key, message,
        evidence={
            "selector": selector,
            "ready_endpoints": 0,
            "pods": _pod_lines(pods),
            "workloads": [str(k) for k in diagnosis.workloads],
        },
        fill={**fill, "pod": pods[0].metadata.name} if pods else fill,
        cause=diagnosis.cause,
        related=[key_of(p) for p in pods] + [key_of(i) for i in model.ingresses_for(svc)],
    )


# --------------------------------------------------------------------------- service ports


def _target(port: o.ServicePort) -> int | str:
    """The effective targetPort: unset means "same as port"; a digit string is a number."""
    target = port.targetPort
    if target is None or target == 0:
        return port.port
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return target


def _declared_ports(pods: Iterable[o.Pod]) -> list[str]:
    seen: set[str] = set()
    for pod in pods:
        for container in _main_containers(pod):
            for cp in container.ports or ():
                label = f"{cp.name}:{cp.containerPort}/{cp.protocol}" if cp.name else f"{cp.containerPort}/{cp.protocol}"
                seen.add(f"{label} ({container.name})")
    return sorted(seen)


def _defines_named_port(pod: o.Pod, name: str, protocol: str) -> bool:
    # Same rule as the EndpointSlice controller (podutil.FindPort): name AND protocol must match,
    # across all containers (sidecars included: a named port on a sidecar is a valid target).
    return any(cp.name == name and cp.protocol == protocol for c in pod.spec.containers for cp in c.ports or ())


def _declares_number(pod: o.Pod, number: int) -> bool:
    return any(cp.containerPort == number for c in _main_containers(pod) for cp in c.ports or ())


@analyzer(codes=[SERVICE_NAMED_PORT_MISSING, SERVICE_PORT_NOT_DECLARED], requires=["Service", "Pod"])
def service_ports(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for svc in in_service(model, model.services):
        # Headless Services are not proxied (clients dial pod IPs on whatever port they like), and
        # ExternalName ones have no pods; neither routes through targetPort.
        if not svc.spec.selector or svc.spec.type == "ExternalName" or svc.spec.clusterIP == "None":
            continue
        if not model.has("Pod", svc.metadata.namespace):
            continue
        pods = [p for p in model.service_pods(svc) if not lifecycle.finished(p)]
        if pods:
            yield from _port_findings(svc, pods)


def _port_findings(svc: o.Service, pods: list[o.Pod]) -> Iterator[Finding]:
    key = key_of(svc)
    declared = _declared_ports(pods)
    fill = {"namespace": key.namespace, "service": key.name, "selector": format_selector(svc.spec.selector)}
    for port in svc.spec.ports or ():
        target = _target(port)
        label = f"{port.name}:{port.port}/{port.protocol}" if port.name else f"{port.port}/{port.protocol}"
        evidence = {"port": label, "target_port": target, "declared_ports": declared, "pods": len(pods)}
        if isinstance(target, str):
            if not any(_defines_named_port(p, target, port.protocol) for p in pods):
                yield finding(
                    SERVICE_NAMED_PORT_MISSING, key,
                    f"port {label} targets named port {target!r}, which none of the {len(pods)} selected pods defines",
                    evidence=evidence, fill={**fill, "target_port": target},
                    related=[key_of(p) for p in pods],
                )
        elif declared and not any(_declares_number(p, target) for p in pods):
            yield finding(
                SERVICE_PORT_NOT_DECLARED, key,
                f"port {label} forwards to {target}, which the selected pods do not declare (they declare {', '.join(declared[:MAX_LISTED])})",
                evidence=evidence, fill=fill,
                related=[key_of(p) for p in pods],
            )


# --------------------------------------------------------------------------- ingress


@analyzer(codes=[INGRESS_SERVICE_MISSING, INGRESS_PORT_MISSING], requires=["Ingress", "Service"])
def ingress_backends(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for ingress in in_service(model, model.ingresses):
        if not model.has("Service", ingress.metadata.namespace):
            continue
        for use in backend_uses(ingress).values():
            yield from _backend_findings(model, ingress, use)


def _backend_findings(model: ClusterModel, ingress: o.Ingress, use: BackendUse) -> Iterator[Finding]:
    key = key_of(ingress)
    ns = key.namespace
    fill = {"namespace": ns, "ingress": key.name, "service": use.service}
    evidence = _backend_evidence(use)
    svc = model.service(ns, use.service)
    if svc is None:
        yield finding(
            INGRESS_SERVICE_MISSING, key, f"routes {', '.join(use.paths[:3])} to Service {use.service}, which does not exist",
            evidence=evidence, fill=fill,
            cause=ObjectKey("Service", ns, use.service),
        )
        return
    if svc.spec.type != "ExternalName":  # ExternalName Services need not declare ports
        missing = [p for p in use.ports if not service_has_port(svc, p)]
        if missing:
            offered = [f"{p.name}:{p.port}" if p.name else str(p.port) for p in svc.spec.ports or ()]
            yield finding(
                INGRESS_PORT_MISSING, key,
                f"backend {use.service}:{port_label(missing[0])} is not a port of Service {use.service} (it has {', '.join(offered) or 'no ports'})",
                evidence={**evidence, "missing_ports": [port_label(p) for p in missing], "service_ports": offered},
                fill=fill, related=[key_of(svc)],
            )


def _backend_evidence(use: BackendUse) -> dict[str, object]:
    return {"service": use.service, "ports": [port_label(p) for p in use.ports], "paths": use.paths[:MAX_LISTED]}


# An Ingress's backend is unavailable for the reasons its Service is: asked the same two
# questions, from the same kinds (the Service's own finding is the cause, and where the fix is).
Diagnose = Callable[[ClusterModel, o.Service, CheckSettings], EndpointDiagnosis | None]


@analyzer(codes=[INGRESS_BACKEND_UNAVAILABLE], requires=["Ingress", "Service", "Pod"])
def ingress_backend_selectors(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    yield from _unavailable_backends(model, settings, diagnose_selection)


@analyzer(codes=[INGRESS_BACKEND_UNAVAILABLE], requires=["Ingress", "Service", "Pod", ENDPOINT_KINDS])
def ingress_backend_endpoints(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    yield from _unavailable_backends(model, settings, diagnose_readiness)


def _unavailable_backends(model: ClusterModel, settings: CheckSettings, diagnose: Diagnose) -> Iterator[Finding]:
    for ingress in in_service(model, model.ingresses):
        ns = ingress.metadata.namespace
        for use in backend_uses(ingress).values():
            svc = model.service(ns, use.service)
            diagnosis = diagnose(model, svc, settings) if svc is not None else None
            # Only real outages: a Service scaled to zero or managed by hand is reported (INFO) on the Service.
            if svc is None or diagnosis is None or diagnosis.problem not in (EndpointProblem.NO_PODS, EndpointProblem.NO_READY):
                continue
            yield finding(
                INGRESS_BACKEND_UNAVAILABLE, key_of(ingress),
                f"backend Service {use.service} has no ready endpoints ({diagnosis.problem.value})",
                evidence={**_backend_evidence(use), "reason": diagnosis.problem.value},
                fill={"ingress": ingress.metadata.name, "selector": format_selector(svc.spec.selector)},
                cause=key_of(svc),
            )


def _tls_fill(ingress: o.Ingress, secret: str) -> dict[str, str]:
    return {"namespace": ingress.metadata.namespace, "ingress": ingress.metadata.name, "secret": secret}


@analyzer(codes=[INGRESS_TLS_SECRET_MISSING, INGRESS_TLS_SECRET_INVALID], requires=["Ingress", "Secret"])
def ingress_tls(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for ingress in in_service(model, model.ingresses):
        ns = ingress.metadata.namespace
        if not model.has("Secret", ns):
            continue  # Secrets often are RBAC-restricted: "could not look" is not "missing"
        seen: set[str] = set()
        for tls in ingress.spec.tls or ():
            # An empty secretName means "use the controller's default certificate": deliberate.
            if not tls.secretName or tls.secretName in seen:
                continue
            seen.add(tls.secretName)
            evidence = {"secret": tls.secretName, "hosts": tls.hosts or []}
            secret = model.secret(ns, tls.secretName)
            if secret is None:
                yield finding(
                    INGRESS_TLS_SECRET_MISSING, key_of(ingress),
                    f"TLS Secret {tls.secretName} for {', '.join(tls.hosts or ['all hosts'])} does not exist",
                    evidence=evidence, fill=_tls_fill(ingress, tls.secretName),
                    cause=ObjectKey("Secret", ns, tls.secretName),
                )
                continue
            lacking = [k for k in ("tls.crt", "tls.key") if k not in (secret.keys or ())]
            if lacking:
                yield finding(
                    INGRESS_TLS_SECRET_INVALID, key_of(ingress),
                    f"TLS Secret {tls.secretName} has no {' or '.join(lacking)}",
                    evidence={**evidence, "missing_keys": lacking, "secret_type": secret.type},
                    fill=_tls_fill(ingress, tls.secretName),
                    cause=key_of(secret),
                )


@analyzer(codes=[INGRESS_CLASS_MISSING, INGRESS_NO_CLASS], requires=["Ingress", "IngressClass"])
def ingress_class(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    if not model.has("IngressClass"):
        return  # partially loaded cluster-scoped kind: we cannot tell "missing"
    for ingress in in_service(model, model.ingresses):
        key = key_of(ingress)
        fill = {"namespace": key.namespace, "ingress": key.name}
        annotated = (ingress.metadata.annotations or {}).get(INGRESS_CLASS_ANNOTATION, "")
        name = ingress.spec.ingressClassName or annotated
        if name and model.ingress_class(name) is None:
            from_annotation = not ingress.spec.ingressClassName
            source = f"annotation {INGRESS_CLASS_ANNOTATION}" if from_annotation else "spec.ingressClassName"
            yield finding(
                INGRESS_CLASS_MISSING, key, f"IngressClass {name} ({source}) does not exist",
                evidence={"ingress_class": name, "source": source, "classes": sorted(c.metadata.name for c in model.every("IngressClass"))},
                severity=Severity.WARNING if from_annotation else None,
                fill=fill,
                cause=ObjectKey("IngressClass", "", name),
            )
        elif not name and not model.default_ingress_classes:
            classes = sorted(c.metadata.name for c in model.every("IngressClass"))
            yield finding(
                INGRESS_NO_CLASS, key, "no ingressClassName and no default IngressClass: no controller is bound to serve it",
                evidence={"classes": classes},
                fill={**fill, "class": classes[0]} if len(classes) == 1 else fill,  # more: the reader's choice
            )


# --------------------------------------------------------------------------- network policies


def _policy_template_match(model: ClusterModel, namespace: str, selector: o.LabelSelector) -> bool:
    """Would a workload of the namespace create pods this policy selects (even if scaled to zero now)?"""
    for kind in ("Deployment", "StatefulSet", "DaemonSet"):
        if model.has(kind, namespace):
            for wl in model.objects(kind):
                if wl.metadata.namespace == namespace and selector_matches(selector, wl.spec.template.metadata.labels):
                    return True
    return False


@analyzer(codes=[NETWORK_POLICY_SELECTS_NOTHING], requires=["NetworkPolicy", "Pod"])
def network_policies(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for policy in model.networkpolicies:
        ns = policy.metadata.namespace
        selector = policy.spec.podSelector
        # An empty podSelector selects every pod of the namespace (default-deny and friends): by design.
        if not (selector.matchLabels or selector.matchExpressions) or not model.has("Pod", ns):
            continue
        if model.select_pods(ns, selector) or _policy_template_match(model, ns, selector):
            continue
        yield finding(
            NETWORK_POLICY_SELECTS_NOTHING, key_of(policy), f"podSelector {format_selector(selector)} matches no pod in {ns}",
            evidence={"selector": format_selector(selector)},
            fill={"namespace": ns, "policy": policy.metadata.name},
        )
