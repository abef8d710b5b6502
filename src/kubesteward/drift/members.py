"""The live members of an application's ApplySet: what ``sync`` applied and still owns.

>>> members = await read_members(client, ApplySet("shop", "shop"))     # doctest: +SKIP
>>> [obj.key for obj in members.objects]

The parent ConfigMap is read first: no parent, no set (nothing is owned, nothing listed). Otherwise every
kind of its record (and of ``kinds``, the manifests' own) is listed with the members' label selector in the
parent's namespace and the namespaces it records; cluster-scoped kinds once. What may not be read (the parent,
a kind) is in ``objects.skipped``, a gap in coverage: never taken for "no member there". ``drift -f`` reports
the members the manifests no longer hold as extra, the objects ``sync --prune`` deletes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.drift.ownership import ApplySet, ApplySetRecord, GroupKind, read_record
from kubesteward.errors import Forbidden, Invalid, NotFound
from kubesteward.model.cluster import Skipped
from kubesteward.model.full import FullObjects, load_full


@dataclass(frozen=True)
class Members:
    parent: Mapping[str, Any] | None  # the parent ConfigMap as read; None when there is none (or unreadable)
    record: ApplySetRecord  # what the parent records (empty without a parent)
    objects: FullObjects  # the members listed; ``skipped``: what could not be read, the parent included

    @property
    def complete(self) -> bool:
        """Every place a member may be was read."""
        return not any(skipped.unread for skipped in self.objects.skipped)


async def read_members(client: KubeClient, applyset: ApplySet, kinds: Iterable[GroupKind] = ()) -> Members:
    """The live members of ``applyset`` of its recorded kinds and ``kinds``, in its recorded namespaces."""
    store = FullObjects()
    try:
        parent: dict[str, Any] = await client.get(resources.CONFIGMAP, applyset.parent_name, applyset.namespace)
    except NotFound:
        return Members(None, ApplySetRecord(), store)
    except Forbidden as exc:
        reason = f"forbidden: cannot read the ApplySet parent {applyset.namespace}/{applyset.parent_name}: {exc}"
        store.skipped.append(Skipped("ConfigMap", reason))
        return Members(None, ApplySetRecord(), store)
    record = read_record(parent)
    served = await asyncio.gather(*(_served(client, kind, store) for kind in sorted({*record.kinds, *kinds})))
    types = [rt for rt in served if rt is not None]
    namespaced = [rt for rt in types if rt.namespaced]
    cluster_wide = [rt for rt in types if not rt.namespaced]
    lists = [
        load_full(client, namespaced, namespace=ns, label_selector=applyset.selector, into=store)
        for ns in sorted({applyset.namespace, *record.namespaces})
    ]
    if cluster_wide:
        lists.append(load_full(client, cluster_wide, label_selector=applyset.selector, into=store))
    await asyncio.gather(*lists)
    return Members(parent, record, store)


async def _served(client: KubeClient, kind: GroupKind, store: FullObjects) -> ResourceType | None:
    """Where ``kind`` is served (a built-in, else the group's preferred version); None, recorded as not served,
    when the cluster serves no such kind (a CRD deleted since): then no member of it exists."""
    known = resources.by_name(kind.kind)
    if known is not None and known.kind == kind.kind and known.group == kind.group:
        return known
    try:
        version = await client.discovery.preferred_version(kind.group)
        return await client.resolve(f"{kind.group}/{version}" if kind.group else version, kind.kind)
    except (Invalid, NotFound):
        store.skipped.append(Skipped(kind.kind, f"{kind} is not served by this cluster", unread=False))
        return None
