"""Run analyzers on hand-built objects (kubectl-style dicts) at a fixed time."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubesteward.checks.engine import run_checks
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import Finding
from kubesteward.model.files import model_from_objects


def run_codes(objects: list[dict[str, Any]], pattern: str, now: dt.datetime, **thresholds: Any) -> list[Finding]:
    """Findings of the codes matching ``pattern`` (e.g. ``KS2*``) for these objects at ``now``."""
    model, _ = model_from_objects(objects, now=now)
    return run_checks(model, settings=CheckSettings(**thresholds), only=[pattern]).findings


def pairs(findings: list[Finding]) -> list[tuple[str, str]]:
    """Sorted (code, object name) pairs."""
    return sorted((f.code, f.object.name) for f in findings)


def only_one(findings: list[Finding], code: str) -> Finding:
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, pairs(findings)
    return matching[0]
