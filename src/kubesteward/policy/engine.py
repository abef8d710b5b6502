"""The engine: rules over a set of objects, made findings once, with the configuration applied.

Every entry point (``lint`` on files, ``audit`` on clusters, the admission webhook on one object)
calls :func:`evaluate`; only the set of objects differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubesteward.findings import Finding, Severity, finding
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.semantics.pod_templates import dotted
from kubesteward.policy.config import IGNORE_ANNOTATION, PolicyConfig
from kubesteward.policy.context import PolicyContext, annotations_of, key_of, labels_of
from kubesteward.policy.registry import RULES, Manifest, Rule, Violation


def load_rules() -> dict[str, Rule]:
    """Every rule (importing the rule modules registers them)."""
    import kubesteward.policy.rules  # noqa: F401  (registers on import)

    return RULES


@dataclass(frozen=True)
class Located:
    """A finding with the object it is about (as judged) and the field, for locations in files."""

    finding: Finding
    subject: Manifest
    field: tuple[str | int, ...]


@dataclass(frozen=True)
class Suppressed:
    finding: Finding
    reason: str
    by: str  # "config" or "annotation"


@dataclass
class Score:
    """How a namespace fares: checks made (a rule on an object) and how many found something."""

    checks: int = 0
    failed: int = 0

    @property
    def percent(self) -> int:
        return 100 if not self.checks else round(100 * (self.checks - self.failed) / self.checks)


def worst_first(scores: Mapping[str, Score]) -> list[tuple[str, Score]]:
    """Namespaces by score, lowest first; at equal scores, more failed checks first, then by name."""
    return sorted(scores.items(), key=lambda item: (item[1].percent, -item[1].failed, item[0]))


@dataclass
class PolicyResult:
    located: list[Located] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    scores: dict[str, Score] = field(default_factory=dict)  # by namespace ("" for cluster-scoped objects)
    objects: int = 0  # objects judged
    rules: list[str] = field(default_factory=list)  # codes of the rules that ran
    # rules that did not run because kinds they need could not be read: code -> those kinds
    skipped_rules: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def findings(self) -> list[Finding]:
        return [item.finding for item in self.located]


def evaluate(ctx: PolicyContext, config: PolicyConfig | None = None, *, admission: bool = False) -> PolicyResult:
    """Every active rule over ``ctx``; ``admission``: only the rules that judge one object alone."""
    config = config or PolicyConfig()
    active = [r for r in load_rules().values() if config.active(r) and (r.admission or not admission)]
    unread = {r.code.code: tuple(sorted(r.needs & ctx.unread)) for r in active if r.needs & ctx.unread}
    rules = [r for r in active if r.code.code not in unread]
    result = PolicyResult(rules=sorted(r.code.code for r in rules), skipped_rules=unread)
    judged: set[int] = set()
    facts = _Facts()
    for rule in rules:
        if rule.target == "pod":
            for template in ctx.judged_templates:
                if _in_scope(config, facts, template.owner, rule, judged):
                    _record(result, config, facts, rule, template.owner, rule.check(template, ctx))
        elif rule.target == "object":
            candidates = ctx.of_kind(*rule.kinds) if rule.kinds else ctx.objects
            for obj in candidates:
                if _in_scope(config, facts, obj, rule, judged):
                    _record(result, config, facts, rule, obj, rule.check(obj, ctx))
        else:
            for violation in rule.check(ctx):
                subject = violation.subject
                if subject is None or not _in_scope(config, facts, subject, rule, judged, count=False):
                    continue
                score = result.scores.setdefault(facts.key(subject).namespace, Score())
                score.checks += 1
                score.failed += 1
                _add(result, config, facts, rule, subject, violation)
    result.objects = len(judged)
    result.located.sort(key=lambda item: (-item.finding.severity, str(item.finding.object), item.finding.code))
    return result


class _Facts:
    """Each object's key and labels, read once per evaluation: every rule's scope and score asks for them."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[ObjectKey, dict[str, str]]] = {}

    def of(self, obj: Manifest) -> tuple[ObjectKey, dict[str, str]]:
        known = self._known.get(id(obj))
        if known is None:  # objects outlive the evaluation, so their ids stay theirs
            known = self._known[id(obj)] = (key_of(obj), labels_of(obj))
        return known

    def key(self, obj: Manifest) -> ObjectKey:
        return self.of(obj)[0]

    def labels(self, obj: Manifest) -> dict[str, str]:
        return self.of(obj)[1]


def _in_scope(
    config: PolicyConfig, facts: _Facts, obj: Manifest, rule: Rule, judged: set[int], *, count: bool = True,
) -> bool:
    key, labels = facts.of(obj)
    if not config.judged(key, labels, rule.code.code):
        return False
    if count:
        judged.add(id(obj))
    return True


def _record(
    result: PolicyResult, config: PolicyConfig, facts: _Facts, rule: Rule, obj: Manifest, found: Iterable[Violation],
) -> None:
    violations = list(found)
    score = result.scores.setdefault(facts.key(obj).namespace, Score())
    score.checks += 1
    if violations:
        score.failed += 1
    for violation in violations:
        _add(result, config, facts, rule, violation.subject or obj, violation)


def _add(
    result: PolicyResult, config: PolicyConfig, facts: _Facts, rule: Rule, subject: Manifest, violation: Violation,
) -> None:
    key = facts.key(subject)
    evidence: dict[str, Any] = dict(violation.evidence or {})
    if violation.field:
        evidence.setdefault("field", dotted(violation.field))
    made = finding(rule.code, key, violation.message, evidence=evidence, severity=config.severity(rule))
    code = rule.code.code
    reason = config.suppression(code, key, facts.labels(subject))
    if reason is not None:
        result.suppressed.append(Suppressed(made, reason, "config"))
        return
    noted = annotations_of(subject).get(IGNORE_ANNOTATION + code, "").strip()
    if noted:
        result.suppressed.append(Suppressed(made, noted, "annotation"))
        return
    result.located.append(Located(made, subject, violation.field))


@dataclass(frozen=True)
class AdmissionVerdict:
    """What admission answers: denied by the error-level findings, warned by the rest."""

    denials: list[Finding]
    warnings: list[Finding]
    suppressed: list[Suppressed]

    @property
    def allowed(self) -> bool:
        return not self.denials


def evaluate_admission(manifest: Mapping[str, Any], config: PolicyConfig | None = None) -> AdmissionVerdict:
    """One object as an admission request carries it, judged by the rules that need nothing else."""
    config = config or PolicyConfig()
    result = evaluate(PolicyContext([manifest], config.settings), config, admission=True)
    denials = [f for f in result.findings if f.severity >= Severity.ERROR]
    warnings = [f for f in result.findings if f.severity < Severity.ERROR]
    return AdmissionVerdict(denials, warnings, result.suppressed)
