"""Built-in resource types for tests, by apiVersion and kind (a typo fails at import, not mid-test); whether
an object exists; a namespace and a custom resource definition of a test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.errors import NotFound


def builtin(api_version: str, kind: str) -> ResourceType:
    found = resources.builtin(api_version, kind)
    assert found is not None, kind
    return found


@asynccontextmanager
async def fresh_namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A namespace of a random name, deleted on exit (already gone is fine)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        yield name
    finally:
        try:
            await kube.delete(resources.NAMESPACE, name)
        except NotFound:
            pass


async def exists(kube: KubeClient, rt: ResourceType, name: str, namespace: str) -> bool:
    try:
        await kube.get(rt, name, namespace)
    except NotFound:
        return False
    return True


def widget_crd(group: str) -> dict[str, Any]:
    """A namespaced ``Widget`` in ``group`` (``widgets.<group>``), keeping whatever fields its objects have."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"widgets.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                         "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}
