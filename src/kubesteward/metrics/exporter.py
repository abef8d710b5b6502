"""What the watch engine hands the Prometheus exporter.

The exporter never keeps state of its own: at every scrape it asks a
:class:`MetricsSource` for the current :class:`ClusterView` of each watched
context and computes every family from it (see ``collector.py``). So a
scrape shows exactly what the engine knows at that moment, and a context
that stops being watched disappears from ``/metrics`` at once.

Threading: ``/metrics``, ``/healthz`` and ``/readyz`` are served from the
exporter's own HTTP threads, not the engine's event loop. The source's
methods are therefore called from another thread; they must return data
that is safe to read there (copies, or objects the engine replaces rather
than mutates in place).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kubesteward.findings import Finding
from kubesteward.model.cluster import ClusterModel

# Alert states and severities always exported (as 0 when absent), so that
# `kubesteward_alerts_active{state="firing"} > 0` has a series to compare
# from the first scrape on, instead of "no data".
ALERT_STATES = ("pending", "firing", "silenced", "inhibited")
# Readiness states of a watched context, all exported (1 for the current one, 0 for the others).
CONTEXT_STATES = ("synced", "syncing", "unauthorized", "forbidden", "unreachable")
# States of a context's drift check (watch --drift-from): not run yet, everything compared, part of it, failed.
DRIFT_STATES = ("pending", "ok", "partial", "failed")


@dataclass
class ClusterView:
    """One watched context, read at scrape time."""

    context: str
    model: ClusterModel | None  # the live cluster model (pods, deployments, ...) - read-only; None: never listed
    findings: Sequence[Finding] = ()  # current findings
    # (state pending|firing|silenced|inhibited, severity) -> count of active alerts
    alerts: Mapping[tuple[str, str], int] = field(default_factory=dict)
    events_processed: Mapping[str, int] = field(default_factory=dict)  # kind -> watch events processed (counter)
    relists: Mapping[str, int] = field(default_factory=dict)  # kind -> full re-lists (410 Gone, reconnect) (counter)
    # kind -> seconds from receiving an event until its evaluation finished (last observed)
    watch_lag_seconds: Mapping[str, float] = field(default_factory=dict)
    # kind -> seconds since the last event or bookmark on that watch
    last_event_age_seconds: Mapping[str, float] = field(default_factory=dict)
    synced: bool = False  # initial list done and every watch answered
    state: str = ""  # one of CONTEXT_STATES ("": synced or syncing, from ``synced``)
    reason: str = ""  # why it is not synced, one line
    skipped_kinds: Mapping[str, str] = field(default_factory=dict)  # kind -> "none" | "partial" (RBAC, no API)
    skipped_checks: Sequence[str] = ()  # codes whose analyzers could not run for want of a kind
    # watch --drift-from: the last drift check's state (one of DRIFT_STATES; "" without a drift source)
    drift_state: str = ""
    drift_reason: str = ""

    @property
    def current_state(self) -> str:
        return self.state or ("synced" if self.synced else "syncing")

    @property
    def ready(self) -> bool:
        """Synced, and the drift check (when there is one) has compared at least part of the manifests."""
        return self.current_state == "synced" and self.drift_state in ("", "ok", "partial")

    @property
    def not_ready_reason(self) -> str:
        """One line: why it is not ready ("" when it is)."""
        if self.current_state != "synced":
            return f"{self.current_state}: {self.reason}" if self.reason else self.current_state
        if not self.ready:
            reason = f": {self.drift_reason}" if self.drift_reason else ""
            return f"drift check {self.drift_state}{reason}"
        return ""


class MetricsSource(Protocol):
    """The engine side of the exporter. Called from the exporter's HTTP threads."""

    def clusters(self) -> Sequence[ClusterView]: ...

    def sink_stats(self) -> Mapping[str, Mapping[str, int]]:
        """sink -> {"delivered": n, "failures": n, "pending": n} (missing keys count as 0)."""
        ...

    def healthy(self) -> bool:
        """The engine loop is alive (the caller decides what that means)."""
        ...

    def ready(self) -> bool:
        """Every cluster is synced (the views say why one is not)."""
        ...
