"""``kubesteward diagnose``, ``snapshot`` and ``explain``."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kubesteward.checks.engine import Report, fails, matches_code, summary_counts
from kubesteward.cli import options as opt
from kubesteward.cli import runner
from kubesteward.cli.output import SEVERITY_COLOURS, SEVERITY_ICONS, check_format, escape, pretty_json
from kubesteward.cli.state import STATE
from kubesteward.cluster import ClientFactory, ContextResult
from kubesteward.config_file import load_project_config
from kubesteward.diagnosis import (
    Diagnosis,
    diagnose_cluster,
    diagnose_files,
    require_namespace,
)
from kubesteward.errors import UsageError
from kubesteward.findings import Finding, Severity
from kubesteward.findings.catalogue import CODES
from kubesteward.model.coverage import Coverage, coverage_of, require_something_read
from kubesteward.model.scope import parse_label_selector
from kubesteward.reporting.markdown import markdown_report
from kubesteward.reporting.sarif import sarif_document
from kubesteward.reporting.schema import cluster_doc, error_doc, report_document

FORMATS = ("table", "json", "yaml", "sarif", "markdown")
_COLOURS = {severity: SEVERITY_COLOURS[severity.label] for severity in Severity}
_ICONS = {severity: SEVERITY_ICONS[severity.label] for severity in Severity}
MAX_SYMPTOMS = 6

FromFile = Annotated[
    list[Path] | None,
    typer.Option("--from-file", "-f", help="Diagnose files instead of a cluster: kubectl -o json|yaml output, "
                 "multi-document YAML, a directory, or a snapshot. Repeatable."),
]
ShowInfo = Annotated[bool, typer.Option("--show-info", help="Also show info-level findings in the table view.")]


def diagnose(
    kubeconfig: opt.Kubeconfig = None,
    context: opt.Contexts = None,
    all_contexts: opt.AllContexts = False,
    namespace: opt.Namespace = None,
    all_namespaces: opt.AllNamespaces = False,
    selector: opt.Selector = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table, json, yaml, sarif or markdown.")] = "table",
    from_file: FromFile = None,
    fail_on: opt.FailOn = None,
    ignore: opt.Ignore = None,
    only: opt.Only = None,
    config: opt.Config = None,
    show_info: ShowInfo = False,
    request_timeout: opt.RequestTimeout = 30.0,
    sandbox_if_unconfigured: opt.SandboxFallback = False,
    allow_partial: opt.AllowPartial = False,
) -> int:
    """Find every broken thing, grouped under its root cause, with evidence and the fix."""
    fmt = check_format(output, FORMATS)
    project = load_project_config(config)
    threshold = opt.severity_threshold(fail_on or project.fail_on)
    ignore_codes = [*project.ignore, *opt.split_values(ignore)]
    check_code_patterns("--ignore", opt.split_values(ignore))
    check_code_patterns(f"ignore in {project.path}", project.ignore)
    check_code_patterns("--only", opt.split_values(only))
    parse_label_selector(selector)  # a usage error before anything is read
    scope = None if all_namespaces else namespace

    results: list[ContextResult[Diagnosis]]
    if from_file:
        diagnosis = diagnose_files(
            from_file, settings=project.settings, ignore=ignore_codes, only=opt.split_values(only),
            label_selector=selector, namespace=scope,
        )
        results = [ContextResult(diagnosis.report.context or "files", value=diagnosis)]
    else:
        targets = opt.resolve_targets(kubeconfig, context, all_contexts, sandbox_if_unconfigured)
        results = _diagnose_live(targets, scope, selector, project.settings, ignore_codes, opt.split_values(only), request_timeout)

    STATE.retain(results)
    failures = [r for r in results if r.error is not None]
    if len(results) == 1 and failures and failures[0].error is not None:
        raise failures[0].error
    diagnoses = [r.value for r in results if r.value is not None]
    for diagnosis in diagnoses:
        _warn_unmodelled(diagnosis.unmodelled)
    _emit(fmt, results, show_info)
    if failures:
        return max(r.error.exit_code for r in failures if r.error is not None)
    if any(fails(d.report.findings, threshold) for d in diagnoses):
        return 1
    partial = [(d.report.context, cover.summary()) for d in diagnoses if not (cover := coverage_of(d.model)).complete]
    return opt.partial_gate(partial, threshold is not None, allow_partial)


def check_code_patterns(where: str, patterns: Sequence[str]) -> None:
    """:class:`UsageError` for a code (or glob) that names no finding code: a typo would otherwise
    suppress nothing, or run nothing, in silence."""
    if not patterns:
        return
    unknown = [p for p in patterns if not any(matches_code(code, [p]) for code in CODES)]
    if unknown:
        raise UsageError(
            f"{where}: no finding code matches {', '.join(repr(p) for p in unknown)} "
            "(`kubesteward explain` lists them)"
        )


def _warn_unmodelled(unmodelled: dict[str, int]) -> None:
    """One line for the objects of kinds a diagnosis does not read, so a file that held nothing it
    checks is not taken for a healthy one."""
    if unmodelled:
        kinds = ", ".join(f"{kind or '(no kind)'} ({count})" for kind, count in sorted(unmodelled.items()))
        STATE.err.print(
            f"[yellow]warning[/]: left out {sum(unmodelled.values())} object(s) of kinds diagnose does not "
            f"check: {escape(kinds)}",
            highlight=False, soft_wrap=True,
        )


def _diagnose_live(
    targets: opt.Targets, namespace: str | None, selector: str | None, settings: Any,
    ignore: list[str], only: list[str], timeout: float,
) -> list[ContextResult[Diagnosis]]:
    with STATE.status("connecting...") as status:
        loaded: dict[str, tuple[int, int]] = {}

        def progress_for(name: str) -> Any:
            def progress(kind: str, done: int, total: int) -> None:
                loaded[name] = (done, total)
                done_all = sum(d for d, _ in loaded.values())
                total_all = sum(t for _, t in loaded.values())
                status.update(f"listing {done_all}/{total_all} kinds (last: {kind})")

            return progress

        async def main() -> list[ContextResult[Diagnosis]]:
            async with ClientFactory(targets.kubeconfig, timeout=timeout) as factory:
                return await factory.fan_out(
                    targets.contexts,
                    lambda client: diagnose_cluster(
                        client, namespace=namespace, settings=settings, ignore=ignore, only=only,
                        label_selector=selector, progress=progress_for(client.context),
                    ),
                )

        return runner.run(main())


def _emit(fmt: str, results: list[ContextResult[Diagnosis]], show_info: bool) -> None:
    reports = [r.value.report for r in results if r.value is not None]
    coverages = [coverage_of(r.value.model) for r in results if r.value is not None]
    if fmt in ("json", "yaml"):
        clusters = [
            cluster_doc(r.value.report, coverage_of(r.value.model)) if r.value else error_doc(r.context, str(r.error))
            for r in results
        ]
        document = report_document(clusters)
        if fmt == "json":
            print(pretty_json(document))
        else:
            print(yaml.safe_dump(document, sort_keys=False), end="")
    elif fmt == "sarif":
        origins: dict[Any, str] = {}
        for r in results:
            if r.value is not None:
                origins.update(r.value.model.origins)
        print(pretty_json(sarif_document(reports, origins, coverages)))
    elif fmt == "markdown":
        print(markdown_report(reports, coverages))
    else:
        for result in results:
            if result.value is not None:
                render_table(result.value.report, show_info, coverage_of(result.value.model))
            else:
                STATE.err.print(f"[red]error[/]: {escape(str(result.error))}", highlight=False)


def _line(item: Finding) -> str:
    colour = _COLOURS[item.severity]
    return f"[{colour}]{item.code}[/] [bold]{escape(str(item.object))}[/] {escape(item.message, one_line=True)}"


def render_table(report: Report, show_info: bool = False, coverage: Coverage | None = None) -> None:
    from rich.tree import Tree

    out = STATE.out
    counts = summary_counts(report.findings)
    objects = sum(report.counts.values())
    out.print(
        f"[bold]{escape(report.context or report.source)}[/]  "
        f"[dim]{objects} objects, {len(report.counts)} kinds[/]  "
        f"[red]{counts['error']} errors[/]  [yellow]{counts['warning']} warnings[/]  "
        f"[dim]{counts['info']} info, {report.suppressed} suppressed[/]",
        highlight=False,
    )
    for skipped in report.skipped_kinds:
        out.print(f"[yellow]! skipped {skipped.kind}[/]: {escape(skipped.reason)}", highlight=False, soft_wrap=True)
    if report.skipped_checks:
        missing = sorted({k for s in report.skipped_checks for k in s.missing})
        codes = sorted({c for s in report.skipped_checks for c in s.codes})
        out.print(
            f"[yellow]! skipped checks[/] {', '.join(codes)} (they need {', '.join(missing)}, which could not be loaded)",
            highlight=False, soft_wrap=True,
        )
    partial = coverage is not None and not coverage.complete
    if coverage is not None and partial:
        # One line however long (soft_wrap): it is what a reader, or a grep in CI, looks for.
        out.print(f"[yellow]! partial result[/]: not covered: {escape(coverage.summary())}", highlight=False,
                  soft_wrap=True)
    shown = [i for i in report.incidents if show_info or i.severity > Severity.INFO]
    hidden = len(report.incidents) - len(shown)
    if not report.incidents:
        # Never a plain green over what could not be read.
        out.print("[yellow]no problems found in what could be read (partial result)[/]" if partial
                  else "[green]✔ no problems found[/]")
    for number, incident in enumerate(shown, 1):
        head = incident.cause
        colour = _COLOURS[incident.severity]
        radius = f"[dim]pods {incident.pods}, services {incident.services}[/]" if incident.pods or incident.services else ""
        tree = Tree(
            f"[{colour}]{_ICONS[incident.severity]} {number}. {escape(incident.title)}[/]  {radius}", guide_style="dim"
        )
        tree.add(f"{_line(head)}")
        evidence = ", ".join(
            f"{k}={v}" for k, v in head.evidence.items() if not isinstance(v, (list, dict))
        )
        if evidence:
            tree.add(f"[dim]evidence:[/] {escape(evidence, one_line=True)}")
        for event in (head.evidence.get("events") or [])[:2]:
            tree.add(f"[dim]event:[/] {escape(str(event), one_line=True)}")
        tree.add(f"[green]fix:[/] {escape(head.remediation.first.rendered())} [dim](kubesteward explain {head.code})[/]")
        if incident.symptoms:
            branch = tree.add(f"[dim]{len(incident.symptoms)} related finding(s)[/]")
            for item in incident.symptoms[:MAX_SYMPTOMS]:
                branch.add(_line(item))
            if len(incident.symptoms) > MAX_SYMPTOMS:
                branch.add(f"[dim]… and {len(incident.symptoms) - MAX_SYMPTOMS} more (-o json for all)[/]")
        out.print(tree)
    if hidden:
        out.print(f"[dim]{hidden} info-level incident(s) hidden (--show-info)[/]")


def snapshot(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write (.json or .yaml); - for stdout.")],
    kubeconfig: opt.Kubeconfig = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    namespace: opt.Namespace = None,
    all_namespaces: opt.AllNamespaces = False,
    request_timeout: opt.RequestTimeout = 30.0,
    sandbox_if_unconfigured: opt.SandboxFallback = False,
) -> None:
    """Write the cluster model to a file for offline diagnosis (Secret values are never included).

    The file is created readable by its owner only. A snapshot of a run that could read only part of the
    cluster records what it missed, so diagnosing it offline says so as the live run would.
    """
    from kubesteward.model.load import load_cluster
    from kubesteward.model.snapshot import snapshot_document
    from kubesteward.private_files import check_writable, write_private

    to_stdout = str(output) == "-"
    if not to_stdout:
        check_writable(output)  # before the cluster is read, not after
    targets = opt.resolve_targets(kubeconfig, [context] if context else None, False, sandbox_if_unconfigured)
    scope = None if all_namespaces else namespace

    async def main() -> tuple[dict[str, Any], Coverage]:
        async with ClientFactory(targets.kubeconfig, timeout=request_timeout) as factory:
            client = factory.client(targets.contexts[0])
            model = await load_cluster(client, namespace=scope, index=False)
            require_something_read(model)
            if scope is not None:
                await require_namespace(client, model, scope)
            return snapshot_document(model), coverage_of(model)

    document, coverage = runner.run(main())
    as_yaml = output.suffix in (".yaml", ".yml")
    text = yaml.safe_dump(document, sort_keys=False) if as_yaml else json.dumps(document)
    if to_stdout:
        sys.stdout.write(text)
    else:
        write_private(output, text)
        STATE.note(f"wrote {len(document['items'])} objects to {output}")
    if not coverage.complete:
        STATE.err.print(f"[yellow]! partial snapshot[/]: not covered: {escape(coverage.summary())}", highlight=False)


def explain(code: Annotated[str | None, typer.Argument(help="A finding code such as KS101; omit to list all.")] = None) -> None:
    """What a finding code means and how to fix it."""
    if code is None:
        for entry in sorted(CODES.values(), key=lambda c: c.code):
            STATE.out.print(
                f"[bold]{entry.code}[/]  {entry.severity.label:<7}  {entry.area:<12} {escape(entry.title)}",
                highlight=False,
                soft_wrap=True,  # one code per line, whatever the terminal width (grep-friendly)
            )
        return
    found = CODES.get(code.upper())
    if found is None:
        raise UsageError(f"unknown code {code!r}; `kubesteward explain` lists them all")
    STATE.out.print(f"[bold]{found.code}[/] {escape(found.title)}  [dim]({found.area}, {found.severity.label})[/]\n")
    STATE.out.print(escape(reflow(found.explanation)) + "\n")
    STATE.out.print("[green]Fix:[/]", highlight=False)
    for number, step in enumerate(found.remediation.steps, 1):
        lead = f"{number}. "
        # A wrapped sentence stays indented under its number.
        lines = textwrap.wrap(step.text, max(STATE.out.width - len(lead), 20)) or [""]
        indent = "\n" + " " * len(lead)
        STATE.out.print(lead + indent.join(escape(line) for line in lines), highlight=False, soft_wrap=True)
        if step.command:
            # A line of its own, as it stands: copied and pasted whole, whatever the width.
            STATE.out.print(f"{' ' * len(lead)}[bold]{escape(step.command)}[/]", highlight=False, soft_wrap=True)


def reflow(text: str) -> str:
    """Join hard-wrapped lines so the terminal wraps them; keep list items and indented commands."""
    out: list[str] = []
    in_item = False  # an indented line continues a "- " item, but is a command elsewhere
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        indented = line != stripped
        if not stripped:
            out.append("")
            in_item = False
        elif stripped.startswith("- "):
            out.append(line)
            in_item = True
        elif not out or not out[-1] or (indented and not in_item) or line.startswith("    "):
            out.append(line)
        elif out[-1].startswith("  ") and not in_item:
            out.append(line)  # text after a command block starts a new line
        else:
            out[-1] = f"{out[-1]} {stripped}"
    return "\n".join(out)
