"""Extra simulated (KWOK) nodes for tests that break nodes: each test breaks only nodes it made."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import NotFound
from kubesteward.sandbox.faults import FAULT_LABEL

Obj = dict[str, Any]
MakeNode = Callable[..., Awaitable[str]]
TEST_TAINT = {"key": "kubesteward.io/test", "value": "nodes", "effect": "NoSchedule"}
TOLERATE_TEST_TAINT = [{"key": "kubesteward.io/test", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.fixture
async def make_node(kube: KubeClient) -> AsyncIterator[MakeNode]:
    """Extra simulated nodes, deleted at the end, so the sandbox's shared nodes stay healthy."""
    created: list[str] = []

    async def make(fault: str | None = None, *, cordoned: bool = False) -> str:
        name = f"ks-node-{uuid.uuid4().hex[:8]}"
        capacity = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}
        labels = {"type": "kwok-test", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        if fault:
            labels[FAULT_LABEL] = fault
        spec: Obj = {"taints": [TEST_TAINT]}
        if cordoned:
            spec["unschedulable"] = True
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "Node",
                # The annotation is KWOK's "this fake node is mine to manage".
                "metadata": {"name": name, "labels": labels, "annotations": {"kwok.x-k8s.io/node": "fake"}},
                "spec": spec,
                "status": {"allocatable": capacity, "capacity": capacity},
            }
        )
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            await kube.delete(resources.NODE, name)
        except NotFound:
            pass
