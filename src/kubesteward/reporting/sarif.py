"""SARIF 2.1.0 for code-scanning UIs (GitHub, GitLab) and CI gates.

:func:`sarif_document` for a diagnosis; the pieces it is made of (:func:`sarif_result`,
:func:`physical_location`, :func:`sarif_log`) for any feature reporting findings (``lint``, ``audit``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kubesteward import __version__
from kubesteward.checks.engine import Report
from kubesteward.findings import CODES, Finding, Severity
from kubesteward.model.coverage import Coverage
from kubesteward.reporting.markdown import steps_markdown

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SOURCE_ROOT = "%SRCROOT%"  # the base relative artifact URIs are resolved against (the repository's root)
_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _rule(code: str) -> dict[str, Any]:
    entry = CODES[code]
    return {
        "id": code,
        "name": "".join(word.capitalize() for word in entry.title.replace("-", " ").split() if word.isalnum()),
        "shortDescription": {"text": entry.title},
        "fullDescription": {"text": entry.explanation or entry.title},
        "help": {"text": entry.remediation.text, "markdown": steps_markdown(entry.remediation)},
        "defaultConfiguration": {"level": _LEVELS[entry.severity]},
        "properties": {"area": entry.area},
    }


def physical_location(uri: str, line: int | None = None) -> dict[str, Any]:
    """A file (``uri`` relative to the repository's root, or absolute) and, when known, the line."""
    location: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    if not uri.startswith(("/", "file:")):
        location["artifactLocation"]["uriBaseId"] = SOURCE_ROOT
    if line is not None:
        location["region"] = {"startLine": line}
    return location


def sarif_result(
    item: Finding, identity: str, *, physical: dict[str, Any] | None = None, properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One result: the finding, its object as a logical location, its file when it has one.
    ``identity``: what stays the same for the same problem across runs (GitHub's alert matching)."""
    location: dict[str, Any] = {
        "logicalLocations": [{"name": item.object.name, "fullyQualifiedName": str(item.object), "kind": "resource"}]
    }
    if physical is not None:
        location["physicalLocation"] = physical
    return {
        "ruleId": item.code,
        "level": _LEVELS[item.severity],
        "message": {"text": f"{item.object}: {item.message}"},
        "locations": [location],
        "partialFingerprints": {"kubesteward/v1": hashlib.sha256(identity.encode()).hexdigest()[:32]},
        "properties": {
            **(properties or {}),
            "evidence": item.evidence,
            "remediation": item.remediation.text,
            "remediationSteps": item.remediation.documents(),
        },
    }


def sarif_log(
    results: Sequence[dict[str, Any]], notifications: Iterable[str] = (), *, source_root: str | None = None,
) -> dict[str, Any]:
    """The SARIF log of one run: ``results`` (:func:`sarif_result`), the rules they name (help from
    the catalogue), and ``notifications`` as warnings of the run's invocation (code-scanning UIs show
    them): what the run could not cover, so an empty result set is never read as "all clear".
    ``source_root``: the ``file://`` URI relative artifact locations are resolved against."""
    used = sorted({result["ruleId"] for result in results})
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "kubesteward", "version": __version__, "rules": [_rule(code) for code in used]}},
        "results": list(results),
        "invocations": [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "warning", "message": {"text": text}, "descriptor": {"id": "partial-coverage"}}
                    for text in notifications
                ],
            }
        ],
    }
    if source_root is not None:
        run["originalUriBaseIds"] = {SOURCE_ROOT: {"uri": source_root}}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def sarif_document(
    reports: Sequence[Report], origins: Mapping[Any, str] | None = None, coverages: Sequence[Coverage] = ()
) -> dict[str, Any]:
    """``coverages``: each report's, in the same order; a partial one becomes a warning notification of the
    run's invocation (code-scanning UIs show it), so an empty result set is never read as "all clear"."""
    results = []
    for report in reports:
        incident_of = {id(f): i.id for i in report.incidents for f in i.findings}
        for item in report.findings:
            origin = (origins or {}).get(item.object)
            results.append(sarif_result(
                item, f"{report.context}|{item.code}|{item.object}",
                physical={"artifactLocation": {"uri": origin}} if origin else None,
                properties={"context": report.context, "incident": incident_of.get(id(item))},
            ))
    notifications = [
        f"{report.context or report.source}: partial result: not covered: {cover.summary()}"
        for report, cover in zip(reports, coverages, strict=False)
        if not cover.complete
    ]
    return sarif_log(results, notifications)
