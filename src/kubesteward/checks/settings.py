"""Thresholds the analyzers use, overridable from ``.kubesteward.yaml`` (``thresholds:``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from kubesteward.errors import InputError


@dataclass(frozen=True)
class CheckSettings:
    # A pod Running but not Ready for longer than this is a finding (startup grace).
    pod_not_ready_seconds: float = 300.0
    # A Pending pod younger than this is still "being scheduled/started".
    pod_pending_seconds: float = 120.0
    # Restarts within the pod's current life worth a warning when it is healthy now.
    restart_warning_count: int = 5
    # A container that last restarted longer ago than this is "old news" (info at most).
    restart_recent_seconds: float = 3600.0
    # A pod with deletionTimestamp older than this (plus its grace period) is stuck.
    terminating_stuck_seconds: float = 600.0
    # A node NotReady for less than this is flapping, not (yet) an incident.
    node_not_ready_seconds: float = 0.0
    # A CronJob whose last schedule is older than this many expected intervals is missing runs.
    cronjob_missed_factor: float = 3.0
    # An HPA condition reporting failure (no metrics, cannot scale, pinned at max) younger
    # than this is transient: metrics lag new pods by a scrape or two.
    hpa_condition_seconds: float = 120.0
    # How many recent warning events to attach as evidence.
    evidence_events: int = 3

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None) -> CheckSettings:
        if not data:
            return cls()
        known = {f.name: f.type for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise InputError(f"unknown thresholds in config: {', '.join(sorted(unknown))}")
        try:
            values: dict[str, Any] = {k: (int(v) if known[k] == "int" else float(v)) for k, v in data.items()}
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise InputError(f"invalid threshold value: {exc}") from exc
