"""``sync --self-heal``: keep putting the cluster back in the state the manifests describe.

>>> stop = asyncio.Event()                                                            # doctest: +SKIP
>>> await self_heal(client, DesiredSource(paths=(Path("deploy/"),)), app="shop", interval=60, stop=stop,
...                 audit=store, on_tick=print)

Every ``interval`` the source is opened anew (a Git branch's new commits are what is healed to), compared with
the cluster as ``drift -f`` compares it (:func:`~kubesteward.drift.desired.drift_desired`) and, when an
object drifted or is missing (or, with ``prune``, an owned object left the manifests), synced again
(:func:`~kubesteward.drift.reconcile.sync`) with ``force_conflicts``: taking back the fields the manifests set
from whoever changed them (``kubectl edit`` is a field manager of its own) is self-heal's whole point. A
tick that drifted and found nothing to sync does nothing and records nothing.

Each revert is an audit entry with the action ``self-heal`` (its detail: what the sync did to the object).
A tick that fails (the source unreadable, API errors, an object that could not be reverted) is retried with
exponential backoff from ``interval``, capped at ten intervals, and back to ``interval`` after a tick that
succeeds. Workloads are not waited for: a revert is the manifests' fields written back, their rollout is the
watch's to follow, and one slow rollout must not hold back every other revert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from kubesteward.cluster import KubeClient
from kubesteward.drift.desired import drift, error_line
from kubesteward.drift.namespaces import ObjectDrift
from kubesteward.drift.normalise import IgnoreRule
from kubesteward.drift.reconcile import DEFAULT_MAX_PRUNE, AuditSink, SyncAction, SyncResult, audit_entries, sync
from kubesteward.drift.source import DesiredSource
from kubesteward.durations import sleep_unless
from kubesteward.errors import KubestewardError

ACTION = "self-heal"  # the audit trail's action of a revert
BACKOFF_CAP = 10.0  # intervals: the longest pause after failures


def next_delay(interval: float, failures: int) -> float:
    """The pause before the next tick: ``interval``, doubled per consecutive failure, at most ten intervals."""
    return min(interval * 2.0 ** max(0, failures), BACKOFF_CAP * interval)


@dataclass(frozen=True)
class Revert:
    """One object self-heal put back (or tried to): what drift found, what the sync did."""

    ref: str  # Kind[.group]/namespace/name
    status: str  # drift's: drifted | missing | extra
    fields: tuple[str, ...]  # the paths that differed (drifted), never a value
    action: SyncAction | None  # the sync's action on it; None when the sync did not touch it

    @property
    def done(self) -> bool:
        return self.action is not None and self.action.verb in ("create", "update", "prune")

    def describe(self) -> str:
        """One line: ``ConfigMap/shop/settings: /data/color`` (or what was not done, and why)."""
        what = ", ".join(self.fields) if self.fields else {"missing": "re-created", "extra": "pruned"}.get(
            self.status, self.status)
        if self.done:
            return f"{self.ref}: {what}"
        why = f"{self.action.verb}: {self.action.detail}" if self.action is not None else "the sync changed nothing"
        return f"{self.ref}: {what} not reverted ({why})"


@dataclass(frozen=True)
class HealTick:
    """One tick: when, which revision, what was reverted, or why it failed."""

    at: dt.datetime
    source: str
    revision: str | None
    reverts: tuple[Revert, ...] = ()
    result: SyncResult | None = None  # the sync, when something had drifted
    error: str = ""  # a tick that could not run: one line
    next_in: float = 0.0  # seconds until the next tick (the loop's backoff; 0 for a tick run alone)

    @property
    def failed(self) -> bool:
        return bool(self.error) or any(not revert.done for revert in self.reverts) or (
            self.result is not None and not self.result.ok)


async def heal_once(
    client: KubeClient, source: DesiredSource, *, app: str, namespace: str | None = None, prune: bool = False,
    ignore: Sequence[IgnoreRule] = (), audit: AuditSink | None = None, adopt: bool = False,
    max_prune: int | None = DEFAULT_MAX_PRUNE,
) -> HealTick:
    """Compare once and, when anything drifted, sync once (fields forced; objects of another app's set moved
    only with ``adopt``, else each is a conflict: two self-healing apps must not take one object in turns);
    a failure is the tick's ``error``."""
    now = dt.datetime.now(dt.UTC)
    label, revision = source.label, None
    try:
        found = await drift(client, source, namespace=namespace, ignore=ignore, app=app if prune else None)
        label, revision = found.left.label, found.revision
        drifted = [obj for obj in found.objects if obj.status in ("drifted", "missing", "extra")]
        if not drifted:
            return HealTick(now, label, revision)
        result = await sync(client, source, app=app, namespace=namespace, prune=prune, force_conflicts=True,
                            wait=False, adopt=adopt, max_prune=max_prune)
    except KubestewardError as exc:
        return HealTick(now, label, revision, error=error_line(exc))
    reverts = tuple(_revert(obj, result.actions) for obj in drifted)
    if audit is not None:
        touched = replace(result, actions=tuple(a for a in result.actions if a.verb != "unchanged"))
        audit.record_audit(await audit_entries(client, touched, action=ACTION))
    return HealTick(now, result.source, result.revision, reverts, result)


async def self_heal(
    client: KubeClient, source: DesiredSource, *, app: str, interval: float, stop: asyncio.Event,
    namespace: str | None = None, prune: bool = False, ignore: Sequence[IgnoreRule] = (),
    audit: AuditSink | None = None, on_tick: Callable[[HealTick], None] | None = None, adopt: bool = False,
    max_prune: int | None = DEFAULT_MAX_PRUNE,
) -> None:
    """Heal every ``interval`` (backing off after failures) until ``stop`` is set; the first tick after one
    interval (the caller has just synced)."""
    if interval <= 0:
        raise ValueError(f"interval must be positive, not {interval}")
    failures = 0
    while not await sleep_unless(stop, next_delay(interval, failures)):
        tick = await heal_once(client, source, app=app, namespace=namespace, prune=prune, ignore=ignore, audit=audit,
                               adopt=adopt, max_prune=max_prune)
        failures = failures + 1 if tick.failed else 0
        if on_tick is not None:
            on_tick(replace(tick, next_in=next_delay(interval, failures)))


def _revert(obj: ObjectDrift, actions: Sequence[SyncAction]) -> Revert:
    action = next((a for a in actions if (a.kind, a.group, a.namespace, a.name)
                   == (obj.kind, obj.group, obj.namespace, obj.name)), None)
    return Revert(obj.ref, obj.status, tuple(change.path for change in obj.changes), action)

