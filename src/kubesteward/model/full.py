"""Full objects of any kind, custom resources included, beside the slim model.

The slim model (:mod:`kubesteward.model.cluster`) holds the few fields analyzers read. Features that need
every field (policy, drift, deploy) hold the kinds they ask for here instead: each object as its JSON,
decoded only when asked (a big cluster's objects as dicts take several times the memory of their JSON).

Secrets never enter whole: every object passes through :func:`kubesteward.redaction.redact_manifest` on its
way in, so a Secret's ``data``/``stringData`` values are held as their digest (whether a value changed,
never what it is: what drift compares), the last-applied annotation and the annotations of Secrets as
``<redacted>``, and every container env ``value`` as ``<redacted>``.

Objects are keyed by group, kind, namespace and name, not version: the API serves one object at each of
its group's versions, so a file's ``autoscaling/v1`` HPA and the cluster's ``autoscaling/v2`` one are the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import msgspec

from kubesteward.cluster import resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.errors import Forbidden, InputError, NotFound, UsageError
from kubesteward.model.cluster import Skipped
from kubesteward.model.origin import Origin
from kubesteward.redaction import redact_manifest

if TYPE_CHECKING:
    from kubesteward.cluster import KubeClient

T = TypeVar("T")

# What a feature names the kinds it wants by: a resource type, a built-in's kind or plural
# (``Deployment``, ``deployments``), or ``apiVersion/Kind`` for anything discovery finds
# (``test.kubesteward.io/v1/Widget``).
KindRef = ResourceType | str


class GroupKind(NamedTuple):
    group: str  # "" for the core group
    kind: str


class FullKey(NamedTuple):
    """An object's identity in the store (namespace "" when cluster-scoped)."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind}/{self.namespace}/{self.name}" if self.namespace else f"{kind}/{self.name}"


class FullObject:
    """One object whole, as its redacted JSON; :meth:`manifest` decodes it when asked."""

    __slots__ = ("api_version", "kind", "name", "namespace", "raw")

    def __init__(self, api_version: str, kind: str, namespace: str, name: str, raw: bytes) -> None:
        self.api_version, self.kind, self.namespace, self.name, self.raw = api_version, kind, namespace, name, raw

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def key(self) -> FullKey:
        return FullKey(self.group, self.kind, self.namespace, self.name)

    def manifest(self) -> dict[str, Any]:
        """The object as plain data, decoded now: a fresh dict at each call, the caller's to change."""
        decoded: dict[str, Any] = msgspec.json.decode(self.raw)
        return decoded

    def decode(self, type_: type[T]) -> T:
        """The object decoded into ``type_`` (a msgspec struct, such as a slim one of :mod:`model.objects`)."""
        return msgspec.json.decode(self.raw, type=type_, strict=False)

    def __repr__(self) -> str:
        return f"FullObject({self.key}, {len(self.raw)} bytes)"


class FullObjects:
    """Full objects by kind: what a feature loaded (:func:`load_full`) or files hold (``model.files.load_manifests``)."""

    def __init__(self) -> None:
        self._kinds: dict[GroupKind, dict[tuple[str, str], FullObject]] = {}
        self.loaded: set[GroupKind] = set()  # kinds listed (wholly, or in the namespace asked for)
        self.skipped: list[Skipped] = []  # kinds that could not be listed, and why
        self.origins: dict[FullKey, Origin] = {}  # from files: where each object came from (the last, if twice)
        # from files: every origin of an object given more than once (the last one is the object held)
        self.duplicates: dict[FullKey, list[Origin]] = {}

    def add(self, obj: FullObject) -> None:
        """Hold ``obj`` (already redacted), replacing an object of the same key."""
        self._kinds.setdefault(GroupKind(obj.group, obj.kind), {})[(obj.namespace, obj.name)] = obj

    def add_manifest(self, manifest: Mapping[str, Any], *, origin: Origin | None = None) -> FullObject:
        """Hold a manifest (plain data, as a file holds it), redacted; every other field is kept as it is."""
        obj = admit(manifest)
        self.add(obj)
        if origin is not None:
            earlier = self.origins.get(obj.key)
            if earlier is not None:
                self.duplicates.setdefault(obj.key, [earlier]).append(origin)
            self.origins[obj.key] = origin
        return obj

    def get(self, kind: str, namespace: str, name: str, *, group: str | None = None) -> FullObject | None:
        """The object, or None. ``group`` None: whichever group has a kind of that name."""
        for group_kind in self._group_kinds(kind, group):
            found = self._kinds[group_kind].get((namespace, name))
            if found is not None:
                return found
        return None

    def of_kind(self, kind: str, *, group: str | None = None, namespace: str | None = None) -> list[FullObject]:
        """Every object of ``kind`` (in ``namespace``, if given), by namespace and name."""
        found = [
            obj
            for group_kind in self._group_kinds(kind, group)
            for (ns, _name), obj in self._kinds[group_kind].items()
            if namespace is None or ns == namespace
        ]
        return sorted(found, key=lambda obj: (obj.group, obj.namespace, obj.name))

    def kinds(self) -> list[GroupKind]:
        """The kinds held (at least one object each)."""
        return sorted(group_kind for group_kind, objects in self._kinds.items() if objects)

    def _group_kinds(self, kind: str, group: str | None) -> list[GroupKind]:
        if group is not None:
            return [GroupKind(group, kind)] if GroupKind(group, kind) in self._kinds else []
        return [group_kind for group_kind in self._kinds if group_kind.kind == kind]

    def __iter__(self) -> Iterator[FullObject]:
        for objects in self._kinds.values():
            yield from objects.values()

    def __len__(self) -> int:
        return sum(len(objects) for objects in self._kinds.values())


def admit(manifest: Mapping[str, Any]) -> FullObject:
    """A manifest made a :class:`FullObject`: redacted, then encoded. A manifest without ``apiVersion``
    (hand-written files sometimes omit it) is filed under its built-in kind's group."""
    kind = str(manifest.get("kind", ""))
    api_version = str(manifest.get("apiVersion") or _builtin_api_version(kind))
    metadata = manifest.get("metadata")
    meta = metadata if isinstance(metadata, Mapping) else {}
    raw = msgspec.json.encode(redact_manifest(manifest))
    return FullObject(api_version, kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""), raw)


def _builtin_api_version(kind: str) -> str:
    rt = resources.by_name(kind) if kind else None
    return rt.api_version if rt is not None and rt.kind == kind else ""


async def resolve_kind(client: KubeClient, ref: KindRef) -> ResourceType:
    """Where ``ref`` is served: built-ins from the cluster layer's table, anything else through discovery."""
    if isinstance(ref, ResourceType):
        return ref
    api_version, _, kind = ref.rpartition("/")
    if api_version:
        return await client.resolve(api_version, kind)
    known = resources.by_name(ref)
    if known is None:
        raise UsageError(
            f"unknown kind {ref!r}: name a built-in kind or plural (Deployment, deployments) "
            f"or give apiVersion/Kind (example.com/v1/Widget)", context=client.context,
        )
    return known


async def load_full(
    client: KubeClient,
    kinds: Iterable[KindRef],
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    page_size: int = 500,
    into: FullObjects | None = None,
    fall_back: bool = False,
) -> FullObjects:
    """List ``kinds`` whole (in ``namespace``, if given): one concurrent paged LIST per kind, each page
    redacted as it arrives (no Secret value outlives its page). A kind that may not be listed, or whose
    API is not served, is recorded in ``skipped``; anything else fails the load. ``fall_back``: a
    namespaced kind refused cluster-wide is listed in the context's namespace instead, as the slim
    model's load does (``skipped`` then names the namespace it was read in). ``label_selector``: only the
    objects it selects (an ApplySet's members), listed by the API server's filter."""
    store = into if into is not None else FullObjects()
    types = [await resolve_kind(client, ref) for ref in kinds]
    await asyncio.gather(
        *(_load_kind(client, rt, namespace, label_selector, page_size, store, fall_back) for rt in types)
    )
    return store


async def _load_kind(
    client: KubeClient, rt: ResourceType, namespace: str | None, label_selector: str | None, page_size: int,
    store: FullObjects, fall_back: bool,
) -> None:
    head = {"apiVersion": rt.api_version, "kind": rt.kind}  # list items of built-ins come without them

    scope = namespace if rt.namespaced else None

    def redacted(item: msgspec.Raw) -> msgspec.Raw:
        try:
            return msgspec.Raw(msgspec.json.encode(redact_manifest({**head, **msgspec.json.decode(item)})))
        except RecursionError:  # the API server accepts deeper nesting than Python's stack
            where = f"namespace {scope!r}" if scope else "the cluster"
            raise InputError(f"a {rt.kind} in {where} is nested too deeply to hold", context=client.context) from None

    try:
        listed = await client.list(
            rt, namespace=scope, label_selector=label_selector, type=msgspec.Raw, each=redacted, limit=page_size
        )
    except NotFound:
        store.skipped.append(Skipped(rt.kind, f"the API {rt.api_version} is not served by this cluster", unread=False))
        return
    except Forbidden as exc:
        fallback = client.config.namespace if fall_back and rt.namespaced and scope is None else None
        if not fallback:
            store.skipped.append(Skipped(rt.kind, f"forbidden: {str(exc).split(': ', 1)[-1]}"))
            return
        try:
            listed = await client.list(
                rt, namespace=fallback, label_selector=label_selector, type=msgspec.Raw, each=redacted,
                limit=page_size,
            )
        except (Forbidden, NotFound):
            store.skipped.append(Skipped(rt.kind, f"forbidden: cannot list {rt.plural} cluster-wide or in {fallback!r}"))
            return
        store.skipped.append(Skipped(
            rt.kind, f"cluster-wide list forbidden; loaded namespace {fallback!r} only", namespaces=(fallback,)
        ))
    for item in listed.items:
        meta = msgspec.json.decode(item, type=_Head).metadata
        store.add(FullObject(rt.api_version, rt.kind, meta.namespace, meta.name, bytes(item)))
    store.loaded.add(GroupKind(rt.group, rt.kind))


class _HeadMeta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""


class _Head(msgspec.Struct, gc=False):
    """The only fields read from a listed object before it is stored: its identity."""

    metadata: _HeadMeta = msgspec.field(default_factory=_HeadMeta)
