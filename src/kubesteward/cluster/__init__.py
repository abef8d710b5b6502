"""Cluster access: configuration, transport, retries, typed errors, reads, writes, discovery, client factory."""

from __future__ import annotations

from kubesteward.cluster.client import FIELD_MANAGER, KubeClient, ObjectList, Preconditions, Response, Scale, WatchEvent
from kubesteward.cluster.config import list_contexts, load_config
from kubesteward.cluster.connection import ClusterConfig
from kubesteward.cluster.factory import ClientFactory, ContextResult
from kubesteward.cluster.resources import ResourceType
from kubesteward.cluster.retry import CircuitBreaker, RetryPolicy

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
