"""The console sink: one compact, coloured block per notification on a terminal.

It is the sink of a human watching ``kubesteward watch`` in a terminal, so it
never fails a delivery: a broken terminal is not a reason to hold the outbox.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from rich.console import Console
from rich.text import Text

from kubesteward.alerts.ratelimit import RateLimit
from kubesteward.alerts.sinks.base import DEFAULT_TIMEOUT, SinkSpec, alert_object, group_title, register_sink
from kubesteward.checks.evidence import human_duration
from kubesteward.notifications.types import Notification
from kubesteward.terminal import neutralise

log = logging.getLogger("kubesteward.alerts")

_SEVERITY_STYLE = {"critical": "bold red", "error": "red", "warning": "yellow", "info": "cyan"}


def render(notification: Notification) -> Text:
    """The notification as rich ``Text`` (never markup: alert text could contain ``[...]``), every string
    from the cluster with its control characters made visible (an event message must not drive the terminal)."""
    status_style = "bold red" if notification.status == "firing" else "bold green"
    text = Text()
    text.append("● " + neutralise(group_title(notification), one_line=True), style=status_style)
    for alert in notification.alerts:
        severity = alert.labels.get("severity", "")
        text.append("\n  ")
        if alert.status == "resolved":
            text.append(f"{'resolved':<8}", style="green")
        else:
            text.append(f"{severity:<8}", style=_SEVERITY_STYLE.get(severity, ""))
        text.append(f" {neutralise(alert.labels.get('alertname', '?'), one_line=True)}", style="bold")
        text.append(f"  {neutralise(alert_object(alert.labels), one_line=True)}", style="blue")
        if summary := alert.annotations.get("summary"):
            text.append(f"  {neutralise(summary, one_line=True)}")
        if alert.status == "resolved":
            text.append(f"  (after {human_duration(alert.duration_seconds)})", style="dim")
    return text


class ConsoleSink:
    def __init__(
        self,
        name: str = "console",
        *,
        console: Console | None = None,
        rate_limit: RateLimit | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.name = name
        self.rate_limit = rate_limit
        self.timeout = timeout
        self.console = console if console is not None else Console(file=sys.stderr, highlight=False)

    def __repr__(self) -> str:
        return f"ConsoleSink(name={self.name!r})"

    async def send(self, notification: Notification) -> None:
        try:
            self.console.print(render(notification), highlight=False, soft_wrap=True)
        except Exception as exc:  # a terminal problem must not block the outbox
            log.warning("console sink %s could not print: %s", self.name, exc)

    async def aclose(self) -> None:
        return None


@register_sink("console")
def build_console(spec: SinkSpec, env: Mapping[str, str]) -> ConsoleSink:
    spec.check_options()
    target = spec.target or "stderr"
    if target not in ("stderr", "stdout"):
        raise spec.error(f"target must be stderr or stdout, got {target!r}")
    console = Console(file=sys.stdout if target == "stdout" else sys.stderr, highlight=False)
    return ConsoleSink(spec.instance_name, console=console, rate_limit=spec.rate_limit, timeout=spec.timeout)
