"""The versioned JSON/YAML document of ``kubesteward diagnose -o json|yaml``.

Schema ``kubesteward.io/v1`` ``DiagnosisReport`` (documented in docs/output-schema.md).
Additive changes keep v1; anything else bumps the version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from kubesteward.checks.engine import Report, summary_counts
from kubesteward.findings import CODES, Finding
from kubesteward.findings.incidents import Incident
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.coverage import Coverage

API_VERSION = "kubesteward.io/v1"
KIND = "DiagnosisReport"


def object_ref(key: ObjectKey | None) -> dict[str, str] | None:
    if key is None:
        return None
    return {"kind": key.kind, "namespace": key.namespace, "name": key.name}


def finding_doc(item: Finding, incident: str | None = None) -> dict[str, Any]:
    code = CODES.get(item.code)
    return {
        "code": item.code,
        "severity": item.severity.label,
        "title": code.title if code else item.code,
        "object": object_ref(item.object),
        "message": item.message,
        "evidence": item.evidence,
        "remediation": item.remediation.text,
        "remediationSteps": item.remediation.documents(),
        "cause": object_ref(item.cause),
        "incident": incident,
    }


def incident_doc(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "severity": incident.severity.label,
        "title": incident.title,
        "root": object_ref(incident.root),
        "blastRadius": {"pods": incident.pods, "services": incident.services},
        "cause": finding_doc(incident.cause, incident.id),
        "symptoms": [finding_doc(s, incident.id) for s in incident.symptoms],
    }


def cluster_doc(report: Report, coverage: Coverage) -> dict[str, Any]:
    incident_of = {id(f): i.id for i in report.incidents for f in i.findings}
    return {
        "context": report.context,
        "source": report.source,
        "error": None,
        "coverage": coverage.document(),
        "summary": {
            **summary_counts(report.findings),
            "incidents": len(report.incidents),
            "suppressed": report.suppressed,
            "objects": report.counts,
        },
        "skipped": [
            {"kind": s.kind, "reason": s.reason, "namespaces": list(s.namespaces)} for s in report.skipped_kinds
        ],
        "skippedChecks": [
            {"analyzer": s.analyzer, "codes": list(s.codes), "missing": list(s.missing)} for s in report.skipped_checks
        ],
        "incidents": [incident_doc(i) for i in report.incidents],
        "findings": [finding_doc(f, incident_of.get(id(f))) for f in report.findings],
    }


def error_doc(context: str, message: str) -> dict[str, Any]:
    return {"context": context, "source": "live", "error": message, "coverage": {"complete": False},
            "summary": None, "skipped": [], "skippedChecks": [], "incidents": [], "findings": []}


def report_document(clusters: Sequence[dict[str, Any]], now: dt.datetime | None = None) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "generatedAt": (now or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "clusters": list(clusters),
    }
