"""The policy codes of RBAC (KS820–KS839): over-broad and dangling permissions."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

# Roles and bindings Kubernetes itself creates (label kubernetes.io/bootstrapping=rbac-defaults), and
# roles in the exempt namespaces, are not judged: nobody can act on such a finding.

KS820 = define(
    "KS820",
    "RBAC rule with a wildcard",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
A rule of the Role or ClusterRole grants `*` in its verbs, resources or apiGroups. A wildcard grants
everything that exists now and everything added later: a new CRD, a new subresource (`pods/exec` is a
subresource of `*`), a new verb such as `escalate`. Least privilege names what is needed. Aggregated
ClusterRoles are judged at their sources, whose rules they copy.
""",
    remediation=steps(
        Step("List what the subjects bound to it actually do, from the API server's audit log, and grant only that",
             "kubesteward rbac minimize --audit-log <file> --user <user>"),
        Step("Replace each `*` with the verbs, resources and API groups named explicitly"),
    ),
)

KS821 = define(
    "KS821",
    "Binding to cluster-admin",
    area="policy",
    severity=Severity.ERROR,
    explanation="""
The binding gives its subjects the ClusterRole `cluster-admin`: every verb on every resource (through a
ClusterRoleBinding, in every namespace and on the cluster itself; through a RoleBinding, everything in
that namespace, its Roles and RoleBindings included). A compromised workload or token bound to it owns the
cluster. Kubernetes' own binding (group `system:masters`) is not reported.
""",
    remediation=steps(
        Step("Bind a role that grants what the subjects need: `admin`, `edit` or `view` in a namespace, or a "
             "role written from what they do", "kubesteward rbac minimize --audit-log <file> --user <user>"),
        Step("Check who holds cluster-admin today", "kubesteward rbac who-can '*' '*'"),
    ),
)

KS822 = define(
    "KS822",
    "Role can read every Secret",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The role grants `get`, `list` or `watch` on Secrets without naming which (`resourceNames`). `list` and
`watch` return the Secrets' values too, not only their names: whoever holds the role reads every
password, token and key where it is bound (a ClusterRole through a ClusterRoleBinding: in every
namespace, ServiceAccount tokens included). A rule limited to named Secrets is the least-privilege form
and is not reported.
""",
    remediation=steps(
        Step("Limit the rule to the Secrets needed with `resourceNames` (only `get` can be limited so; "
             "`list` and `watch` cannot)"),
        Step("See who can read Secrets now", "kubesteward rbac who-can list secrets -n <namespace>"),
    ),
)

KS823 = define(
    "KS823",
    "Role can exec into pods",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The role grants `create` on `pods/exec`: a shell in any container where it is bound, with that
container's ServiceAccount token, mounted Secrets and network reach. Kubernetes releases before 1.35
authorised an exec over WebSocket with `get` on `pods/exec` too, so for an earlier target version
(policy setting `targetVersion`) `get` is reported as well.
""",
    remediation=steps(
        Step("Grant exec only to the people who debug, in the namespaces they own, bound for the time needed"),
        Step("See who can exec now", "kubesteward rbac who-can create pods/exec -n <namespace>"),
    ),
)

KS824 = define(
    "KS824",
    "Role can escalate, bind or impersonate",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The role grants a verb that steps around RBAC itself: `escalate` on Roles or ClusterRoles (write a role
with more rights than its author holds), `bind` on them (bind any role, cluster-admin included, to
anyone), or `impersonate` on users, groups, ServiceAccounts or UIDs (act as someone else, system:masters
included). Each of them is as good as cluster-admin. Rules limited to named roles or identities
(`resourceNames`) are the least-privilege form and are not reported.
""",
    remediation=steps(
        Step("Remove the verb, or limit it with `resourceNames` to the roles a controller must bind or the "
             "identities it must act as"),
        Step("See who holds it now", "kubesteward rbac who-can bind clusterroles.rbac.authorization.k8s.io"),
    ),
)

KS825 = define(
    "KS825",
    "Binding to a role that does not exist",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The binding refers to a Role (in its own namespace) or ClusterRole that is not there, so it grants
nothing today; whoever later creates a role of that name grants its subjects every rule in it at once,
with no binding to review. A ClusterRoleBinding cannot refer to a Role at all. On files, the ClusterRoles
Kubernetes makes (`cluster-admin`, `admin`, `edit`, `view`, `system:*`) count as present; anything else
must be in the same set.
""",
    remediation=steps(
        Step("Create the role the binding names, or delete the binding"),
        Step("Check the role's name and kind in `roleRef` (it cannot be changed: delete and recreate the binding)"),
    ),
)

KS826 = define(
    "KS826",
    "Role bound by nobody",
    area="policy",
    severity=Severity.INFO,
    explanation="""
No RoleBinding or ClusterRoleBinding refers to the role, and no bound aggregated ClusterRole takes its
rules: it grants nothing. It is either left over, or waiting for a binding that would grant what it holds
without anyone reviewing the role again. ClusterRoles labelled to aggregate into others
(`rbac.authorization.k8s.io/aggregate-to-*`) are in use through them and are not reported.
""",
    remediation=steps(
        Step("Delete the role if nothing needs it, or bind it where it was meant to be used"),
    ),
)

KS827 = define(
    "KS827",
    "Binding names a ServiceAccount that does not exist",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
A subject of the binding is a ServiceAccount that does not exist in its namespace: the binding grants it
nothing today, and whoever can create ServiceAccounts there gets the role's rights by creating one of
that name. On files, a namespace is judged only when the set holds ServiceAccounts of it.
""",
    remediation=steps(
        Step("Remove the subject from the binding, or create the ServiceAccount it was meant for"),
    ),
)
