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

KS902 = define(
    "KS902",
    "Live object drifted from its manifests",
    area="kubesteward",
    severity=Severity.WARNING,
    rank=2,
    explanation="""
`kubesteward watch --drift-from PATH` (or `--drift-git REPO`) compares the objects of those
manifests with the live cluster every `--drift-interval` (1 m by default), as `kubesteward drift -f`
does: through a server-side dry-run apply, on the fields the manifests set only. This object differs
from its manifests (the alert's description lists the paths that changed; a Secret's values are
never shown, only that they changed), or the manifests name it and the cluster lacks it, or
`kubesteward sync` applied it as part of the application and the manifests no longer hold it
(`sync --prune` would delete it). Usual causes: a hot-fix made with `kubectl edit`, `kubectl scale`
or `kubectl set image` that nobody committed, another tool writing the same fields, a deletion by
hand, a manifest removed without a prune.

It resolves when the object matches its manifests again, or when it leaves them. A drift check that
could not run (the manifests unreadable, API errors) or could not read this object neither raises
nor resolves it: it stays as it was until the object is compared again.
""",
    remediation=steps(
        Step("See which fields differ from the manifests", "kubesteward drift -f <file>"),
        Step("Wanted: commit the change to the manifests; the alert resolves once the cluster matches them"),
        Step("Not wanted: put the manifests' fields back", "kubesteward sync -f <file>"),
        Step("Let kubesteward revert such changes by itself", "kubesteward sync -f <file> --self-heal --interval 1m"),
    ),
)
