"""Desired (manifests) vs live: ``drift -f``'s library face.

>>> async with ClientFactory() as clients:                                   # doctest: +SKIP
...     result = await drift_desired(clients.client("prod"), [Path("deploy/")])
...     for entry in result.objects:
...         print(entry.status, entry.key)

Each desired object goes through a **server-side dry-run apply** (field manager ``kubesteward``, forced
so that another manager's fields cannot block the comparison): the answer is the object as the API server
would make it, its defaults and mutating admission webhooks applied. That answer and the live object are
both cut down to the fields the manifest sets (:mod:`~kubesteward.drift.fieldset`: what others add, a
defaulted field, a webhook's sidecar, is theirs), normalised (:mod:`~kubesteward.drift.normalise`) and
compared (:mod:`~kubesteward.drift.compare`). ``spec.replicas`` is left out when a HorizontalPodAutoscaler
of the manifests or of the cluster scales the object. A desired object the cluster lacks is ``missing``
(also when its namespace does not exist); one the API server refuses (an invalid manifest, an unknown
kind) is an ``error`` entry, not a failed run. Objects that are live but not in the manifests are listed
as ``extra`` only when the manifests own them: with ``app``, the live members of that application's ApplySet
(what ``sync`` applied, :mod:`~kubesteward.drift.members`) that the manifests no longer hold, the objects
``sync --prune`` would delete; without its parent nothing is owned, so nothing is extra.

Secrets: the dry-run answer is redacted as live objects are (:func:`~kubesteward.redaction.redact_manifest`),
so values are compared as digests; the manifests' own values are only sent to the API server.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.cluster.writes import FIELD_MANAGER
from kubesteward.drift.compare import Change, compare
from kubesteward.drift.fieldset import project, secret_shape, without_path
from kubesteward.drift.members import Members, read_members
from kubesteward.drift.namespaces import DriftResult, ObjectDrift, Side, Status
from kubesteward.drift.normalise import IgnoreRule, normalise
from kubesteward.drift.ownership import ApplySet, ApplySetRecord, GroupKind, check_app
from kubesteward.drift.source import DesiredSource
from kubesteward.errors import Conflict, Forbidden, Invalid, NotFound
from kubesteward.model.coverage import Coverage, coverage_from, require_read
from kubesteward.model.full import FullKey, FullObjects, load_full
from kubesteward.model.objects import HorizontalPodAutoscaler
from kubesteward.model.render import RenderOptions, read_inputs
from kubesteward.model.semantics.autoscaling import scales
from kubesteward.redaction import REDACTED, redact_manifest

HPA_KIND = "HorizontalPodAutoscaler"
CONCURRENCY = 16  # dry runs in flight at once: enough to hide latency, few enough to spare the API server


@dataclass(frozen=True)
class DesiredObject:
    """One manifest and where the API server serves it (``rt`` None and ``error`` set when it does not)."""

    manifest: dict[str, Any]  # as written: sent to the API server only
    rt: ResourceType | None
    namespace: str  # "" when cluster-scoped
    key: FullKey
    error: str = ""


async def drift(
    client: KubeClient,
    source: DesiredSource,
    *,
    namespace: str | None = None,
    ignore: Sequence[IgnoreRule] = (),
    app: str | None = None,
) -> DriftResult:
    """Manifests (files, or one commit of a Git repository) vs the live cluster: :func:`drift_desired` over
    ``source``, opened anew (a branch's latest commit), the result naming the source and carrying the commit."""
    async with source.reading() as opened:
        result = await drift_desired(client, opened.paths, source.render, namespace=namespace, ignore=ignore,
                                     label=opened.label, app=app)
    return replace(result, revision=opened.revision)


async def drift_desired(
    client: KubeClient,
    paths: Iterable[Path],
    render_options: RenderOptions | None = None,
    namespace: str | None = None,
    ignore: Sequence[IgnoreRule] = (),
    label: str | None = None,
    app: str | None = None,
) -> DriftResult:
    """Compare the objects of ``paths`` (files, directories, kustomizations, charts) with the cluster.
    ``namespace``: where objects that name none go (default: the context's namespace); ``label``: what the
    manifests are called in the result (default: their paths; a Git source names its repository and commit);
    ``app``: the application (``sync``'s ApplySet, its parent in ``namespace``) whose members are extra when the
    manifests no longer hold them."""
    paths = list(paths)
    reader = await asyncio.to_thread(read_inputs, paths, render_options)
    manifests = await asyncio.to_thread(reader.manifests)
    fallback_ns = namespace or client.config.namespace or "default"
    desired = [await locate(client, doc, fallback_ns) for doc in reader.documents]

    kinds = {GroupKind(item.rt.group, item.rt.kind) for item in desired if item.rt is not None}
    store, members = await asyncio.gather(load_live(client, desired), _owned(client, app, fallback_ns, kinds))
    loaded = {group_kind.kind for group_kind in store.loaded}
    require_read(store.skipped, loaded, namespace, client.context)
    hpas = [
        *(obj.decode(HorizontalPodAutoscaler) for obj in manifests.objects.of_kind(HPA_KIND, group="autoscaling")),
        *(obj.decode(HorizontalPodAutoscaler) for obj in store.of_kind(HPA_KIND, group="autoscaling")),
    ]
    gate = asyncio.Semaphore(CONCURRENCY)
    namespaces = NamespaceProbe(client)

    async def judged(item: DesiredObject) -> ObjectDrift:
        async with gate:
            return await _judge(client, item, store, hpas, ignore, namespaces)

    objects = await asyncio.gather(*(judged(item) for item in desired))
    objects.extend(_extra(app or "", members, {item.key for item in desired}, ignore))
    objects.sort(key=lambda obj: (obj.group, obj.kind, obj.namespace, obj.name))
    sources = label or ", ".join(str(path) for path in paths)
    return DriftResult(
        left=Side(context="", namespace="", coverage=Coverage(namespace=None, gaps=(), not_served=()),
                  objects_read=len(desired), source=sources),
        right=Side(context=client.context, namespace=namespace or "",
                   coverage=coverage_from([*store.skipped, *members.objects.skipped], loaded, namespace),
                   objects_read=len(store) + len(members.objects)),
        objects=tuple(objects),
        kinds=tuple(sorted({f"{gk.group}/{gk.kind}" if gk.group else gk.kind for gk in store.loaded})),
    )


async def locate(client: KubeClient, doc: Mapping[str, Any], fallback_ns: str) -> DesiredObject:
    """Where ``doc`` goes: its resource type and namespace (``fallback_ns`` when it names none and is namespaced)."""
    api_version, kind = str(doc.get("apiVersion") or ""), str(doc.get("kind") or "")
    metadata = doc.get("metadata")
    meta = metadata if isinstance(metadata, Mapping) else {}
    name = str(meta.get("name") or "")
    group = api_version.rpartition("/")[0]
    try:
        if not api_version or not kind:  # as kubectl: the API server would not know what to make
            raise Invalid("apiVersion and kind are required")
        rt = await client.resolve(api_version, kind)
    except Invalid as exc:  # an unknown kind or apiVersion: this object's error, not the run's
        ns = str(meta.get("namespace") or "")
        return DesiredObject(dict(doc), None, ns, FullKey(group, kind, ns, name), error=error_line(exc))
    ns = str(meta.get("namespace") or fallback_ns) if rt.namespaced else ""
    return DesiredObject(dict(doc), rt, ns, FullKey(group, kind, ns, name))


async def load_live(client: KubeClient, desired: Sequence[DesiredObject]) -> FullObjects:
    """One LIST per kind and namespace the manifests use (a namespace's identity may not list
    cluster-wide), HPAs included wherever a workload may be scaled by one."""
    by_namespace: dict[str, dict[tuple[str, str], ResourceType]] = {}
    for item in desired:
        if item.rt is not None:
            by_namespace.setdefault(item.namespace, {})[(item.rt.group, item.rt.kind)] = item.rt
    store = FullObjects()
    lists = []
    for ns, kinds in sorted(by_namespace.items()):
        refs: list[ResourceType | str] = list(kinds.values())
        if ns and ("autoscaling", HPA_KIND) not in kinds:
            refs.append(HPA_KIND)
        lists.append(load_full(client, refs, namespace=ns or None, into=store))
    await asyncio.gather(*lists)
    return store


async def _owned(client: KubeClient, app: str | None, namespace: str, kinds: set[GroupKind]) -> Members:
    if app is None:  # no application named: nothing is owned
        return Members(None, ApplySetRecord(), FullObjects())
    return await read_members(client, ApplySet(check_app(app), namespace), kinds)


def _extra(app: str, members: Members, desired: set[FullKey], ignore: Sequence[IgnoreRule]) -> list[ObjectDrift]:
    """The members the manifests no longer hold, whole (every field of theirs would go with them)."""
    return [
        ObjectDrift(obj.kind, obj.group, obj.name, obj.name, "extra", right=normalise(obj.manifest(), ignore),
                    namespace=obj.namespace, reason=f"owned by app {app}, no longer in the manifests")
        for obj in members.objects if obj.key not in desired
    ]


async def _judge(
    client: KubeClient, item: DesiredObject, store: FullObjects, hpas: Sequence[HorizontalPodAutoscaler],
    ignore: Sequence[IgnoreRule], namespaces: NamespaceProbe,
) -> ObjectDrift:
    if item.error:
        return _verdict(item, "error", reason=item.error)
    try:
        answer = await client.apply(
            item.manifest, namespace=item.namespace or None, force=True, dry_run=True, field_manager=FIELD_MANAGER,
        )
    except NotFound as exc:
        if item.namespace and not await namespaces.exists(item.namespace):
            return _verdict(item, "missing", reason=f"namespace {item.namespace} does not exist")
        return _verdict(item, "error", reason=error_line(exc, item.manifest))
    except (Invalid, Conflict, Forbidden) as exc:
        return _verdict(item, "error", reason=error_line(exc, item.manifest))
    shape = secret_shape(item.manifest)
    if any(scales(hpa, item.manifest) for hpa in hpas):
        shape = without_path(shape, ("spec", "replicas"))  # the autoscaler's to set
    desired = normalise(project(redact_manifest(answer), shape), ignore)
    live_obj = store.get(item.key.kind, item.key.namespace, item.key.name, group=item.key.group)
    unread = next((s for s in store.skipped if s.unread and s.kind == item.key.kind), None)
    if live_obj is None and unread is not None:  # absent from what could be read proves nothing
        return _verdict(item, "error", reason=f"live {item.key.kind} not readable: {unread.reason}")
    if live_obj is None:
        return _verdict(item, "missing", desired=desired)
    live = normalise(project(live_obj.manifest(), shape), ignore)
    changes = tuple(compare(desired, live))  # the manifests are the reference, as the left side is
    return _verdict(item, "drifted" if changes else "in-sync", changes, desired, live)


def _verdict(
    item: DesiredObject, status: Status, changes: tuple[Change, ...] = (), desired: dict[str, Any] | None = None,
    live: dict[str, Any] | None = None, reason: str = "",
) -> ObjectDrift:
    key = item.key
    return ObjectDrift(key.kind, key.group, key.name, key.name, status, changes, left=desired, right=live,
                       namespace=key.namespace, reason=reason)


async def namespace_exists(client: KubeClient, namespace: str) -> bool:
    """Whether the namespace exists (True when the identity may not tell: the caller's own error says more)."""
    try:
        await client.get(resources.NAMESPACE, namespace)
    except NotFound:
        return False
    except Forbidden:
        return True  # cannot tell: the dry run's own error is reported
    return True


class NamespaceProbe:
    """:func:`namespace_exists`, asked once per namespace in one run: a missing namespace refuses every object
    of it, and a GET per object would ask the same question hundreds of times."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._answers: dict[str, asyncio.Future[bool]] = {}

    async def exists(self, namespace: str) -> bool:
        if namespace not in self._answers:
            self._answers[namespace] = asyncio.ensure_future(namespace_exists(self.client, namespace))
        return await self._answers[namespace]


def error_line(exc: Exception, manifest: Mapping[str, Any] | None = None) -> str:
    """The error's first line; a Secret's values the API server may quote in it are cut out."""
    text = str(exc)
    context = getattr(exc, "context", None)
    if context:  # the result names its cluster once, not in every line
        text = text.removeprefix(f"[{context}] ")
    line = text.splitlines()[0] if text else type(exc).__name__
    for value in _secret_values(manifest or {}):
        line = line.replace(value, REDACTED)
    return line


def _secret_values(manifest: Mapping[str, Any]) -> list[str]:
    if manifest.get("kind") != "Secret":
        return []
    values: list[str] = []
    for field in ("data", "stringData"):
        given = manifest.get(field)
        for value in given.values() if isinstance(given, Mapping) else ():
            text = str(value)
            values.append(text)
            other = base64.b64encode(text.encode()) if field == "stringData" else _decoded(text)
            if other:
                values.append(other.decode(errors="replace"))
    # Longest first, so a value holding another is cut whole; a short one may cut ordinary words too,
    # a garbled line being better than a value shown.
    return sorted((value for value in values if value), key=len, reverse=True)


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return b""
