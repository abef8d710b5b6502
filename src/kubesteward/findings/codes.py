"""Stable finding codes and their registry.

Codes are stable forever: ``KS`` + three digits, grouped by area (1xx pods, 2xx workloads,
3xx networking, 4xx storage, 5xx nodes, 6xx autoscaling and disruption, 7xx policy on
containers and pod security, 8xx policy on workloads, RBAC, NetworkPolicy and API versions, 9xx kubesteward
itself). A retired code is never reused. The catalogue (:mod:`kubesteward.findings.catalogue`)
defines every one; importing it fills :data:`CODES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubesteward.findings.remediation import Remediation
from kubesteward.findings.severity import Severity


@dataclass(frozen=True)
class Code:
    """Catalogue entry for one finding code (what ``kubesteward explain`` prints)."""

    code: str
    title: str
    area: str
    severity: Severity
    explanation: str
    remediation: Remediation
    # Lower rank = closer to a root cause. Used to pick an incident's headline:
    # a NotReady node (10) explains a crashing pod (40) explains an empty Service (60).
    rank: int = 50


CODES: dict[str, Code] = {}


def define(
    code: str,
    title: str,
    *,
    area: str,
    severity: Severity,
    explanation: str,
    remediation: Remediation,
    rank: int = 50,
) -> Code:
    """Add a code to the catalogue. Codes are unique; defining one twice is a bug."""
    if code in CODES:
        raise ValueError(f"finding code {code} defined twice")
    _ = remediation.placeholders  # found once, here: a finding with none to fill copies nothing
    entry = Code(code, title, area, severity, explanation.strip(), remediation, rank)
    CODES[code] = entry
    return entry
