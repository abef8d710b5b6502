"""Which rules run, how severe, on what, and what is accepted: profiles, overrides, scopes, suppressions.

In ``.kubesteward.yaml`` (see docs/policy.md)::

    policy:
      profile: production            # pss-baseline | pss-restricted | production | all
      rules:                         # per code (or glob): a severity, `off`, or `on` for an optional rule
        KS702: warning
        KS705: on
      include: {namespaces: ["team-*"]}
      exclude:
        - {namespaces: [legacy]}
        - {kinds: [Job], codes: ["KS70*"]}
        - {labels: "app=legacy"}
      suppress:
        - {codes: [KS722], namespace: payments, kind: Deployment, name: ledger, reason: "needs NET_ADMIN for ..."}
      settings: {allowedRegistries: [registry.example.com/], targetVersion: "1.32"}

Precedence, applied in this order by the engine: the profile picks the rules; ``rules:`` turns rules
on or off and sets severities; ``--only``/``--ignore`` narrow the codes; ``include``/``exclude`` (and
the exempt namespaces) decide which objects are judged at all; then a finding on a judged object is
suppressed by a ``suppress`` entry or by the object's annotation ``ignore.kubesteward.io/CODE: reason``
(the reason is required). Suppressed findings are counted and listed with their reason, never lost.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import kubesteward.findings.catalogue  # noqa: F401  (defines every code the checks below look up)
from kubesteward.errors import InputError, UsageError
from kubesteward.findings import CODES, Severity
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.objects import LabelSelector
from kubesteward.model.semantics.selectors import parse_selector, selector_matches
from kubesteward.policy.registry import Rule
from kubesteward.policy.settings import PolicySettings

PROFILES: dict[str, str] = {
    "pss-baseline": "the Pod Security Standards' baseline controls",
    "pss-restricted": "the Pod Security Standards' baseline and restricted controls",
    "production": "every rule but the optional ones (the default)",
    "all": "every rule, the optional ones included",
}
DEFAULT_PROFILE = "production"
IGNORE_ANNOTATION = "ignore.kubesteward.io/"  # + a code: the object's suppression, its value the reason


def code_matches(code: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(code, pattern.upper()) for pattern in patterns)


@dataclass(frozen=True)
class Scope:
    """Objects an include/exclude entry names: every given criterion must hold (globs for names)."""

    namespaces: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    labels: LabelSelector | None = None
    codes: tuple[str, ...] = ()  # exclude only: the codes excluded there (empty: all)

    def matches(self, key: ObjectKey, labels: Mapping[str, str]) -> bool:
        return (
            (not self.namespaces or any(fnmatch.fnmatchcase(key.namespace, p) for p in self.namespaces))
            and (not self.kinds or key.kind in self.kinds)
            and (not self.names or any(fnmatch.fnmatchcase(key.name, p) for p in self.names))
            and (self.labels is None or selector_matches(self.labels, labels))
        )


@dataclass(frozen=True)
class Suppression:
    codes: tuple[str, ...]
    reason: str
    scope: Scope = field(default_factory=Scope)


@dataclass(frozen=True)
class PolicyConfig:
    profile: str = DEFAULT_PROFILE
    rule_states: Mapping[str, str] = field(default_factory=dict)  # code pattern -> severity label, "on" or "off"
    only: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    include: tuple[Scope, ...] = ()
    exclude: tuple[Scope, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    settings: PolicySettings = field(default_factory=PolicySettings)

    def active(self, rule: Rule) -> bool:
        """Whether ``rule`` runs under this configuration (see the module's precedence)."""
        code = rule.code.code
        state = self._state(code)
        if state == "off":
            return False
        on = state is not None or _in_profile(rule, self.profile)
        if not on:
            return False
        if self.only and not code_matches(code, self.only):
            return False
        return not code_matches(code, self.ignore)

    def severity(self, rule: Rule) -> Severity:
        state = self._state(rule.code.code)
        return Severity.parse(state) if state not in (None, "on", "off") else rule.code.severity

    def _state(self, code: str) -> str | None:
        exact = self.rule_states.get(code)
        if exact is not None:
            return exact
        for pattern, state in self.rule_states.items():
            if fnmatch.fnmatchcase(code, pattern):
                return state
        return None

    def judged(self, key: ObjectKey, labels: Mapping[str, str], code: str) -> bool:
        """Whether ``code`` judges the object at ``key`` (include/exclude and exempt namespaces)."""
        if key.namespace and key.namespace in self.settings.exempt_namespaces:
            return False
        if self.include and not any(scope.matches(key, labels) for scope in self.include):
            return False
        return not any(
            scope.matches(key, labels) and (not scope.codes or code_matches(code, scope.codes))
            for scope in self.exclude
        )

    def suppression(self, code: str, key: ObjectKey, labels: Mapping[str, str]) -> str | None:
        """The reason the configuration accepts ``code`` on this object, or None."""
        for entry in self.suppressions:
            if code_matches(code, entry.codes) and entry.scope.matches(key, labels):
                return entry.reason
        return None


def _in_profile(rule: Rule, profile: str) -> bool:
    if profile in rule.profiles:
        return True
    if profile == "all":
        return True
    if profile == "production":
        return not rule.optional
    if profile == "pss-baseline":
        return rule.pss == "baseline"
    if profile == "pss-restricted":
        return rule.pss in ("baseline", "restricted")
    return False


def check_profile(name: str) -> str:
    if name not in PROFILES:
        raise UsageError(f"unknown policy profile {name!r} (profiles: {', '.join(PROFILES)})")
    return name


def parse_policy_config(data: Any, where: str, *, profile: str | None = None, only: Iterable[str] = (),
                        ignore: Iterable[str] = ()) -> PolicyConfig:
    """The ``policy:`` mapping of a config file (None: the defaults), with the command line's choices
    (which win over the file's): :class:`InputError` naming ``where`` for anything malformed."""
    data = data or {}
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: policy must be a mapping")
    unknown = set(map(str, data)) - {"profile", "rules", "include", "exclude", "suppress", "settings"}
    if unknown:
        raise InputError(f"{where}: unknown keys under policy: {', '.join(sorted(unknown))}")
    chosen = profile or str(data.get("profile") or DEFAULT_PROFILE)
    if chosen not in PROFILES:
        raise (UsageError if profile else InputError)(
            f"{'--profile' if profile else where}: unknown policy profile {chosen!r} (profiles: {', '.join(PROFILES)})"
        )
    for flag, patterns in (("--only", only), ("--ignore", ignore)):
        _check_codes(flag, patterns, UsageError)
    return PolicyConfig(
        profile=chosen,
        rule_states=_rule_states(data.get("rules"), where),
        only=tuple(p.upper() for p in only),
        ignore=tuple(p.upper() for p in ignore),
        include=tuple(_scopes(data.get("include"), f"{where}: policy.include", codes_allowed=False)),
        exclude=tuple(_scopes(data.get("exclude"), f"{where}: policy.exclude", codes_allowed=True)),
        suppressions=tuple(_suppressions(data.get("suppress"), where)),
        settings=PolicySettings.from_mapping(data.get("settings"), where),
    )


def _check_codes(where: str, patterns: Iterable[str], error: type[InputError] | type[UsageError]) -> None:
    unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(code, p.upper()) for code in CODES)]
    if unknown:
        raise error(f"{where}: no finding code matches {', '.join(map(repr, unknown))} (`kubesteward explain` lists them)")


def _rule_states(data: Any, where: str) -> dict[str, str]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: policy.rules must map codes to a severity, on or off")
    states: dict[str, str] = {}
    for code, state in data.items():
        # YAML reads a bare `off`/`on` as a boolean
        text = {False: "off", True: "on"}.get(state, str(state).lower()) if isinstance(state, bool) else str(state).lower()
        if text not in ("on", "off", "error", "warning", "info"):
            raise InputError(f"{where}: policy.rules.{code}: {state!r} is not error, warning, info, on or off")
        _check_codes(f"{where}: policy.rules", [str(code)], InputError)
        states[str(code).upper()] = text
    return states


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, (str, int)) for item in items):
        raise InputError(f"{where}: expected a string or a list of strings")
    return tuple(str(item) for item in items)


def _scope(data: Any, where: str, *, codes_allowed: bool) -> Scope:
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: each entry must be a mapping of namespaces, kinds, names, labels")
    allowed = {"namespaces", "namespace", "kinds", "kind", "names", "name", "labels"} | ({"codes"} if codes_allowed else set())
    unknown = set(map(str, data)) - allowed
    if unknown:
        raise InputError(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(allowed))})")
    labels = data.get("labels")
    selector = None
    if labels is not None:
        text = labels if isinstance(labels, str) else ",".join(f"{k}={v}" for k, v in dict(labels).items())
        try:
            selector = parse_selector(text)
        except ValueError as exc:
            raise InputError(f"{where}: labels: {exc}") from None
    codes = _strings(data.get("codes"), where)
    _check_codes(where, codes, InputError)
    return Scope(
        namespaces=_strings(data.get("namespaces", data.get("namespace")), where),
        kinds=_strings(data.get("kinds", data.get("kind")), where),
        names=_strings(data.get("names", data.get("name")), where),
        labels=selector,
        codes=tuple(c.upper() for c in codes),
    )


def _scopes(data: Any, where: str, *, codes_allowed: bool) -> list[Scope]:
    if data is None:
        return []
    entries = data if isinstance(data, list) else [data]
    return [_scope(entry, where, codes_allowed=codes_allowed) for entry in entries]


def _suppressions(data: Any, where: str) -> list[Suppression]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise InputError(f"{where}: policy.suppress must be a list")
    found = []
    for number, entry in enumerate(data, 1):
        at = f"{where}: policy.suppress[{number}]"
        if not isinstance(entry, Mapping):
            raise InputError(f"{at}: must be a mapping")
        reason = str(entry.get("reason") or "").strip()
        if not reason:
            raise InputError(f"{at}: a suppression needs a reason")
        codes = _strings(entry.get("codes", entry.get("code")), at)
        if not codes:
            raise InputError(f"{at}: name the codes it suppresses")
        _check_codes(at, codes, InputError)
        rest = {k: v for k, v in entry.items() if k not in ("reason", "codes", "code")}
        found.append(Suppression(tuple(c.upper() for c in codes), reason, _scope(rest, at, codes_allowed=False)))
    return found
