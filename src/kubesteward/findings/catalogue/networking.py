"""The networking codes (KS3xx): Services and their endpoints, Ingresses, NetworkPolicies."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

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
    remediation=steps(
        Step(
            "Compare the selector with the pod labels and fix whichever side is wrong",
            "kubectl get service <service> -n <namespace> -o jsonpath='{.spec.selector}'",
        ),
        Step("See the pods' labels", "kubectl get pods -n <namespace> --show-labels"),
        Step("Then either edit the Service selector", "kubectl edit service <service> -n <namespace>"),
        Step(
            "Or the pod template labels of the workload that should serve it; a Deployment's spec.selector is "
            "immutable, so changing the Service is usually the smaller change"
        ),
    ),
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
    remediation=steps(
        Step(
            "Fix the pods, not the Service: see why they are not ready",
            "kubectl get pods -n <namespace> -l <selector> -o wide",
        ),
        Step("Read a pod's events (readiness probe failures)", "kubectl describe pod <pod> -n <namespace>"),
        Step(
            "See the endpoints the Service has",
            "kubectl get endpointslices -n <namespace> -l kubernetes.io/service-name=<service> -o yaml",
        ),
        Step("The related pod findings usually name the root cause (crash loop, image pull error, unschedulable)"),
    ),
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
    remediation=steps(
        Step(
            "See which ports the selected pods declare",
            "kubectl get pods -n <namespace> -l <selector> -o jsonpath='{.items[*].spec.containers[*].ports}'",
        ),
        Step("Name the container port in the pod template (`ports: [{name: <target_port>, containerPort: 8080}]`)"),
        Step(
            "Or point the Service at the number, or at a name that exists",
            "kubectl edit service <service> -n <namespace>",
        ),
    ),
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
    remediation=steps(
        Step(
            "Check which port the application really listens on and align the two; the Service's ports",
            "kubectl get service <service> -n <namespace> -o jsonpath='{.spec.ports}'",
        ),
        Step(
            "The ports the selected pods declare",
            "kubectl get pods -n <namespace> -l <selector> -o jsonpath='{.items[*].spec.containers[*].ports}'",
        ),
        Step("Fix the Service targetPort", "kubectl edit service <service> -n <namespace>"),
        Step("Or declare the port in the pod template if the application does listen on it"),
    ),
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
    remediation=steps(
        Step("If the Service should select pods, add a selector", "kubectl edit service <service> -n <namespace>"),
        Step(
            "If its endpoints are managed by hand, create them; see those it has",
            "kubectl get endpointslices -n <namespace> -l kubernetes.io/service-name=<service>",
        ),
        Step("If it is unused, delete it", "kubectl delete service <service> -n <namespace>"),
    ),
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
    remediation=steps(
        Step(
            "Scale the workload up if the Service should serve traffic",
            "kubectl scale <workload> -n <namespace> --replicas=1",
        ),
    ),
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
    remediation=steps(
        Step(
            "See the backend Service it names (spec.rules[].http.paths[].backend.service.name)",
            "kubectl get ingress <ingress> -n <namespace> -o yaml",
        ),
        Step("List the Services that exist", "kubectl get services -n <namespace>"),
        Step("Fix the backend service name in the Ingress, or create the Service"),
    ),
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
    remediation=steps(
        Step("See the Service's ports", "kubectl get service <service> -n <namespace> -o jsonpath='{.spec.ports}'"),
        Step(
            "Use one of its port numbers or names in backend.service.port",
            "kubectl edit ingress <ingress> -n <namespace>",
        ),
    ),
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
    remediation=steps(
        Step(
            "Create the Secret, or fix spec.tls[].secretName",
            "kubectl create secret tls <secret> -n <namespace> --cert=tls.crt --key=tls.key",
        ),
        Step(
            "Or, with cert-manager, see why the certificate is not issued",
            "kubectl get certificate,certificaterequest -n <namespace>",
        ),
        Step("Read the Certificate's events", "kubectl describe certificate -n <namespace>"),
    ),
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
    remediation=steps(
        Step("Set spec.ingressClassName to one of the classes that exist", "kubectl get ingressclass"),
        Step("Edit the Ingress", "kubectl edit ingress <ingress> -n <namespace>"),
        Step("Or install the ingress controller that provides the requested class"),
    ),
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
    remediation=steps(
        Step("Set spec.ingressClassName to one of the classes that exist", "kubectl get ingressclass"),
        Step("Edit the Ingress", "kubectl edit ingress <ingress> -n <namespace>"),
        Step(
            "Or mark one class as the default",
            "kubectl annotate ingressclass <class> ingressclass.kubernetes.io/is-default-class=true",
        ),
        Step("Without any class, install an ingress controller first: it creates its class"),
    ),
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
    remediation=steps(
        Step(
            "Follow the Service's own finding: see its endpoints",
            "kubectl get endpointslices -n <namespace> -l kubernetes.io/service-name=<service>",
        ),
        Step("See the pods it selects", "kubectl get pods -n <namespace> -l <selector>"),
    ),
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
    remediation=steps(
        Step(
            "Recreate it as a TLS secret holding both the certificate and its key",
            "kubectl create secret tls <secret> -n <namespace> --cert=tls.crt --key=tls.key --dry-run=client -o yaml "
            "| kubectl apply -f -",
        ),
        Step(
            "See which keys it holds now",
            "kubectl get secret <secret> -n <namespace> -o jsonpath='{.data}' | jq keys",
        ),
    ),
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
    remediation=steps(
        Step(
            "See its podSelector",
            "kubectl get networkpolicy <policy> -n <namespace> -o jsonpath='{.spec.podSelector}'",
        ),
        Step("Compare it with the pods' labels", "kubectl get pods -n <namespace> --show-labels"),
        Step("Fix the podSelector, or delete the policy if it is obsolete"),
    ),
)
