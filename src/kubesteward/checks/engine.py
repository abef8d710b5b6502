"""Run the registered analyzers over a model, apply suppressions, group incidents."""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubesteward.checks.base import ANALYZERS
from kubesteward.checks.settings import CheckSettings
from kubesteward.findings import CODES, Finding, Severity
from kubesteward.findings.incidents import Incident, build_incidents
from kubesteward.model.cluster import ClusterModel, ObjectKey

IGNORE_ANNOTATION = "kubesteward.io/ignore"


def analyzer_modules() -> list[str]:
    """The analyzer modules of this package (importing one registers its analyzers)."""
    import kubesteward.checks as package

    return [
        f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if info.name not in ("base", "engine", "evidence", "settings", "cron")
    ]


def load_analyzers() -> None:
    """Import every analyzer module of this package (they register themselves)."""
    for name in analyzer_modules():
        importlib.import_module(name)


@dataclass
class SkippedCheck:
    analyzer: str
    codes: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass
class Report:
    context: str
    source: str
    findings: list[Finding]
    skipped_checks: list[SkippedCheck] = field(default_factory=list)
    suppressed: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # objects per kind in the model
    incidents: list[Incident] = field(default_factory=list)
    skipped_kinds: list[Any] = field(default_factory=list)  # model.skipped: what could not be loaded


def _ignored_codes(model: ClusterModel, finding: Finding) -> str:
    """The ignore annotation of the object, or of the top of its owner chain."""
    obj = model.get(*finding.object)
    if obj is None:
        return ""
    own = (obj.metadata.annotations or {}).get(IGNORE_ANNOTATION, "")
    root = model.root_owner(obj)
    inherited = (root.metadata.annotations or {}).get(IGNORE_ANNOTATION, "") if root is not obj else ""
    return ",".join(x for x in (own, inherited) if x)


def matches_code(code: str, patterns: Iterable[str]) -> bool:
    return any(p.strip().lower() in ("all", "*") or fnmatch.fnmatch(code, p.strip().upper()) for p in patterns if p.strip())


@dataclass
class Evaluation:
    findings: list[Finding]
    skipped: list[SkippedCheck]
    suppressed: list[ObjectKey]  # the object of each suppressed finding

    def replaced(self, subjects: set[ObjectKey], again: Evaluation) -> Evaluation:
        """This evaluation with what it says of ``subjects`` replaced by ``again``, an
        evaluation of a view scoped to them (``ClusterModel.scoped``): every finding
        is about the object its analyzer iterates, so nothing else changes."""
        findings = [f for f in self.findings if f.object not in subjects] + again.findings
        findings.sort(key=finding_order)
        suppressed = [k for k in self.suppressed if k not in subjects] + again.suppressed
        return Evaluation(findings, self.skipped, suppressed)


def evaluate(
    model: ClusterModel,
    *,
    settings: CheckSettings | None = None,
    ignore: Iterable[str] = (),
    only: Iterable[str] = (),
    keep: Callable[[Finding], bool] | None = None,
) -> Evaluation:
    """Every analyzer whose kinds are loaded, minus suppressed findings (``--ignore``, config, annotation).

    Works on a whole model or on an incremental view (``ClusterModel.scoped``).
    """
    load_analyzers()
    settings = settings or CheckSettings()
    ignore = [p for p in ignore if p]
    only = [p for p in only if p]
    findings: list[Finding] = []
    skipped: list[SkippedCheck] = []
    suppressed: list[ObjectKey] = []
    for registered in ANALYZERS.values():
        if only and not any(matches_code(c, only) for c in registered.codes):
            continue
        missing = registered.missing(model.loaded)
        if missing:
            skipped.append(SkippedCheck(registered.name, registered.codes, missing))
            continue
        for item in registered.func(model, settings):
            if item.code not in CODES:
                raise AssertionError(f"{registered.name} emitted undefined code {item.code}")
            if (only and not matches_code(item.code, only)) or matches_code(item.code, ignore):
                suppressed.append(item.object)
                continue
            if keep is not None and not keep(item):
                continue  # out of the requested scope (namespace, label selector): not "suppressed"
            annotation = _ignored_codes(model, item)
            if annotation and matches_code(item.code, annotation.split(",")):
                suppressed.append(item.object)
                continue
            findings.append(item)
    findings.sort(key=finding_order)
    return Evaluation(findings, skipped, suppressed)


def finding_order(item: Finding) -> tuple[int, str, Any]:
    return (-item.severity, item.code, item.object)


def run_checks(
    model: ClusterModel,
    *,
    settings: CheckSettings | None = None,
    ignore: Iterable[str] = (),
    only: Iterable[str] = (),
    keep: Callable[[Finding], bool] | None = None,
) -> Report:
    """Evaluate the whole model and group the findings into incidents."""
    return report(model, evaluate(model, settings=settings, ignore=ignore, only=only, keep=keep))


def report(model: ClusterModel, result: Evaluation) -> Report:
    """The report of an evaluation of ``model``: its findings grouped into incidents."""
    counts = {kind: len(model.objects(kind)) for kind in sorted(model.loaded)}
    return Report(
        model.context,
        model.source,
        result.findings,
        result.skipped,
        len(result.suppressed),
        counts,
        incidents=build_incidents(model, result.findings),
        skipped_kinds=list(model.skipped),
    )


def fails(findings: Iterable[Finding], threshold: Severity | None) -> bool:
    return threshold is not None and any(f.severity >= threshold for f in findings)


def summary_counts(findings: Iterable[Finding]) -> dict[str, Any]:
    out = {s.label: 0 for s in sorted(Severity, reverse=True)}
    for f in findings:
        out[f.severity.label] += 1
    return out
