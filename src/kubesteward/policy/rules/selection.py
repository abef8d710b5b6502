"""Which pod templates of a namespace a selector selects, answered from an index of their labels built once
per context, so rules asking it for every budget, policy and Service of a large set stay linear.

Selection itself is :mod:`kubesteward.model.semantics.selectors`'; the index only narrows the candidates
to the templates carrying one of the selector's ``matchLabels`` pairs before matching them.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubesteward.model.objects import LabelSelector
from kubesteward.model.semantics.pod_templates import PodTemplate, controlled
from kubesteward.model.semantics.selectors import map_selector_matches, selector_matches
from kubesteward.policy.context import PolicyContext, meta

_Index = dict[tuple[str, str, str], list[PodTemplate]]


def _by_label(ctx: PolicyContext) -> _Index:
    def build() -> _Index:
        index: _Index = {}
        for template in ctx.templates:
            ns = str(meta(template.owner).get("namespace") or "")
            for key, value in template.labels.items():
                index.setdefault((ns, key, value), []).append(template)
        return index

    return ctx.memo("selection.by_label", build)


def _candidates(ctx: PolicyContext, namespace: str, pairs: Mapping[str, str] | None) -> list[PodTemplate]:
    if pairs:
        key, value = next(iter(pairs.items()))
        return _by_label(ctx).get((namespace, key, value), [])
    return ctx.templates_in(namespace)


def selected(ctx: PolicyContext, namespace: str, selector: LabelSelector | None, *, owners: bool = False) -> list[PodTemplate]:
    """The pod templates of ``namespace`` that ``selector`` selects (``owners``: only those no controller owns)."""
    if selector is None:
        return []
    return [
        t for t in _candidates(ctx, namespace, selector.matchLabels)
        if selector_matches(selector, t.labels) and not (owners and controlled(t.owner))
    ]


def map_selected(ctx: PolicyContext, namespace: str, selector: Mapping[str, str] | None) -> list[PodTemplate]:
    """The pod templates of ``namespace`` a Service-style selector (a plain map) selects."""
    if not selector:
        return []
    return [t for t in _candidates(ctx, namespace, selector) if map_selector_matches(selector, t.labels)]
