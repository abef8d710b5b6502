"""SARIF 2.1.0 for code-scanning UIs (GitHub, GitLab) and CI gates."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from kubesteward import __version__
from kubesteward.checks.engine import Report
from kubesteward.findings import CODES, Severity
from kubesteward.model.coverage import Coverage
from kubesteward.reporting.markdown import steps_markdown

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


def sarif_document(
    reports: Sequence[Report], origins: Mapping[Any, str] | None = None, coverages: Sequence[Coverage] = ()
) -> dict[str, Any]:
    """``coverages``: each report's, in the same order; a partial one becomes a warning notification of the
    run's invocation (code-scanning UIs show it), so an empty result set is never read as "all clear"."""
    results = []
    used: set[str] = set()
    for report in reports:
        incident_of = {id(f): i.id for i in report.incidents for f in i.findings}
        for item in report.findings:
            used.add(item.code)
            location: dict[str, Any] = {
                "logicalLocations": [
                    {"name": item.object.name, "fullyQualifiedName": str(item.object), "kind": "resource"}
                ]
            }
            origin = (origins or {}).get(item.object)
            if origin:
                location["physicalLocation"] = {"artifactLocation": {"uri": origin}}
            identity = f"{report.context}|{item.code}|{item.object}"
            results.append(
                {
                    "ruleId": item.code,
                    "level": _LEVELS[item.severity],
                    "message": {"text": f"{item.object}: {item.message}"},
                    "locations": [location],
                    "partialFingerprints": {"kubesteward/v1": hashlib.sha256(identity.encode()).hexdigest()[:32]},
                    "properties": {
                        "context": report.context,
                        "evidence": item.evidence,
                        "remediation": item.remediation.text,
                        "remediationSteps": item.remediation.documents(),
                        "incident": incident_of.get(id(item)),
                    },
                }
            )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "kubesteward",
                        "version": __version__,
                        "rules": [_rule(code) for code in sorted(used)],
                    }
                },
                "results": results,
                "invocations": [_invocation(reports, coverages)],
            }
        ],
    }


def _invocation(reports: Sequence[Report], coverages: Sequence[Coverage]) -> dict[str, Any]:
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"{report.context or report.source}: partial result: not covered: {cover.summary()}"},
            "descriptor": {"id": "partial-coverage"},
        }
        for report, cover in zip(reports, coverages, strict=False)
        if not cover.complete
    ]
    return {"executionSuccessful": True, "toolExecutionNotifications": notifications}
