"""Full objects from the real API server: a custom resource found through discovery is listed and held
whole, built-ins keep every field, Secrets enter redacted, and what may not be listed is said."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubesteward.cluster import KubeClient, load_config, resources
from kubesteward.errors import ClusterError, Invalid, NotFound, UsageError
from kubesteward.model.full import GroupKind, load_full
from kubesteward.redaction import REDACTED, digest, redact_manifest
from tests.support.cli import variant
from tests.support.identities import service_account_token
from tests.support.wait import eventually

GROUP = "test.kubesteward.io"
WIDGETS = f"{GROUP}/v1/Widget"
CRDS = resources.by_name("customresourcedefinitions")
SECRETS = resources.by_name("secrets")
DEPLOYMENTS = resources.by_name("deployments")
assert CRDS is not None and SECRETS is not None and DEPLOYMENTS is not None

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
        }],
    },
}
SECRET_VALUE = "correct-horse-battery-staple"


@pytest.fixture
async def widgets(kube: KubeClient) -> AsyncIterator[None]:
    """The Widget CRD, established and served (discovery names it), deleted afterwards."""
    await kube.apply(WIDGET_CRD, force=True)

    async def served() -> bool:
        try:
            crd = await kube.get(CRDS, f"widgets.{GROUP}")
            established = any(c["type"] == "Established" and c["status"] == "True"
                              for c in (crd.get("status") or {}).get("conditions") or ())
            return established and await kube.resolve(f"{GROUP}/v1", "Widget") is not None
        except (NotFound, Invalid):
            return False

    await eventually(served, bool, timeout=60, what="the Widget CRD to be served")
    try:
        yield
    finally:
        try:
            await kube.delete(CRDS, f"widgets.{GROUP}")
        except NotFound:
            pass


def widget(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": name, "namespace": namespace,
            "labels": {"shape": "round"}}, "spec": spec}


DEPLOYMENT_POD = {
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "shop", "effect": "NoSchedule"}],
    "containers": [{
        "name": "api", "image": "shop/api:1.4",
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
        "readinessProbe": {"tcpSocket": {"port": 8080}},
        "env": [{"name": "PASSWORD", "value": SECRET_VALUE}],
    }],
}


async def test_custom_resources_are_listed_through_discovery_and_held_whole(
    kube: KubeClient, namespace: str, widgets: None
) -> None:
    specs = {
        "gear": {"size": 3, "colours": ["red", "blue"], "nested": {"deep": {"deeper": True}}},
        "cog": {"size": 1, "ratio": 0.25, "tags": {"a": "b"}},
    }
    for name, spec in specs.items():
        await kube.create(widget(name, namespace, spec))

    store = await load_full(kube, [WIDGETS], namespace=namespace)

    assert store.loaded == {GroupKind(GROUP, "Widget")} and not store.skipped
    held = store.of_kind("Widget", group=GROUP)
    assert [w.name for w in held] == ["cog", "gear"]
    rt = await kube.resolve(f"{GROUP}/v1", "Widget")
    for obj in held:
        assert obj.manifest()["spec"] == specs[obj.name]
        assert obj.manifest() == await kube.get(rt, obj.name, namespace)  # whole: every field the server holds
    assert obj.api_version == f"{GROUP}/v1"


async def test_builtins_are_held_whole_with_secret_values_and_env_values_redacted(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
                       "stringData": {"password": SECRET_VALUE}})
    await kube.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": namespace},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}},
                                "template": {"metadata": {"labels": {"app": "api"}}, "spec": DEPLOYMENT_POD}}})

    store = await load_full(kube, ["secrets", "Deployment"], namespace=namespace)

    secret = store.get("Secret", namespace, "db")
    assert secret is not None and secret.api_version == "v1"
    assert SECRET_VALUE.encode() not in secret.raw and base64.b64encode(SECRET_VALUE.encode()) not in secret.raw
    expected = base64.b64encode(SECRET_VALUE.encode()).decode()
    assert secret.manifest()["data"] == {"password": f"{REDACTED} {digest(expected)}"}
    assert secret.manifest() == redact_manifest(await kube.get(SECRETS, "db", namespace))

    deployment = store.get("Deployment", namespace, "api", group="apps")
    assert deployment is not None and SECRET_VALUE.encode() not in deployment.raw
    manifest = deployment.manifest()
    assert manifest["apiVersion"] == "apps/v1" and manifest["kind"] == "Deployment"  # LIST items lack them
    pod = manifest["spec"]["template"]["spec"]
    assert pod["securityContext"] == DEPLOYMENT_POD["securityContext"]
    assert pod["tolerations"] == DEPLOYMENT_POD["tolerations"]
    container = pod["containers"][0]
    assert container["securityContext"] == DEPLOYMENT_POD["containers"][0]["securityContext"]  # type: ignore[index]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" and container["livenessProbe"]["periodSeconds"] == 5
    assert container["readinessProbe"]["tcpSocket"] == {"port": 8080}
    assert container["env"] == [{"name": "PASSWORD", "value": f"{REDACTED} {digest(SECRET_VALUE)}"}]
    live = redact_manifest(await kube.get(DEPLOYMENTS, "api", namespace))
    assert manifest["spec"] == live["spec"]  # every field, server defaults included


async def test_kinds_that_may_not_be_listed_are_recorded_not_guessed(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str, widgets: None
) -> None:
    await kube.create(widget("gear", namespace, {"size": 3}))
    token = await service_account_token(kube, namespace, "reader", read_in=(namespace,))
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    async with KubeClient(load_config(str(config))) as reader:
        everywhere = await load_full(reader, [WIDGETS, "configmaps"])
        assert not everywhere.loaded and len(everywhere) == 0
        assert sorted((s.kind, s.unread) for s in everywhere.skipped) == [("ConfigMap", True), ("Widget", True)]
        assert all(s.reason.startswith("forbidden: ") for s in everywhere.skipped)

        mine = await load_full(reader, [WIDGETS], namespace=namespace)
        assert not mine.skipped and [w.name for w in mine.of_kind("Widget")] == ["gear"]


async def test_unknown_kinds_are_clear_errors(kube: KubeClient) -> None:
    with pytest.raises(UsageError, match="unknown kind 'gadgets'"):
        await load_full(kube, ["gadgets"])
    with pytest.raises(Invalid, match="unknown apiVersion 'nope.example.com/v1'"):
        await load_full(kube, ["nope.example.com/v1/Thing"])
    with pytest.raises(ClusterError, match="unknown kind 'Thing' in apps/v1"):
        await load_full(kube, ["apps/v1/Thing"])
