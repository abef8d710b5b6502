"""Diagnose a namespace of the real cluster through the real loader and engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesteward.checks.engine import Evaluation, Report, run_checks
from kubesteward.cluster import KubeClient
from kubesteward.diagnosis import evaluate_with_events
from kubesteward.findings import Finding
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel
from kubesteward.model.load import load_cluster
from tests.support.wait import eventually


async def diagnose(kube: KubeClient, namespace: str | None = None, **kwargs: Any) -> Report:
    """The report of a model loaded with every event; every scenario also checks, on that same
    model, that listing events only where the analyzers ask (as ``diagnose`` does) says the same."""
    model = await load_cluster(kube, namespace=namespace)
    report = run_checks(model, **kwargs)
    asked = await events_where_asked(model, namespace, **kwargs)
    assert (_said(asked.findings), len(asked.suppressed)) == (_said(report.findings), report.suppressed)
    return report


async def events_where_asked(model: ClusterModel, namespace: str | None, **kwargs: Any) -> Evaluation:
    """:func:`evaluate_with_events` on a copy of ``model`` without its events, given back
    namespace by namespace when asked (the same snapshot: nothing changes in between)."""
    bare = ClusterModel(
        context=model.context, source=model.source, now=model.now, namespace_scope=model.namespace_scope,
        loaded=model.loaded - {"Event"}, partial={k: v for k, v in model.partial.items() if k != "Event"},
    )
    for kind in KIND_ATTRS:
        if kind != "Event":
            bare.add(kind, model.objects(kind))

    async def list_events(where: set[str]) -> None:
        bare.add("Event", [e for e in model.events if e.metadata.namespace in where])
        bare.loaded.add("Event")

    return await evaluate_with_events(bare, list_events, namespace=namespace, **kwargs)


def _said(findings: list[Finding]) -> list[tuple[Any, ...]]:
    return [(f.code, f.object, f.message, f.evidence, f.cause) for f in findings]


def codes_for(report: Report, kind: str, name: str, namespace: str | None = None) -> set[str]:
    return {
        f.code
        for f in report.findings
        if f.object.kind == kind and f.object.name == name and (namespace is None or f.object.namespace == namespace)
    }


def only(report: Report, code: str, name: str | None = None) -> list[Finding]:
    return [f for f in report.findings if f.code == code and (name is None or f.object.name == name)]


def found(report: Report) -> set[tuple[str, str]]:
    """The (code, object name) pairs of a report."""
    return {(f.code, f.object.name) for f in report.findings}


async def until(
    kube: KubeClient,
    namespace: str,
    expected: set[tuple[str, str]],
    timeout: float = 90,
    settled: Callable[[Report], bool] = lambda report: True,
    **kwargs: Any,
) -> Report:
    """Diagnose until every expected (code, object name) is reported and ``settled`` holds."""
    return await eventually(
        lambda: diagnose(kube, namespace, **kwargs),
        lambda report: expected <= found(report) and settled(report),
        timeout=timeout,
        interval=2.0,
        what=f"findings {sorted(expected)}",
    )
