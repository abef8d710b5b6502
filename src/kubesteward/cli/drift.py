"""``kubesteward drift``: two namespaces, one namespace in two clusters, or manifests and the live cluster
(``-f``), compared object by object.

Exit codes as ``kubectl diff``'s: 0 in sync, 1 drift found; a run that could read only part of what was
asked exits 5 unless ``--allow-partial``, with or without ``--fail-on``: drift's exit code is its verdict, and
0 would say "in sync" about what it could not see. Errors keep their documented codes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.output import check_format, emit_machine, escape
from kubesteward.cli.state import STATE
from kubesteward.cluster import ClientFactory
from kubesteward.drift.desired import drift as drift_desired_source
from kubesteward.drift.namespaces import DEFAULT_KINDS, DriftResult, drift_namespaces
from kubesteward.drift.normalise import IgnoreRule, parse_ignores
from kubesteward.drift.source import DesiredSource
from kubesteward.errors import UsageError
from kubesteward.reporting.markdown import code_span

FORMATS = ("table", "json", "yaml", "markdown")
_STATUS_LOOK = {"in-sync": ("green", "in sync"), "drifted": ("yellow", "drifted"),
                "missing": ("red", "missing"), "extra": ("magenta", "extra"), "error": ("red", "error")}
_DIFF_COLOURS = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def drift(
    namespaces: Annotated[
        tuple[str, str] | None,
        typer.Option("--namespaces", help="Two namespaces to compare: the reference, then the other."),
    ] = None,
    kubeconfig: opt.Kubeconfig = None,
    context: Annotated[
        list[str] | None,
        typer.Option("--context", help="Kubeconfig context; twice (A, then B) to compare two clusters."),
    ] = None,
    namespace: opt.Namespace = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kinds", help="Kinds to compare (Deployment, configmaps, example.com/v1/Widget); "
                     "repeatable, comma-separated. Default: workloads, Services, Ingresses, ConfigMaps, "
                     "Secrets, HPAs, PDBs, NetworkPolicies, ServiceAccounts, Roles, RoleBindings."),
    ] = None,
    ignore: Annotated[
        list[str] | None,
        typer.Option("--ignore", help="A field to leave out: JSON pointer (/spec/replicas) or path glob "
                     "(spec.template.spec.containers[*].image), optionally Kind: first; repeatable."),
    ] = None,
    name_map: Annotated[
        list[str] | None,
        typer.Option("--map", help="OLD=NEW: the left side's object OLD is the right side's NEW; repeatable."),
    ] = None,
    filename: Annotated[
        list[Path] | None,
        typer.Option("-f", "--filename", help="Manifests to compare with the live cluster: files, directories, "
                     "kustomizations, Helm charts; repeatable."),
    ] = None,
    git: opt.GitRepo = None,
    ref: opt.GitRef = "HEAD",
    git_path: opt.GitPath = ".",
    app: opt.App = None,
    values: Annotated[
        list[Path] | None, typer.Option("--values", help="-f charts: a values file (repeatable; later files win).")
    ] = None,
    set_values: Annotated[list[str] | None, typer.Option("--set", help="-f charts: key=value (repeatable).")] = None,
    release: Annotated[str, typer.Option("--release-name", help="-f charts: the release name.")] = "release",
    output: Annotated[str, typer.Option("-o", "--output", help="table, json, yaml or markdown.")] = "table",
    no_diff: Annotated[bool, typer.Option("--no-diff", help="Table: the summary only, no diff per object.")] = False,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="drift (the default: exit 1 when anything differs) or none (exit 0 "
                     "whatever differs). A partial run exits 5 either way unless --allow-partial."),
    ] = None,
    allow_partial: opt.AllowPartial = False,
    request_timeout: opt.RequestTimeout = 30.0,
) -> int:
    """Compare two namespaces (--namespaces A B), one namespace in two clusters (--context A --context B -n NS),
    or manifests with the live cluster (-f PATH, or --git REPO [--ref REF] [--path DIR])."""
    fmt = check_format(output, FORMATS)
    rules = parse_ignores(ignore or [])
    mapping = _parse_map(opt.split_values(name_map))
    if fail_on not in (None, "drift", "none"):
        raise UsageError(f"--fail-on must be drift or none, not {fail_on!r}")
    contexts = opt.split_values(context)
    # As every cluster command: no kubeconfig, but the local sandbox runs, means the sandbox.
    kubeconfig = opt.resolve_targets(kubeconfig, None).kubeconfig
    if not (filename or git) and (ref != "HEAD" or git_path != "."):
        raise UsageError("--ref and --path need --git")
    if filename or git:
        if namespaces is not None or len(contexts) > 1 or kinds or mapping:
            raise UsageError("-f and --git compare manifests with one cluster: --namespaces, a second --context, "
                             "--kinds and --map do not apply to them")
        render = opt.render_options(values, set_values, release, namespace)
        source = opt.desired_source(filename, git, ref, git_path, render)
        owner = opt.application(app, source)
        result = _run_desired(kubeconfig, contexts, source, namespace, rules, owner, request_timeout)
    else:
        if app is not None:
            raise UsageError("--app names the application of -f or --git manifests (its owned objects)")
        if len(contexts) > 2:
            raise UsageError("--context: give one (both namespaces in that cluster) or two (one cluster each)")
        if namespaces is None and len(contexts) != 2:
            raise UsageError("say what to compare: --namespaces A B, --context A --context B [-n NAMESPACE], "
                             "-f PATH or --git REPO")
        if namespaces is not None and namespace is not None:
            raise UsageError("-n and --namespaces: give one (-n is for the same namespace in two clusters)")
        chosen = opt.split_values(kinds) or list(DEFAULT_KINDS)
        result = _run(kubeconfig, contexts, namespaces, namespace, chosen, rules, mapping, request_timeout)
    STATE.retain(result)
    if STATE.verbosity >= 1:
        for side in (result.left, result.right):
            STATE.err.print(f"{escape(f'[{side.label}]')} read {side.objects_read} objects", highlight=False)
    if fmt == "table":
        _table(result, show_diff=not no_diff)
    elif fmt == "markdown":
        print(_markdown(result))
    else:
        emit_machine(result.document(), fmt)
    if not result.in_sync and fail_on != "none":
        return 1
    partial = [(side.label, side.coverage.summary()) for side in (result.left, result.right)
               if not side.coverage.complete]
    return opt.partial_gate(partial, True, allow_partial)  # always: exit 0 is the verdict "in sync"


def _parse_map(values: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise UsageError(f"--map {value!r}: give OLD=NEW (the left side's name, then the right side's)")
        mapping[old.strip()] = new.strip()
    return mapping


def _run(
    kubeconfig: str | None, contexts: list[str], namespaces: tuple[str, str] | None, namespace: str | None,
    kinds: list[str], ignore: tuple[IgnoreRule, ...], mapping: dict[str, str], timeout: float,
) -> DriftResult:
    left_context = contexts[0] if contexts else None
    right_context = contexts[1] if len(contexts) == 2 else left_context
    with STATE.status("reading both sides..."):

        async def main() -> DriftResult:
            async with ClientFactory(kubeconfig, timeout=timeout) as factory:
                left, right = factory.client(left_context), factory.client(right_context)
                if namespaces is not None:
                    left_ns, right_ns = namespaces
                else:
                    left_ns = right_ns = namespace or left.config.namespace
                return await drift_namespaces(left, left_ns, right, right_ns, kinds, ignore, mapping)

        return runner.run(main())


def _run_desired(
    kubeconfig: str | None, contexts: list[str], source: DesiredSource, namespace: str | None,
    ignore: tuple[IgnoreRule, ...], app: str, timeout: float,
) -> DriftResult:
    with STATE.status("reading the manifests and the cluster..."):

        async def main() -> DriftResult:
            async with ClientFactory(kubeconfig, timeout=timeout) as factory:
                client = factory.client(contexts[0] if contexts else None)
                return await drift_desired_source(client, source, namespace=namespace, ignore=ignore, app=app)

        return runner.run(main())


def _table(result: DriftResult, *, show_diff: bool) -> None:
    out = STATE.out
    left, right = result.left.label, result.right.label
    out.print(f"[bold]{escape(left)}[/] compared with [bold]{escape(right)}[/]", highlight=False, soft_wrap=True)
    for side in (result.left, result.right):
        if not side.coverage.complete:
            out.print(f"[yellow]partial[/]: {escape(side.label)} not covered: {escape(side.coverage.summary())}",
                      highlight=False, soft_wrap=True)
    for obj in result.objects:
        colour, word = _STATUS_LOOK[obj.status]
        count = len(obj.changes)
        changes = f" ({count} change{'s' if count != 1 else ''})" if count else f" ({escape(obj.reason)})" if obj.reason else ""
        out.print(f"  [{colour}]{word:<8}[/] {escape(obj.ref)}{changes}", highlight=False, soft_wrap=True)
    counts = result.counts()
    out.print(
        f"{len(result.objects)} objects: {counts['in-sync']} in sync, {counts['drifted']} drifted, "
        f"{counts['missing']} missing from {escape(right)}, {counts['extra']} extra in {escape(right)}"
        + (f", {counts['error']} not compared (error)" if counts["error"] else ""),
        highlight=False, soft_wrap=True,
    )
    if not show_diff:
        return
    for obj in result.drifted_objects:
        if obj.status == "error":  # nothing compared: its line above says why
            continue
        out.print("")
        for change in obj.changes:
            out.print(f"  {escape(obj.ref)}: {escape(change.describe(), one_line=True)}", highlight=False,
                      soft_wrap=True)
        for line in obj.diff(left, right):
            look = next((style for prefix, style in _DIFF_COLOURS if line.startswith(prefix)), "")
            text = escape(line, one_line=True)
            out.print(f"[{look}]{text}[/]" if look else text, highlight=False, soft_wrap=True)


def _markdown(result: DriftResult) -> str:
    left, right = result.left.label, result.right.label
    lines = [f"## Drift: {code_span(left)} compared with {code_span(right)}", ""]
    for side in (result.left, result.right):
        if not side.coverage.complete:
            lines += [f"**Partial**: {code_span(side.label)} not covered: {side.coverage.summary()}", ""]
    counts = result.counts()
    lines += [
        f"{len(result.objects)} objects: {counts['in-sync']} in sync, {counts['drifted']} drifted, "
        f"{counts['missing']} missing, {counts['extra']} extra"
        + (f", {counts['error']} not compared (error)." if counts["error"] else "."), "",
        "| Object | Status | Changes |", "|---|---|---|",
    ]
    for obj in result.objects:
        described = [change.describe() for change in obj.changes] or ([obj.reason] if obj.reason else [])
        changes = "<br>".join(code_span(text) for text in described).replace("|", "\\|")
        lines.append(f"| {code_span(obj.ref)} | {_STATUS_LOOK[obj.status][1]} | {changes} |")
    for obj in result.drifted_objects:
        if obj.status == "error":
            continue
        diff = obj.diff(left, right)
        fence = "`" * max(3, 1 + max((len(run) for line in diff for run in re.findall(r"`+", line)), default=0))
        lines += ["", f"### {code_span(obj.ref)}", "", f"{fence}diff", *diff, fence]
    return "\n".join(lines)
