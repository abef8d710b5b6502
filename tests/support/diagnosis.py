"""Diagnose a namespace of the real cluster through the real loader and engine."""

from __future__ import annotations

from typing import Any

from kubesteward.checks.base import Finding
from kubesteward.checks.engine import Report, run_checks
from kubesteward.cluster import KubeClient
from kubesteward.model.load import load_cluster


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
