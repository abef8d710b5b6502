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

from kubesteward.checks.base import Finding, Severity, analyzer, define, finding, in_service
from kubesteward.checks.settings import CheckSettings
from kubesteward.model import objects as o
from kubesteward.model.cluster import ENDPOINT_KINDS, ClusterModel, ObjectKey, key_of
from kubesteward.model.selectors import format_selector, map_selector_matches, selector_matches

# Legacy (pre-IngressClass) way of choosing a controller; still honoured by
# ingress-nginx, Traefik and others, and still common in Helm charts.
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"

# Service meshes inject these sidecars, which declare their own ports (metrics,
# admin). Those say nothing about which ports the application listens on, so
# they must not turn "the app declares no ports" into "the app declares other ports".
MESH_SIDECARS = frozenset({"istio-proxy", "linkerd-proxy"})

MAX_LISTED = 5  # pods, ports or hints listed in evidence; the rest is counted

# --------------------------------------------------------------------------- codes

SERVICE_SELECTS_NOTHING = define(
    "KS301",
    "Service selector matches no pods",
    area="networking",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
The Service has a label selector, but no pod in its namespace carries all of those labels, and no
Deployment, StatefulSet or DaemonSet has a pod template that would create such pods. Its EndpointSlices
are empty, so every connection to the Service (ClusterIP, NodePort, LoadBalancer, Ingress) fails or
times out. This is a configuration error, usually a typo or a label that was renamed on one side only.
kubesteward decided this from the EndpointSlices (no ready endpoint), the pods of the namespace (none
matches the selector) and the workload templates (none would produce a match). When pods carry a label
that almost matches (same key with another value, or the same value under another key), the finding
lists them as near misses; pods in other namespaces that match are listed too, because a Service only
ever selects pods in its own namespace.
""",
    remediation="""
Compare the selector with the pod labels and fix whichever side is wrong:
  kubectl get service <service> -n <namespace> -o jsonpath='{.spec.selector}'
  kubectl get pods -n <namespace> --show-labels
Then either edit the Service selector (kubectl edit service <service> -n <namespace>) or the pod template
labels of the workload that should serve it. Note that a Deployment's spec.selector is immutable, so
changing the Service is usually the smaller change.
""",
)

SERVICE_NO_READY_ENDPOINTS = define(
    "KS302",
    "Service has no ready endpoints",
    area="networking",
    severity=Severity.ERROR,
    rank=60,
    explanation="""
The Service selects pods, but none of them is ready, so its EndpointSlices hold no ready endpoint and
connections to it are refused. This is almost always a symptom: the selected pods are crashing, pending,
failing their readiness probe, or their workload cannot create them. kubesteward links the finding to the
workload owning the selected pods, so it is grouped with (and explained by) the pods' own findings.
It stays silent while the selected pods are still young (startup grace, pod_not_ready_seconds) and when
a selected pod is Ready but the EndpointSlice controller has not caught up yet.
""",
    remediation="""
Fix the pods, not the Service. See why they are not ready:
  kubectl get pods -n <namespace> -l <selector> -o wide
  kubectl describe pod <pod> -n <namespace>      (Events, readiness probe failures)
  kubectl get endpointslices -n <namespace> -l kubernetes.io/service-name=<service> -o yaml
The related pod findings usually name the root cause (crash loop, image pull error, unschedulable).
""",
)

SERVICE_NAMED_PORT_MISSING = define(
    "KS303",
    "Service targetPort names a port no selected pod defines",
    area="networking",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
A Service port's targetPort is a name (for example "http"). Kubernetes resolves it separately on each pod
by looking for a container port with that name and the same protocol. None of the selected pods defines
it, so the EndpointSlices carry no port for it and kube-proxy has nothing to forward this Service port
to: connections fail even though the pods may be Ready. kubesteward compared the targetPort with the
named container ports (and their protocols) of every pod the Service selects.
""",
    remediation="""
Either name the container port in the pod template (ports: [{name: <target_port>, containerPort: 8080}]),
or point the Service at the number (or at a name that exists):
  kubectl get pods -n <namespace> -l <selector> -o jsonpath='{.items[*].spec.containers[*].ports}'
  kubectl edit service <service> -n <namespace>
""",
)

SERVICE_PORT_NOT_DECLARED = define(
    "KS304",
    "Service targetPort is not a declared container port",
    area="networking",
    severity=Severity.WARNING,
    rank=40,
    explanation="""
A Service port forwards to a numeric targetPort that none of the selected pods declares, although those
pods do declare other container ports. Declared ports are informational in Kubernetes (traffic reaches
any port the process listens on), so this is not certainly broken, but when an application documents its
ports, a targetPort outside that list is usually a typo (80 instead of 8080) and connections are refused.
kubesteward only reports this when the pods declare ports at all (sidecars injected by service meshes are
ignored), and never for headless Services, which kube-proxy does not forward.
""",
    remediation="""
Check which port the application really listens on and align the two:
  kubectl get service <service> -n <namespace> -o jsonpath='{.spec.ports}'
  kubectl get pods -n <namespace> -l <selector> -o jsonpath='{.items[*].spec.containers[*].ports}'
Fix the Service targetPort (kubectl edit service <service> -n <namespace>), or declare the port in the pod
template if the application does listen on it.
""",
)

SERVICE_WITHOUT_SELECTOR_EMPTY = define(
    "KS305",
    "Service without selector has no endpoints",
    area="networking",
    severity=Severity.INFO,
    rank=60,
    explanation="""
The Service has no selector, so Kubernetes never fills its endpoints: something else (an operator, a
script, or hand-written Endpoints/EndpointSlices) is expected to. There are none, so connections to it
fail. This is often deliberate (a placeholder, a Service fronting an external database that is not
configured yet), hence only informational.
""",
    remediation="""
If the Service should select pods, add a selector (kubectl edit service <service> -n <namespace>).
If its endpoints are managed by hand, create them:
  kubectl get endpointslices -n <namespace> -l kubernetes.io/service-name=<service>
If it is unused, delete it: kubectl delete service <service> -n <namespace>
""",
)

SERVICE_SCALED_TO_ZERO = define(
    "KS306",
    "Service backed only by workloads scaled to zero",
    area="networking",
    severity=Severity.INFO,
    rank=60,
    explanation="""
The Service selects no pods because the workloads whose pod templates match its selector want zero
replicas. Connections to it fail until they are scaled up. This is usually intentional (a paused
environment), so it is informational; it explains 503s from an Ingress in front of it.
""",
    remediation="""
Scale the workload up if the Service should serve traffic:
  kubectl scale <workload> -n <namespace> --replicas=1
""",
)

INGRESS_SERVICE_MISSING = define(
    "KS310",
    "Ingress backend Service does not exist",
    area="networking",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
An Ingress rule (or its default backend) routes to a Service that does not exist in the Ingress's
namespace. The ingress controller answers those requests with an error (503 or 404, depending on the
controller). Either the Service name in the Ingress is wrong, or the Service was deleted or lives in
another namespace (an Ingress can only route to Services in its own namespace).
""",
    remediation="""
  kubectl get ingress <ingress> -n <namespace> -o yaml      (spec.rules[].http.paths[].backend.service.name)
  kubectl get services -n <namespace>
Fix the backend service name in the Ingress, or create the Service.
""",
)

INGRESS_PORT_MISSING = define(
    "KS311",
    "Ingress backend port is not a port of the Service",
    area="networking",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
An Ingress backend names a Service port (by number or by name) that the Service does not define. Ingress
backends refer to the Service's port (spec.ports[].port or .name), not to the container's targetPort, a
frequent confusion. The controller cannot resolve the backend and answers with an error.
""",
    remediation="""
  kubectl get service <service> -n <namespace> -o jsonpath='{.spec.ports}'
  kubectl edit ingress <ingress> -n <namespace>
Use one of the Service's port numbers or names in backend.service.port.
""",
)

INGRESS_TLS_SECRET_MISSING = define(
    "KS312",
    "Ingress TLS Secret does not exist",
    area="networking",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
The Ingress terminates TLS with a Secret that does not exist in its namespace. Ingress controllers then
serve their default (self-signed) certificate for those hosts, so clients get certificate errors, or the
controller ignores the TLS section. kubesteward only reports this when it could list the Secrets of that
namespace. When cert-manager manages the Ingress, the Secret appears once the Certificate is issued;
if it does not, the Certificate is failing.
""",
    remediation="""
Create the Secret (kubectl create secret tls <secret> -n <namespace> --cert=tls.crt --key=tls.key), fix
spec.tls[].secretName, or, with cert-manager, look at why the certificate is not issued:
  kubectl get certificate,certificaterequest -n <namespace>
  kubectl describe certificate -n <namespace>
""",
)

INGRESS_CLASS_MISSING = define(
    "KS313",
    "Ingress names an IngressClass that does not exist",
    area="networking",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
The Ingress asks for an IngressClass (spec.ingressClassName) that does not exist, so no ingress controller
picks it up and none of its routes is served. When the class comes from the legacy
kubernetes.io/ingress.class annotation the finding is only a warning: some controllers still match that
annotation against their own flag without an IngressClass object.
""",
    remediation="""
Set spec.ingressClassName to one of the classes kubectl get ingressclass lists
(kubectl edit ingress <ingress> -n <namespace>), or install the ingress controller that provides the
requested class.
""",
)

INGRESS_NO_CLASS = define(
    "KS314",
    "Ingress has no class and there is no default IngressClass",
    area="networking",
    severity=Severity.WARNING,
    rank=40,
    explanation="""
The Ingress names no IngressClass (neither spec.ingressClassName nor the legacy annotation) and no
IngressClass is marked as the cluster default, so no controller is required to serve it. Whether one does
depends on controller flags (for example ingress-nginx's --watch-ingress-without-class), which makes the
routing fragile at best and absent at worst.
""",
    remediation="""
Set spec.ingressClassName to one of the classes kubectl get ingressclass lists
(kubectl edit ingress <ingress> -n <namespace>), or mark one class as the default:
  kubectl annotate ingressclass <class> ingressclass.kubernetes.io/is-default-class=true
Without any class, install an ingress controller first: it creates its class.
""",
)

INGRESS_BACKEND_UNAVAILABLE = define(
    "KS315",
    "Ingress backend Service has no ready endpoints",
    area="networking",
    severity=Severity.ERROR,
    rank=70,
    explanation="""
An Ingress routes to a Service that has no ready endpoint, so the controller answers those requests with
503. This is a symptom: the finding is linked to the Service (and through it to the pods or the selector
problem that empties it), which is where the fix is.
""",
    remediation="""
Follow the Service's own finding:
  kubectl get endpointslices -n <namespace> -l kubernetes.io/service-name=<service>
  kubectl get pods -n <namespace> -l <selector>
""",
)

INGRESS_TLS_SECRET_INVALID = define(
    "KS316",
    "Ingress TLS Secret has no certificate or key",
    area="networking",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
The Secret named in the Ingress's TLS section exists but lacks the tls.crt or tls.key entry ingress
controllers read, so the controller cannot use it and falls back to its default certificate.
""",
    remediation="""
Recreate it as a TLS secret holding both the certificate and its key:
  kubectl create secret tls <secret> -n <namespace> --cert=tls.crt --key=tls.key --dry-run=client -o yaml | kubectl apply -f -
See which keys it holds now: kubectl get secret <secret> -n <namespace> -o jsonpath='{.data}' | jq keys
""",
)

NETWORK_POLICY_SELECTS_NOTHING = define(
    "KS320",
    "NetworkPolicy selects no pods",
    area="networking",
    severity=Severity.INFO,
    rank=80,
    explanation="""
The NetworkPolicy's podSelector matches no pod in its namespace and no workload template that would
create one, so it has no effect. Often a leftover or a label typo; if it was meant to restrict traffic,
the pods it should protect are currently unrestricted by it. Policies with an empty podSelector
(namespace-wide, such as default-deny) are never reported.
""",
    remediation="""
  kubectl get networkpolicy <policy> -n <namespace> -o jsonpath='{.spec.podSelector}'
  kubectl get pods -n <namespace> --show-labels
Fix the podSelector, or delete the policy if it is obsolete.
""",
)


def _kubectl_ref(key: ObjectKey) -> str:
    return f"{key.kind.lower()}/{key.name}"



# --------------------------------------------------------------------------- pod helpers


def pod_ready(pod: o.Pod) -> bool:
    """Ready and not terminating: what the EndpointSlice controller counts as a ready endpoint."""
    ready = o.condition(pod.status.conditions, "Ready")
    return ready is not None and ready.status == "True" and pod.metadata.deletionTimestamp is None


def pod_state(pod: o.Pod) -> str:
    """A few words on why a pod is not ready, for evidence ("CrashLoopBackOff", "Pending")."""
    if pod.metadata.deletionTimestamp:
        return "Terminating"
    if pod.status.phase in ("Succeeded", "Failed"):
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


# Waiting reasons that do not resolve by waiting: no startup grace for pods showing them.
FAILING_REASONS = frozenset({
    "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
    "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
})


def pod_settling(model: ClusterModel, pod: o.Pod, settings: CheckSettings) -> bool:
    """Still within its startup grace: pending or unready for less than the thresholds the pods
    analyzer uses, counted from the Ready condition's last transition, and not clearly failing."""
    if pod.status.phase in ("Succeeded", "Failed") or pod_state(pod) in FAILING_REASONS:
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
        pods = [p for p in model.service_pods(svc) if p.status.phase not in ("Succeeded", "Failed")]
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


@dataclass
class _BackendUse:
    """Every place in one Ingress that routes to one Service."""

    service: str
    ports: list[o.ServiceBackendPort] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


def _backend_uses(ingress: o.Ingress) -> dict[str, _BackendUse]:
    uses: dict[str, _BackendUse] = {}

    def add(backend: o.IngressBackend | None, where: str) -> None:
        if backend is None or backend.service is None:
            return  # resource backends (e.g. a storage bucket CRD) are the controller's business
        use = uses.setdefault(backend.service.name, _BackendUse(backend.service.name))
        if backend.service.port not in use.ports:
            use.ports.append(backend.service.port)
        use.paths.append(where)

    add(ingress.spec.defaultBackend, "(default backend)")
    for rule in ingress.spec.rules or ():
        for path in rule.http.paths if rule.http else ():
            add(path.backend, f"{rule.host or '*'}{path.path or '/'}")
    return uses


def _port_label(port: o.ServiceBackendPort) -> str:
    return port.name or str(port.number)


def _service_has_port(svc: o.Service, port: o.ServiceBackendPort) -> bool:
    if port.name:
        return any(p.name == port.name for p in svc.spec.ports or ())
    return any(p.port == port.number for p in svc.spec.ports or ())


@analyzer(codes=[INGRESS_SERVICE_MISSING, INGRESS_PORT_MISSING], requires=["Ingress", "Service"])
def ingress_backends(model: ClusterModel, settings: CheckSettings) -> Iterator[Finding]:
    for ingress in in_service(model, model.ingresses):
        if not model.has("Service", ingress.metadata.namespace):
            continue
        for use in _backend_uses(ingress).values():
            yield from _backend_findings(model, ingress, use)


def _backend_findings(model: ClusterModel, ingress: o.Ingress, use: _BackendUse) -> Iterator[Finding]:
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
        missing = [p for p in use.ports if not _service_has_port(svc, p)]
        if missing:
            offered = [f"{p.name}:{p.port}" if p.name else str(p.port) for p in svc.spec.ports or ()]
            yield finding(
                INGRESS_PORT_MISSING, key,
                f"backend {use.service}:{_port_label(missing[0])} is not a port of Service {use.service} (it has {', '.join(offered) or 'no ports'})",
                evidence={**evidence, "missing_ports": [_port_label(p) for p in missing], "service_ports": offered},
                fill=fill, related=[key_of(svc)],
            )


def _backend_evidence(use: _BackendUse) -> dict[str, object]:
    return {"service": use.service, "ports": [_port_label(p) for p in use.ports], "paths": use.paths[:MAX_LISTED]}


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
        for use in _backend_uses(ingress).values():
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
