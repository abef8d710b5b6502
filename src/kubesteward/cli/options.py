"""Options shared by every cluster command, kubectl style, and target resolution."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from kubesteward.cli.state import STATE
from kubesteward.cluster.config import kubeconfig_paths

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
