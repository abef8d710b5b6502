"""Rules about the policy's own annotations: a suppression must carry a reason and name a real code."""

from __future__ import annotations

from kubesteward.findings import CODES
from kubesteward.findings.catalogue.policy_apis import KS890, KS891
from kubesteward.policy.config import IGNORE_ANNOTATION
from kubesteward.policy.context import PolicyContext, annotations_of
from kubesteward.policy.registry import Manifest, Violation, object_rule


@object_rule(KS890, kinds=())
def suppression_without_reason(obj: Manifest, ctx: PolicyContext) -> list[Violation]:
    return [
        Violation(f"annotation {key} suppresses nothing: it gives no reason", ("metadata", "annotations", key),
                  {"annotation": key})
        for key, value in annotations_of(obj).items()
        if key.startswith(IGNORE_ANNOTATION) and not value.strip()
    ]


@object_rule(KS891, kinds=())
def suppression_of_unknown_code(obj: Manifest, ctx: PolicyContext) -> list[Violation]:
    return [
        Violation(f"annotation {key} names no rule: it suppresses nothing", ("metadata", "annotations", key),
                  {"annotation": key})
        for key in annotations_of(obj)
        if key.startswith(IGNORE_ANNOTATION) and key[len(IGNORE_ANNOTATION):].upper() not in CODES
    ]
