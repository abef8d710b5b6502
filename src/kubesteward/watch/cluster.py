"""One watched cluster: informers keep the model current, the evaluator keeps findings current.

``ClusterWatch`` loads the model exactly like ``diagnose`` (one paged LIST
per kind, RBAC fallbacks), starts one informer per LIST it made, and after
every batch of changes rebuilds the model from the informers' stores and
re-evaluates incrementally. A full pass runs after a re-list and every
``resync`` seconds (time alone changes some findings).

While the context is not synced (``health``: a watch keeps failing), its
findings are held as they were instead of being re-evaluated from a model
that no longer follows the cluster: an outage must neither resolve nor fire
alerts. A full pass runs as soon as it is synced again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubesteward.cluster import KubeClient
from kubesteward.errors import ClusterError, Forbidden
from kubesteward.findings import Finding
from kubesteward.findings.incidents import Incident, build_incidents
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel, ListSource, ObjectKey
from kubesteward.model.load import load_cluster
from kubesteward.watch.evaluate import IncrementalEvaluator
from kubesteward.watch.health import SYNCING, Health, informer_health, state_of
from kubesteward.watch.informer import Change, Informer
from kubesteward.watch.relations import BatchRelations

log = logging.getLogger("kubesteward.watch")

WATCH_SHARDED_KINDS = frozenset({"Pod"})


@dataclass
class Evaluated:
    """The state of one cluster after an evaluation pass."""

    context: str
    model: ClusterModel
    findings: list[Finding]
    incidents: list[Incident]
    full: bool
    changes: int  # watch changes folded into this pass


OnEvaluated = Callable[[Evaluated], Awaitable[None]]


@dataclass
class WatchSettings:
    batch_window: float = 0.025  # after a change, evaluate once the stream has been quiet this long
    min_interval: float = 0.2  # ... and at least this long after the previous evaluation started
    max_batch_wait: float = 0.5  # ... but never longer than this under a steady stream
    resync: float = 60.0  # full pass period
    timeout_seconds: int = 90  # server-side watch duration (x1-1.5, jittered) before a clean re-watch
    inactivity_margin: float = 30.0  # no event or bookmark for timeoutSeconds + this: the connection is dead
    page_size: int = 500


@dataclass
class ClusterWatch:
    client: KubeClient
    evaluator: IncrementalEvaluator
    on_evaluated: OnEvaluated
    namespace: str | None = None
    settings: WatchSettings = field(default_factory=WatchSettings)
    informers: list[Informer] = field(default_factory=list)
    model: ClusterModel | None = None
    start_error: ClusterError | None = None  # why the last start() failed, until one succeeds
    lag_seconds: dict[str, float] = field(default_factory=dict)  # kind -> receipt-to-evaluated, last batch
    _queue: asyncio.Queue[Change] = field(default_factory=asyncio.Queue)
    _template: ClusterModel | None = None
    # Pods are watched one namespace at a time when the initial load listed them so (namespace -> its
    # informer); None: one cluster-wide pod watch (a namespaced watch, many namespaces, or RBAC fallback).
    _pod_shards: dict[str, Informer] | None = None
    _tasks: dict[Informer, asyncio.Task[None]] = field(default_factory=dict)
    _stopped: list[asyncio.Task[None]] = field(default_factory=list)
    _last_evaluation: float = 0.0  # time.monotonic() when the last evaluation started
    # Events and re-lists of informers stopped with their namespace, per kind: the exported
    # counters are sums over informers and must never go down.
    retired_events: dict[str, int] = field(default_factory=dict)
    retired_relists: dict[str, int] = field(default_factory=dict)

    @property
    def context(self) -> str:
        return self.client.context

    @property
    def health(self) -> Health:
        if self.start_error is not None:
            return Health(state_of(self.start_error), str(self.start_error))
        if self.model is None:
            return Health(SYNCING, "the initial list has not finished")
        return informer_health(self.informers)

    @property
    def synced(self) -> bool:
        return self.health.synced

    async def start(self) -> Evaluated:
        """Initial LIST of every kind, first full evaluation, informers ready to run.

        Raises the typed error of a load that failed (401, unreachable...), and
        :class:`Forbidden` when every LIST was refused: a model of nothing would
        look like a healthy, empty cluster. ``start_error`` keeps it until a
        later call succeeds.
        """
        try:
            return await self._start()
        except ClusterError as exc:
            self.start_error = exc
            raise

    async def _start(self) -> Evaluated:
        lists: dict[ListSource, list[Any]] = {}
        # One watch continues each LIST. Pods, the kind that changes most, are listed (and so
        # watched) per namespace: the API server streams one watch from one goroutine, which
        # capped a cluster-wide pod watch at ~5,000 events/s here, and shards stream side by
        # side (10 namespaces: ~8,000/s). Events stay cluster-wide (two field selectors per
        # namespace would double the connections for a kind whose bursts are smaller). Claims'
        # Normal events are watched everywhere: a claim may become unbound at any time.
        model = await load_cluster(
            self.client, namespace=self.namespace, page_size=self.settings.page_size, on_list=lists.__setitem__,
            shard=WATCH_SHARDED_KINDS, claim_notes="all",
        )
        if not model.loaded:
            first = model.skipped[0] if model.skipped else None
            detail = f" (e.g. {first.kind}: {first.reason})" if first else ""
            raise Forbidden(f"the identity may list nothing that kubesteward reads{detail}", context=self.context)
        self.start_error = None
        self.client.open_streams()  # now, not in the way of the first events
        self.informers = [self._informer(source, lists[source]) for source in model.sources]
        pod_sources = [s for s in model.sources if s.kind == "Pod"]
        if self.namespace is None and "Pod" not in model.partial and pod_sources and all(
            s.namespace is not None for s in pod_sources
        ):
            self._pod_shards = {i.source.namespace or "": i for i in self.informers if i.kind == "Pod"}
        self._template = model
        self.model = model
        findings = self.evaluator.full(model)
        return Evaluated(self.context, model, findings, build_incidents(model, findings), True, 0)

    def _informer(self, source: ListSource, items: list[Any]) -> Informer:
        return Informer(
            self.client,
            source,
            items,
            self._queue.put_nowait,
            timeout_seconds=self.settings.timeout_seconds,
            inactivity_margin=self.settings.inactivity_margin,
            page_size=self.settings.page_size,
        )

    def _reconcile_pod_shards(self) -> list[Change]:
        """One pod informer per namespace: start one for a new namespace (it lists first), stop the
        one of a namespace that is gone. Returns deletions for pods its store still held (its pods
        are deleted before it, but their events may not have arrived yet)."""
        shards = self._pod_shards
        if shards is None:
            return []
        leftovers: list[Change] = []
        namespaces = {name for i in self.informers if i.kind == "Namespace" for (_ns, name) in i.store}
        for name in sorted(namespaces - shards.keys()):
            informer = shards[name] = self._informer(ListSource("Pod", name, None, ""), [])
            self.informers.append(informer)
            self._tasks[informer] = asyncio.create_task(informer.run(), name=f"informer Pod {name}")
            log.info("namespace %s: watching its pods", name)
        for name in sorted(shards.keys() - namespaces):
            informer = shards.pop(name)
            self.informers.remove(informer)
            self.retired_events["Pod"] = self.retired_events.get("Pod", 0) + informer.stats.events
            self.retired_relists["Pod"] = self.retired_relists.get("Pod", 0) + informer.stats.relists
            now = time.monotonic()
            leftovers.extend(Change("Pod", "DELETED", pod, now, pod) for pod in informer.store.values())
            task = self._tasks.pop(informer)
            task.cancel()
            self._stopped.append(task)  # awaited when the watch ends
            log.info("namespace %s is gone: its pod watch stopped", name)
        return leftovers

    def snapshot(self) -> ClusterModel:
        """A fresh model from the informers' stores (indexes rebuild lazily on it)."""
        template = self._template
        assert template is not None, "start() first"
        lists: dict[str, list[Any]] = {kind: [] for kind in KIND_ATTRS}
        for informer in self.informers:
            lists[informer.kind].extend(informer.store.values())
        model = ClusterModel(
            context=template.context,
            source=template.source,
            now=dt.datetime.now(dt.UTC),
            namespace_scope=template.namespace_scope,
            skipped=template.skipped,
            loaded=template.loaded,
            partial=template.partial,
            sources=template.sources,
        )
        for kind, attr in KIND_ATTRS.items():
            setattr(model, attr, lists[kind])
        return model

    async def run(self, stop: asyncio.Event) -> None:
        """Run the informers and the evaluation loop until ``stop`` is set."""
        self._tasks = {i: asyncio.create_task(i.run(), name=f"informer {i.kind}") for i in self.informers}
        last_full = time.monotonic()
        held = False  # changes arrived (or a resync fell due) while not synced: a full pass once synced
        try:
            while not stop.is_set():
                # While held, wake up every second to see whether the context is synced again.
                wait = 1.0 if held else max(0.05, last_full + self.settings.resync - time.monotonic())
                batch = await self._next_batch(stop, timeout=wait)
                due_full = time.monotonic() - last_full >= self.settings.resync
                if any(c.kind == "Namespace" for c in batch):
                    batch.extend(self._reconcile_pod_shards())
                if not self.synced:
                    held = held or bool(batch) or due_full
                    continue
                if not batch and not due_full and not held:
                    continue
                evaluated = self.evaluate(batch, force_full=due_full or held)
                held = False
                if evaluated.full:
                    last_full = time.monotonic()
                await self.on_evaluated(evaluated)
        finally:
            tasks = [*self._tasks.values(), *self._stopped]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _next_batch(self, stop: asyncio.Event, timeout: float) -> list[Change]:
        """Wait for a first change (or the timeout), then gather what follows within the batch window."""
        try:
            first = await asyncio.wait_for(self._queue.get(), timeout=min(timeout, 1.0))
        except TimeoutError:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.max_batch_wait
        quiet_until = time.monotonic() + self.settings.batch_window
        # A lone change is evaluated as soon as the stream is quiet; under a trickle of changes
        # (a busy cluster's steady status updates) evaluations are spaced instead: each costs a
        # fixed few milliseconds (incidents, alert book, a state commit) whatever its size.
        not_before = self._last_evaluation + self.settings.min_interval
        while not stop.is_set():
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            now = time.monotonic()
            wait = min(max(quiet_until, not_before), deadline) - now
            if wait <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), timeout=wait))
                quiet_until = time.monotonic() + self.settings.batch_window
            except TimeoutError:
                break
        return batch

    def evaluate(self, batch: list[Change], *, force_full: bool = False) -> Evaluated:
        self._last_evaluation = time.monotonic()
        model = self.snapshot()
        full = force_full or any(c.type == "RELIST" for c in batch)
        if not full and self.model is not None:
            # Patch the previous model's indexes instead of rebuilding them (O(batch), not O(cluster)).
            self.model.evolve(model, [(c.old, None if c.type == "DELETED" else c.obj) for c in batch])
        dirty: set[ObjectKey] = set()
        if not full:
            # A busy object changes many times per batch; its relations are computed once.
            # Deleted objects keep their own relations (a pod re-created elsewhere left its old node).
            # An update that changed nothing the model keeps (managedFields, resourceVersion, probe
            # times...) cannot change a finding: most kubelet and controller writes are like that.
            latest = {
                (c.kind, c.obj.metadata.namespace, c.obj.metadata.name): c.obj
                for c in batch
                if not (c.type == "MODIFIED" and c.old is not None and c.old == c.obj)
            }
            gone = [c.obj for c in batch if c.type == "DELETED"]
            relations = BatchRelations(model)
            for obj in [*latest.values(), *gone]:
                keys = relations.affected(obj)
                if keys is None:
                    full = True
                    break
                dirty |= keys
        if full:
            findings = self.evaluator.full(model)
        elif dirty:
            findings = self.evaluator.update(model, dirty)
        else:
            findings = self.evaluator.findings()  # only no-op updates: nothing to re-evaluate
        self.model = model
        done = time.monotonic()
        for change in batch:
            self.lag_seconds[change.kind] = done - change.received
        return Evaluated(self.context, model, findings, build_incidents(model, findings), full, len(batch))

