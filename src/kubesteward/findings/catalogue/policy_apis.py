"""The policy codes of API versions (KS860–KS879): deprecated and removed apiVersions for a target Kubernetes version; policy machinery (KS890–KS899)."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

# -- API versions (KS860–KS879) -------------------------------------------------------------------

KS860 = define(
    "KS860",
    "apiVersion no longer served by the target Kubernetes version",
    area="policy",
    severity=Severity.ERROR,
    explanation="""
The object is written in an apiVersion the target Kubernetes version (policy setting `targetVersion`,
`--target-version`) no longer serves: applying it fails with "no matches for kind", and a Helm upgrade
or a GitOps sync stops there. Objects already stored are not lost (the API server serves them in the
newer version), but the manifest can no longer be applied. The finding names the version that replaces
it; the table follows Kubernetes' Deprecated API Migration Guide.
""",
    remediation=steps(
        Step("Rewrite the manifest in the replacement apiVersion the finding names, minding the field changes "
             "the migration guide lists (e.g. an Ingress backend's `serviceName` became `service.name`)"),
        Step("Or convert the file mechanically with the kubectl-convert plugin (`--output-version` the replacement), "
             "then review the result"),
    ),
)

KS861 = define(
    "KS861",
    "apiVersion deprecated in the target Kubernetes version",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
The object is written in an apiVersion that the target Kubernetes version still serves but has
deprecated: the API server answers with a warning, and a later release (named in the finding, when one
is scheduled) stops serving it. Moving now costs a line; moving during an upgrade costs an outage.
""",
    remediation=steps(
        Step("Rewrite the manifest in the replacement apiVersion the finding names"),
        Step("Find every use in a live cluster: the API server counts them",
             "kubectl get --raw /metrics | grep apiserver_requested_deprecated_apis"),
    ),
)


# -- the policy machinery itself (KS890–KS899) ---------------------------------------------------

KS890 = define(
    "KS890",
    "Suppression annotation without a reason",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
An object carries `ignore.kubesteward.io/<CODE>` with an empty value. A suppression must say why the
rule does not apply, so that the next reader can judge whether it still holds; without a reason it
suppresses nothing, and the finding it meant to accept is reported as usual.
""",
    remediation=steps(
        Step("Give the annotation the reason as its value, e.g. `ignore.kubesteward.io/KS722: \"needs NET_ADMIN "
             "to program iptables\"`, or remove it"),
    ),
)

KS891 = define(
    "KS891",
    "Suppression annotation for an unknown code",
    area="policy",
    severity=Severity.WARNING,
    explanation="""
An object carries `ignore.kubesteward.io/<CODE>` for a code no rule has (a typo, or a code from another
tool). It suppresses nothing; a misspelt suppression would otherwise hide nothing in silence while its
author believes the finding accepted.
""",
    remediation=steps(
        Step("Correct the code (`kubesteward explain` lists them) or remove the annotation"),
    ),
)
