"""The policy codes of NetworkPolicy (KS840–KS859): pods no policy selects, policies selecting nothing."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

KS840 = define(
    "KS840",
    "No NetworkPolicy isolates these pods for ingress",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
No NetworkPolicy of the workload's namespace that applies to Ingress selects its pods, so every pod of the
cluster (and anything routed into it) can connect to them on every port. Kubernetes semantics, exactly: an
empty `podSelector` selects every pod of the namespace (a namespace-wide default deny covers them); a
policy whose `policyTypes` lists only Egress does not isolate ingress; without `policyTypes` a policy
isolates Ingress always. Pod templates of any kind count, CRD workloads such as Argo Rollouts included.
""",
    remediation=steps(
        Step("Give the namespace a default deny, then allow what the workload needs: `kind: NetworkPolicy`, "
             "`spec: {podSelector: {}, policyTypes: [Ingress]}` in <ns>"),
        Step("Then a policy selecting these pods that allows their clients (`ingress: [{from: [...], ports: [...]}]`)"),
    ),
)

KS841 = define(
    "KS841",
    "No NetworkPolicy isolates these pods for egress",
    area="policy",
    severity=Severity.INFO,
    explanation="""
No NetworkPolicy of the workload's namespace that applies to Egress selects its pods, so they may connect
anywhere (other namespaces, the cloud metadata endpoint, the internet). A policy isolates Egress when its
`policyTypes` says so, or, without `policyTypes`, when it has egress rules. Optional: turn it on where
egress is controlled.
""",
    remediation=steps(
        Step("Add a default deny for egress in <ns> (`podSelector: {}`, `policyTypes: [Egress]`) and allow DNS and "
             "what the workload calls"),
    ),
)

KS842 = define(
    "KS842",
    "NetworkPolicy selects no pod template",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The policy's `podSelector` matches the labels of no pod template in its namespace (a typo, or a renamed
workload), so it isolates nothing and its rules allow nothing to anyone. A policy with an empty
`podSelector` selects every pod of its namespace and is never reported.
""",
    remediation=steps(
        Step("Make `spec.podSelector` match the workload's pod template labels, or delete the policy"),
        Step("Compare with the labels the pods carry", "kubectl get pods -n <ns> --show-labels"),
    ),
)

KS843 = define(
    "KS843",
    "NetworkPolicy allows ingress from everywhere",
    area="policy",
    severity=Severity.INFO,
    explanation="""
An ingress rule of the policy lets in every source: it has no `from` (or an empty one), or a peer that is
`namespaceSelector: {}` without a narrowing `podSelector` (every pod of every namespace), or an `ipBlock`
of `0.0.0.0/0` or `::/0` without exceptions. On the rule's ports the selected pods are then not isolated
at all. That is right for a public entry point, and worth knowing everywhere else. A default deny (no
rules) allows nothing and is never reported; `namespaceSelector` and `podSelector` in one peer select
pods with those labels in those namespaces (an intersection), and are not "everywhere".
""",
    remediation=steps(
        Step("Name the clients: a `podSelector` for pods of the namespace, or `namespaceSelector` *and* "
             "`podSelector` in one peer for pods of other namespaces"),
    ),
)

KS844 = define(
    "KS844",
    "NetworkPolicy peer selects no pod",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
A `from`/`to` peer of the policy selects no pod template of the set, so the rule allows traffic from (or
to) nobody: usually a label typo, or `namespaceSelector` and `podSelector` written in one peer (pods
with those labels in those namespaces) where two peers (either) were meant, or the reverse. Namespaces
are matched by their labels; every namespace carries `kubernetes.io/metadata.name`. On files, a peer
whose namespaces may hold pods outside the set (selected by labels other than the name) is not judged.
""",
    remediation=steps(
        Step("Make the peer's selectors match the client pods' labels and their namespace's labels"),
        Step("Read the namespace labels", "kubectl get namespaces --show-labels"),
    ),
)

KS845 = define(
    "KS845",
    "Egress-isolated pods cannot resolve names",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
A NetworkPolicy isolates these pods for egress, and no egress rule of the policies selecting them allows
port 53/UDP (DNS) anywhere: every name lookup times out, and the pods fail in ways that look like
network outages. A rule without ports allows every port; a named port `dns` counts.
""",
    remediation=steps(
        Step("Add an egress rule allowing DNS to the cluster's resolver: `to: [{namespaceSelector: {matchLabels: "
             "{kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]`, "
             "`ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]`"),
    ),
)
