"""Slack incoming webhooks: a Block Kit message per notification.

The incoming-webhook URL *is* the credential (anyone holding it can post), so
it only ever appears masked (``https://hooks.slack.com/services/***``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubesteward.alerts.sinks.base import SinkSpec, alert_object, group_title, register_sink
from kubesteward.alerts.sinks.webhook import HttpSink
from kubesteward.checks.evidence import human_duration
from kubesteward.notifications.types import Alert, Notification

MAX_BLOCKS = 50  # Slack rejects a message with more blocks (invalid_blocks)
_HEADER_CHARS = 150  # plain_text limit of a header block
_SECTION_CHARS = 3000  # mrkdwn limit of a section block
_SEVERITY_EMOJI = {"critical": ":rotating_light:", "error": ":red_circle:", "warning": ":large_orange_circle:"}
_DEFAULT_EMOJI = ":large_blue_circle:"
_RESOLVED_EMOJI = ":white_check_mark:"


def _escape(text: str) -> str:
    # Slack's mrkdwn treats &, < and > as control characters (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _alert_block(alert: Alert) -> dict[str, Any]:
    severity = alert.labels.get("severity", "")
    emoji = _RESOLVED_EMOJI if alert.status == "resolved" else _SEVERITY_EMOJI.get(severity, _DEFAULT_EMOJI)
    head = f"{emoji} *{_escape(alert.labels.get('alertname', '?'))}*  `{_escape(alert_object(alert.labels))}`"
    if severity:
        head += f"  {_escape(severity)}"
    if alert.status == "resolved":
        head += f"  resolved after {human_duration(alert.duration_seconds)}"
    lines = [head]
    if summary := alert.annotations.get("summary"):
        lines.append(_escape(summary))
    if remediation := alert.annotations.get("remediation"):
        lines.append(f"*Fix:* {_escape(remediation)}")
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), _SECTION_CHARS)}}


def slack_message(notification: Notification) -> dict[str, Any]:
    """``{"text": fallback, "blocks": [...]}``: a header, one section per alert, at most 50 blocks."""
    icon = "🔥" if notification.status == "firing" else "✅"
    title = group_title(notification)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"{icon} {title}", _HEADER_CHARS)}}
    ]
    alerts = list(notification.alerts)
    room = MAX_BLOCKS - len(blocks)
    shown = alerts if len(alerts) <= room else alerts[: room - 1]  # keep one block for the summary
    blocks.extend(_alert_block(alert) for alert in shown)
    hidden = alerts[len(shown) :]
    if hidden:
        firing = sum(1 for a in hidden if a.status == "firing")
        text = f"…and {len(hidden)} more alerts ({firing} firing, {len(hidden) - firing} resolved)"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    # Notifications (mobile, screen readers) show only "text".
    first = alerts[0] if alerts else None
    fallback = title
    if first is not None:
        fallback += f": {first.labels.get('alertname', '?')} {alert_object(first.labels)}"
        if summary := first.annotations.get("summary"):
            fallback += f" - {summary}"
        if len(alerts) > 1:
            fallback += f" (+{len(alerts) - 1} more)"
    return {"text": _escape(fallback), "blocks": blocks}


class SlackSink(HttpSink):
    kind = "slack"

    def payload(self, notification: Notification) -> bytes:
        return json.dumps(slack_message(notification), ensure_ascii=False).encode()


@register_sink("slack")
def build_slack(spec: SinkSpec, env: Mapping[str, str]) -> SlackSink:
    spec.check_options()
    return SlackSink(spec.instance_name, spec.require_url(), timeout=spec.timeout, rate_limit=spec.rate_limit)
