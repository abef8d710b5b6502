"""Drift and GitOps: namespaces, clusters, and manifests compared with live objects through one normalisation,
and the cluster put back to the manifests (``sync``, self-heal).

The library face (the CLI's ``drift``, ``sync`` and ``watch --drift-from`` are thin layers over it):

>>> async with ClientFactory() as clients:                                         # doctest: +SKIP
...     prod = clients.client("prod")
...     source = DesiredSource(git=GitSpec("/srv/git/shop", "main", "deploy"))
...     plan = await sync(prod, source, app="shop", prune=True, dry_run=True)      # what would change
...     result = await drift(prod, source)                                          # manifests vs live
...     other = await drift_namespaces(prod, "staging", prod, "shop")               # namespace vs namespace
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubesteward.drift.compare import Change
    from kubesteward.drift.desired import drift, drift_desired
    from kubesteward.drift.members import Members, read_members
    from kubesteward.drift.namespaces import DEFAULT_KINDS, DriftResult, ObjectDrift, Side, drift_namespaces
    from kubesteward.drift.normalise import IgnoreRule, parse_ignores
    from kubesteward.drift.ownership import ApplySet
    from kubesteward.drift.reconcile import AuditSink, PruneRefused, SyncAction, SyncResult, sync
    from kubesteward.drift.self_heal import HealTick, Revert, heal_once, self_heal
    from kubesteward.drift.source import DesiredSource, GitSpec

# Each name's module, imported at first use: the CLI imports single modules of this package, and importing
# them all (sync's brings the state store, hence SQLAlchemy) would cost every drift run a quarter second.
_HOMES = {
    "ApplySet": "kubesteward.drift.ownership",
    "AuditSink": "kubesteward.drift.reconcile",
    "Change": "kubesteward.drift.compare",
    "DEFAULT_KINDS": "kubesteward.drift.namespaces",
    "DesiredSource": "kubesteward.drift.source",
    "DriftResult": "kubesteward.drift.namespaces",
    "GitSpec": "kubesteward.drift.source",
    "HealTick": "kubesteward.drift.self_heal",
    "IgnoreRule": "kubesteward.drift.normalise",
    "Members": "kubesteward.drift.members",
    "ObjectDrift": "kubesteward.drift.namespaces",
    "PruneRefused": "kubesteward.drift.reconcile",
    "Revert": "kubesteward.drift.self_heal",
    "Side": "kubesteward.drift.namespaces",
    "SyncAction": "kubesteward.drift.reconcile",
    "SyncResult": "kubesteward.drift.reconcile",
    "drift": "kubesteward.drift.desired",
    "drift_desired": "kubesteward.drift.desired",
    "drift_namespaces": "kubesteward.drift.namespaces",
    "heal_once": "kubesteward.drift.self_heal",
    "parse_ignores": "kubesteward.drift.normalise",
    "read_members": "kubesteward.drift.members",
    "self_heal": "kubesteward.drift.self_heal",
    "sync": "kubesteward.drift.reconcile",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_KINDS", "ApplySet", "AuditSink", "Change", "DesiredSource", "DriftResult", "GitSpec", "HealTick",
    "IgnoreRule", "Members", "ObjectDrift", "PruneRefused", "Revert", "Side", "SyncAction", "SyncResult", "drift",
    "drift_desired", "drift_namespaces", "heal_once", "parse_ignores", "read_members", "self_heal", "sync",
]
