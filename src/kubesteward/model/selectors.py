"""Label selector semantics, exactly as the API server applies them.

- ``LabelSelector`` (Deployments, PDBs, NetworkPolicies): every matchLabels
  pair and every matchExpressions requirement must hold. An empty selector
  ``{}`` matches everything; a missing (None) selector matches nothing.
- A Service selector is a plain map; an empty or missing one selects nothing
  (the Service's endpoints are then managed by hand).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubesteward.model.objects import LabelSelector, LabelSelectorRequirement


def requirement_matches(req: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    op = req.operator
    values = req.values or []
    if op == "In":
        return req.key in labels and labels[req.key] in values
    if op == "NotIn":
        return req.key not in labels or labels[req.key] not in values
    if op == "Exists":
        return req.key in labels
    if op == "DoesNotExist":
        return req.key not in labels
    return False  # unknown operators never match (the API rejects them anyway)


def selector_matches(selector: LabelSelector | None, labels: Mapping[str, str] | None) -> bool:
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.matchLabels or {}).items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(req, labels) for req in selector.matchExpressions or ())


def map_selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None) -> bool:
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def selector_is_empty(selector: LabelSelector | None) -> bool:
    return selector is not None and not selector.matchLabels and not selector.matchExpressions


def format_selector(selector: LabelSelector | Mapping[str, str] | None) -> str:
    """``app=web,tier in (a,b)``: kubectl's notation, for evidence."""
    if selector is None:
        return "<none>"
    if not isinstance(selector, LabelSelector):
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<empty>"
    parts = [f"{k}={v}" for k, v in sorted((selector.matchLabels or {}).items())]
    for req in selector.matchExpressions or ():
        if req.operator in ("In", "NotIn"):
            parts.append(f"{req.key} {req.operator.lower()} ({','.join(req.values or [])})")
        elif req.operator == "Exists":
            parts.append(req.key)
        else:
            parts.append(f"!{req.key}")
    return ",".join(parts) or "<empty>"
