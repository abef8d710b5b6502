"""``drift --namespaces``'s library face: two namespaces (of one cluster or two) compared object by object.

>>> async with ClientFactory() as clients:                       # doctest: +SKIP
...     result = await drift_namespaces(clients.client(), "staging", clients.client(), "prod")
...     for obj in result.drifted_objects:
...         print(obj.ref, obj.status, [change.describe() for change in obj.changes])

One paged LIST per kind and side (:func:`~kubesteward.model.full.load_full`, Secrets arriving as digests),
both sides read concurrently. Same-named objects (after ``name_map``) are normalised
(:mod:`kubesteward.drift.normalise`) and compared field by field; objects a controller made, ServiceAccount
tokens and the root-CA ConfigMap are left out. A workload an HPA scales (on either side) is compared
without its replicas. What a side could not list (RBAC) is its :class:`~kubesteward.model.coverage.Coverage`;
a side that could read nothing is refused (:class:`~kubesteward.errors.Forbidden`), never reported in sync.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kubesteward.cluster import KubeClient
from kubesteward.drift.compare import Change, compare, unified_diff
from kubesteward.drift.normalise import IgnoreRule, excluded, normalise
from kubesteward.model import objects as o
from kubesteward.model.coverage import Coverage, coverage_from, require_read
from kubesteward.model.full import FullObjects, KindRef, load_full
from kubesteward.model.scope import require_namespace_exists
from kubesteward.model.semantics.autoscaling import scales

DEFAULT_KINDS: tuple[str, ...] = (
    "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Service", "Ingress", "ConfigMap", "Secret",
    "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount", "Role", "RoleBinding",
)
# ``missing``: on the left only (the reference) and absent from the right; ``extra``: on the right only;
# ``error``: the object could not be compared (manifests vs live: the API server refused its dry run).
Status = Literal["in-sync", "drifted", "missing", "extra", "error"]
_REPLICAS = IgnoreRule(path=("spec", "replicas"), text="/spec/replicas (an HPA scales it)")


@dataclass(frozen=True)
class ObjectDrift:
    """One object's comparison. ``left``/``right``: the normalised sides (None where it is absent), the
    diff's source; Secret values in them are digests."""

    kind: str
    group: str
    name: str  # the left side's name (the right's when only there)
    right_name: str  # differs from ``name`` when ``name_map`` mapped it
    status: Status
    changes: tuple[Change, ...] = ()
    left: Mapping[str, Any] | None = None
    right: Mapping[str, Any] | None = None
    namespace: str = ""  # manifests vs live, where objects span namespaces; "" in the namespace modes
    reason: str = ""  # why missing or in error, when there is more to say

    @property
    def ref(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{kind}/{name}" if self.name == self.right_name else f"{kind}/{name}={self.right_name}"

    def diff(self, left_label: str, right_label: str) -> list[str]:
        """The unified diff of the two sides' YAML (lines without newlines)."""
        return unified_diff(self.left, self.right, f"{left_label}/{self.ref}", f"{right_label}/{self.ref}")

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "group": self.group, "name": self.name, "status": self.status}
        if self.namespace:
            out["namespace"] = self.namespace
        if self.right_name != self.name:
            out["rightName"] = self.right_name
        if self.reason:
            out["reason"] = self.reason
        if self.changes:
            out["changes"] = [change.document() for change in self.changes]
        return out


@dataclass(frozen=True)
class Side:
    """What one side was: where it was read, what it covered, how many objects it held."""

    context: str
    namespace: str
    coverage: Coverage
    objects_read: int
    source: str = ""  # manifests vs live: the manifests' side names its files or Git commit here

    @property
    def label(self) -> str:
        return self.source or "/".join(part for part in (self.context, self.namespace) if part)

    def document(self) -> dict[str, Any]:
        out = {"context": self.context, "namespace": self.namespace, "objectsRead": self.objects_read,
               "coverage": self.coverage.document()}
        return {"source": self.source, **out} if self.source else out


@dataclass(frozen=True)
class DriftResult:
    """Two sides compared: every object once, in kind and name order."""

    left: Side
    right: Side
    objects: tuple[ObjectDrift, ...]
    kinds: tuple[str, ...]
    revision: str | None = None  # manifests vs live from Git: the commit compared

    @property
    def drifted_objects(self) -> list[ObjectDrift]:
        return [obj for obj in self.objects if obj.status != "in-sync"]

    @property
    def in_sync(self) -> bool:
        return not self.drifted_objects

    @property
    def complete(self) -> bool:
        return self.left.coverage.complete and self.right.coverage.complete

    def counts(self) -> dict[str, int]:
        counts = {"in-sync": 0, "drifted": 0, "missing": 0, "extra": 0, "error": 0}
        for obj in self.objects:
            counts[obj.status] += 1
        return counts

    def document(self) -> dict[str, Any]:
        out = {
            "left": self.left.document(), "right": self.right.document(), "kinds": list(self.kinds),
            "inSync": self.in_sync, "counts": self.counts(), "objects": [obj.document() for obj in self.objects],
        }
        return {**out, "revision": self.revision} if self.revision else out


async def drift_namespaces(
    left: KubeClient,
    left_ns: str,
    right: KubeClient,
    right_ns: str,
    kinds: Sequence[KindRef] = DEFAULT_KINDS,
    ignore: Sequence[IgnoreRule] = (),
    name_map: Mapping[str, str] | None = None,
) -> DriftResult:
    """Compare namespace ``left_ns`` (read with ``left``) with ``right_ns`` (read with ``right``; the same
    client for two namespaces of one cluster, another for the same namespace in two clusters)."""
    (left_store, left_side), (right_store, right_side) = await asyncio.gather(
        _read(left, left_ns, kinds), _read(right, right_ns, kinds),
    )
    objects = compare_stores(left_store, right_store, ignore, name_map or {})
    listed = sorted({f"{gk.group}/{gk.kind}" if gk.group else gk.kind for gk in left_store.loaded | right_store.loaded})
    return DriftResult(left=left_side, right=right_side, objects=tuple(objects), kinds=tuple(listed))


async def _read(client: KubeClient, namespace: str, kinds: Sequence[KindRef]) -> tuple[FullObjects, Side]:
    await require_namespace_exists(client, namespace, None)
    store = await load_full(client, kinds, namespace=namespace)
    loaded = {group_kind.kind for group_kind in store.loaded}
    require_read(store.skipped, loaded, namespace, client.context)
    coverage = coverage_from(store.skipped, loaded, namespace)
    return store, Side(context=client.context, namespace=namespace, coverage=coverage, objects_read=len(store))


def compare_stores(
    left: FullObjects, right: FullObjects, ignore: Sequence[IgnoreRule] = (), name_map: Mapping[str, str] | None = None,
) -> list[ObjectDrift]:
    """Every object of two loads (one namespace each) compared, in kind and name order (pure: the
    namespace and cluster modes' core, and the benchmark's). An object of a kind the other side could
    not read is left out: its absence there is a gap in that side's coverage, not drift."""
    mapping = dict(name_map or {})
    left_objects = _by_key(left, _unread(right))
    right_objects = _by_key(right, _unread(left))
    left_hpas, right_hpas = _hpas(left), _hpas(right)
    out: list[ObjectDrift] = []
    matched: set[tuple[str, str, str]] = set()
    for (group, kind, name), manifest in sorted(left_objects.items()):
        right_name = mapping.get(name, name)
        other = right_objects.get((group, kind, right_name))
        if other is None:
            out.append(ObjectDrift(kind, group, name, right_name, "missing", left=normalise(manifest, ignore)))
            continue
        matched.add((group, kind, right_name))
        scaled = _scaled(manifest, left_hpas) or _scaled(other, right_hpas)
        rules = [*ignore, _REPLICAS] if scaled else ignore
        old, new = normalise(manifest, rules), normalise(other, rules)
        if right_name != name:  # the mapped pair is one object: its name is not a difference
            new = {**new, "metadata": {**new.get("metadata", {}), "name": old.get("metadata", {}).get("name")}}
        changes = tuple(compare(old, new))
        status: Status = "drifted" if changes else "in-sync"
        out.append(ObjectDrift(kind, group, name, right_name, status, changes, old, new))
    for (group, kind, name), manifest in sorted(right_objects.items()):
        if (group, kind, name) not in matched:
            reverse = next((old for old, new in mapping.items() if new == name), name)
            out.append(ObjectDrift(kind, group, reverse, name, "extra", right=normalise(manifest, ignore)))
    out.sort(key=lambda obj: (obj.group, obj.kind, obj.name))
    return out


def _unread(store: FullObjects) -> set[str]:
    return {skipped.kind for skipped in store.skipped if skipped.unread}


def _by_key(store: FullObjects, unread_elsewhere: set[str]) -> dict[tuple[str, str, str], dict[str, Any]]:
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for obj in store:
        if obj.kind in unread_elsewhere:
            continue
        manifest = obj.manifest()
        if not excluded(manifest):
            out[(obj.group, obj.kind, obj.name)] = manifest
    return out


def _hpas(store: FullObjects) -> dict[tuple[str, str], list[o.HorizontalPodAutoscaler]]:
    """The HPAs by the kind and name they target (so each object is judged against its own only)."""
    by_target: dict[tuple[str, str], list[o.HorizontalPodAutoscaler]] = {}
    for obj in store.of_kind("HorizontalPodAutoscaler"):
        hpa = obj.decode(o.HorizontalPodAutoscaler)
        by_target.setdefault((hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name), []).append(hpa)
    return by_target


def _scaled(manifest: Mapping[str, Any], hpas: Mapping[tuple[str, str], list[o.HorizontalPodAutoscaler]]) -> bool:
    metadata = manifest.get("metadata")
    name = str(metadata.get("name") or "") if isinstance(metadata, Mapping) else ""
    return any(scales(hpa, manifest) for hpa in hpas.get((str(manifest.get("kind") or ""), name), ()))
