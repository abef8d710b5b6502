"""Every output of a policy evaluation, for ``lint`` (files) and ``audit`` (clusters) alike.

One :class:`PolicyRun` per evaluated set (the files, or one context); :func:`emit_policy` prints them in
the format asked for: ``table`` (grouped by object), ``json``/``yaml`` (the ``PolicyReport`` of
docs/output-schema.md), ``sarif`` (GitHub code scanning), ``junit`` (CI test reports), ``markdown``.
Everything leaves through the CLI's scrubbed stdout; cluster and user strings go through
:func:`~kubesteward.cli.output.escape` in the table, :func:`~kubesteward.terminal.neutralise` elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from kubesteward.cli.output import SEVERITY_COLOURS, SEVERITY_ICONS, emit_machine, escape, pretty_json
from kubesteward.cli.state import STATE
from kubesteward.findings import CODES, Finding, Severity
from kubesteward.model.coverage import Coverage
from kubesteward.policy import Located, PolicyResult
from kubesteward.policy.engine import Score, Suppressed, worst_first
from kubesteward.reporting.junit import Failure, TestCase, TestSuite, junit_xml
from kubesteward.reporting.markdown import code_span, steps_markdown
from kubesteward.reporting.sarif import physical_location, sarif_log, sarif_result
from kubesteward.reporting.schema import API_VERSION, object_ref
from kubesteward.terminal import neutralise

FORMATS = ("table", "json", "yaml", "sarif", "junit", "markdown")
REPORT_KIND = "PolicyReport"


class Location(NamedTuple):
    """Where a finding points in a file: ``file`` as given on the command line; ``line`` (1-based, 0
    unknown) the finding's field's, or its object's when it names no field; ``object_line`` the object's."""

    file: str
    line: int = 0
    object_line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


Locate = Callable[[Located], "Location | None"]


@dataclass
class PolicyRun:
    """One evaluated set of objects and how to show it.

    ``source``: what was judged (the paths, or ``live``); ``context``: the cluster's context, None for
    files; ``error``: why this run has no result (one context of several failed); ``coverage``: what a
    live run could not read (None: everything asked for was read, as with files); ``locate``: a
    finding's file and line (files only; called only for findings, so its cost is theirs).
    """

    source: str
    result: PolicyResult | None = None
    context: str | None = None
    error: str | None = None
    coverage: Coverage | None = None
    locate: Locate | None = None
    profile: str = ""
    _located: dict[int, Location | None] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.context or self.source

    @property
    def partial(self) -> bool:
        return self.coverage is not None and not self.coverage.complete

    def location(self, item: Located) -> Location | None:
        if self.locate is None:
            return None
        key = id(item)
        if key not in self._located:
            self._located[key] = self.locate(item)
        return self._located[key]


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    found = {"error": 0, "warning": 0, "info": 0}
    for item in findings:
        found[item.severity.label] += 1
    return found


def fails(runs: Sequence[PolicyRun], threshold: Severity | None) -> bool:
    """Whether any finding (not suppressed) is at least ``threshold``."""
    return threshold is not None and any(
        item.finding.severity >= threshold for run in runs if run.result for item in run.result.located
    )


def emit_policy(fmt: str, runs: Sequence[PolicyRun], *, scores: bool = False) -> None:
    """Print ``runs`` in ``fmt`` (one of :data:`FORMATS`); ``scores``: the table adds namespace scores
    (the machine formats always carry them)."""
    if fmt == "table":
        for run in runs:
            render_table(run, scores=scores)
    elif fmt in ("json", "yaml"):
        emit_machine(policy_document(runs), fmt)
    elif fmt == "sarif":
        print(pretty_json(policy_sarif(runs)))
    elif fmt == "junit":
        print(policy_junit(runs), end="")
    elif fmt == "markdown":
        print(policy_markdown(runs))
    else:  # the command checked it; a caller that did not gets no silent nothing
        raise ValueError(f"unknown policy output format {fmt!r}")


# -- json / yaml ---------------------------------------------------------------------------------


def _object(item: Located) -> dict[str, str] | None:
    ref = object_ref(item.finding.object)
    if ref is not None:
        ref = {"apiVersion": str(item.subject.get("apiVersion") or ""), **ref}
    return ref


def finding_document(run: PolicyRun, item: Located) -> dict[str, Any]:
    found = item.finding
    code = CODES.get(found.code)
    where = run.location(item)
    return {
        "code": found.code,
        "severity": found.severity.label,
        "title": code.title if code else found.code,
        "object": _object(item),
        "message": found.message,
        "field": found.evidence.get("field"),
        "file": where.file if where else None,
        "line": (where.line or None) if where else None,
        "evidence": found.evidence,
        "remediation": found.remediation.text,
        "remediationSteps": found.remediation.documents(),
    }


def suppressed_document(item: Suppressed) -> dict[str, Any]:
    return {
        "code": item.finding.code,
        "severity": item.finding.severity.label,
        "object": object_ref(item.finding.object),
        "message": item.finding.message,
        "reason": item.reason,
        "by": item.by,
    }


def run_document(run: PolicyRun) -> dict[str, Any]:
    result = run.result
    coverage: dict[str, object] = run.coverage.document() if run.coverage is not None else {"complete": True}
    if result is None:
        return {"context": run.context, "source": run.source, "error": run.error, "coverage": {"complete": False},
                "profile": run.profile or None, "summary": None, "rules": [], "skippedRules": [], "findings": [],
                "suppressed": [],
                "scores": {}}
    return {
        "context": run.context,
        "source": run.source,
        "error": None,
        "coverage": coverage,
        "profile": run.profile or None,
        "summary": {**counts(result.findings), "suppressed": len(result.suppressed), "objects": result.objects,
                    "rules": len(result.rules)},
        "rules": list(result.rules),
        # rules that did not run: kinds they need could not be read (their conclusions would be guesses)
        "skippedRules": [{"code": code, "needs": list(kinds)} for code, kinds in sorted(result.skipped_rules.items())],
        "findings": [finding_document(run, item) for item in result.located],
        "suppressed": [suppressed_document(item) for item in result.suppressed],
        "scores": {  # worst first
            namespace: {"score": score.percent, "checks": score.checks, "failed": score.failed}
            for namespace, score in worst_first(result.scores)
        },
    }


def skipped_rules_text(skipped: Mapping[str, Sequence[str]]) -> str:
    """One line: the rules that did not run and the kinds they needed."""
    needed = sorted({kind for kinds in skipped.values() for kind in kinds})
    return f"skipped rules {', '.join(sorted(skipped))} (they need {', '.join(needed)}, which could not be read whole)"


def policy_document(runs: Sequence[PolicyRun], now: dt.datetime | None = None) -> dict[str, Any]:
    """The versioned ``PolicyReport`` (docs/output-schema.md)."""
    return {
        "apiVersion": API_VERSION,
        "kind": REPORT_KIND,
        "generatedAt": (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "runs": [run_document(run) for run in runs],
    }


# -- sarif ---------------------------------------------------------------------------------------


def repository_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` (the working directory) holding ``.git``: what
    GitHub resolves a SARIF result's relative path against."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return None


def artifact_uri(file: str, root: Path | None) -> str:
    """``file`` relative to ``root`` (forward slashes), or absolute when outside it; ``-`` stays as is."""
    if file == "-":
        return file
    path = Path(file).resolve()
    base = root or Path.cwd().resolve()
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.as_uri()


def policy_sarif(runs: Sequence[PolicyRun], root: Path | None = None) -> dict[str, Any]:
    """SARIF 2.1.0: one result per finding, with its file (relative to the repository's root) and line
    when it came from a file; a failed or partial run becomes a notification of the invocation."""
    root = root if root is not None else repository_root()
    results = []
    notes = []
    for run in runs:
        if run.result is None:
            notes.append(f"{run.name}: not evaluated: {run.error}")
            continue
        if run.coverage is not None and not run.coverage.complete:
            notes.append(f"{run.name}: partial result: not covered: {run.coverage.summary()}")
        if run.result.skipped_rules:
            notes.append(f"{run.name}: {skipped_rules_text(run.result.skipped_rules)}")
        for item in run.result.located:
            where = run.location(item)
            physical = physical_location(artifact_uri(where.file, root), where.line or None) if where else None
            field_path = item.finding.evidence.get("field")
            results.append(sarif_result(
                item.finding, f"{run.context or ''}|{item.finding.code}|{item.finding.object}|{field_path or ''}",
                physical=physical, properties={"context": run.context, "field": field_path},
            ))
    base = root or Path.cwd().resolve()
    return sarif_log(results, notes, source_root=base.as_uri() + "/")


# -- junit ---------------------------------------------------------------------------------------


def policy_junit(runs: Sequence[PolicyRun]) -> str:
    """A suite per file (per namespace for a cluster's objects); in each, a failed case per rule and
    object with findings (every finding in its text), and a passing case per rule that found nothing there."""
    suites: list[TestSuite] = []
    for run in runs:
        if run.result is None:
            suites.append(TestSuite(run.name, [TestCase("evaluation", run.name, Failure(
                f"not evaluated: {run.error}", "error"))]))
            continue
        groups: dict[str, dict[tuple[str, str], list[Located]]] = {}
        for item in run.result.located:
            where = run.location(item)
            suite = where.file if where else _namespace_suite(run, item.finding.object.namespace)
            groups.setdefault(suite, {}).setdefault((item.finding.code, str(item.finding.object)), []).append(item)
        if not groups:
            groups[run.source if run.context is None else run.name] = {}
        for suite_name, cases in groups.items():
            failed_rules = {code for code, _ in cases}
            made = [
                TestCase(f"{code} {obj}", suite_name, _failure(items)) for (code, obj), items in sorted(cases.items())
            ]
            made += [TestCase(code, suite_name) for code in run.result.rules if code not in failed_rules]
            suites.append(TestSuite(suite_name, made))
    return junit_xml(suites)


def _namespace_suite(run: PolicyRun, namespace: str) -> str:
    scope = f"namespace {namespace}" if namespace else "cluster-scoped"
    return f"{run.context}: {scope}" if run.context else scope


def _failure(items: Sequence[Located]) -> Failure:
    head = max(items, key=lambda item: item.finding.severity).finding
    lines = []
    for item in items:
        found = item.finding
        field_path = found.evidence.get("field")
        lines.append(f"[{found.severity.label}] {found.message}" + (f" (at {field_path})" if field_path else ""))
    lines.append("fix: " + head.remediation.first.rendered() + f" (kubesteward explain {head.code})")
    return Failure(f"{head.object}: {head.message}", head.code, "\n".join(lines))


# -- markdown ------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def policy_markdown(runs: Sequence[PolicyRun]) -> str:
    """A report to paste into a pull request or an issue: counts, a table of findings, each code's fix."""
    out: list[str] = []
    for run in runs:
        out.append(f"# kubesteward policy: {run.name}")
        out.append("")
        if run.result is None:
            out += [f"**Not evaluated**: {run.error}", ""]
            continue
        result = run.result
        found = counts(result.findings)
        out.append(
            f"**{len(result.located)} findings** ({found['error']} errors, {found['warning']} warnings, "
            f"{found['info']} info; {len(result.suppressed)} suppressed) on {result.objects} objects, "
            f"{len(result.rules)} rules" + (f", profile `{run.profile}`." if run.profile else ".")
        )
        if run.coverage is not None and not run.coverage.complete:
            out.append(f"\n> **Partial result.** Not covered: {run.coverage.summary()}.")
        if result.skipped_rules:
            out.append(f"\n> {skipped_rules_text(result.skipped_rules)}.")
        if not result.located:
            out.append("\nNo policy findings in what could be read." if run.partial else "\nNo policy findings.")
        else:
            out += ["", "| severity | code | object | where | message |", "|---|---|---|---|---|"]
            for item in result.located:
                where = run.location(item)
                field_path = item.finding.evidence.get("field")
                place = " ".join(p for p in (str(where) if where else "", field_path or "") if p)
                out.append(
                    f"| {item.finding.severity.label} | {item.finding.code} | {code_span(str(item.finding.object))} "
                    f"| {code_span(place) if place else ''} | {_cell(item.finding.message)} |"
                )
            out += ["", "## How to fix", ""]
            for code in sorted({item.finding.code for item in result.located}):
                entry = CODES[code]
                out += [f"### {code}: {entry.title}", "", steps_markdown(entry.remediation), ""]
        if result.suppressed:
            out += ["", "<details><summary>Suppressed</summary>", ""]
            out += [f"- {item.finding.code} {code_span(str(item.finding.object))}: {_cell(item.reason)} ({item.by})"
                    for item in result.suppressed]
            out += ["", "</details>"]
        out.append("")
    return neutralise("\n".join(out))


# -- table ---------------------------------------------------------------------------------------


def render_table(run: PolicyRun, *, scores: bool = False) -> None:
    """Findings grouped by object (most severe object first), each with its field, line and first step."""
    out = STATE.out
    if run.result is None:
        STATE.err.print(f"[red]error[/]: {escape(f'[{run.name}]')} {escape(str(run.error))}", highlight=False,
                        soft_wrap=True)
        return
    result = run.result
    found = counts(result.findings)
    out.print(
        f"[bold]{escape(run.name)}[/]  [dim]{result.objects} objects, {len(result.rules)} rules"
        + (f" ({escape(run.profile)})" if run.profile else "") + "[/]  "
        f"[red]{found['error']} errors[/]  [yellow]{found['warning']} warnings[/]  "
        f"[dim]{found['info']} info, {len(result.suppressed)} suppressed[/]",
        highlight=False, soft_wrap=True,
    )
    if run.coverage is not None and not run.coverage.complete:
        out.print(f"[yellow]! partial result[/]: not covered: {escape(run.coverage.summary())}", highlight=False,
                  soft_wrap=True)
    if result.skipped_rules:
        out.print(f"[yellow]! {escape(skipped_rules_text(result.skipped_rules))}[/]", highlight=False, soft_wrap=True)
    if not result.located:
        out.print("[yellow]no policy findings in what could be read (partial result)[/]" if run.partial
                  else "[green]✔ no policy findings[/]")
    lines: list[str] = []  # printed at once: rich's cost is per call, and a big lint has thousands of lines
    for items in _by_object(result.located):
        head = items[0]
        where = run.location(head)
        start = (where.object_line or where.line) if where else 0
        place = f"  [dim]{escape(where.file)}{f':{start}' if start else ''}[/]" if where else ""
        lines.append(f"[bold]{escape(str(head.finding.object))}[/]{place}")
        for item in items:
            found_item = item.finding
            colour = SEVERITY_COLOURS[found_item.severity.label]
            field_path = found_item.evidence.get("field")
            line = run.location(item)
            at = ""
            if field_path:
                at = f" [dim](at {escape(str(field_path))}{f', line {line.line}' if line and line.line else ''})[/]"
            lines.append(
                f"  [{colour}]{SEVERITY_ICONS[found_item.severity.label]} {found_item.code}[/] "
                f"{escape(found_item.message, one_line=True)}{at}"
            )
            lines.append(f"    [green]fix:[/] {escape(found_item.remediation.first.rendered(), one_line=True)}")
    if lines:
        out.print("\n".join(lines), highlight=False, soft_wrap=True)
    if result.suppressed:
        out.print(f"[dim]{len(result.suppressed)} suppressed (-o json lists them with their reasons)[/]",
                  highlight=False)
    if scores and result.scores:
        render_scores(result.scores)


def render_scores(scores: Mapping[str, Score]) -> None:
    """Per namespace, worst first: the share of checks (a rule on an object) that found nothing."""
    from rich.table import Table

    table = Table(title="scores", title_justify="left", box=None, pad_edge=False)
    for column in ("namespace", "score", "checks", "failed"):
        table.add_column(column, justify="left" if column == "namespace" else "right")
    for namespace, score in worst_first(scores):
        table.add_row(escape(namespace or "(cluster-scoped)"), f"{score.percent}%", str(score.checks),
                      str(score.failed))
    STATE.out.print(table)


def _by_object(located: Sequence[Located]) -> list[list[Located]]:
    groups: dict[str, list[Located]] = {}
    for item in located:  # the engine's order: most severe first
        groups.setdefault(str(item.finding.object), []).append(item)
    return list(groups.values())

