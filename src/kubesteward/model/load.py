"""Load the cluster model from a live cluster: one concurrent paged LIST per kind.

No per-object calls. A kind the user may not list cluster-wide is retried in
the namespaces they may read (the requested one, or the context's default);
what still fails is recorded in ``ClusterModel.skipped`` with the reason, and
the engine skips exactly the checks that need it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
from collections.abc import Callable, Iterable
from typing import Any

from kubesteward.cluster import KubeClient
from kubesteward.errors import Forbidden, NotFound, Unauthorized
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel, ListSource, Skipped
from kubesteward.model.kinds import BY_KIND, FIELD_SELECTORS, MODEL_KINDS, KindSpec, strip_values

Progress = Callable[[str, int, int], None]  # (kind, done, total)
OnList = Callable[[ListSource, list[Any]], None]  # each LIST's source and its (model-ready) items


async def load_cluster(
    client: KubeClient,
    *,
    namespace: str | None = None,
    kinds: Iterable[str] | None = None,
    progress: Progress | None = None,
    page_size: int = 500,
    on_list: OnList | None = None,
) -> ClusterModel:
    """Build a :class:`ClusterModel` of the cluster (or of one namespace).

    ``on_list`` sees every LIST's items with its source (a watch seeds its
    informers' stores from them).
    """
    specs = [BY_KIND[k] for k in kinds] if kinds is not None else list(MODEL_KINDS)
    model = ClusterModel(context=client.context, source="live", namespace_scope=namespace)
    done = 0

    async def one(spec: KindSpec) -> None:
        nonlocal done
        lists, skipped = await _load_kind(client, spec, namespace, page_size)
        model.sources.extend(source for source, _items in lists or ())
        if lists is not None:
            for source, items in lists:
                stripped = [strip_values(i) for i in items]
                getattr(model, KIND_ATTRS[spec.kind]).extend(stripped)
                if on_list is not None:
                    on_list(source, stripped)
            model.loaded.add(spec.kind)
            if namespace and spec.resource.namespaced:
                model.partial[spec.kind] = {namespace}
        if skipped is not None:
            model.skipped.append(skipped)
            if skipped.namespaces:
                model.partial[spec.kind] = set(skipped.namespaces)
        done += 1
        if progress is not None:
            progress(spec.kind, done, len(specs))

    # Large lists allocate millions of small objects; the cyclic GC would
    # rescan them over and over while they arrive. Our structs cannot form
    # cycles, so pause it during the load and freeze the survivors after.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        await asyncio.gather(*(one(spec) for spec in specs))
    finally:
        if was_enabled:
            gc.enable()
    # Collect first: the load leaves cyclic garbage (HTTP responses holding
    # their page bytes) that a freeze would otherwise keep forever.
    gc.collect()
    gc.freeze()
    model.now = dt.datetime.now(dt.UTC)
    return model


Lists = list[tuple[ListSource, list[Any]]]


async def _load_kind(
    client: KubeClient, spec: KindSpec, namespace: str | None, page_size: int
) -> tuple[Lists | None, Skipped | None]:
    rt = spec.resource
    scope = namespace if rt.namespaced else None
    try:
        return await _list(client, spec, scope, page_size), None
    except NotFound:
        return None, Skipped(spec.kind, f"the API {rt.api_version} is not served by this cluster")
    except Forbidden as exc:
        reason = str(exc).split(": ", 1)[-1]
        if not rt.namespaced or scope is not None:
            return None, Skipped(spec.kind, f"forbidden: {reason}")
    # Cluster-wide list forbidden: fall back to the context's default namespace.
    fallback = client.config.namespace
    try:
        lists = await _list(client, spec, fallback, page_size)
    except (Forbidden, Unauthorized, NotFound):
        return None, Skipped(spec.kind, f"forbidden: cannot list {rt.plural} cluster-wide or in {fallback!r}")
    return lists, Skipped(
        spec.kind, f"cluster-wide list forbidden; loaded namespace {fallback!r} only", namespaces=(fallback,)
    )


async def _list(client: KubeClient, spec: KindSpec, namespace: str | None, page_size: int) -> Lists:
    """One paged LIST, or one per field selector the kind is loaded with, concurrently.

    Each comes with where it was made and its resourceVersion, so a watch
    can continue exactly where the list ended.
    """
    selectors = FIELD_SELECTORS.get(spec.kind, (None,))
    results = await asyncio.gather(
        *(
            client.list(spec.resource, namespace=namespace, field_selector=s, type=spec.struct, limit=page_size)
            for s in selectors
        )
    )
    return [
        (ListSource(spec.kind, namespace, s, r.resource_version), r.items)
        for s, r in zip(selectors, results, strict=True)
    ]
