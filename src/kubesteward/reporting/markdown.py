"""A Markdown incident ticket: paste it into an issue tracker or a postmortem."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from kubesteward.checks.engine import Report, summary_counts
from kubesteward.findings import Finding, Remediation
from kubesteward.model.coverage import Coverage
from kubesteward.terminal import neutralise


def _evidence(item: Finding) -> list[str]:
    lines = []
    for key, value in item.evidence.items():
        if isinstance(value, list):
            lines.append(f"  - {key}:")
            lines.extend(f"    - `{_inline(v)}`" for v in value)
        else:
            lines.append(f"  - {key}: `{_inline(value)}`")
    return lines


def _inline(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text.replace("`", "'").replace("\n", " ")


def steps_markdown(remediation: Remediation) -> str:
    """The steps as a numbered list, each command in a code span."""
    return "\n".join(
        f"{number}. {step.text}" + (f": {code_span(step.command)}" if step.command else "")
        for number, step in enumerate(remediation.steps, 1)
    )


def code_span(text: str) -> str:
    """``text`` in a Markdown code span, fenced by more backticks than it holds in a row."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_report(reports: Sequence[Report], coverages: Sequence[Coverage] = ()) -> str:
    """``coverages``: each report's, in the same order (a partial one is said first)."""
    out: list[str] = []
    covered = list(coverages) + [None] * (len(reports) - len(coverages))
    for report, coverage in zip(reports, covered, strict=True):
        counts = summary_counts(report.findings)
        out.append(f"# kubesteward diagnosis: {report.context or report.source}")
        out.append("")
        out.append(
            f"**{len(report.incidents)} incidents** "
            f"({counts['error']} errors, {counts['warning']} warnings, {counts['info']} info; "
            f"{report.suppressed} suppressed). Source: `{report.source}`."
        )
        if coverage is not None and not coverage.complete:
            out.append(f"\n> **Partial result.** Not covered: {coverage.summary()}.")
        if report.skipped_checks:
            missing = sorted({k for s in report.skipped_checks for k in s.missing})
            out.append(f"\n> Skipped checks needing: {', '.join(missing)} (not loaded or not permitted).")
        for number, incident in enumerate(report.incidents, 1):
            head = incident.cause
            out += [
                "",
                f"## {number}. [{incident.severity.label.upper()}] {incident.title}",
                "",
                f"- **Root cause** `{incident.root}`: {head.message} (`{head.code}`)",
                f"- **Blast radius**: {incident.pods} pods, {incident.services} services",
                "- **Evidence**:",
                *_evidence(head),
                "- **Fix**:",
                *(f"  {line}" for line in steps_markdown(head.remediation).splitlines()),
                f"- **Incident id**: `{incident.id}`",
            ]
            if incident.symptoms:
                out += ["", "| code | severity | object | message |", "|---|---|---|---|"]
                for item in incident.symptoms:
                    out.append(
                        f"| {item.code} | {item.severity.label} | `{item.object}` | {_cell(item.message)} |"
                    )
        if not report.incidents:
            partial = coverage is not None and not coverage.complete
            out.append("\nNo problems found in what could be read." if partial else "\nNo problems found.")
        out.append("")
    # Cluster strings (messages, evidence) are all in it: control characters made visible once, here.
    return neutralise("\n".join(out))
