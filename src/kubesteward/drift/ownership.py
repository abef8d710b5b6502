"""What ``sync`` owns: kubectl's ApplySet (KEP-3659), so ``kubectl`` and kubesteward read one record.

One application's objects form a set whose **parent** is a ConfigMap named ``kubesteward-sync-<app>`` in the
sync's namespace. The parent carries

- the label ``applyset.kubernetes.io/id``: ``applyset-<base64url(sha256("<name>.<namespace>.ConfigMap."))>-v1``,
  kubectl's id of a parent (so no other parent can claim the same members);
- ``applyset.kubernetes.io/tooling: kubesteward/<version>`` (kubectl refuses to prune a set another tool manages);
- ``applyset.kubernetes.io/contains-group-kinds``: every kind the set may hold (``Deployment.apps``,
  ``ConfigMap`` for the core group), sorted and comma-separated;
- ``applyset.kubernetes.io/additional-namespaces``: the namespaces other than the parent's that members live in.

Every member carries the label ``applyset.kubernetes.io/part-of=<id>``: prune lists the recorded kinds with
that selector in the recorded namespaces, so it never sees (nor deletes) an object it did not apply.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubesteward import __version__
from kubesteward.errors import UsageError

ID_LABEL = "applyset.kubernetes.io/id"
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
TOOLING_ANNOTATION = "applyset.kubernetes.io/tooling"
KINDS_ANNOTATION = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES_ANNOTATION = "applyset.kubernetes.io/additional-namespaces"
TOOLING = f"kubesteward/{__version__}"
PARENT_PREFIX = "kubesteward-sync-"
# A label value holds 63 characters; the parent's name (prefix + app) is kept to that too, so the app
# name fits wherever kubectl or a user may show it.
APP_MAX = 63 - len(PARENT_PREFIX)
_APP = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")


@dataclass(frozen=True, order=True)
class GroupKind:
    group: str  # "" for the core group
    kind: str

    def __str__(self) -> str:
        """ApplySet's spelling: ``Kind.group``, or ``Kind`` for the core group."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @classmethod
    def parse(cls, text: str) -> GroupKind:
        kind, _, group = text.strip().partition(".")
        return cls(group, kind)


@dataclass(frozen=True)
class ApplySetRecord:
    """What a parent says its set may hold: the kinds, and the namespaces besides its own."""

    kinds: frozenset[GroupKind] = frozenset()
    namespaces: frozenset[str] = frozenset()  # additional namespaces (never the parent's own)

    def union(self, other: ApplySetRecord) -> ApplySetRecord:
        return ApplySetRecord(self.kinds | other.kinds, self.namespaces | other.namespaces)

    def annotations(self, parent_namespace: str) -> dict[str, str]:
        return {
            TOOLING_ANNOTATION: TOOLING,
            KINDS_ANNOTATION: ",".join(sorted(str(kind) for kind in self.kinds)),
            NAMESPACES_ANNOTATION: ",".join(sorted(self.namespaces - {parent_namespace})),
        }


@dataclass(frozen=True)
class ApplySet:
    """One application's set: its parent's name and namespace, and the id its members are labelled with."""

    app: str
    namespace: str

    @property
    def parent_name(self) -> str:
        return PARENT_PREFIX + self.app

    @property
    def id(self) -> str:
        return applyset_id(self.parent_name, self.namespace)

    @property
    def selector(self) -> str:
        """The label selector of the set's members."""
        return f"{PART_OF_LABEL}={self.id}"

    def parent(self, record: ApplySetRecord) -> dict[str, Any]:
        """The parent ConfigMap holding ``record``, as server-side apply takes it (no data: the record is
        its label and annotations)."""
        return {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": self.parent_name, "namespace": self.namespace,
                "labels": {ID_LABEL: self.id},
                "annotations": record.annotations(self.namespace),
            },
        }

    def member(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """``manifest`` labelled as a member (a copy: the manifest as written is left alone)."""
        metadata = manifest.get("metadata")
        meta = dict(metadata) if isinstance(metadata, Mapping) else {}
        labels = meta.get("labels")
        meta["labels"] = {**(labels if isinstance(labels, Mapping) else {}), PART_OF_LABEL: self.id}
        return {**manifest, "metadata": meta}


def applyset_id(name: str, namespace: str, kind: str = "ConfigMap", group: str = "") -> str:
    """kubectl's id of an ApplySet parent: ``applyset-`` + unpadded base64url of the SHA-256 of
    ``<name>.<namespace>.<kind>.<group>`` + ``-v1``."""
    digest = hashlib.sha256(f"{name}.{namespace}.{kind}.{group}".encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


def read_record(parent: Mapping[str, Any] | None) -> ApplySetRecord:
    """The record a parent ConfigMap holds (empty for no parent)."""
    metadata = (parent or {}).get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    notes = annotations if isinstance(annotations, Mapping) else {}
    return ApplySetRecord(
        kinds=frozenset(GroupKind.parse(text) for text in _listed(notes.get(KINDS_ANNOTATION))),
        namespaces=frozenset(_listed(notes.get(NAMESPACES_ANNOTATION))),
    )


def record_of(objects: Iterable[tuple[GroupKind, str]], parent_namespace: str) -> ApplySetRecord:
    """The record of members given as (kind, namespace: "" when cluster-scoped)."""
    kinds: set[GroupKind] = set()
    namespaces: set[str] = set()
    for kind, namespace in objects:
        kinds.add(kind)
        if namespace and namespace != parent_namespace:
            namespaces.add(namespace)
    return ApplySetRecord(frozenset(kinds), frozenset(namespaces))


def foreign_tooling(parent: Mapping[str, Any] | None) -> str:
    """The tool managing an existing parent when it is not kubesteward ("" when it is ours, or none is)."""
    metadata = (parent or {}).get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    tooling = str((annotations or {}).get(TOOLING_ANNOTATION) or "") if isinstance(annotations, Mapping) else ""
    return "" if not tooling or tooling.partition("/")[0] == "kubesteward" else tooling


def app_name(sources: Sequence[str | Path]) -> str:
    """The default app name: the last segment of the first source that has one (``deploy/web.yaml`` ->
    ``web``), lower-cased, with what a label value or object name may not hold made ``-``."""
    for source in sources:
        path = Path(str(source).rstrip("/"))
        stem = path.stem if path.name else Path(str(source)).resolve().name
        cleaned = re.sub(r"[^a-z0-9-]+", "-", stem.lower()).strip("-")[:APP_MAX].strip("-")
        if cleaned:
            return cleaned
    raise UsageError("cannot name the application from its sources: give --app NAME")


def check_app(app: str) -> str:
    """``app`` when it may name a set (lower-case letters, digits and ``-``, at most 46 characters)."""
    if len(app) > APP_MAX or not _APP.match(app):
        raise UsageError(
            f"--app {app!r}: use lower-case letters, digits and '-' (starting and ending with a letter or digit), "
            f"at most {APP_MAX} characters"
        )
    return app


def _listed(value: Any) -> list[str]:
    return [part.strip() for part in str(value or "").split(",") if part.strip()]
