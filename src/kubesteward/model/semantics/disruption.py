"""PodDisruptionBudgets as the disruption controller and the eviction API apply them, over manifests.

- Selection: a ``policy/v1`` budget's empty selector (``{}``) selects every pod of its namespace; a
  ``policy/v1beta1`` budget's empty selector selects none; an absent selector selects none in both.
- The pods a budget must keep (``desiredHealthy``) out of those it expects: ``minAvailable`` as an
  integer, or as a percentage of the expected pods rounded up; or the expected pods less
  ``maxUnavailable`` (a percentage rounded up too). An eviction is allowed while more are healthy.
- The eviction API refuses to evict a pod that more than one budget covers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from kubesteward.model.objects import LabelSelector
from kubesteward.model.semantics.selectors import selector_from, selector_is_empty

_PERCENT = re.compile(r"(\d+)%")


def _spec(pdb: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = pdb.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def budget_selector(pdb: Mapping[str, Any]) -> LabelSelector | None:
    """The selector the budget applies (None: it selects nothing)."""
    selector = selector_from(_spec(pdb).get("selector"))
    if selector_is_empty(selector) and pdb.get("apiVersion") == "policy/v1beta1":
        return None
    return selector


def scaled(value: Any, total: int) -> int | None:
    """An int-or-percent field against ``total``, rounded up as the controller does; None if malformed."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    found = _PERCENT.fullmatch(value) if isinstance(value, str) else None
    return math.ceil(int(found.group(1)) * total / 100) if found else None


def desired_healthy(pdb: Mapping[str, Any], expected: int) -> int | None:
    """How many of ``expected`` pods the budget keeps (None: neither field, or malformed)."""
    spec = _spec(pdb)
    if spec.get("minAvailable") is not None:
        return scaled(spec["minAvailable"], expected)
    if spec.get("maxUnavailable") is not None:
        unavailable = scaled(spec["maxUnavailable"], expected)
        return None if unavailable is None else max(expected - unavailable, 0)
    return None


def forbids_every_eviction(pdb: Mapping[str, Any]) -> str | None:
    """The field that allows no eviction whatever the pods (``maxUnavailable 0``, ``minAvailable 100%``), or None."""
    spec = _spec(pdb)
    unavailable, available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if unavailable is not None and str(unavailable).strip() in ("0", "0%"):
        return f"maxUnavailable {unavailable}"
    if isinstance(available, str) and available.strip() == "100%":
        return f"minAvailable {available}"
    return None
