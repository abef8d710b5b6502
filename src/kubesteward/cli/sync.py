"""``kubesteward sync``: put the cluster in the state the manifests (files or Git) describe, by server-side
apply, pruning only what this application applied before.

Exit codes: 0 when everything was applied (and pruned) and every applied workload became healthy; 1 when
an object failed (refused, a missing namespace) or a workload did not become healthy within ``--timeout``;
7 when another field manager owns fields the manifests set (``--force-conflicts`` takes them); 2 for usage
errors, a prune of every object refused among them. Errors keep their documented codes. With ``--self-heal``
the command keeps running after the sync (:mod:`kubesteward.cli.self_heal`) and exits 0 when SIGINT or SIGTERM
stops it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.output import check_format, emit_machine, escape
from kubesteward.cli.self_heal import heal_until_stopped, interval_seconds
from kubesteward.cli.state import STATE
from kubesteward.cluster import ClientFactory, KubeClient
from kubesteward.drift.reconcile import DEFAULT_MAX_PRUNE, AuditSink, SyncResult, sync
from kubesteward.drift.source import DesiredSource
from kubesteward.errors import Conflict, UsageError

if TYPE_CHECKING:
    from kubesteward.state import StateStore

FORMATS = ("table", "json", "yaml")
_LOOK = {"create": ("green", "created", "create"), "update": ("yellow", "updated", "update"),
         "unchanged": ("dim", "unchanged", "unchanged"), "prune": ("magenta", "pruned", "prune"),
         "conflict": ("red", "conflict", "conflict"), "error": ("red", "error", "error")}


@dataclass(frozen=True)
class SyncOptions:
    """One sync as the command line asked for it (self-heal repeats it)."""

    source: DesiredSource
    app: str
    namespace: str | None
    prune: bool = False
    allow_empty: bool = False
    dry_run: bool = False
    force_conflicts: bool = False
    wait: bool = True
    timeout: float = 300.0
    max_prune: int = DEFAULT_MAX_PRUNE


def _positive(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter(f"must be a positive number of seconds, not {value}")
    return value


def sync_command(
    filename: Annotated[
        list[Path] | None,
        typer.Option("-f", "--filename", help="Manifests to apply: files, directories, kustomizations, Helm charts; "
                     "repeatable."),
    ] = None,
    git: opt.GitRepo = None,
    ref: opt.GitRef = "HEAD",
    git_path: opt.GitPath = ".",
    app: opt.App = None,
    namespace: Annotated[
        str | None,
        typer.Option("-n", "--namespace", help="Where objects naming no namespace go, and the app's record "
                     "(default: the context's namespace)."),
    ] = None,
    kubeconfig: opt.Kubeconfig = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the objects this app applied before that left the manifests.")
    ] = False,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="--prune: delete every object of the app when the manifests hold none.")
    ] = False,
    max_prune: Annotated[
        int, typer.Option("--max-prune", min=0, help="--prune: refuse to delete more objects than this in one sync "
                          "(read the plan with --dry-run, then raise it).")
    ] = DEFAULT_MAX_PRUNE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan (server-side dry run of every write); change nothing.")
    ] = False,
    force_conflicts: Annotated[
        bool, typer.Option("--force-conflicts", help="Take the fields another field manager owns, and objects of "
                     "another app's set.")
    ] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Do not wait for the applied workloads.")] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the applied workloads to become healthy.",
                            callback=_positive)
    ] = 300.0,
    state: opt.StateUrl = None,
    values: opt.ChartValues = None,
    set_values: opt.ChartSet = None,
    release: opt.ChartRelease = "release",
    output: Annotated[str, typer.Option("-o", "--output", help="table, json or yaml.")] = "table",
    self_heal: Annotated[
        bool, typer.Option("--self-heal", help="Then keep running: every --interval, revert what drifted from the "
                           "manifests (forced, taking back fields others changed) until SIGINT/SIGTERM.")
    ] = False,
    interval: Annotated[str, typer.Option("--interval", help="--self-heal: how often to compare (e.g. 30s, 1m).")] = "1m",
    request_timeout: opt.RequestTimeout = 30.0,
) -> int:
    """Apply manifests (-f PATH, or --git REPO [--ref REF] [--path DIR]) by server-side apply in dependency
    order, wait for the workloads, and with --prune delete what this app applied before and no longer has."""
    fmt = check_format(output, FORMATS)
    if allow_empty and not prune:
        raise UsageError("--allow-empty is a --prune option")
    if max_prune != DEFAULT_MAX_PRUNE and not prune:
        raise UsageError("--max-prune is a --prune option")
    if self_heal and dry_run:
        raise UsageError("--self-heal writes: it cannot be a --dry-run")
    if interval != "1m" and not self_heal:
        raise UsageError("--interval is a --self-heal option")
    heal_every = interval_seconds(interval)
    render = opt.render_options(values, set_values, release, namespace)
    source = opt.desired_source(filename, git, ref, git_path, render)
    options = SyncOptions(
        source=source, app=opt.application(app, source), namespace=namespace, prune=prune, allow_empty=allow_empty,
        dry_run=dry_run, force_conflicts=force_conflicts, wait=not no_wait, timeout=timeout, max_prune=max_prune,
    )
    kubeconfig = opt.resolve_targets(kubeconfig, None).kubeconfig
    # Imported here: SQLAlchemy costs startup time that the other commands would pay for nothing.
    from kubesteward.state import StateStore

    with StateStore.open(state) as store:  # opened first: a trail that cannot be written stops the sync unwritten
        result = _run(kubeconfig, context, options, store, request_timeout)
        if fmt == "table":
            _table(result)
        else:
            emit_machine(result.document(), fmt)
        if self_heal:  # a daemon from here on: a clean stop is its success, whatever the first sync said
            sys.stdout.flush()
            return runner.run(_heal(kubeconfig, context, options, store, request_timeout, heal_every))
    return exit_code(result)


async def sync_once(client: KubeClient, options: SyncOptions, audit: AuditSink | None) -> SyncResult:
    """One sync of ``options`` through ``client``, recorded in ``audit``."""
    return await sync(
        client, options.source, app=options.app, namespace=options.namespace, prune=options.prune,
        allow_empty=options.allow_empty, dry_run=options.dry_run, force_conflicts=options.force_conflicts,
        wait=options.wait, wait_timeout=options.timeout, audit=audit, max_prune=options.max_prune,
    )


def exit_code(result: SyncResult) -> int:
    """7 when fields of other managers blocked the apply, 1 when anything else failed, else 0."""
    if result.conflicts:
        return Conflict.exit_code
    return 0 if result.ok else 1


def _run(
    kubeconfig: str | None, context: str | None, options: SyncOptions, store: StateStore, timeout: float,
) -> SyncResult:
    with STATE.status("syncing..."):

        async def main() -> SyncResult:
            async with ClientFactory(kubeconfig, timeout=timeout) as factory:
                return await sync_once(factory.client(context), options, store)

        return runner.run(main())


async def _heal(
    kubeconfig: str | None, context: str | None, options: SyncOptions, store: StateStore, timeout: float,
    interval: float,
) -> int:
    async with ClientFactory(kubeconfig, timeout=timeout) as factory:
        return await heal_until_stopped(factory.client(context), options.source, app=options.app, interval=interval,
                                        namespace=options.namespace, prune=options.prune, audit=store,
                                        adopt=options.force_conflicts, max_prune=options.max_prune)


def _table(result: SyncResult) -> None:
    out = STATE.out
    plan = " [bold](dry run: the plan, nothing written)[/]" if result.dry_run else ""
    revision = f" ({escape(result.revision[:7])})" if result.revision and result.revision[:7] not in result.source else ""
    out.print(f"sync [bold]{escape(result.app)}[/] from {escape(result.source)}{revision} to "
              f"{escape(result.context)} (record: {escape(result.namespace)}){plan}", highlight=False, soft_wrap=True)
    for action in result.actions:
        colour, done, planned = _LOOK[action.verb]
        word = planned if result.dry_run else done
        detail = f" ({escape(action.detail, one_line=True)})" if action.detail else ""
        out.print(f"  [{colour}]{word:<9}[/] {escape(action.ref)}{detail}", highlight=False, soft_wrap=True)
    for outcome in result.waits:
        colour, word = ("green", "healthy") if outcome.healthy else ("red", "unhealthy")
        out.print(f"  [{colour}]{word:<9}[/] {escape(outcome.ref)} ({escape(outcome.message, one_line=True)})",
                  highlight=False, soft_wrap=True)
    counts = result.counts()
    summary = (f"{len(result.actions)} objects: {counts['create']} created, {counts['update']} updated, "
               f"{counts['unchanged']} unchanged, {counts['prune']} pruned")
    if result.dry_run:
        summary = (f"plan for {len(result.actions)} objects: {counts['create']} to create, {counts['update']} to "
                   f"update, {counts['unchanged']} unchanged, {counts['prune']} to prune")
    problems = [f"{counts['conflict']} conflicts" if counts["conflict"] else "",
                f"{counts['error']} errors" if counts["error"] else "",
                f"{len(result.unhealthy)} not healthy" if result.unhealthy else ""]
    out.print(summary + "".join(f", [red]{text}[/]" for text in problems if text), highlight=False, soft_wrap=True)
    if result.conflicts:
        managers = sorted({manager for action in result.conflicts for manager in action.managers})
        sets = sum(1 for action in result.conflicts if not action.managers)
        whose = [f"fields owned by {', '.join(managers)}" if managers else "",
                 f"{sets} objects of another app's set" if sets else ""]
        STATE.err.print(
            f"[red]error[/]: {len(result.conflicts)} conflicts ({escape('; '.join(w for w in whose if w))}): "
            "--force-conflicts takes them", highlight=False, soft_wrap=True)
