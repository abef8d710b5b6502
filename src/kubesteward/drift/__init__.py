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

from kubesteward.drift.compare import Change
from kubesteward.drift.desired import drift, drift_desired
from kubesteward.drift.members import Members, read_members
from kubesteward.drift.namespaces import DEFAULT_KINDS, DriftResult, ObjectDrift, Side, drift_namespaces
from kubesteward.drift.normalise import IgnoreRule, parse_ignores
from kubesteward.drift.ownership import ApplySet
from kubesteward.drift.reconcile import AuditSink, PruneRefused, SyncAction, SyncResult, sync
from kubesteward.drift.self_heal import HealTick, Revert, heal_once, self_heal
from kubesteward.drift.source import DesiredSource, GitSpec

__all__ = [
    "DEFAULT_KINDS", "ApplySet", "AuditSink", "Change", "DesiredSource", "DriftResult", "GitSpec", "HealTick",
    "IgnoreRule", "Members", "ObjectDrift", "PruneRefused", "Revert", "Side", "SyncAction", "SyncResult", "drift",
    "drift_desired", "drift_namespaces", "heal_once", "parse_ignores", "read_members", "self_heal", "sync",
]
