"""Ownership: which object controls which, and the walk up to the root owner.

An object may list several owners but at most one *controller* (``controller: true``): the
one that created it and keeps it in line (a ReplicaSet for its pods, a Deployment for its
ReplicaSets). Only controller links count here: garbage-collection-only owners do not make an
object part of a workload. References match by uid; manifest files often carry none, so
there a reference matches by kind and name, within the child's namespace (owners are never in
another namespace).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kubesteward.model import objects as o

T = TypeVar("T")

# Deep enough for every built-in chain (Pod -> Job -> CronJob, Pod -> ReplicaSet -> Deployment)
# and an operator or two above; the bound stops an owner cycle written by hand.
MAX_OWNER_DEPTH = 8


def controller_kind(meta: o.ObjectMeta) -> str | None:
    """The kind of the object's controller (``ObjectMeta.controller`` is the reference itself)."""
    ref = meta.controller()
    return ref.kind if ref is not None else None


def controlled_by(child: Any, owner: Any) -> bool:
    """``owner`` is ``child``'s controller: by uid when both sides know it, else by kind and
    name in the child's namespace."""
    ref = child.metadata.controller()
    if ref is None:
        return False
    owner_meta: o.ObjectMeta = owner.metadata
    if ref.uid and owner_meta.uid:
        return bool(ref.uid == owner_meta.uid)
    return bool(ref.kind == owner.kind and ref.name == owner_meta.name and child.metadata.namespace == owner_meta.namespace)


def root_owner(obj: T, owner_of: Callable[[T], T | None]) -> T:
    """The top of ``obj``'s controller chain (``obj`` itself when nothing controls it), asking
    ``owner_of`` for each link (the cluster model's lookup: an owner not in it ends the walk)."""
    current = obj
    for _ in range(MAX_OWNER_DEPTH):
        parent = owner_of(current)
        if parent is None:
            return current
        current = parent
    return current
