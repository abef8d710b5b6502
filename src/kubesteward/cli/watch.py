"""``kubesteward watch``: continuous diagnosis with Alertmanager-grade alerting."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from kubesteward.alerts.lifecycle import DEFAULT_THRESHOLDS, AlertPolicy
from kubesteward.alerts.sinks import build_sinks
from kubesteward.alerts.sinks.base import Sink
from kubesteward.checks.evidence import human_duration
from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.diagnose import check_code_patterns
from kubesteward.cli.output import escape
from kubesteward.cli.state import STATE
from kubesteward.cluster import ClientFactory
from kubesteward.config_file import load_project_config
from kubesteward.drift.normalise import parse_ignores
from kubesteward.drift.source import DesiredSource, GitSpec
from kubesteward.durations import parse_seconds
from kubesteward.errors import DeliveryIncomplete, InputError, UsageError
from kubesteward.findings import Severity
from kubesteward.metrics import DEFAULT_METRICS_ADDR, DEFAULT_SERIES_CAP, serve_metrics
from kubesteward.notifications.types import LABEL_NAMES, parse_iso
from kubesteward.state.store import StateStore
from kubesteward.watch.cluster import WatchSettings
from kubesteward.watch.drift import DriftSettings
from kubesteward.watch.service import CheckOptions, WatchService

Duration = Annotated[str, typer.Option(help="Duration, e.g. 30s, 5m, 4h.")]


def _seconds(name: str, text: str) -> float:
    try:
        return parse_seconds(text, allow_zero=True)  # 0: "fire at once", "no group wait"
    except UsageError as exc:
        raise UsageError(f"{name}: {exc}") from None


def _thresholds(values: list[str] | None) -> dict[str, float]:
    out = dict(DEFAULT_THRESHOLDS)
    for value in opt.split_values(values):
        code, sep, duration = value.partition("=")
        if not sep or not code.strip():
            raise UsageError(f"--threshold expects CODE=DURATION (e.g. KS501=60s), not {value!r}")
        out[code.strip().upper()] = _seconds("--threshold", duration)
    return out


def watch(
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Contexts = None,
    all_contexts: opt.AllContexts = False,
    namespace: opt.Namespace = None,
    all_namespaces: opt.AllNamespaces = False,
    sink: Annotated[
        list[str] | None,
        typer.Option("--sink", help="Where notifications go (repeatable): console, jsonl=PATH, webhook=URL, "
                     "slack=URL, alertmanager=URL; options after commas. Default: console."),
    ] = None,
    state: opt.StateUrl = None,
    threshold: Annotated[
        list[str] | None, typer.Option("--threshold", help="How long an incident must persist before it fires, "
                                       "per code or glob: KS501=60s (repeatable).")
    ] = None,
    default_threshold: Annotated[str, typer.Option("--default-threshold", help="Threshold of other codes.")] = "30s",
    group_wait: Annotated[str, typer.Option("--group-wait", help="A new group waits this long for company.")] = "30s",
    group_interval: Annotated[
        str, typer.Option("--group-interval", help="A changed group sends at most this often.")
    ] = "5m",
    repeat_interval: Annotated[
        str, typer.Option("--repeat-interval", help="An unchanged firing group is re-sent after this.")
    ] = "4h",
    group_by: Annotated[
        str, typer.Option("--group-by", help="Alert labels that form a group (context,namespace,kind,name: "
                          "one root cause per notification; e.g. context,namespace to batch a namespace).")
    ] = "context,namespace,kind,name",
    min_severity: Annotated[str, typer.Option("--min-severity", help="error, warning or info.")] = "warning",
    no_inhibit: Annotated[bool, typer.Option("--no-inhibit", help="Do not mute alerts explained by a "
                                              "firing Node or StorageClass alert.")] = False,
    metrics_addr: Annotated[
        str, typer.Option("--metrics-addr", help="Prometheus exporter address (loopback), or 'off'.")
    ] = DEFAULT_METRICS_ADDR,
    metrics_allow_remote: Annotated[
        bool, typer.Option("--metrics-allow-remote", help="Allow a non-loopback --metrics-addr.")
    ] = False,
    metrics_series_cap: Annotated[
        int, typer.Option("--metrics-series-cap", min=1, help="Series per metric family and context before "
                          "the rest fold into one '_other' series.")
    ] = DEFAULT_SERIES_CAP,
    resync: Annotated[str, typer.Option("--resync", help="Full re-evaluation period.")] = "60s",
    sink_backoff_max: Annotated[
        str, typer.Option("--sink-backoff-max", help="Longest pause between two delivery attempts of a failing "
                          "sink (so delivery resumes within it once the sink is back).")
    ] = "5s",
    once: Annotated[bool, typer.Option("--once", help="Evaluate once, deliver what is due, exit.")] = False,
    delivery_wait: Annotated[
        str, typer.Option("--delivery-wait", help="With --once: how long to keep trying to deliver before exiting "
                          f"{DeliveryIncomplete.exit_code} with what is still queued.")
    ] = "30s",
    drift_from: Annotated[
        list[Path] | None,
        typer.Option("--drift-from", help="Alert (KS902) when live objects drift from these manifests (files, "
                     "directories, kustomizations, charts; repeatable), compared as drift -f does."),
    ] = None,
    drift_git: Annotated[
        str | None, typer.Option("--drift-git", help="Alert when live objects drift from this Git repository's "
                                 "manifests (a local path or file:// URL), instead of --drift-from.")
    ] = None,
    drift_ref: Annotated[str, typer.Option("--drift-ref", help="--drift-git: the branch, tag or commit, "
                                           "resolved again at every check.")] = "HEAD",
    drift_path: Annotated[str, typer.Option("--drift-path", help="--drift-git: the directory inside it.")] = ".",
    drift_interval: Annotated[str, typer.Option("--drift-interval", help="How often to compare.")] = "1m",
    drift_app: Annotated[
        str | None,
        typer.Option("--drift-app", help="The application sync applied these manifests as: the objects it still "
                     "owns that left them alert too. Default: the name sync and drift give the same source."),
    ] = None,
    drift_ignore: Annotated[
        list[str] | None,
        typer.Option("--drift-ignore", help="A field drift leaves out, as drift --ignore (JSON pointer or path "
                     "glob, optionally Kind: first); repeatable."),
    ] = None,
    ignore: opt.Ignore = None,
    only: opt.Only = None,
    config: opt.Config = None,
    request_timeout: opt.RequestTimeout = 30.0,
    sandbox_if_unconfigured: opt.SandboxFallback = False,
) -> int:
    """Watch clusters continuously and alert once per root cause (thresholds, grouping, silences, sinks)."""
    project = load_project_config(config)
    try:
        severity = Severity.parse(min_severity)
    except KeyError:
        raise UsageError(f"--min-severity must be error, warning or info, not {min_severity!r}") from None
    groups = tuple(opt.split_values([group_by]))
    unknown = [name for name in groups if name not in LABEL_NAMES]
    if unknown or not groups:
        raise UsageError(
            f"--group-by: {', '.join(repr(n) for n in unknown) or 'no label'} is not an alert label; "
            f"labels: {', '.join(LABEL_NAMES)}"
        )
    check_code_patterns("--ignore", opt.split_values(ignore))
    check_code_patterns(f"ignore in {project.path}", project.ignore)
    check_code_patterns("--only", opt.split_values(only))
    policy = AlertPolicy(
        thresholds=_thresholds(threshold),
        default_threshold=_seconds("--default-threshold", default_threshold),
        min_severity=severity,
        group_by=groups,
        group_wait=_seconds("--group-wait", group_wait),
        group_interval=_seconds("--group-interval", group_interval),
        repeat_interval=_seconds("--repeat-interval", repeat_interval),
        inhibit=not no_inhibit,
    )
    settings = WatchSettings(resync=_seconds("--resync", resync))
    drift = _drift_settings(drift_from, drift_git, drift_ref, drift_path, drift_interval, drift_ignore, drift_app)
    backoff_max = _seconds("--sink-backoff-max", sink_backoff_max)
    if backoff_max <= 0:
        raise UsageError("--sink-backoff-max must be longer than 0s")
    wait = _seconds("--delivery-wait", delivery_wait)
    checks = CheckOptions(
        project.settings, tuple([*project.ignore, *opt.split_values(ignore)]), tuple(opt.split_values(only))
    )
    sinks = build_sinks(sink or ["console"])
    scope = None if all_namespaces else namespace
    targets = opt.resolve_targets(kubeconfig, context, all_contexts, sandbox_if_unconfigured)
    store = StateStore.open(state)
    try:
        return runner.run(
            _run(targets, store, sinks, policy, settings, checks, scope, request_timeout, once,
                 None if metrics_addr == "off" else metrics_addr, metrics_allow_remote, metrics_series_cap,
                 backoff_max, wait, drift)
        )
    finally:
        store.close()


async def _run(
    targets: opt.Targets, store: StateStore, sinks: list[Sink], policy: AlertPolicy,
    settings: WatchSettings, checks: CheckOptions, namespace: str | None, timeout: float, once: bool,
    metrics_addr: str | None, allow_remote: bool, series_cap: int, backoff_max: float, delivery_wait: float,
    drift: DriftSettings | None,
) -> int:
    async with ClientFactory(targets.kubeconfig, timeout=timeout) as factory:
        clients = [factory.client(c) for c in targets.contexts]
        service = WatchService(clients, store, sinks, policy=policy, watch=settings, checks=checks,
                               namespace=namespace, retry_backoff=(min(1.0, backoff_max), backoff_max), drift=drift)
        server = (
            serve_metrics(service, metrics_addr, allow_remote=allow_remote, series_cap=series_cap)
            if metrics_addr else None
        )
        try:
            with STATE.status("listing the cluster..."):
                await service.start()
            failed = [(w.context, w.start_error) for w in service.watches if w.start_error is not None]
            if once and failed and len(failed) == len(service.watches) == 1:
                raise failed[0][1]  # one context, one line, its own exit code (as diagnose)
            names = ", ".join(w.context for w in service.watches)
            where = f"; metrics at {server.url}/metrics" if server else ""
            STATE.note(f"watching {names}; state {store.url}; sinks: {', '.join(s.name for s in sinks)}{where}")
            for context, error in failed:
                if once:
                    STATE.err.print(f"[red]error[/]: not watching {escape(context)}: {escape(str(error))}",
                                    highlight=False, soft_wrap=True)
                else:
                    STATE.err.print(f"[yellow]warning[/]: cannot watch {escape(context)} yet: {escape(str(error))}; "
                                    "retrying until it can", highlight=False, soft_wrap=True)
            drift_failed = _report_drift(service, once)
            if once:
                await service.deliverer.drain(timeout=delivery_wait)
                undelivered = await asyncio.to_thread(service.deliverer.backlog)
                for item in undelivered:
                    because = f"; last error: {item.last_error}" if item.last_error else ""
                    STATE.err.print(
                        f"[red]error[/]: sink {escape(item.sink)}: {item.pending} notification"
                        f"{'s' if item.pending != 1 else ''} still queued{escape(because)} (sent by the next run)",
                        highlight=False, soft_wrap=True,  # one line, whatever the terminal width
                    )
                codes = [e.exit_code for _, e in failed] + ([DeliveryIncomplete.exit_code] if undelivered else [])
                codes += drift_failed
                return max(codes, default=0)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            if any(s.name == "console" for s in sinks) and STATE.err.is_terminal and not STATE.quiet:
                # A live table of the active alerts; notifications scroll above it.
                with Live(_alert_table(service), console=STATE.err, refresh_per_second=1) as live:
                    service.on_outcome = lambda _outcome: live.update(_alert_table(service))
                    await service.run(stop, started=True)
            else:
                await service.run(stop, started=True)
            await service.deliverer.drain(timeout=5.0)
            STATE.note("stopped")
            return 0
        finally:
            if server is not None:
                server.close()
            for s in sinks:
                await s.aclose()



def _drift_settings(
    paths: list[Path] | None, git: str | None, ref: str, path: str, interval: str, ignore: list[str] | None,
    app: str | None,
) -> DriftSettings | None:
    if not (paths or git):
        if ref != "HEAD" or path != "." or ignore or app is not None:
            raise UsageError("--drift-ref, --drift-path, --drift-ignore and --drift-app need --drift-from or "
                             "--drift-git")
        return None
    if paths and git:
        raise UsageError("--drift-from and --drift-git: give one of them")
    if git is None and (ref != "HEAD" or path != "."):
        raise UsageError("--drift-ref and --drift-path need --drift-git")
    for item in paths or ():
        if not item.exists():
            raise InputError(f"--drift-from {item}: no such file or directory")
    seconds = _seconds("--drift-interval", interval)
    if seconds <= 0:
        raise UsageError("--drift-interval must be longer than 0s")
    source = DesiredSource(paths=tuple(paths or ()), git=GitSpec(git, ref, path) if git else None)
    return DriftSettings(source, seconds, parse_ignores(ignore or []), opt.application(app, source))


def _report_drift(service: WatchService, once: bool) -> list[int]:
    """A line per context whose first drift check failed (an error under --once) or was partial;
    the failed checks' exit codes."""
    codes = []
    for context, health in service.drift_health.items():
        if health.failed:
            codes.append(health.exit_code)
            level = "[red]error[/]" if once else "[yellow]warning[/]"
            then = "" if once else "; checking again every interval"
            STATE.err.print(f"{level}: {escape(context)}: drift check failed: {escape(health.reason)}{then}",
                            highlight=False, soft_wrap=True)
        elif health.state == "partial":
            STATE.err.print(f"[yellow]warning[/]: {escape(context)}: drift check partial: {escape(health.reason)}",
                            highlight=False, soft_wrap=True)
    return codes


_STATE_STYLE = {"firing": "red", "pending": "yellow", "silenced": "dim", "inhibited": "dim"}


def _alert_table(service: WatchService) -> Table:
    table = Table(title="active alerts", title_justify="left", expand=False, show_edge=False)
    for column in ("state", "severity", "code", "root cause", "since", "pods", "restarts"):
        table.add_column(column)
    now = dt.datetime.now(dt.UTC)
    active = [a for a in service.book.alerts.values() if a.state != "resolved"]
    active.sort(key=lambda a: (a.state != "firing", a.severity != "error", a.first_seen))
    for alert in active[:30]:
        state = alert.suppressed.split(":", 1)[0] if alert.suppressed else alert.state
        since = parse_iso(alert.first_seen)
        age = human_duration((now - since).total_seconds()) if since else ""
        table.add_row(f"[{_STATE_STYLE.get(state, '')}]{state}[/]", alert.severity, alert.code,
                      escape(alert.root), age, str(alert.pods), str(alert.restarts))
    if len(active) > 30:
        table.caption = f"... and {len(active) - 30} more"
    if not active:
        table.caption = "none: all quiet"
    return table
