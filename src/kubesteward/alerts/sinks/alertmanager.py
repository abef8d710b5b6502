"""Alertmanager: POST ``{base}/api/v2/alerts`` so an existing Alertmanager routes, groups and silences.

Alertmanager does its own grouping and deduplication by label set, so a
re-sent notification is harmless there. A firing alert carries
``endsAt = sent + ttl`` (option ``ttl=``, default 4h15m): Prometheus-style,
so Alertmanager keeps it firing between our repeats (``--repeat-interval``,
4h by default, must stay below the ttl) instead of resolving it after its
own ``resolve_timeout`` (5 minutes by default), and resolves it by itself if
kubesteward stops sending. A resolved alert carries its real ``endsAt``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from kubesteward.alerts.sinks.base import SinkSpec, register_sink
from kubesteward.alerts.sinks.webhook import HttpSink
from kubesteward.durations import parse_duration
from kubesteward.errors import UsageError
from kubesteward.notifications.types import Alert, Notification, iso

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def _label_name(name: str) -> str:
    # Alertmanager (classic validation) only accepts Prometheus label names.
    if _LABEL_NAME.fullmatch(name):
        return name
    cleaned = _INVALID_LABEL_CHARS.sub("_", name)
    return cleaned if _LABEL_NAME.fullmatch(cleaned) else f"_{cleaned}"


DEFAULT_TTL = dt.timedelta(hours=4, minutes=15)


def postable_alert(alert: Alert, firing_until: dt.datetime | None = None) -> dict[str, Any]:
    """One alert in Alertmanager's API v2 ``postableAlert`` shape (strings only)."""
    # Prometheus semantics: an empty label value is the same as no label, and
    # Alertmanager's matchers treat them alike, so empty values are dropped.
    labels = {_label_name(k): str(v) for k, v in alert.labels.items() if v != ""}
    labels.setdefault("alertname", alert.labels.get("alertname") or "kubesteward")
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": {_label_name(k): str(v) for k, v in alert.annotations.items()},
        "startsAt": iso(alert.starts_at),
        "generatorURL": "",
    }
    if alert.status == "resolved":
        # A resolved alert without endsAt would keep firing in Alertmanager until
        # resolve_timeout; endsAt in the past resolves it now.
        body["endsAt"] = iso(alert.ends_at or alert.starts_at)
    elif firing_until is not None:
        body["endsAt"] = iso(firing_until)
    return body


def postable_alerts(notification: Notification, ttl: dt.timedelta | None = None) -> list[dict[str, Any]]:
    until = notification.created_at + ttl if ttl is not None else None
    return [postable_alert(alert, until) for alert in notification.alerts]


class AlertmanagerSink(HttpSink):
    kind = "alertmanager"
    ttl: dt.timedelta = DEFAULT_TTL

    def payload(self, notification: Notification) -> bytes:
        return json.dumps(postable_alerts(notification, self.ttl), separators=(",", ":")).encode()


@register_sink("alertmanager")
def build_alertmanager(spec: SinkSpec, env: Mapping[str, str]) -> AlertmanagerSink:
    spec.check_options({"ttl"})
    base = spec.require_url().rstrip("/")
    url = base if base.endswith("/api/v2/alerts") else f"{base}/api/v2/alerts"
    sink = AlertmanagerSink(spec.instance_name, url, timeout=spec.timeout, rate_limit=spec.rate_limit)
    if "ttl" in spec.options:
        try:
            sink.ttl = parse_duration(spec.options["ttl"])
        except UsageError as exc:
            raise spec.error(f"ttl: {exc}") from None
    return sink
