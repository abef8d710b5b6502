"""The policy codes of workloads (KS800–KS819): availability, disruption budgets, autoscalers, Services and Ingresses that point nowhere, identity."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

KS800 = define(
    "KS800",
    "Workload runs fewer replicas than production needs",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The workload (a Deployment, a StatefulSet, or any kind that declares `spec.replicas`, such as an Argo
Rollout) runs fewer replicas than the policy's `minReplicas` (2 by default): one node drain, one
eviction or one crash and it serves nothing. A built-in that omits `replicas` runs one. When a
HorizontalPodAutoscaler scales it, the HPA's `minReplicas` is what counts. A workload scaled to zero
on purpose (and not autoscaled) is not reported.
""",
    remediation=steps(
        Step("Set `spec.replicas` to at least the minimum (2 unless the policy says otherwise)"),
        Step("Or, autoscaled, raise the HorizontalPodAutoscaler's `minReplicas`"),
    ),
)

KS801 = define(
    "KS801",
    "Replicated workload may run every replica on one node",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The workload runs (or may scale to) two or more replicas, but nothing spreads them: no pod
anti-affinity term and no topology spread constraint whose label selector selects the workload's own
pods. The scheduler may then place every replica on one node or in one zone, and losing it loses
them all. A term whose selector does not match the pod's labels spreads nothing, so it does not count.
""",
    remediation=steps(
        Step("Add a topology spread constraint selecting the pods' own labels, e.g. `topologySpreadConstraints: "
             "[{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: "
             "{matchLabels: {app: <name>}}}]`"),
        Step("Or a preferred pod anti-affinity term on `kubernetes.io/hostname` selecting the same labels"),
    ),
)

KS802 = define(
    "KS802",
    "Replicated workload has no PodDisruptionBudget",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The workload runs (or may scale to) two or more replicas, and no PodDisruptionBudget in its namespace
selects its pods. A node drain or a cluster-autoscaler scale-down may then evict every replica at once.
Selection is the API server's: a `policy/v1` budget's empty selector selects every pod of its
namespace, an absent one none; pod templates of any kind (CRD workloads included) count.
""",
    remediation=steps(
        Step("Add a budget that keeps all but one replica up, e.g. `kubectl create poddisruptionbudget <name> -n <ns> "
             "--selector=app=<name> --max-unavailable=1`"),
    ),
)

KS803 = define(
    "KS803",
    "PodDisruptionBudget allows no voluntary disruption",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The budget's own numbers forbid every eviction whatever the replicas: `maxUnavailable: 0` (or `0%`),
or `minAvailable: 100%`. Node drains, cluster upgrades and autoscaler scale-downs then wait forever on
these pods (kubectl drain retries until it times out). Kubernetes allows it, so it is a warning, but it
is almost never what the author meant.
""",
    remediation=steps(
        Step("Allow one pod at a time to go: `maxUnavailable: 1` (with two or more replicas)"),
        Step("If the pods must never move, say so with an annotation on the budget suppressing this rule, "
             "and plan drains by hand"),
    ),
)

KS804 = define(
    "KS804",
    "PodDisruptionBudget demands every pod of what it selects",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The budget's `minAvailable` (a percentage rounded up, as the disruption controller does) is at least the
number of pods the workloads it selects run (their replicas, or an autoscaler's `minReplicas`): at that
size no eviction is ever allowed, and node drains block. The classic case: one replica and
`minAvailable: 1`.
""",
    remediation=steps(
        Step("Run more replicas than the budget keeps, or lower `minAvailable`; `maxUnavailable: 1` keeps working "
             "whatever the replicas"),
    ),
)

KS805 = define(
    "KS805",
    "PodDisruptionBudget selects no pod template",
    area="policy",
    severity=Severity.INFO,
    explanation="""
No pod template of the budget's namespace in the set has labels its selector matches (a typo in a label,
a workload renamed, or a `policy/v1beta1` budget whose empty selector selects nothing), so it protects
nothing. An absent selector selects no pod either.
""",
    remediation=steps(
        Step("Make the selector match the workload's pod template labels, or delete the budget"),
    ),
)

KS806 = define(
    "KS806",
    "HorizontalPodAutoscaler's minReplicas is above its maxReplicas",
    area="policy",
    severity=Severity.ERROR,
    explanation="""
`minReplicas` (1 when omitted) is greater than `maxReplicas`: the API server rejects such an
autoscaler, so applying the manifest fails.
""",
    remediation=steps(
        Step("Set `minReplicas` ≤ `maxReplicas`"),
    ),
)

KS807 = define(
    "KS807",
    "HorizontalPodAutoscaler scales on utilization of containers without requests",
    area="policy",
    severity=Severity.ERROR,
    explanation="""
The autoscaler has a Resource or ContainerResource metric with a `Utilization` target (or no metrics at
all: 80% CPU by default), and a container it reads declares no request for that resource. Utilization is
usage divided by requests, so the controller cannot compute it: the HPA reports `FailedGetResourceMetric`
and never scales. (A LimitRange may add default requests in the cluster; the finding says what the
manifests declare.)
""",
    remediation=steps(
        Step("Set `resources.requests` for the resource on container <container> and every other container the "
             "target's pod template runs"),
        Step("Or target `AverageValue` instead of `Utilization`"),
    ),
)

KS808 = define(
    "KS808",
    "HorizontalPodAutoscaler targets nothing in the set",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
No object of the set has the kind and name (and group) the autoscaler's `scaleTargetRef` names in its
namespace: a typo or a renamed workload, and the HPA scales nothing. On a live cluster the HPA reports
`FailedGetScale`.
""",
    remediation=steps(
        Step("Point `spec.scaleTargetRef` at the workload's kind and name, or delete the autoscaler"),
    ),
)

KS809 = define(
    "KS809",
    "Service selector matches no pod template",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The Service's selector matches the labels of no pod template in its namespace: no workload of the set
(CRD workloads such as Argo Rollouts included) makes pods it would route to, so it has no endpoints and
clients get connection refused. Services without a selector (endpoints managed by hand) and
ExternalName Services are not judged.
""",
    remediation=steps(
        Step("Make `spec.selector` a subset of the workload's pod template labels"),
        Step("Compare with the labels the pods carry", "kubectl get pods -n <ns> --show-labels"),
    ),
)

KS810 = define(
    "KS810",
    "Ingress routes to a Service that does not exist",
    area="policy",
    severity=Severity.ERROR,
    explanation="""
A backend of the Ingress (a rule's path or the default backend) names a Service that the set does not
hold in the Ingress's namespace. The controller answers those paths with 503 or 404.
""",
    remediation=steps(
        Step("Create Service <service> in the namespace, or correct the backend's `service.name`"),
    ),
)

KS811 = define(
    "KS811",
    "Ingress routes to a port its Service does not offer",
    area="policy",
    severity=Severity.ERROR,
    explanation="""
A backend names a port (by number or by name) that its Service does not declare. The controller cannot
route those paths (503). ExternalName Services need not declare ports and are not judged.
""",
    remediation=steps(
        Step("Use one of the Service's ports in the backend's `service.port`, or add the port to Service <service>"),
    ),
)

KS812 = define(
    "KS812",
    "Namespaced object without a namespace",
    area="policy",
    severity=Severity.INFO,
    explanation="""
The manifest of a namespaced kind sets no `metadata.namespace`, so where it lands depends on whoever
applies it (`kubectl -n`, the current context's namespace, Helm's `--namespace`). Judged only on files;
kinds whose scope is unknown (a CRD not in the set) are not judged.
""",
    remediation=steps(
        Step("Set `metadata.namespace`, or let the tool that applies it set one for every object (kustomize's "
             "`namespace:`, Helm's `.Release.Namespace`)"),
    ),
)

KS813 = define(
    "KS813",
    "Object defined twice",
    area="policy",
    severity=Severity.ERROR,
    explanation="""
Two manifests of the set define the same object (same API group, kind, namespace and name). Applied
together, the last one wins silently, and which one that is depends on file order.
""",
    remediation=steps(
        Step("Keep one definition, or rename one of them"),
    ),
)

KS814 = define(
    "KS814",
    "Pod without a controller",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
A bare Pod: no controller owns it, so nothing recreates it when its node fails, it is evicted or it is
deleted, and a rollout cannot replace it. Production workloads belong in a Deployment, a StatefulSet, a
DaemonSet or a Job.
""",
    remediation=steps(
        Step("Wrap the pod spec in a Deployment (or a Job for run-to-completion work)"),
    ),
)

KS815 = define(
    "KS815",
    "Pods selected by more than one PodDisruptionBudget",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The workload's pod template is selected by two or more PodDisruptionBudgets of its namespace. The
eviction API refuses to evict a pod covered by more than one budget (an error, not a wait), so node drains
fail on these pods.
""",
    remediation=steps(
        Step("Keep one budget per workload: narrow the selectors so each pod matches exactly one"),
    ),
)
