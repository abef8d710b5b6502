"""Policy: one rule engine for manifests in CI (``lint``), live clusters (``audit``) and admission (``webhook``).

- :mod:`.registry`: :class:`Rule`, :class:`Violation` and the decorators rules register with
  (:func:`pod_rule`, :func:`object_rule`, :func:`set_rule`);
- :mod:`.rules`: the rules, one module per family (their prose: ``findings/catalogue/policy_*``);
- :mod:`.context`: :class:`PolicyContext`, the objects judged together and the indexes rules share;
- :mod:`.settings`, :mod:`.config`: the knobs rules read; profiles, severities, scopes, suppressions;
- :mod:`.engine`: :func:`evaluate` (any set of objects) and :func:`evaluate_admission` (one object).

Pod templates are found by :mod:`kubesteward.model.semantics.pod_templates`, for every kind that makes
pods, CRDs included.
"""

from __future__ import annotations

from kubesteward.policy.config import PROFILES, PolicyConfig, parse_policy_config
from kubesteward.policy.context import PolicyContext
from kubesteward.policy.engine import (
    AdmissionVerdict,
    Located,
    PolicyResult,
    Score,
    evaluate,
    evaluate_admission,
    load_rules,
)
from kubesteward.policy.registry import RULES, Rule, Violation, object_rule, pod_rule, set_rule
from kubesteward.policy.settings import PolicySettings

__all__ = [
    "PROFILES", "RULES", "AdmissionVerdict", "Located", "PolicyConfig", "PolicyContext", "PolicyResult",
    "PolicySettings", "Rule", "Score", "Violation", "evaluate", "evaluate_admission", "load_rules", "object_rule",
    "parse_policy_config", "pod_rule", "set_rule",
]
