"""``kubesteward watch`` as a library: clusters in, notifications out.

>>> service = WatchService(clients, store, sinks, policy=AlertPolicy(group_wait=10))  # doctest: +SKIP
>>> await service.run(stop)                                                           # doctest: +SKIP

One :class:`ClusterWatch` per context keeps its model and findings current;
every evaluation feeds the shared :class:`AlertBook`, which decides, commits
and enqueues; the :class:`Deliverer` drains the outbox to the sinks. A ticker
advances time (thresholds, group intervals) and re-reads silences, which the
``silence`` command writes from another process.

A context that cannot be listed (unreachable, 401, nothing readable) is kept
and started again with capped, jittered exponential backoff for as long as
the service runs. While kubesteward cannot see a context, the ticker feeds
the book a watchdog incident for it (KS901), which fires through the normal
lifecycle once it outlasts its threshold and resolves when the context is
seen again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kubesteward.alerts.delivery import DEFAULT_BACKOFF_MAX, Deliverer, backoff_delay
from kubesteward.alerts.lifecycle import AlertBook, AlertPolicy, Outcome
from kubesteward.alerts.sinks.base import Sink
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient
from kubesteward.durations import sleep_unless
from kubesteward.errors import ClusterError
from kubesteward.findings import Finding
from kubesteward.metrics.exporter import ClusterView
from kubesteward.model.cluster import ClusterModel
from kubesteward.notifications.silences import Silence
from kubesteward.state.store import StateStore
from kubesteward.watch.cluster import ClusterWatch, Evaluated, WatchSettings
from kubesteward.watch.drift import FAILED, PARTIAL, PENDING, DriftHealth, DriftSettings, check_context
from kubesteward.watch.drift import SCOPE as DRIFT_SCOPE
from kubesteward.watch.evaluate import IncrementalEvaluator
from kubesteward.watch.health import describe_skipped, watchdog_incident

log = logging.getLogger("kubesteward.watch")


@dataclass
class CheckOptions:
    settings: CheckSettings = field(default_factory=CheckSettings)
    ignore: tuple[str, ...] = ()
    only: tuple[str, ...] = ()


@dataclass
class ServiceStats:
    evaluations: int = 0
    full_passes: int = 0
    notifications: int = 0
    last_tick: float = field(default_factory=time.monotonic)


class WatchService:
    def __init__(
        self,
        clients: Sequence[KubeClient],
        store: StateStore,
        sinks: Sequence[Sink],
        *,
        policy: AlertPolicy | None = None,
        watch: WatchSettings | None = None,
        checks: CheckOptions | None = None,
        namespace: str | None = None,
        tick: float = 1.0,
        silence_refresh: float = 2.0,
        retry_backoff: tuple[float, float] = (1.0, DEFAULT_BACKOFF_MAX),
        context_backoff: tuple[float, float] = (1.0, 30.0),
        outbox_retention: float = 7 * 86400.0,
        on_outcome: Callable[[Outcome], None] | None = None,
        drift: DriftSettings | None = None,
    ) -> None:
        self.store = store
        self.policy = policy or AlertPolicy()
        self.checks = checks or CheckOptions()
        self.book = AlertBook(self.policy, store, [s.name for s in sinks])
        # (first, longest) delay between delivery attempts of one sink
        self.deliverer = Deliverer(store, sinks, backoff_base=retry_backoff[0], backoff_max=retry_backoff[1])
        self.tick_seconds = tick
        # Delivered notifications are kept this long (audit trail, dedup of late re-sends), then pruned hourly.
        self.outbox_retention = outbox_retention
        self._pruned = 0.0
        self.silence_refresh = silence_refresh
        self.on_outcome = on_outcome
        self.stats = ServiceStats()
        self.watches = [
            ClusterWatch(
                client,
                IncrementalEvaluator(self.checks.settings, self.checks.ignore, self.checks.only),
                self._on_evaluated,
                namespace=namespace,
                settings=watch or WatchSettings(),
            )
            for client in clients
        ]
        # (first, longest) delay between two starts of a context that could not be listed
        self.context_backoff = context_backoff
        self._silences: list[Silence] = []
        self._silences_read = 0.0
        self._views: dict[str, ClusterView] = {}
        self._findings: dict[str, list[Finding]] = {}
        self._lock = asyncio.Lock()
        # The manifests each context is compared with every drift.interval (None: no drift source).
        self.drift = drift
        self.namespace = namespace  # where drift's manifests without a namespace go (None: the context's)
        self.drift_health: dict[str, DriftHealth] = {w.context: DriftHealth() for w in self.watches} if drift else {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """First LIST and evaluation of every cluster, side by side.

        A cluster that cannot be listed is kept, with the reason in its
        ``health``: :meth:`run` starts it again with backoff, so one context
        that is down neither silences the others nor is dropped for good.
        """
        self._refresh_views()  # readiness names every context from now on ("syncing" during this first LIST)
        await asyncio.gather(*(self._start(w) for w in self.watches))
        if self.drift is not None:  # the first comparison now, so that --once reports drift too
            await asyncio.gather(*(self._check_drift(w) for w in self.watches))
        self._refresh_views()  # ... and why one that could not be listed is not synced

    async def _start(self, watch: ClusterWatch, attempt: int = 0) -> bool:
        """One start of one cluster; False (kept in its health) when it could not be listed."""
        before = watch.health.reason
        try:
            evaluated = await watch.start()
        except ClusterError as exc:
            # The first failure is the caller's to report (the CLI prints it, or exits with it under
            # --once); then said when it fails differently, and every tenth attempt.
            level = logging.INFO if attempt == 0 else logging.WARNING
            if attempt % 10 == 0 or str(exc) != before:
                log.log(level, "cannot watch %s yet (%s; retrying): %s", watch.context, watch.health.state, exc)
            return False
        if evaluated.model.skipped or watch.evaluator.skipped:
            for line in describe_skipped(evaluated.model.skipped, watch.evaluator.skipped):
                log.warning("%s: %s", watch.context, line)
        await self._on_evaluated(evaluated)
        return True

    async def run(self, stop: asyncio.Event, *, started: bool = False) -> None:
        if not started:
            await self.start()
        tasks = [asyncio.create_task(self._supervise(w, stop), name=f"watch {w.context}") for w in self.watches]
        tasks.append(asyncio.create_task(self.deliverer.run(stop), name="deliver"))
        tasks.append(asyncio.create_task(self._ticker(stop), name="tick"))
        if self.drift is not None:
            tasks += [asyncio.create_task(self._drift_loop(w, self.drift.interval, stop), name=f"drift {w.context}")
                      for w in self.watches]
        try:
            done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = task.exception()
                if error is not None:
                    raise error
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _supervise(self, watch: ClusterWatch, stop: asyncio.Event) -> None:
        """Start a cluster that could not be listed again and again (capped, jittered backoff), then watch it."""
        attempts = 0
        while watch.model is None:
            base, cap = self.context_backoff
            if await sleep_unless(stop, backoff_delay(attempts, base, cap)):
                return
            attempts += 1
            if await self._start(watch, attempts):
                log.warning("watching %s (listed after %d more attempts)", watch.context, attempts)
        await watch.run(stop)

    async def _drift_loop(self, watch: ClusterWatch, interval: float, stop: asyncio.Event) -> None:
        while not await sleep_unless(stop, interval):
            await self._check_drift(watch)

    async def _check_drift(self, watch: ClusterWatch) -> None:
        """Compare one context with the manifests and observe its drift alerts (none when the check failed:
        what it could not see it must neither raise nor resolve)."""
        assert self.drift is not None
        check = await check_context(watch.client, self.drift, self.namespace)
        before = self.drift_health.get(watch.context, DriftHealth())
        health = check.health
        if health.state != before.state or health.reason != before.reason:
            # The first check's trouble is the caller's to report (the CLI prints it), as a start's is.
            if health.state in (FAILED, PARTIAL):
                level = logging.INFO if before.state == PENDING else logging.WARNING
                log.log(level, "%s: drift check %s: %s", watch.context, health.state, health.reason)
            elif before.state in (FAILED, PARTIAL):
                log.warning("%s: drift check ok again", watch.context)
        async with self._lock:
            self.drift_health[watch.context] = health
            if check.observed:
                active = [fp for fp, alert in self.book.alerts.items()
                          if alert.context == watch.context and alert.scope == DRIFT_SCOPE]
                self.book.observe(watch.context, check.incidents, _NOTHING, dt.datetime.now(dt.UTC),
                                  scope=DRIFT_SCOPE, own_ids=True, held=check.holding(active))
            await self._tick()

    async def _ticker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.tick_seconds)
            except TimeoutError:
                pass
            if not stop.is_set():
                async with self._lock:
                    await self._tick()

    async def _on_evaluated(self, evaluated: Evaluated) -> None:
        async with self._lock:
            now = dt.datetime.now(dt.UTC)
            self.book.observe(evaluated.context, evaluated.incidents, evaluated.model, now)
            self.stats.evaluations += 1
            self.stats.full_passes += int(evaluated.full)
            self._findings[evaluated.context] = evaluated.findings
            await self._tick()

    async def _tick(self) -> Outcome:
        now = dt.datetime.now(dt.UTC)
        self._watchdog(now)
        # The store is synchronous (a SQLite file, PostgreSQL round trips): decide and commit
        # off the event loop so the informers keep reading meanwhile. The caller holds the
        # lock, so one decision runs at a time and nothing else touches the book during it.
        outcome = await asyncio.to_thread(self._decide, now)
        self.stats.last_tick = time.monotonic()
        if outcome.notifications:
            self.stats.notifications += len(outcome.notifications)
            self.deliverer.wake()
        for fp in outcome.fired:
            alert = self.book.alerts.get(fp)
            if alert is not None:
                log.info("firing: %s %s", alert.code, alert.annotations.get("summary", ""))
        for fp in outcome.resolved:
            log.info("resolved: %s", fp)
        self._refresh_views()
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def _watchdog(self, now: dt.datetime) -> None:
        """One watchdog incident per context kubesteward cannot see now; none clears it."""
        for watch in self.watches:
            health = watch.health
            incidents = [watchdog_incident(watch.context, health)] if health.blind else []
            self.book.observe(watch.context, incidents, _NOTHING, now, scope="watchdog")

    def _decide(self, now: dt.datetime) -> Outcome:
        """Re-read silences (another process writes them), prune the outbox hourly, tick the book."""
        if time.monotonic() - self._silences_read >= self.silence_refresh:
            self._silences = self.store.silences(now)
            self._silences_read = time.monotonic()
        if time.monotonic() - self._pruned >= 3600.0:
            self._pruned = time.monotonic()
            pruned = self.store.prune_delivered(now - dt.timedelta(seconds=self.outbox_retention))
            if pruned:
                log.info("pruned %d delivered notifications older than %.0f days", pruned, self.outbox_retention / 86400)
        return self.book.tick(now, self._silences)

    # ------------------------------------------------------------------ metrics source

    def _refresh_views(self) -> None:
        """Build the exporter's read-only views on the loop thread (scrapes read them from theirs)."""
        now = time.monotonic()
        views: dict[str, ClusterView] = {}
        for watch in self.watches:
            events = dict(watch.retired_events)
            relists = dict(watch.retired_relists)
            ages: dict[str, float] = {}
            for informer in watch.informers:
                kind = informer.kind
                events[kind] = events.get(kind, 0) + informer.stats.events
                relists[kind] = relists.get(kind, 0) + informer.stats.relists
                ages[kind] = min(ages.get(kind, float("inf")), now - informer.stats.last_activity)
            health = watch.health
            model = watch.model
            views[watch.context] = ClusterView(
                context=watch.context,
                model=model,
                findings=list(self._findings.get(watch.context, ())),
                alerts=self.book.counts(watch.context),
                events_processed=events,
                relists=relists,
                watch_lag_seconds=dict(watch.lag_seconds),
                last_event_age_seconds=ages,
                synced=health.synced,
                state=health.state,
                reason=health.reason,
                skipped_kinds={s.kind: "partial" if s.namespaces else "none" for s in model.skipped} if model else {},
                skipped_checks=sorted({c for s in watch.evaluator.skipped for c in s.codes}),
                drift_state=self.drift_health[watch.context].state if self.drift else "",
                drift_reason=self.drift_health[watch.context].reason if self.drift else "",
            )
        self._views = views

    def clusters(self) -> Sequence[ClusterView]:
        return list(self._views.values())

    def sink_stats(self) -> Mapping[str, Mapping[str, int]]:
        pending = self.store.outbox_stats()
        out: dict[str, dict[str, int]] = {}
        for name, stats in self.deliverer.stats.items():
            out[name] = {
                "delivered": stats.delivered,
                "failures": stats.failures,
                "pending": pending.get(name, {}).get("pending", 0),
            }
        return out

    def healthy(self) -> bool:
        return time.monotonic() - self.stats.last_tick < max(30.0, 10 * self.tick_seconds)

    def ready(self) -> bool:
        # From the views (replaced whole on the loop thread): this runs on the exporter's threads.
        views = list(self._views.values())
        return bool(views) and len(views) == len(self.watches) and all(v.ready for v in views)


_NOTHING = ClusterModel()  # the watchdog's incidents concern no object of any model

