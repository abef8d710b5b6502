"""``sync --self-heal --interval DURATION``: after the sync, keep reverting drift until SIGINT or SIGTERM.

One line per revert on stderr (the object and the fields put back; stdout keeps the sync's own output, which
may be JSON), a warning per tick that failed and when the next one comes; stopping is a clean exit 0, as
``watch`` stops.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections.abc import Sequence

from kubesteward.cli.output import escape
from kubesteward.cli.state import STATE
from kubesteward.cluster import KubeClient
from kubesteward.drift.normalise import IgnoreRule
from kubesteward.drift.reconcile import DEFAULT_MAX_PRUNE, AuditSink
from kubesteward.drift.self_heal import HealTick, self_heal
from kubesteward.drift.source import DesiredSource
from kubesteward.durations import parse_seconds
from kubesteward.errors import UsageError


def interval_seconds(text: str) -> float:
    """``--interval``'s seconds (``1m``, ``30s``): a usage error when malformed or not positive."""
    try:
        return parse_seconds(text)
    except UsageError as exc:
        raise UsageError(f"--interval: {exc}") from None


async def heal_until_stopped(
    client: KubeClient, source: DesiredSource, *, app: str, interval: float, namespace: str | None = None,
    prune: bool = False, ignore: Sequence[IgnoreRule] = (), audit: AuditSink | None = None, adopt: bool = False,
    max_prune: int | None = DEFAULT_MAX_PRUNE,
) -> int:
    """Self-heal until SIGINT or SIGTERM; 0 then (what was reverted is on stderr and in the audit trail)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def report(tick: HealTick) -> None:
        when = tick.at.astimezone(dt.UTC).strftime("%H:%M:%S")
        revision = f" ({tick.revision[:7]})" if tick.revision else ""
        for revert in tick.reverts:
            if revert.done:
                STATE.err.print(f"{when} self-heal: reverted {escape(revert.describe(), one_line=True)}{revision}",
                                highlight=False, soft_wrap=True)
            else:
                STATE.err.print(f"[yellow]warning[/]: {when} self-heal: {escape(revert.describe(), one_line=True)}",
                                highlight=False, soft_wrap=True)
        if tick.failed:
            why = f": {escape(tick.error, one_line=True)}" if tick.error else ""
            STATE.err.print(f"[yellow]warning[/]: {when} self-heal failed{why}; next try in "
                            f"{tick.next_in:g}s", highlight=False, soft_wrap=True)

    STATE.note(f"self-healing app {escape(app)} from {escape(source.label)} every {interval:g}s (Ctrl-C or SIGTERM stops)")
    try:
        await self_heal(client, source, app=app, interval=interval, stop=stop, namespace=namespace, prune=prune,
                        ignore=ignore, audit=audit, on_tick=report, adopt=adopt, max_prune=max_prune)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    STATE.note("self-heal stopped")
    return 0
