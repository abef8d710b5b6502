"""Cluster access: configuration, transport, retries, typed errors, reads, writes, discovery, client factory.

The names below are imported when first used (PEP 562): reading files (``lint``, ``diagnose -f``) needs
the table of built-in resources (:mod:`.resources`) and nothing of the HTTP stack, whose import costs a
visible share of such a run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubesteward.cluster.client import (
        FIELD_MANAGER,
        KubeClient,
        ObjectList,
        Preconditions,
        Response,
        Scale,
        WatchEvent,
    )
    from kubesteward.cluster.config import list_contexts, load_config
    from kubesteward.cluster.connection import ClusterConfig
    from kubesteward.cluster.factory import ClientFactory, ContextResult
    from kubesteward.cluster.resources import ResourceType
    from kubesteward.cluster.retry import CircuitBreaker, RetryPolicy

_WHERE = {
    **dict.fromkeys(
        ("FIELD_MANAGER", "KubeClient", "ObjectList", "Preconditions", "Response", "Scale", "WatchEvent"), "client"
    ),
    "list_contexts": "config",
    "load_config": "config",
    "ClusterConfig": "connection",
    "ClientFactory": "factory",
    "ContextResult": "factory",
    "ResourceType": "resources",
    "CircuitBreaker": "retry",
    "RetryPolicy": "retry",
}

__all__ = [
    "FIELD_MANAGER",
    "CircuitBreaker",
    "ClientFactory",
    "ClusterConfig",
    "ContextResult",
    "KubeClient",
    "ObjectList",
    "Preconditions",
    "ResourceType",
    "Response",
    "RetryPolicy",
    "Scale",
    "WatchEvent",
    "list_contexts",
    "load_config",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:  # a submodule (`from kubesteward.cluster import resources`) is imported by Python then
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
