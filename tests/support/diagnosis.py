"""Diagnose a namespace of the real cluster through the real loader and engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesteward.checks.base import Finding
from kubesteward.checks.engine import Report, run_checks
from kubesteward.cluster import KubeClient
from kubesteward.model.load import load_cluster
from tests.support.wait import eventually


async def diagnose(kube: KubeClient, namespace: str | None = None, **kwargs: Any) -> Report:
    model = await load_cluster(kube, namespace=namespace)
    return run_checks(model, **kwargs)


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
