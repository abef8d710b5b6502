"""Every ``kubesteward_*`` family, computed at scrape time from a MetricsSource.

Label values are only contexts, namespaces, kinds, codes, severities, alert
states, sink names and workload names: never pod names, images or messages,
which would create a new series per pod restart or rollout. Every
per-context family goes through the series cap (``cardinality.py``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubesteward.findings import Finding, Severity
from kubesteward.metrics.cardinality import DEFAULT_SERIES_CAP, Labels, cap_series, total, worst
from kubesteward.metrics.exporter import ALERT_STATES, CONTEXT_STATES, DRIFT_STATES, ClusterView, MetricsSource
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel
from kubesteward.model.semantics.health import pod_restarts
from kubesteward.model.semantics.rollout import desired_replicas

log = logging.getLogger("kubesteward.metrics")

Family = GaugeMetricFamily | CounterMetricFamily

# ------------------------------------------------------------------ pure aggregations (unit-tested directly)


def restarts_by_workload(model: ClusterModel) -> dict[Labels, float]:
    """(namespace, workload_kind, workload) -> sum of container restartCount over the current pods.

    The workload is the top of the owner chain (Pod -> ReplicaSet -> Deployment).
    ``root_key`` rather than ``root_owner``: when an owner is not (yet) in the
    model, it still names the group by the owner reference instead of falling
    back to the pod, which would put pod names into the labels.
    """
    out: dict[Labels, float] = defaultdict(float)
    for pod in list(model.pods):  # a copy: the engine may change the list while we read
        root = model.root_key(pod)
        out[(pod.metadata.namespace, root.kind, root.name)] += pod_restarts(pod)
    return dict(out)


def deployment_availability(model: ClusterModel) -> dict[Labels, tuple[int, int]]:
    """(namespace, deployment) -> (available, desired), available capped at desired.

    ``spec.replicas`` omitted means 1, as the API server defaults it. The cap
    keeps surge pods of a rollout from lifting the ratio above 1 (and, when
    folded, from hiding another deployment's missing replicas).
    """
    out: dict[Labels, tuple[int, int]] = {}
    for dep in list(model.deployments):
        desired = max(desired_replicas(dep.spec.replicas), 0)
        available = min(max(dep.status.availableReplicas, 0), desired)
        out[(dep.metadata.namespace, dep.metadata.name)] = (available, desired)
    return out


def ratio(counts: tuple[int, int]) -> float:
    available, desired = counts
    return 1.0 if desired == 0 else available / desired


def pooled(values: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The folded series' ratio is the availability of all its replicas together."""
    return sum(a for a, _ in values), sum(d for _, d in values)


def findings_by_code(findings: Sequence[Finding]) -> dict[Labels, float]:
    """(code, severity, namespace) -> number of findings; cluster-scoped objects have namespace ""."""
    out: dict[Labels, float] = defaultdict(float)
    for item in findings:
        out[(item.code, Severity(item.severity).label, item.object.namespace)] += 1
    return dict(out)


def alert_counts(alerts: Mapping[tuple[str, str], int]) -> dict[Labels, float]:
    out: dict[Labels, float] = {(state, sev.label): 0.0 for state in ALERT_STATES for sev in Severity}
    for (state, severity), count in alerts.items():
        out[(state, severity)] = float(count)
    return out


def model_object_counts(model: ClusterModel) -> dict[Labels, float]:
    """kind -> objects in the model, for every kind loaded (or present, in hand-built models)."""
    out: dict[Labels, float] = {}
    for kind in KIND_ATTRS:
        count = len(model.objects(kind))
        if count or kind in model.loaded:
            out[(kind,)] = float(count)
    return out


def by_kind(values: Mapping[str, float]) -> dict[Labels, float]:
    return {(kind,): float(value) for kind, value in values.items()}


# ------------------------------------------------------------------ the collector


class KubestewardCollector(Collector):
    """A prometheus_client collector reading a MetricsSource on every ``collect()``.

    Register it on a private ``CollectorRegistry`` (``serve_metrics`` does):
    the process-wide default registry would also export whatever else
    registered itself there, and tests would see each other's series.
    """

    def __init__(self, source: MetricsSource, *, series_cap: int = DEFAULT_SERIES_CAP) -> None:
        if series_cap < 1:
            raise ValueError(f"series cap must be at least 1 (got {series_cap})")
        self._source = source
        self._cap = series_cap

    def collect(self) -> Iterator[Metric]:
        fams = _Families()
        for view in _unique_contexts(self._source.clusters()):
            self._collect_cluster(fams, view)
        self._collect_sinks(fams, self._source.sink_stats())
        yield from fams.all()

    def _capped(
        self, series: Mapping[Labels, float], merge: Callable[[Sequence[float]], float] = total
    ) -> list[tuple[Labels, float]]:
        """Larger values are the more significant; the folded rest combine with ``merge`` (a sum by default)."""
        return cap_series(series, self._cap, weight=float, merge=merge)

    def _collect_cluster(self, fams: _Families, view: ClusterView) -> None:
        ctx = view.context
        state = view.current_state
        for name in CONTEXT_STATES:
            fams.context_state.add_metric((ctx, name), 1.0 if name == state else 0.0)
        fams.synced.add_metric((ctx,), 1.0 if state == "synced" else 0.0)
        if view.drift_state:
            for name in DRIFT_STATES:
                fams.drift_state.add_metric((ctx, name), 1.0 if name == view.drift_state else 0.0)
        for kind, coverage in sorted(view.skipped_kinds.items()):
            fams.skipped_kinds.add_metric((ctx, kind, coverage), 1.0)
        for code in sorted(set(view.skipped_checks)):
            fams.skipped_checks.add_metric((ctx, code), 1.0)
        # Alerts too: a context never listed still has one, its watchdog's.
        _add(fams.alerts, ctx, self._capped(alert_counts(view.alerts)))
        model = view.model
        if model is None:
            return  # never listed: nothing else is known about it
        _add(fams.restarts, ctx, self._capped(restarts_by_workload(model)))
        availability = cap_series(
            deployment_availability(model), self._cap, weight=lambda c: 1 - ratio(c), merge=pooled
        )
        for labels, counts in availability:
            fams.available_ratio.add_metric((ctx, *labels), ratio(counts))
        _add(fams.findings, ctx, self._capped(findings_by_code(view.findings)))
        _add(fams.events, ctx, self._capped(by_kind(view.events_processed)))
        _add(fams.relists, ctx, self._capped(by_kind(view.relists)))
        _add(fams.lag, ctx, self._capped(by_kind(view.watch_lag_seconds), merge=worst))
        _add(fams.last_event_age, ctx, self._capped(by_kind(view.last_event_age_seconds), merge=worst))
        _add(fams.model_objects, ctx, self._capped(model_object_counts(model)))

    def _collect_sinks(self, fams: _Families, stats: Mapping[str, Mapping[str, int]]) -> None:
        for family, key in ((fams.deliveries, "delivered"), (fams.failures, "failures"), (fams.pending, "pending")):
            series: dict[Labels, float] = {(sink,): float(values.get(key, 0)) for sink, values in stats.items()}
            for labels, value in self._capped(series):
                family.add_metric(labels, value)


def _add(family: Family, context: str, series: list[tuple[Labels, float]]) -> None:
    for labels, value in series:
        family.add_metric((context, *labels), value)


def _unique_contexts(views: Sequence[ClusterView]) -> list[ClusterView]:
    """One view per context: duplicate series would make Prometheus reject the whole scrape."""
    seen: dict[str, ClusterView] = {}
    for view in views:
        if view.context in seen:
            log.warning("metrics: context %r reported twice; exporting the first view only", view.context)
            continue
        seen[view.context] = view
    return list(seen.values())


class _Families:
    """The families of one scrape, created empty so every family is described even without series."""

    def __init__(self) -> None:
        ctx = "context"
        self.restarts = GaugeMetricFamily(
            "kubesteward_container_restarts",
            "Sum of container restartCount over the current pods of a workload (top of the owner chain).",
            labels=[ctx, "namespace", "workload_kind", "workload"],
        )
        self.available_ratio = GaugeMetricFamily(
            "kubesteward_deployment_available_ratio",
            "Deployment status.availableReplicas / spec.replicas, 0..1 (1 when scaled to zero).",
            labels=[ctx, "namespace", "deployment"],
        )
        self.findings = GaugeMetricFamily(
            "kubesteward_findings",
            'Current findings by code, severity and namespace ("" for cluster-scoped objects).',
            labels=[ctx, "code", "severity", "namespace"],
        )
        self.alerts = GaugeMetricFamily(
            "kubesteward_alerts_active",
            "Active alerts by state (pending, firing, silenced, inhibited) and severity.",
            labels=[ctx, "state", "severity"],
        )
        self.events = CounterMetricFamily(
            "kubesteward_watch_events_total", "Watch events processed, by kind.", labels=[ctx, "kind"]
        )
        self.relists = CounterMetricFamily(
            "kubesteward_watch_relists_total",
            "Full re-lists of a kind (410 Gone, reconnect).",
            labels=[ctx, "kind"],
        )
        self.lag = GaugeMetricFamily(
            "kubesteward_watch_lag_seconds",
            "Seconds from receiving a watch event until its evaluation finished (last observed).",
            labels=[ctx, "kind"],
        )
        self.last_event_age = GaugeMetricFamily(
            "kubesteward_watch_last_event_age_seconds",
            "Seconds since the last event or bookmark on the watch of a kind.",
            labels=[ctx, "kind"],
        )
        self.synced = GaugeMetricFamily(
            "kubesteward_watch_synced",
            "1 when the initial list is done and every watch is answered (state synced), else 0.",
            labels=[ctx],
        )
        self.context_state = GaugeMetricFamily(
            "kubesteward_watch_context_state",
            "1 for the context's readiness state (synced, syncing, unauthorized, forbidden, unreachable), "
            "0 for the others.",
            labels=[ctx, "state"],
        )
        self.drift_state = GaugeMetricFamily(
            "kubesteward_drift_check_state",
            "watch --drift-from: 1 for the state of the context's last drift check (pending, ok, partial, "
            "failed), 0 for the others.",
            labels=[ctx, "state"],
        )
        self.skipped_kinds = GaugeMetricFamily(
            "kubesteward_watch_skipped_kinds",
            'Kinds the context could not list (RBAC, API not served): coverage "none", or "partial" when '
            "only some namespaces were listed.",
            labels=[ctx, "kind", "coverage"],
        )
        self.skipped_checks = GaugeMetricFamily(
            "kubesteward_watch_skipped_checks",
            "Finding codes whose checks cannot run on the context for want of a kind it could not list.",
            labels=[ctx, "code"],
        )
        self.model_objects = GaugeMetricFamily(
            "kubesteward_model_objects", "Objects held in the cluster model, by kind.", labels=[ctx, "kind"]
        )
        self.deliveries = CounterMetricFamily(
            "kubesteward_sink_deliveries_total", "Notifications delivered by a sink.", labels=["sink"]
        )
        self.failures = CounterMetricFamily(
            "kubesteward_sink_delivery_failures_total", "Failed delivery attempts of a sink.", labels=["sink"]
        )
        self.pending = GaugeMetricFamily(
            "kubesteward_outbox_pending", "Notifications waiting in the outbox for a sink.", labels=["sink"]
        )

    def all(self) -> list[Family]:
        return [
            self.restarts,
            self.available_ratio,
            self.findings,
            self.alerts,
            self.events,
            self.relists,
            self.lag,
            self.last_event_age,
            self.synced,
            self.context_state,
            self.drift_state,
            self.skipped_kinds,
            self.skipped_checks,
            self.model_objects,
            self.deliveries,
            self.failures,
            self.pending,
        ]
