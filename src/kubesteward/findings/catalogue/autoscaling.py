"""The autoscaling and disruption codes (KS6xx): HPAs that cannot scale, PDBs that block."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

KS601 = define(
    "KS601",
    "HPA scale target does not exist",
    area="autoscaling",
    severity=Severity.ERROR,
    rank=40,
    explanation="""
The HorizontalPodAutoscaler's `spec.scaleTargetRef` names a workload that does not exist in
its namespace (renamed, deleted, or a typo; the kind must match too). The HPA does
nothing; its AbleToScale condition says FailedGetScale. kubesteward only says this when it
loaded that kind in that namespace, so "not found" really means "does not exist".
""",
    remediation=steps(
        Step("Read the HPA's conditions and events", "kubectl describe hpa <name> -n <ns>"),
        Step("Find the real name of the target", "kubectl get <target_kind> -n <ns>"),
        Step("Fix `spec.scaleTargetRef` (kind, name, apiVersion), or delete the HPA if the workload is gone"),
    ),
)


KS602 = define(
    "KS602",
    "HPA cannot compute metrics or scale",
    area="autoscaling",
    severity=Severity.ERROR,
    rank=50,
    explanation="""
The HPA reports ScalingActive=False (it cannot compute a desired replica count: reasons
FailedGetResourceMetric, FailedGetPodsMetric, FailedGetObjectMetric,
FailedGetExternalMetric, InvalidSelector, ...) or AbleToScale=False (FailedGetScale,
FailedUpdateScale: it cannot read or write the target's scale subresource). The workload
stays at its current size whatever the load. Usually the metrics pipeline is missing or
broken (metrics-server, prometheus-adapter, an external metrics provider), the metric
name or selector is wrong, or RBAC forbids the update. Reported once the condition has
been False for `hpa_condition_seconds`; ScalingDisabled (target scaled to 0) is ignored.
""",
    remediation=steps(
        Step("Read the condition's message and events: the exact error", "kubectl describe hpa <name> -n <ns>"),
        Step("Resource metrics: check the pods have metrics", "kubectl top pods -n <ns>"),
        Step(
            "Check the metrics API is served (then the metrics-server logs)",
            "kubectl get apiservice v1beta1.metrics.k8s.io",
        ),
        Step(
            "Custom/external metrics: check the adapter's API (or external.metrics.k8s.io) and its configuration",
            "kubectl get --raw /apis/custom.metrics.k8s.io/v1beta1",
        ),
    ),
)


KS603 = define(
    "KS603",
    "HPA pinned at maxReplicas",
    area="autoscaling",
    severity=Severity.WARNING,
    rank=50,
    explanation="""
The HPA runs its target at `maxReplicas` and wants more: ScalingLimited=True with reason
TooManyReplicas, for longer than `hpa_condition_seconds`. Load per pod stays above the
target, so latency or errors may grow, and the next spike has no headroom.
""",
    remediation=steps(
        Step("Compare current and target metrics", "kubectl describe hpa <name> -n <ns>"),
        Step("See the pods' real usage", "kubectl top pods -n <ns>"),
        Step("If the load is real: raise `spec.maxReplicas` (check the cluster has room and quotas allow it)"),
        Step(
            "If it is not: fix the target (a utilization target too low, requests far below real usage), or the "
            "workload's efficiency"
        ),
    ),
)


KS604 = define(
    "KS604",
    "HPA target pods have no requests for the scaled resource",
    area="autoscaling",
    severity=Severity.ERROR,
    rank=45,
    explanation="""
The HPA scales on a Resource (or ContainerResource) metric with a Utilization target, which
is usage divided by the containers' *requests*. Some containers of the target's pods have
no request for that resource, so the HPA cannot compute utilization at all
("missing request for cpu") and never scales. kubesteward reads the requests of the
target's live pods (which include LimitRange defaults), or of its pod template when no pod
exists, and stays silent when the HPA reports ScalingActive=True.
""",
    remediation=steps(
        Step(
            "Add requests to every container of the target's pod template",
            "kubectl set resources <target> -n <ns> -c <container> --requests=cpu=100m",
        ),
        Step("Or scale on an AverageValue target (absolute usage) instead of Utilization"),
    ),
)


KS605 = define(
    "KS605",
    "PodDisruptionBudget can never allow a disruption",
    area="disruption",
    severity=Severity.WARNING,
    rank=65,
    explanation="""
The budget requires as many healthy pods as it expects (minAvailable equal to the replica
count or 100%, or maxUnavailable 0), so `disruptionsAllowed` is 0 even when every pod is
healthy. Every voluntary eviction is refused: `kubectl drain`, node upgrades and the
cluster autoscaler's scale-down hang on these pods forever. kubesteward decides from the
PDB's status: desiredHealthy >= expectedPods.
""",
    remediation=steps(
        Step(
            "Allow at least one disruption: `maxUnavailable: 1` (or minAvailable below the replica count), and run "
            "enough replicas for it",
            "kubectl scale <workload> -n <ns> --replicas=<replicas>",
        ),
        Step("See minAvailable/maxUnavailable and status", "kubectl get pdb <name> -n <ns> -o yaml"),
    ),
)


KS606 = define(
    "KS606",
    "PodDisruptionBudget blocks disruptions because pods are unhealthy",
    area="disruption",
    severity=Severity.WARNING,
    rank=65,
    explanation="""
`disruptionsAllowed` is 0 because fewer selected pods are healthy than the budget requires
(currentHealthy < desiredHealthy); with all pods healthy it would allow disruptions. Drains
and evictions of these pods are refused until they recover. This is a symptom of the
unhealthy pods, so the finding points at the workload that owns them. Reported when an
unhealthy pod is clearly failing or has been unready past the grace thresholds.
""",
    remediation=steps(
        Step("Fix the unhealthy pods first (see the workload's findings)"),
        Step("See the budget's status", "kubectl get pdb <name> -n <ns>"),
        Step(
            "If a drain must proceed now, consider `unhealthyPodEvictionPolicy: AlwaysAllow` on the PDB so broken pods "
            "can be evicted"
        ),
    ),
)


KS607 = define(
    "KS607",
    "PodDisruptionBudget selects no pods",
    area="disruption",
    severity=Severity.INFO,
    rank=70,
    explanation="""
No pod in the namespace matches the budget's selector, so it protects nothing: usually a
label typo, or the workload was renamed or removed. A null selector selects nothing in
policy/v1.
""",
    remediation=steps(
        Step("See the budget's selector", "kubectl get pdb <name> -n <ns> -o jsonpath='{.spec.selector}'"),
        Step("Compare it with the pods' labels", "kubectl get pods -n <ns> --show-labels"),
        Step("Fix the selector or delete the PDB"),
    ),
)


KS608 = define(
    "KS608",
    "Pods covered by more than one PodDisruptionBudget",
    area="disruption",
    severity=Severity.WARNING,
    rank=60,
    explanation="""
Some pods are selected by several PodDisruptionBudgets. The eviction API refuses to evict
such pods ("This pod has more than one PodDisruptionBudget, which the eviction subresource
does not support"), so drains fail on them whatever the budgets allow.
""",
    remediation=steps(
        Step("Make the selectors disjoint, or merge the budgets into one", "kubectl get pdb -n <ns> -o wide"),
        Step("Compare them with the pods' labels", "kubectl get pods -n <ns> --show-labels"),
    ),
)
