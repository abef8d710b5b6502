"""What a rule sees: the set of objects judged together, decoded once, with the indexes rules share.

Built from a :class:`~kubesteward.model.full.FullObjects` (files or a live cluster: the same
objects, the same rules) or from one object (admission).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from functools import cached_property
from typing import Any, TypeVar, cast

from kubesteward.model.cluster import ObjectKey
from kubesteward.model.full import FullObjects
from kubesteward.model.semantics.pod_templates import PodTemplate, controlled, pod_template_of
from kubesteward.policy.settings import PolicySettings

Manifest = Mapping[str, Any]
T = TypeVar("T")


def meta(obj: Manifest) -> Mapping[str, Any]:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def key_of(obj: Manifest) -> ObjectKey:
    m = meta(obj)
    return ObjectKey(str(obj.get("kind", "")), str(m.get("namespace") or ""), str(m.get("name") or ""))


def labels_of(obj: Manifest) -> dict[str, str]:
    value = meta(obj).get("labels")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def annotations_of(obj: Manifest) -> dict[str, str]:
    value = meta(obj).get("annotations")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


class PolicyContext:
    """The objects judged together and the settings of the run.

    ``complete``: the set is everything there is (files given whole, or every namespace of a
    cluster); cross-object rules that conclude "nothing matches" only say so about what they saw.
    ``live``: the objects come from a cluster (defaults filled in by the API server) rather than files.
    """

    def __init__(
        self, objects: Iterable[Manifest], settings: PolicySettings | None = None, *, live: bool = False,
        unread: Iterable[str] = (),
    ) -> None:
        self.objects: list[Manifest] = list(objects)
        self.settings = settings or PolicySettings()
        self.live = live
        # Kinds of which some objects may exist that were not read (RBAC): rules needing them are skipped.
        self.unread = frozenset(unread)
        self._by_kind: dict[str, list[Manifest]] = {}
        self._by_key: dict[ObjectKey, Manifest] = {}
        self._memo: dict[Hashable, Any] = {}
        for obj in self.objects:
            self._by_kind.setdefault(str(obj.get("kind", "")), []).append(obj)
            self._by_key.setdefault(key_of(obj), obj)

    @classmethod
    def of(cls, store: FullObjects, settings: PolicySettings | None = None, *, live: bool = False) -> PolicyContext:
        unread = {skipped.kind for skipped in store.skipped if skipped.unread}
        return cls((obj.manifest() for obj in store), settings, live=live, unread=unread)

    def of_kind(self, *kinds: str) -> list[Manifest]:
        return [obj for kind in kinds for obj in self._by_kind.get(kind, ())]

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        return self._by_key.get(ObjectKey(kind, namespace, name))

    def has_kind(self, kind: str) -> bool:
        return kind in self._by_kind

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """A value derived from the set once (an index several rules or objects share), built on first use:
        rules stay pure functions of the set without decoding the same objects once per question."""
        if key not in self._memo:
            self._memo[key] = build()
        return cast(T, self._memo[key])

    @cached_property
    def templates(self) -> list[PodTemplate]:
        """Every pod template of the set, those of controlled objects included (a live cluster's
        ReplicaSets and pods): for questions about which pods exist, such as selector matches."""
        found = []
        for obj in self.objects:
            template = pod_template_of(obj)
            if template is not None:
                found.append(template)
        return found

    @cached_property
    def judged_templates(self) -> list[PodTemplate]:
        """The pod templates pod rules judge: each workload's once, never again on what its controller made."""
        return [t for t in self.templates if not controlled(t.owner)]

    def templates_in(self, namespace: str) -> list[PodTemplate]:
        return self._templates_by_namespace.get(namespace, [])

    @cached_property
    def _templates_by_namespace(self) -> dict[str, list[PodTemplate]]:
        index: dict[str, list[PodTemplate]] = {}
        for template in self.templates:
            index.setdefault(str(meta(template.owner).get("namespace") or ""), []).append(template)
        return index

    @cached_property
    def namespaces(self) -> set[str]:
        """Namespaces the set defines (Namespace objects)."""
        return {str(meta(ns).get("name") or "") for ns in self.of_kind("Namespace")}
