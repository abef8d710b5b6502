"""``watch --drift-from``: the manifests' desired state as a source of alerts.

Every ``interval`` each watched context is compared with the source (re-opened each time, so a Git
branch's new commits count) through :func:`~kubesteward.drift.desired.drift_desired`, as ``drift -f``
compares it. Each drifted or missing object, and each object the application (``sync``'s ApplySet) still
owns that left the manifests, is one incident (KS902) rooted at that object; the alert
book opens, groups, silences and resolves them as it does the cluster's, in a scope of their own
(``drift``) and under fingerprints of their own, so an object that is both broken and drifted has
two alerts and neither observation clears the other's.

Never a false green: a check that could not run (the source unreadable, API errors) observes nothing,
and an object it could not compare (its kind unreadable, its dry run refused) keeps its alert as it
was; both show in :class:`DriftHealth`. The alerts carry the paths that differ, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from kubesteward.cluster import KubeClient
from kubesteward.drift.desired import drift_desired, error_line
from kubesteward.drift.namespaces import DriftResult, ObjectDrift
from kubesteward.drift.normalise import IgnoreRule
from kubesteward.drift.source import DesiredSource, Opened
from kubesteward.errors import KubestewardError
from kubesteward.findings import finding
from kubesteward.findings.catalogue.kubesteward import KS902
from kubesteward.findings.fingerprint import incident_id
from kubesteward.findings.incidents import Incident
from kubesteward.metrics.exporter import DRIFT_STATES
from kubesteward.model.cluster import ObjectKey

SCOPE = "drift"  # the alert book's scope of these alerts
DEFAULT_INTERVAL = 60.0
SHOWN_PATHS = 5  # paths named in an alert's message; the evidence holds them all

# DriftHealth states: not checked yet, compared everything, compared part (RBAC, refused dry runs), failed.
PENDING, OK, PARTIAL, FAILED = DRIFT_STATES


@dataclass(frozen=True)
class DriftSettings:
    source: DesiredSource
    interval: float = DEFAULT_INTERVAL
    ignore: tuple[IgnoreRule, ...] = ()
    app: str | None = None  # sync's application: its members that left the manifests are drift too


@dataclass(frozen=True)
class DriftHealth:
    """The last drift check of one context: its state, why it is not ``ok``, what it compared."""

    state: str = PENDING
    reason: str = ""
    revision: str | None = None  # the Git commit compared (None for files)
    compared: int = 0
    drifted: int = 0  # drifted, missing or extra objects
    exit_code: int = 0  # a failed check's error's (errors.py), for watch --once

    @property
    def failed(self) -> bool:
        return self.state == FAILED


@dataclass(frozen=True)
class DriftCheck:
    """One check of one context: the incidents to observe, the fingerprints it could not re-check."""

    context: str
    health: DriftHealth
    incidents: list[Incident] = field(default_factory=list)
    held: frozenset[str] = frozenset()
    listed: frozenset[str] = frozenset()  # the fingerprints of every object the result holds, whatever its status
    covered: bool = True  # every kind (the application's members included) could be read

    @property
    def observed(self) -> bool:
        """Whether it may change alerts at all (a failed check knows nothing about any object)."""
        return not self.health.failed

    def holding(self, active: Iterable[str]) -> frozenset[str]:
        """Of the ``active`` drift alerts, those this check must leave as they are: the objects it could not
        compare and, when it could not read everything, those it did not list (an owned object out of the
        manifests may be among what it could not read: its absence proves nothing)."""
        if self.covered:
            return self.held
        return self.held | frozenset(fp for fp in active if fp not in self.listed)


def drift_fingerprint(context: str, obj: ObjectDrift) -> str:
    """The alert fingerprint of ``obj``'s drift: never that of the same object's cluster incident."""
    return incident_id(context, _root(obj), f"{SCOPE}:{obj.group}")


def drift_check(context: str, result: DriftResult, opened: Opened) -> DriftCheck:
    """The incidents of one comparison (pure): one per drifted, missing or extra object; objects that could
    not be compared are held, and make the check partial."""
    incidents: list[Incident] = []
    held: set[str] = set()
    errors: list[ObjectDrift] = []
    for obj in result.objects:
        if obj.status in ("drifted", "missing", "extra"):
            incidents.append(_incident(context, obj, opened))
        elif obj.status == "error":
            errors.append(obj)
            held.add(drift_fingerprint(context, obj))
    gaps = [] if result.right.coverage.complete else [f"not covered: {result.right.coverage.summary()}"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        gaps.append(f"{len(errors)} not compared: {first.ref}: {first.reason}{more}")
    health = DriftHealth(PARTIAL if gaps else OK, "; ".join(gaps), opened.revision,
                         len(result.objects) - len(errors), len(incidents))
    listed = frozenset(drift_fingerprint(context, obj) for obj in result.objects)
    return DriftCheck(context, health, incidents, frozenset(held), listed, result.right.coverage.complete)


async def check_context(client: KubeClient, settings: DriftSettings, namespace: str | None) -> DriftCheck:
    """Open the source anew and compare it with one context; a failure is the check's health, not raised."""
    try:
        async with settings.source.reading() as opened:
            result = await drift_desired(client, opened.paths, settings.source.render, namespace=namespace,
                                         ignore=settings.ignore, label=opened.label, app=settings.app)
    except KubestewardError as exc:
        return DriftCheck(client.context, DriftHealth(FAILED, error_line(exc), exit_code=exc.exit_code))
    return drift_check(client.context, result, opened)


def _root(obj: ObjectDrift) -> ObjectKey:
    return ObjectKey(obj.kind, obj.namespace, obj.name)


def _incident(context: str, obj: ObjectDrift, opened: Opened) -> Incident:
    root = _root(obj)
    if obj.status == "missing":
        message = f"missing from the cluster ({obj.reason})" if obj.reason else "missing from the cluster"
    elif obj.status == "extra":
        message = f"still in the cluster: {obj.reason} (sync --prune deletes it)"
    else:
        # Paths only: a value (a Secret's digest included) never leaves in an alert.
        described = [f"{change.path} {change.kind}" for change in obj.changes]
        shown = ", ".join(described[:SHOWN_PATHS])
        more = f" and {len(described) - SHOWN_PATHS} more" if len(described) > SHOWN_PATHS else ""
        message = f"differs from {opened.label}: {shown}{more}"
    evidence = {
        "changes": [change.path for change in obj.changes],
        "source": opened.label,
        "revision": opened.revision or "",
        "group": obj.group,
    }
    single = opened.revision is None and len(opened.paths) == 1
    cause = finding(KS902, root, message, evidence=evidence, fill={"file": str(opened.paths[0])} if single else None)
    return Incident(id=drift_fingerprint(context, obj), severity=cause.severity, root=root,
                    title=f"{obj.ref} drifted from its manifests", cause=cause)

