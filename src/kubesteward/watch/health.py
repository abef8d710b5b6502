"""What kubesteward can see of one watched context: its readiness state, and why.

A context is ``synced`` only while its initial LIST is done and every watch
is answered by the API server. Otherwise it is, from the worst cause down:

- ``unauthorized``: the API server rejects the credentials (401);
- ``forbidden``: the identity may list nothing at all, or a watch it had is
  now refused (403);
- ``unreachable``: no usable answer (connection refused, timeout, 5xx);
- ``syncing``: the first LIST has not finished yet.

A context that may list only some kinds stays ``synced``: what it could not
list is reported (:func:`describe_skipped`), as ``diagnose`` reports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kubesteward.checks.engine import SkippedCheck
from kubesteward.errors import ClusterError, Forbidden, Unauthorized
from kubesteward.findings import finding
from kubesteward.findings.catalogue.kubesteward import KS901
from kubesteward.findings.fingerprint import incident_id
from kubesteward.findings.incidents import Incident
from kubesteward.model.cluster import ObjectKey, Skipped
from kubesteward.watch.informer import Informer

SYNCED = "synced"
SYNCING = "syncing"
UNAUTHORIZED = "unauthorized"
FORBIDDEN = "forbidden"
UNREACHABLE = "unreachable"
STATES = (SYNCED, SYNCING, UNAUTHORIZED, FORBIDDEN, UNREACHABLE)
# The states in which kubesteward cannot see the cluster: the watchdog alert's.
BLIND = (UNAUTHORIZED, FORBIDDEN, UNREACHABLE)


@dataclass(frozen=True)
class Health:
    state: str
    reason: str = ""

    @property
    def synced(self) -> bool:
        return self.state == SYNCED

    @property
    def blind(self) -> bool:
        return self.state in BLIND


def state_of(error: ClusterError) -> str:
    if isinstance(error, Unauthorized):
        return UNAUTHORIZED
    if isinstance(error, Forbidden):
        return FORBIDDEN
    return UNREACHABLE


def informer_health(informers: Sequence[Informer]) -> Health:
    """Synced when no watch is failing; else the worst failure, naming its watch."""
    failing = [(BLIND.index(state_of(i.error)), i.name, i.error) for i in informers if i.error is not None]
    if not failing:
        return Health(SYNCED)
    _rank, name, error = min(failing, key=lambda f: (f[0], f[1]))
    more = f" (and {len(failing) - 1} more watches)" if len(failing) > 1 else ""
    return Health(state_of(error), f"watch of {name}: {error}{more}")


def describe_skipped(kinds: Iterable[Skipped], checks: Iterable[SkippedCheck]) -> list[str]:
    """The lines ``diagnose`` prints for what RBAC (or a missing API) kept out of the model."""
    lines = [f"skipped {s.kind}: {s.reason}" for s in kinds]
    checks = list(checks)
    if checks:
        missing = sorted({k for s in checks for k in s.missing})
        codes = sorted({c for s in checks for c in s.codes})
        lines.append(f"skipped checks {', '.join(codes)} (they need {', '.join(missing)}, which could not be loaded)")
    return lines


def watchdog_incident(context: str, health: Health) -> Incident:
    """The incident behind the watchdog alert of a context kubesteward cannot see (KS901).

    Its root is the context itself (``kind=Context``), so the alert has one
    fingerprint per context whatever the reason, which goes in its message.
    """
    root = ObjectKey("Context", "", context)
    cause = finding(KS901, root, f"{health.state}: {health.reason}")
    return Incident(id=incident_id(context, root), severity=cause.severity, root=root,
                    title=f"kubesteward cannot see context {context} ({health.state})", cause=cause)
