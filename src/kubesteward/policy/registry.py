"""The rule registry: every policy rule, its code, what it looks at, and which profiles run it.

A rule is a pure function over full objects as plain data, registered with one of three decorators
by what it judges:

- :func:`pod_rule`: every pod template (:class:`~kubesteward.model.semantics.pod_templates.PodTemplate`),
  of any kind that makes pods, CRDs included; pods a controller owns are judged on the controller's
  template instead, once;
- :func:`object_rule`: every object of the kinds it names;
- :func:`set_rule`: the whole set at once (a Service selecting no pod template, a binding to a
  role that does not exist): such rules need every object, so they do not run at admission.

It yields :class:`Violation`\\ s; the engine (:mod:`kubesteward.policy.engine`) makes findings of
them, applying severities, profiles and suppressions in one place. Rules never call the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from kubesteward.findings import CODES, Code
from kubesteward.model.semantics.pod_templates import KNOWN_PATHS, PodTemplate

if TYPE_CHECKING:
    from kubesteward.policy.context import PolicyContext

PssLevel = Literal["baseline", "restricted"]
Target = Literal["pod", "object", "set"]
Manifest = Mapping[str, Any]


class Violation(NamedTuple):
    """One way an object breaks a rule.

    ``field``: where, as a path from the object's root (``("spec", "template", "spec", "containers", 0,
    "resources")``), so a file's finding points at its line. ``subject``: the object it is about,
    for set rules (an object rule's and a pod rule's subject is the object judged)."""

    message: str
    field: tuple[str | int, ...] = ()
    evidence: Mapping[str, Any] | None = None
    subject: Manifest | None = None


PodCheck = Callable[[PodTemplate, "PolicyContext"], Iterable[Violation]]
ObjectCheck = Callable[[Manifest, "PolicyContext"], Iterable[Violation]]
SetCheck = Callable[["PolicyContext"], Iterable[Violation]]


@dataclass(frozen=True)
class Rule:
    code: Code
    target: Target
    check: Callable[..., Iterable[Violation]]
    # object rules: the kinds judged; set rules: the kinds read; pod rules: the kinds read beside the
    # templates (a namespace's LimitRange defaults); what `audit` lists for them
    kinds: frozenset[str] = frozenset()
    pss: PssLevel | None = None  # the Pod Security Standards level the control belongs to
    optional: bool = False  # off unless the configuration turns it on (e.g. digest pinning)
    profiles: frozenset[str] = field(default_factory=frozenset)  # extra built-in profiles that run it
    # set rules: whether the rule asks which pods exist (a Service selecting none), so it needs every
    # kind that makes pods read, not only its own kinds, before it may conclude from absence
    reads_pods: bool = False

    @property
    def needs(self) -> frozenset[str]:
        """The kinds that must have been read whole for the rule to judge: a rule concluding from what
        is absent ("no budget selects these pods", "no LimitRange defaults this request") would otherwise
        report what it could not see. An object rule judges only the objects it is given."""
        if self.target == "object":
            return frozenset()
        if self.target == "pod":
            return self.kinds  # what it looks up beside the template
        return self.kinds | (POD_MAKERS if self.reads_pods else frozenset())

    @property
    def admission(self) -> bool:
        """Whether the rule can judge one object alone (what an admission request carries)."""
        return self.target != "set"


# Every kind that may make pods: the built-ins, and CRDs (the definitions say which custom kinds do).
POD_MAKERS = frozenset({*(kind for kind in KNOWN_PATHS if kind != "PodTemplate"), "CustomResourceDefinition"})

RULES: dict[str, Rule] = {}


def _register(rule: Rule) -> None:
    if rule.code.code in RULES:
        raise ValueError(f"policy rule {rule.code.code} registered twice")
    if CODES.get(rule.code.code) is not rule.code:
        raise ValueError(f"policy rule {rule.code.code} has no catalogue entry")
    RULES[rule.code.code] = rule


def pod_rule(
    code: Code, *, pss: PssLevel | None = None, optional: bool = False, profiles: Iterable[str] = (),
    reads: Iterable[str] = (),
) -> Callable[[PodCheck], PodCheck]:
    """Register a rule judging every pod template; ``reads``: other kinds it looks up in the set."""

    def register(check: PodCheck) -> PodCheck:
        _register(Rule(code, "pod", check, frozenset(reads), pss=pss, optional=optional, profiles=frozenset(profiles)))
        return check

    return register


def object_rule(
    code: Code, kinds: Iterable[str], *, pss: PssLevel | None = None, optional: bool = False,
    profiles: Iterable[str] = (),
) -> Callable[[ObjectCheck], ObjectCheck]:
    """Register a rule judging every object of ``kinds``."""

    def register(check: ObjectCheck) -> ObjectCheck:
        _register(Rule(code, "object", check, frozenset(kinds), pss, optional, frozenset(profiles)))
        return check

    return register


def set_rule(
    code: Code, kinds: Iterable[str], *, optional: bool = False, profiles: Iterable[str] = (), reads_pods: bool = True,
) -> Callable[[SetCheck], SetCheck]:
    """Register a rule judging the whole set; ``kinds``: what it reads; ``reads_pods``: whether it asks
    which pod templates exist (then it needs every kind that makes pods too)."""

    def register(check: SetCheck) -> SetCheck:
        _register(Rule(code, "set", check, frozenset(kinds), None, optional, frozenset(profiles), reads_pods))
        return check

    return register

