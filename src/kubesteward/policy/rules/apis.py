"""Policy rules on API versions (codes and prose in ``findings/catalogue/policy_apis.py``): an object
written in an apiVersion the target Kubernetes version no longer serves (KS860) or has deprecated (KS861).

The table and the target's parsing live in :mod:`kubesteward.model.semantics.api_versions`.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubesteward.findings.catalogue.policy_apis import KS860, KS861
from kubesteward.model.semantics.api_versions import Deprecation, Version, deprecation, format_version, parse_version
from kubesteward.policy.context import PolicyContext
from kubesteward.policy.registry import Manifest, Violation, object_rule


def _judged(obj: Manifest, ctx: PolicyContext, state: str) -> Iterator[tuple[Deprecation, Version]]:
    found = deprecation(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
    if found is None:
        return
    try:
        target = parse_version(ctx.settings.target_version)
    except ValueError:
        return  # the setting is checked where it is read (config file, --target-version)
    if found.state(target) == state:
        yield found, target


def _evidence(found: Deprecation, target: Version) -> dict[str, str]:
    evidence = {
        "api_version": found.api_version, "replacement": found.replacement,
        "deprecated_in": format_version(found.deprecated), "target_version": format_version(target),
    }
    if found.removed is not None:
        evidence["removed_in"] = format_version(found.removed)
    return evidence


@object_rule(KS860, kinds=())
def removed_api_version(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    for found, target in _judged(obj, ctx, "removed"):
        removed = format_version(found.removed) if found.removed else "?"
        yield Violation(
            f"{found.api_version} {found.kind} is not served since Kubernetes {removed} "
            f"(target {format_version(target)}): use {found.replacement}",
            ("apiVersion",), _evidence(found, target),
        )


@object_rule(KS861, kinds=())
def deprecated_api_version(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    for found, target in _judged(obj, ctx, "deprecated"):
        until = f", removed in {format_version(found.removed)}" if found.removed else ""
        yield Violation(
            f"{found.api_version} {found.kind} is deprecated since Kubernetes {format_version(found.deprecated)}"
            f"{until}: use {found.replacement}",
            ("apiVersion",), _evidence(found, target),
        )
