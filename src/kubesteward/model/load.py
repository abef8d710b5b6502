"""Load the cluster model from a live cluster: one concurrent paged LIST per kind.

No per-object calls. A kind the user may not list cluster-wide is retried in
the namespaces they may read (the requested one, or the context's default);
what still fails is recorded in ``ClusterModel.skipped`` with the reason, and
the engine skips exactly the checks that need it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, Literal

from kubesteward.cluster import KubeClient
from kubesteward.errors import Forbidden, NotFound, Unauthorized
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, ListSource, Skipped
from kubesteward.model.collector import collector_paused
from kubesteward.model.kinds import (
    BY_KIND,
    CLAIM_NOTES_SELECTOR,
    FIELD_SELECTORS,
    MODEL_KINDS,
    STAND_INS,
    KindSpec,
    strip_values,
)

Progress = Callable[[str, int, int], None]  # (kind, done, total)
OnList = Callable[[ListSource, list[Any]], None]  # each LIST's source and its (model-ready) items
ClaimNotes = Literal["unbound", "all"]  # where claims' Normal events are listed (see load_cluster)

# Pods and Events, the biggest kinds, are listed one namespace at a time
# (four LISTs at once per kind) instead of as one cluster-wide paged LIST. A
# paged LIST is a chain: page n+1 needs page n's continue token, so the API
# server prepares a big namespace 500 pods at a time on one core; per-namespace
# LISTs run side by side, and the server-side filter of the Event field
# selectors is split the same way. Past SHARD_MAX_NAMESPACES, per-request overhead would outweigh
# the gain, so one cluster-wide LIST is made as before.
SHARDED_KINDS = frozenset({"Pod", "Event"})
SHARD_MAX_NAMESPACES = 100
SHARD_CONCURRENCY = 4  # per kind


async def load_cluster(
    client: KubeClient,
    *,
    namespace: str | None = None,
    kinds: Iterable[str] | None = None,
    progress: Progress | None = None,
    page_size: int = 500,
    on_list: OnList | None = None,
    shard: frozenset[str] = SHARDED_KINDS,
    claim_notes: ClaimNotes = "unbound",
    index: bool = True,
) -> ClusterModel:
    """Build a :class:`ClusterModel` of the cluster (or of one namespace).

    ``on_list`` sees every LIST's items with its source (a watch seeds its
    informers' stores from them, one informer per LIST). ``shard`` names the
    kinds listed namespace by namespace when the cluster has at most
    :data:`SHARD_MAX_NAMESPACES` (a subset of :data:`SHARDED_KINDS`; empty:
    one cluster-wide LIST per kind). ``claim_notes`` says where the Normal
    events of PersistentVolumeClaims are listed (:data:`CLAIM_NOTES_SELECTOR`):
    ``"unbound"``, only in the namespaces holding a claim that is not Bound,
    once the claims are loaded (a diagnosis: nothing else reads them);
    ``"all"``, with every Event LIST (a watch, whose claims may become
    unbound later). ``index``: build the model's indexes as the LISTs come
    back (:meth:`ClusterModel.index_while_loading`); a caller that only
    writes the objects out (a snapshot) has no use for them.
    """
    specs = [BY_KIND[k] for k in kinds] if kinds is not None else list(MODEL_KINDS)
    model = ClusterModel(context=client.context, source="live", namespace_scope=namespace)
    if index:
        model.index_while_loading()
    done = 0
    shard_over: list[str] | None = None  # the namespaces to list SHARDED_KINDS in (None: list cluster-wide)
    since = ""  # the resourceVersion every later LIST is at least as recent as ("": each its newest)
    shard_slots = {kind: asyncio.Semaphore(SHARD_CONCURRENCY) for kind in SHARDED_KINDS}
    notes_where_unbound = claim_notes == "unbound" and any(spec.kind == "Event" for spec in specs)

    def selectors(kind: str) -> tuple[str | None, ...]:
        chosen: tuple[str | None, ...] = FIELD_SELECTORS.get(kind, (None,))
        return (*chosen, CLAIM_NOTES_SELECTOR) if kind == "Event" and claim_notes == "all" else chosen

    async def load(spec: KindSpec) -> tuple[Lists | None, Skipped | None]:
        wanted = selectors(spec.kind)
        if spec.kind in shard and shard_over is not None:
            sharded = await _list_sharded(client, spec, shard_over, page_size, shard_slots[spec.kind], since, wanted)
            if sharded is not None:
                return sharded, None
        return await _load_kind(client, spec, namespace, page_size, since, wanted)

    def add(kind: str, lists: Lists) -> None:
        model.sources.extend(source for source, _items in lists)
        for source, items in lists:
            model.add(kind, items)
            if on_list is not None:
                on_list(source, items)

    async def one(spec: KindSpec) -> None:
        nonlocal done
        skipped = await fetch(spec)
        stand_in = STAND_INS.get(spec.kind)
        if skipped is not None and stand_in is not None:
            # Only now: a cluster that serves (and lets us list) the preferred kind pays no extra LIST.
            await fetch(stand_in)
        done += 1
        if progress is not None:
            progress(spec.kind, done, len(specs))

    async def fetch(spec: KindSpec) -> Skipped | None:
        """List one kind into the model; what could not be listed of it."""
        lists, skipped = await load(spec)
        if lists is not None:
            add(spec.kind, lists)
            model.loaded.add(spec.kind)
            if namespace and spec.resource.namespaced:
                model.partial[spec.kind] = {namespace}
        if skipped is not None:
            model.skipped.append(skipped)
            if skipped.namespaces:
                model.partial[spec.kind] = set(skipped.namespaces)
        if spec.kind == "PersistentVolumeClaim" and lists is not None and notes_where_unbound:
            # While the other kinds are still being listed.
            add("Event", await _claim_notes(client, model.pvcs, page_size, since, shard_slots["Event"]))
        return skipped

    # Large lists allocate millions of small objects: the collector stays out of their way.
    with collector_paused():
        rest = specs
        if shard & SHARDED_KINDS and namespace is None and any(spec.kind == "Namespace" for spec in specs):
            # The namespace list first, alone: started with the twenty other
            # LISTs it comes back late (the API server busy with them), and
            # the pod shards, the longest chain, need it.
            await one(BY_KIND["Namespace"])
            rest = [spec for spec in specs if spec.kind != "Namespace"]
            complete = "Namespace" in model.loaded and not any(s.kind == "Namespace" for s in model.skipped)
            if complete and len(model.namespaces) <= SHARD_MAX_NAMESPACES:
                shard_over = [n.metadata.name for n in model.namespaces]
            if complete:
                # Every other LIST is asked to be at least as recent as this
                # one, not the newest: the model is then the cluster as of the
                # start of the run or later, and the API server answers from
                # its watch cache instead of first proving the cache current
                # (which costs most while the controllers are busy).
                since = _listed_since(model)
        await asyncio.gather(*(one(spec) for spec in rest))
    model.now = dt.datetime.now(dt.UTC)
    return model


Lists = list[tuple[ListSource, list[Any]]]


async def _load_kind(
    client: KubeClient, spec: KindSpec, namespace: str | None, page_size: int, since: str,
    selectors: tuple[str | None, ...],
) -> tuple[Lists | None, Skipped | None]:
    rt = spec.resource
    scope = namespace if rt.namespaced else None
    try:
        return await _list(client, spec, scope, page_size, since, selectors), None
    except NotFound:
        return None, Skipped(spec.kind, f"the API {rt.api_version} is not served by this cluster", unread=False)
    except Forbidden as exc:
        reason = str(exc).split(": ", 1)[-1]
        if not rt.namespaced or scope is not None:
            return None, Skipped(spec.kind, f"forbidden: {reason}")
    # Cluster-wide list forbidden: fall back to the context's default namespace.
    fallback = client.config.namespace
    try:
        lists = await _list(client, spec, fallback, page_size, since, selectors)
    except (Forbidden, Unauthorized, NotFound):
        return None, Skipped(spec.kind, f"forbidden: cannot list {rt.plural} cluster-wide or in {fallback!r}")
    return lists, Skipped(
        spec.kind, f"cluster-wide list forbidden; loaded namespace {fallback!r} only", namespaces=(fallback,)
    )


async def _list_sharded(
    client: KubeClient, spec: KindSpec, namespaces: list[str], page_size: int, slots: asyncio.Semaphore, since: str,
    selectors: tuple[str | None, ...],
) -> Lists | None:
    """One LIST per namespace, ``slots`` at a time; None (list cluster-wide instead) if any is refused."""

    async def one(name: str) -> Lists:
        async with slots:
            return await _list(client, spec, name, page_size, since, selectors)

    try:
        # A task group cancels the other namespaces' LISTs at the first failure.
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(one(name)) for name in namespaces]
    except BaseExceptionGroup as failed:
        first = failed.exceptions[0]
        if isinstance(first, (Forbidden, Unauthorized, NotFound)):
            return None
        raise first from None  # callers handle our typed errors, not groups
    return [entry for task in tasks for entry in task.result()]


def unbound_claim_namespaces(claims: Iterable[o.PersistentVolumeClaim]) -> list[str]:
    """The namespaces a diagnosis lists claims' Normal events in: those holding a claim that is not Bound."""
    return sorted({c.metadata.namespace for c in claims if c.status.phase != "Bound"})


async def _claim_notes(
    client: KubeClient, claims: Iterable[o.PersistentVolumeClaim], page_size: int, since: str, slots: asyncio.Semaphore
) -> Lists:
    """The claims' Normal events in the namespaces holding an unbound claim, ``slots`` LISTs at a
    time (one cluster-wide LIST past :data:`SHARD_MAX_NAMESPACES` namespaces).

    Evidence only: where they may not be read, the claims' findings stand without them.
    """
    where = unbound_claim_namespaces(claims)
    scopes: list[str | None] = [*where] if len(where) <= SHARD_MAX_NAMESPACES else [None]
    found, _refused = await _list_events(client, [(s, (CLAIM_NOTES_SELECTOR,)) for s in scopes], page_size, since, slots)
    return found


async def load_events(client: KubeClient, model: ClusterModel, namespaces: Iterable[str], *, page_size: int = 500) -> None:
    """Add to ``model`` the events of ``namespaces``, as :func:`load_cluster` lists them (Warning
    events, and claims' Normal ones where a claim is unbound), one LIST per namespace, a few at a
    time (one cluster-wide LIST past :data:`SHARD_MAX_NAMESPACES` namespaces).

    For a model loaded without Events: a diagnosis lists them only where its
    analyzers asked for events. A namespace where they may not be read is
    recorded in ``model.skipped``; the findings there stand without them.
    """
    where = sorted(set(namespaces))
    if not where:
        return
    unbound = set(unbound_claim_namespaces(model.pvcs))
    warnings: tuple[str | None, ...] = FIELD_SELECTORS["Event"]

    def selectors(scope: str | None) -> tuple[str | None, ...]:
        notes = unbound & set(where) if scope is None else unbound & {scope}
        return (*warnings, CLAIM_NOTES_SELECTOR) if notes else warnings

    scopes: list[str | None] = [*where] if len(where) <= SHARD_MAX_NAMESPACES else [None]
    found, refused = await _list_events(
        client, [(s, selectors(s)) for s in scopes], page_size, _listed_since(model), asyncio.Semaphore(SHARD_CONCURRENCY)
    )
    model.sources.extend(source for source, _items in found)
    for _source, items in found:
        model.add("Event", items)
    if len(refused) < len(scopes):
        model.loaded.add("Event")
        if scopes != [None]:
            model.partial["Event"] = {s for s in where if s not in refused}
    if refused:
        named = ", ".join(s or "all namespaces" for s in refused)
        model.skipped.append(Skipped("Event", f"forbidden in {named}: findings there come without their events"))


async def _list_events(
    client: KubeClient, scopes: list[tuple[str | None, tuple[str | None, ...]]], page_size: int, since: str,
    slots: asyncio.Semaphore,
) -> tuple[Lists, list[str | None]]:
    """One Event LIST per (scope, selectors), ``slots`` at a time; what they found, and the scopes refused."""
    events = BY_KIND["Event"]

    async def one(scope: str | None, selectors: tuple[str | None, ...]) -> Lists:
        async with slots:
            return await _list(client, events, scope, page_size, since, selectors)

    found: Lists = []
    refused: list[str | None] = []
    results = await asyncio.gather(*(one(*entry) for entry in scopes), return_exceptions=True)
    for (scope, _selectors), result in zip(scopes, results, strict=True):
        if isinstance(result, (Forbidden, Unauthorized, NotFound)):
            refused.append(scope)
        elif isinstance(result, BaseException):
            raise result
        else:
            found.extend(result)
    return found, refused


def _listed_since(model: ClusterModel) -> str:
    """The resourceVersion of the model's namespace list ("" if none): what later LISTs are at least as recent as."""
    return next((s.resource_version for s in model.sources if s.kind == "Namespace"), "")


async def _list(
    client: KubeClient, spec: KindSpec, namespace: str | None, page_size: int, since: str,
    selectors: tuple[str | None, ...],
) -> Lists:
    """One paged LIST per field selector (None: the whole collection), concurrently.

    Each page is made model-ready (:func:`strip_values`) as it arrives, so
    Secret values are gone before the next page is read. Each LIST comes with
    where it was made and its resourceVersion, so a watch can continue
    exactly where the list ended.
    """
    results = await asyncio.gather(
        *(
            client.list(spec.resource, namespace=namespace, field_selector=s, type=spec.struct, limit=page_size,
                        each=strip_values, not_older_than=since)
            for s in selectors
        )
    )
    return [
        (ListSource(spec.kind, namespace, s, r.resource_version), r.items)
        for s, r in zip(selectors, results, strict=True)
    ]
