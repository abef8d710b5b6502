"""``kubesteward status``: a one-screen summary of one or more clusters."""

from __future__ import annotations

from rich.table import Table

from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.output import check_format, emit_machine, escape
from kubesteward.cli.state import STATE
from kubesteward.cluster import ClientFactory, ContextResult
from kubesteward.summary import ClusterSummary, summarize


def status(
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Contexts = None,
    all_contexts: opt.AllContexts = False,
    namespace: opt.Namespace = None,
    all_namespaces: opt.AllNamespaces = False,
    output: opt.Output = "table",
    request_timeout: opt.RequestTimeout = 30.0,
    sandbox_if_unconfigured: opt.SandboxFallback = False,
) -> int:
    """Summarize clusters: version, nodes, namespaces, pods by phase and the problems seen."""
    fmt = check_format(output)
    targets = opt.resolve_targets(kubeconfig, context, all_contexts, sandbox_if_unconfigured)
    scope = None if all_namespaces else namespace

    async def main() -> list[ContextResult[ClusterSummary]]:
        async with ClientFactory(targets.kubeconfig, timeout=request_timeout) as factory:
            return await factory.fan_out(targets.contexts, lambda c: summarize(c, scope))

    results = runner.run(main())
    failures = [r for r in results if r.error is not None]
    if len(results) == 1 and failures:
        raise failures[0].error  # type: ignore[misc]  # one cluster: its error is the command's error
    if fmt in ("json", "yaml"):
        emit_machine([r.value if r.ok else {"context": r.context, "error": str(r.error)} for r in results], fmt)
    else:
        for result in results:
            if result.value is not None:
                _render(result.value)
            else:
                STATE.err.print(f"[red]error[/]: {escape(str(result.error))}", highlight=False)
    return max((r.error.exit_code for r in failures if r.error), default=0)


def _render(summary: ClusterSummary) -> None:
    out = STATE.out
    out.print(
        f"[bold]{escape(summary.context)}[/]  {escape(summary.server)}  Kubernetes {escape(summary.version)}\n"
        f"  nodes {summary.nodes_ready}/{len(summary.nodes)} ready   namespaces {summary.namespaces}   "
        f"pods {summary.pods}   container restarts {summary.restarts}",
        highlight=False,
    )
    phases = "  ".join(f"{escape(phase)} {count}" for phase, count in sorted(summary.pods_by_phase.items()))
    if phases:
        out.print(f"  pods by phase: {phases}", highlight=False)
    sick_nodes = [n for n in summary.nodes if n.ready != "True" or n.problems or not n.schedulable]
    if sick_nodes:
        table = Table("node", "ready", "schedulable", "problems", box=None, padding=(0, 2))
        for node in sick_nodes:
            colour = "red" if node.ready != "True" else "yellow"
            table.add_row(escape(node.name), f"[{colour}]{escape(node.ready)}[/]", str(node.schedulable),
                          escape(", ".join(node.problems), one_line=True))
        out.print(table)
    if summary.pod_problems:
        table = Table("pod problem", "pods", box=None, padding=(0, 2))
        for reason, count in summary.pod_problems.items():
            table.add_row(f"[red]{escape(reason, one_line=True)}[/]", str(count))
        out.print(table)
    elif not sick_nodes:
        out.print("  [green]no node or pod problems seen[/]")
