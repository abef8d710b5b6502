"""The codes about kubesteward itself (9xx): no analyzer emits them, ``kubesteward watch`` does.

They live in the catalogue so that ``kubesteward explain KS901`` explains the
alert a receiver got, like any other code."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

KS901 = define(
    "KS901",
    "kubesteward cannot see the cluster",
    area="kubesteward",
    severity=Severity.ERROR,
    rank=1,
    explanation="""
`kubesteward watch` could not follow this context for longer than the alert's threshold
(`--threshold KS901=DURATION`, 60 s by default), so nothing it says about that cluster is
current: its other alerts neither fire nor resolve until it sees the cluster again. The
alert names the context (`kind=Context`) and says why:

- unreachable: connection refused, DNS or TLS failure, timeouts, 5xx answers;
- unauthorized (401): the API server rejects the credentials (expired token, deleted
  ServiceAccount, rotated certificate);
- forbidden (403): the identity may list nothing kubesteward reads, or a watch it had is
  now refused.

It resolves as soon as every watch of the context is answered again. `/readyz` and the
`kubesteward_watch_context_state` metric say the same at once, without the threshold.
""",
    remediation=steps(
        Step(
            "Check the API server and the path to it from where `watch` runs",
            "kubectl --context <name> get --raw /readyz",
        ),
        Step("Check the credentials of the context", "kubectl --context <name> auth whoami"),
        Step("Check what they may read", "kubectl --context <name> auth can-i list pods -A"),
        Step("`watch` keeps retrying on its own (capped exponential backoff): no restart is needed"),
    ),
)
