"""Options shared by every cluster command, kubectl style, and target resolution."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kubesteward.cli.output import escape
from kubesteward.cli.state import STATE
from kubesteward.cluster.config import kubeconfig_paths
from kubesteward.errors import Forbidden, UsageError

if TYPE_CHECKING:
    from kubesteward.drift.source import DesiredSource
    from kubesteward.findings import Severity
    from kubesteward.model.render import RenderOptions

Kubeconfig = Annotated[
    str | None,
    typer.Option("--kubeconfig", help="Path to the kubeconfig file(s), ':'-separated. Default: $KUBECONFIG, ~/.kube/config."),
]
Contexts = Annotated[
    list[str] | None,
    typer.Option(
        "--context",
        help="Kubeconfig context. Repeat (or comma-separate) to fan out over several clusters concurrently.",
    ),
]
AllContexts = Annotated[bool, typer.Option("--all-contexts", help="Every context in the kubeconfig.")]
Namespace = Annotated[str | None, typer.Option("-n", "--namespace", help="Namespace scope.")]
AllNamespaces = Annotated[bool, typer.Option("-A", "--all-namespaces", help="All namespaces (the default for scans).")]
Selector = Annotated[str | None, typer.Option("-l", "--selector", help="Label selector, e.g. app=web,tier!=db.")]
def _positive_seconds(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(f"must be a positive number of seconds, not {value}")
    return value


RequestTimeout = Annotated[
    float, typer.Option("--request-timeout", help="Seconds per API request.", callback=_positive_seconds)
]
SandboxFallback = Annotated[
    bool,
    typer.Option(
        "--sandbox-if-unconfigured",
        help="When no cluster is configured, use the local simulated cluster (starting it if needed).",
    ),
]
Output = Annotated[str, typer.Option("-o", "--output", help="Output format: table, json or yaml.")]
FailOn = Annotated[
    str | None, typer.Option("--fail-on", help="Exit 1 when a finding is at least this severe: error, warning, info.")
]
Ignore = Annotated[list[str] | None, typer.Option("--ignore", help="Codes (or globs like KS3*) to leave out; repeatable, comma-separated.")]
Only = Annotated[list[str] | None, typer.Option("--only", help="Run only these codes (or globs).")]
Config = Annotated[str | None, typer.Option("--config", help="Config file (default: .kubesteward.yaml in . or a parent).")]
AllowPartial = Annotated[
    bool,
    typer.Option("--allow-partial", help="With --fail-on: pass a run that could read only part of what was asked "
                 "(RBAC). Without it such a run exits 5; the output says what was not covered either way."),
]
StateUrl = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="State store: a SQLite file path or sqlite:///PATH, or postgresql://USER:PASSWORD@HOST:PORT/DB. "
        "Default: $KUBESTEWARD_STATE_URL, else $XDG_STATE_HOME/kubesteward/watch.db.",
    ),
]

GitRepo = Annotated[
    str | None,
    typer.Option("--git", help="Read the manifests from this Git repository (a local path or file:// URL) "
                 "instead of -f; the commit is recorded."),
]
GitRef = Annotated[str, typer.Option("--ref", help="--git: the branch, tag or commit to read.")]
GitPath = Annotated[str, typer.Option("--path", help="--git: the directory inside the repository.")]
App = Annotated[
    str | None,
    typer.Option("--app", help="The application: names its ApplySet, sync's record of the objects it owns. "
                 "Default: the last segment of the first -f path, or of --path (the repository's for --path .)."),
]


ChartValues = Annotated[
    list[Path] | None, typer.Option("--values", help="Charts: a values file (repeatable; later files win).")
]
ChartSet = Annotated[list[str] | None, typer.Option("--set", help="Charts: key=value (repeatable).")]
ChartRelease = Annotated[str, typer.Option("--release-name", help="Charts: the release name.")]


def render_options(
    values: list[Path] | None, set_values: list[str] | None, release: str, namespace: str | None,
) -> RenderOptions:
    """How charts among the manifests are rendered (``--values``, ``--set``, ``--release-name``, ``-n``)."""
    from kubesteward.errors import InputError
    from kubesteward.model.render import RenderOptions  # only the commands that read manifests

    for file in values or []:
        if not file.is_file():
            raise InputError(f"--values {file}: no such file")
    return RenderOptions(values=tuple(values or ()), set_values=tuple(set_values or ()), release=release,
                         namespace=namespace)


def desired_source(
    filename: Sequence[Path] | None, git: str | None, ref: str, path: str, render: RenderOptions | None = None,
) -> DesiredSource:
    """``-f PATH…`` or ``--git REPO --ref REF --path DIR``, exactly one of them."""
    from kubesteward.drift.source import DesiredSource, GitSpec  # only the commands that read manifests

    if filename and git:
        raise UsageError("-f and --git: give one of them")
    if git is None and (ref != "HEAD" or path != "."):
        raise UsageError("--ref and --path need --git")
    return DesiredSource(paths=tuple(filename or ()), git=GitSpec(git, ref, path) if git else None, render=render)


def application(app: str | None, source: DesiredSource) -> str:
    """``--app`` (checked), else the name ``sync`` and ``drift`` both give the source's application, so
    ``drift -f deploy/`` after ``sync -f deploy/`` needs no flag."""
    from kubesteward.drift.ownership import app_name, check_app

    if app is not None:
        return check_app(app)
    if source.git is None:
        return app_name(source.paths)
    # --path . names no directory: the repository does (its last segment, .git dropped as a suffix).
    named = [part for part in (source.git.path, source.git.repo) if Path(part.rstrip("/")).name not in ("", "..")]
    return app_name(named)


def split_values(values: list[str] | None) -> list[str]:
    """A repeatable option's values, each also comma-separated: ``--only KS1*,KS2* --only KS301``."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def partial_gate(partial: Sequence[tuple[str, str]], failing_on: bool, allow_partial: bool) -> int:
    """The exit code for runs that read only part of what was asked (``partial``: each run's name and
    what it did not cover): under ``--fail-on`` without ``--allow-partial``, 5 and one line per run."""
    if not (failing_on and partial) or allow_partial:
        return 0
    for name, missed in partial:
        STATE.err.print(
            f"[red]error[/]: {escape(f'[{name}]')} partial result under --fail-on: not covered: {escape(missed)} "
            "(--allow-partial accepts it)",
            highlight=False, soft_wrap=True,
        )
    return Forbidden.exit_code


def severity_threshold(name: str | None) -> Severity | None:
    """``--fail-on``'s severity (None for none or unset); :class:`UsageError` for anything else."""
    from kubesteward.findings import Severity  # not at every start: only commands that judge need it

    if not name or name == "none":
        return None
    try:
        return Severity.parse(name)
    except KeyError:
        raise UsageError(f"--fail-on must be error, warning, info or none, not {name!r}") from None


@dataclass
class Targets:
    kubeconfig: str | None
    contexts: list[str | None]


def _configured(kubeconfig: str | None) -> bool:
    if kubeconfig:
        return True
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    return any(Path(p).expanduser().is_file() for p in kubeconfig_paths(None).split(os.pathsep) if p)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def resolve_targets(
    kubeconfig: str | None,
    contexts: list[str] | None,
    all_contexts: bool = False,
    sandbox_fallback: bool = False,
) -> Targets:
    """Which kubeconfig and contexts a command runs against."""
    if not _configured(kubeconfig):
        from kubesteward.sandbox.cluster import Sandbox

        sandbox = Sandbox()
        running = sandbox.status().running
        if not running and not sandbox_fallback and _interactive():
            sandbox_fallback = typer.confirm(
                "No cluster is configured. Start the local sandbox with a demo workload and use it?", default=True,
                err=True,
            )
        if sandbox_fallback or running:
            if not running:
                STATE.note("No cluster configured: starting the local sandbox (kubesteward sandbox up --demo)...")
                with STATE.status("starting the sandbox...") as spinner:
                    sandbox.up(progress=lambda message: spinner.update(message))
            if sandbox_fallback:
                from kubesteward.cli.sandbox import seed_demo_workload

                seed_demo_workload(sandbox.kubeconfig)
            STATE.note(f"No cluster configured: using the local sandbox ({sandbox.kubeconfig})")
            kubeconfig = str(sandbox.kubeconfig)
    names: list[str | None] = []
    for value in contexts or []:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    if all_contexts:
        from kubesteward.cluster import list_contexts

        names = list(list_contexts(kubeconfig)[0])
    return Targets(kubeconfig=kubeconfig, contexts=names or [None])
