"""The policy codes of API versions (KS860–KS879): deprecated and removed apiVersions for a target Kubernetes version; policy machinery (KS890–KS899)."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

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
