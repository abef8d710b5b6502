"""A finding: one thing wrong with one object, with its evidence and what to do about it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubesteward.findings.codes import Code
from kubesteward.findings.remediation import Remediation, Step
from kubesteward.findings.severity import Severity
from kubesteward.model.cluster import ObjectKey


@dataclass
class Finding:
    code: str
    severity: Severity
    object: ObjectKey
    message: str
    remediation: Remediation
    evidence: dict[str, Any] = field(default_factory=dict)
    # The object this finding is a symptom of, when the analyzer can tell
    # from the model (a pod's NotReady node, a pending pod's PVC).
    cause: ObjectKey | None = None
    # Everything else this finding is about (used for grouping and blast radius).
    related: list[ObjectKey] = field(default_factory=list)


def finding(
    code: Code,
    obj: ObjectKey,
    message: str,
    *,
    evidence: dict[str, Any] | None = None,
    severity: Severity | None = None,
    remediation: Remediation | None = None,
    fill: Mapping[str, str] | None = None,
    cause: ObjectKey | None = None,
    related: Iterable[ObjectKey] = (),
) -> Finding:
    """Build a finding from a catalogue code (its severity and remediation unless overridden).

    The remediation names what the finding knows (:meth:`Remediation.personalised`): its object,
    the names its evidence holds, and ``fill`` (placeholder -> value) for anything else.
    """
    kept = {k: v for k, v in (evidence or {}).items() if v not in (None, "", [], {})}
    return Finding(
        code=code.code,
        severity=severity or code.severity,
        object=obj,
        message=message,
        remediation=(remediation or code.remediation).personalised(obj, kept, fill),
        evidence=kept,
        cause=cause,
        related=list(related),
    )


def fix(code: Code, step: Step, *, instead_of_first: bool = False) -> Remediation:
    """The code's remediation led by a step naming this finding's own objects. ``instead_of_first``:
    the step is the catalogue's first one made concrete, which it replaces."""
    return code.remediation.led_by(step, replacing_first=instead_of_first)
