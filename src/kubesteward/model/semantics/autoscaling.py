"""Replicas and autoscalers: how many pods a workload asks for, and what a HorizontalPodAutoscaler
reads and scales.

- A built-in workload that omits ``spec.replicas`` runs one (the API server's default); any other
  kind (a CRD such as an Argo Rollout) is judged on the integer it declares, and one that declares
  none has no replica count to judge.
- An HPA scales the object its ``scaleTargetRef`` names in its own namespace (by kind and name, and
  by group when the reference carries an apiVersion).
- A Utilization target divides usage by requests, so every container it reads needs a request for
  that resource; an HPA with no metrics scales on 80% average CPU utilization.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesteward.model import objects as o

# Built-ins whose spec.replicas the API server defaults to 1.
REPLICA_DEFAULTED = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


def declared_replicas(obj: Mapping[str, Any]) -> int | None:
    """The replicas ``obj`` asks for, or None for a kind without a replica count."""
    spec = obj.get("spec")
    value = spec.get("replicas") if isinstance(spec, Mapping) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return 1 if value is None and obj.get("kind") in REPLICA_DEFAULTED else None


def group_of(api_version: str) -> str:
    """``apps`` of ``apps/v1``; the core group (``v1``) is ""."""
    return api_version.rpartition("/")[0]


def scales(hpa: o.HorizontalPodAutoscaler, obj: Mapping[str, Any]) -> bool:
    """Whether ``hpa`` targets ``obj`` (same namespace, kind and name; group when the reference has one)."""
    ref = hpa.spec.scaleTargetRef
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return (
        ref.kind == obj.get("kind") and ref.name == meta.get("name")
        and (meta.get("namespace") or "") == hpa.metadata.namespace
        and (not ref.apiVersion or group_of(ref.apiVersion) == group_of(str(obj.get("apiVersion", ""))))
    )


def utilization_resources(hpa: o.HorizontalPodAutoscaler) -> list[tuple[str, str]]:
    """(resource, container or "") of every metric that divides usage by requests."""
    if hpa.spec.metrics is None:
        return [("cpu", "")]  # the API's default: 80% average CPU utilization
    out = []
    for metric in hpa.spec.metrics:
        source = metric.resource if metric.type == "Resource" else metric.containerResource if metric.type == "ContainerResource" else None
        if source is not None and source.target is not None and source.target.type == "Utilization":
            out.append((source.name, source.container if metric.type == "ContainerResource" else ""))
    return out
