"""Alertmanager: POST ``{base}/api/v2/alerts`` so an existing Alertmanager routes, groups and silences.

Alertmanager does its own grouping and deduplication by label set, so a
re-sent notification is harmless there. A firing alert is sent without
``endsAt``: Alertmanager then resolves it by itself after its
``resolve_timeout`` unless the alert is sent again, which is why
``--repeat-interval`` must stay below that timeout (or rely on the resolved
notification, which carries ``endsAt``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from kubesteward.alerts.sinks.base import SinkSpec, register_sink
from kubesteward.alerts.sinks.webhook import HttpSink
from kubesteward.alerts.types import Alert, Notification, iso

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def _label_name(name: str) -> str:
    # Alertmanager (classic validation) only accepts Prometheus label names.
    if _LABEL_NAME.fullmatch(name):
        return name
    cleaned = _INVALID_LABEL_CHARS.sub("_", name)
    return cleaned if _LABEL_NAME.fullmatch(cleaned) else f"_{cleaned}"


def postable_alert(alert: Alert) -> dict[str, Any]:
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
    return body


def postable_alerts(notification: Notification) -> list[dict[str, Any]]:
    return [postable_alert(alert) for alert in notification.alerts]


class AlertmanagerSink(HttpSink):
    kind = "alertmanager"

    def payload(self, notification: Notification) -> bytes:
        return json.dumps(postable_alerts(notification), separators=(",", ":")).encode()


@register_sink("alertmanager")
def build_alertmanager(spec: SinkSpec, env: Mapping[str, str]) -> AlertmanagerSink:
    spec.check_options()
    base = spec.require_url().rstrip("/")
    url = base if base.endswith("/api/v2/alerts") else f"{base}/api/v2/alerts"
    return AlertmanagerSink(spec.instance_name, url, timeout=spec.timeout, rate_limit=spec.rate_limit)
