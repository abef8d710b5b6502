"""Networking diagnosis (KS3xx) against the real control plane.

The real EndpointSlice controller fills the slices from pods that KWOK runs
(and gives IPs); the ``kubesteward.io/fault: not-ready`` label keeps a pod
Running but not Ready. Each test waits until the controller has converged,
then diagnoses the namespace through the real loader and engine.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesteward.checks.engine import run_checks
from kubesteward.checks.incidents import build_incidents
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import NotFound
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.load import load_cluster
from kubesteward.sandbox.faults import FAULT_LABEL
from tests.support.diagnosis import codes_for, diagnose, only
from tests.support.wait import eventually

Obj = dict[str, Any]


def builtin(api_version: str, kind: str) -> resources.ResourceType:
    found = resources.builtin(api_version, kind)
    assert found is not None, kind
    return found


SLICES = builtin("discovery.k8s.io/v1", "EndpointSlice")
INGRESS_CLASSES = builtin("networking.k8s.io/v1", "IngressClass")
WAIT = 90.0
# Fault pods are Ready=False from their first second; skip the startup grace so
# the diagnosis does not have to wait five minutes.
NO_GRACE = CheckSettings(pod_not_ready_seconds=0, pod_pending_seconds=0)


# --------------------------------------------------------------------------- manifests


def deployment(name: str, labels: dict[str, str], *, replicas: int = 2, fault: str | None = None,
               ports: list[Obj] | None = None) -> Obj:
    pod_labels = {**labels, **({FAULT_LABEL: fault} if fault else {})}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "containers": [{"name": "app", "image": "registry.local/app:1",
                                    "ports": ports if ports is not None else [{"name": "http", "containerPort": 8080}]}],
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }


def service(name: str, selector: dict[str, str], ports: list[Obj] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": ports or [{"name": "web", "port": 80, "targetPort": "http"}]}}


def ingress(name: str, service_name: str, port: Obj, *, cls: str | None, tls_secret: str | None = None) -> Obj:
    spec: Obj = {"rules": [{"host": f"{name}.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": service_name, "port": port}}}]}}]}
    if cls:
        spec["ingressClassName"] = cls
    if tls_secret:
        spec["tls"] = [{"hosts": [f"{name}.example.com"], "secretName": tls_secret}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name}, "spec": spec}


def tls_secret(name: str) -> Obj:
    # The API checks that a kubernetes.io/tls Secret has both keys, not that they hold a real certificate.
    dummy = base64.b64encode(b"not a real certificate").decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "kubernetes.io/tls",
            "data": {"tls.crt": dummy, "tls.key": dummy}}


def network_policy(name: str, selector: Obj) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name},
            "spec": {"podSelector": selector, "policyTypes": ["Ingress"]}}


# --------------------------------------------------------------------------- helpers


async def create_all(kube: KubeClient, namespace: str, *objects: Obj) -> None:
    for obj in objects:
        await kube.create(obj, namespace=namespace)


async def endpoints(kube: KubeClient, namespace: str, svc: str) -> list[Obj]:
    """Every endpoint the EndpointSlice controller wrote for the Service."""
    result = await kube.list(SLICES, namespace=namespace, label_selector=f"kubernetes.io/service-name={svc}")
    return [ep for eps in result.items for ep in eps.get("endpoints") or []]


async def wait_endpoints(kube: KubeClient, namespace: str, svc: str, *, count: int, ready: bool) -> list[Obj]:
    return await eventually(
        lambda: endpoints(kube, namespace, svc),
        lambda eps: len(eps) == count and all(bool(ep.get("conditions", {}).get("ready")) == ready for ep in eps),
        timeout=WAIT, what=f"{count} {'ready' if ready else 'unready'} endpoints for Service {svc}",
    )


async def wait_slice_exists(kube: KubeClient, namespace: str, svc: str) -> None:
    async def slices() -> int:
        return len((await kube.list(SLICES, namespace=namespace, label_selector=f"kubernetes.io/service-name={svc}")).items)

    await eventually(slices, lambda n: n > 0, timeout=WAIT, what=f"an EndpointSlice for Service {svc}")


async def wait_pods(kube: KubeClient, namespace: str, selector: str, count: int) -> None:
    async def pods() -> int:
        return len((await kube.list(resources.POD, namespace=namespace, label_selector=selector)).items)

    await eventually(pods, lambda n: n == count, timeout=WAIT, what=f"{count} pods {selector}")


@pytest.fixture
async def ingress_class(kube: KubeClient) -> AsyncIterator[str]:
    """A unique, non-default IngressClass (cluster-scoped: removed afterwards)."""
    name = f"ks-e2e-{uuid.uuid4().hex[:8]}"
    await kube.create({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": name},
                       "spec": {"controller": "kubesteward.io/e2e"}})
    try:
        yield name
    finally:
        try:
            await kube.delete(INGRESS_CLASSES, name)
        except NotFound:
            pass


def ks3(report_findings: list[Any]) -> list[str]:
    return sorted(f"{f.code} {f.object}" for f in report_findings if f.code.startswith("KS3"))


# --------------------------------------------------------------------------- tests


async def test_healthy_service_ingress_and_default_deny_stay_silent(kube: KubeClient, namespace: str, ingress_class: str) -> None:
    await create_all(
        kube, namespace,
        deployment("web", {"app": "web"}),
        service("web", {"app": "web"}),
        tls_secret("web-tls"),
        ingress("web", "web", {"name": "web"}, cls=ingress_class, tls_secret="web-tls"),
        network_policy("default-deny", {}),
        network_policy("web-only", {"matchLabels": {"app": "web"}}),
    )
    await wait_endpoints(kube, namespace, "web", count=2, ready=True)

    report = await diagnose(kube, namespace, settings=NO_GRACE)

    assert ks3(report.findings) == []
    # The analyzers did run (nothing skipped for lack of kinds), so the silence means "healthy".
    skipped = {s.analyzer for s in report.skipped_checks}
    assert not {"networking.service_endpoints", "networking.ingress_backends", "networking.ingress_tls",
                "networking.ingress_class", "networking.network_policies"} & skipped


async def test_service_whose_pods_are_not_ready_points_at_their_deployment(
    kube: KubeClient, namespace: str, ingress_class: str
) -> None:
    await create_all(
        kube, namespace,
        deployment("api", {"app": "api"}, fault="not-ready"),
        service("api", {"app": "api"}),
        ingress("api", "api", {"number": 80}, cls=ingress_class),
    )
    slices = await wait_endpoints(kube, namespace, "api", count=2, ready=False)
    pod_names = sorted(ep["targetRef"]["name"] for ep in slices)

    model = await load_cluster(kube, namespace=namespace)
    report = run_checks(model, settings=NO_GRACE)

    [svc] = only(report, "KS302", "api")
    assert svc.object == ObjectKey("Service", namespace, "api")
    assert svc.cause == ObjectKey("Deployment", namespace, "api")
    assert sorted(k.name for k in svc.related if k.kind == "Pod") == pod_names
    assert svc.evidence["pods"] == [f"{name}: Running, not ready" for name in pod_names]
    [ing] = only(report, "KS315", "api")
    assert ing.cause == ObjectKey("Service", namespace, "api")
    # Service and Ingress findings land in the same incident as the Deployment's pods.
    [incident] = [i for i in build_incidents(model, report.findings) if svc in i.findings]
    assert ing in incident.findings and incident.pods >= 2
    # With the default startup grace, freshly unready pods are not (yet) an outage.
    assert "KS302" not in codes_for(await diagnose(kube, namespace), "Service", "api")


async def test_selector_matching_nothing_names_the_near_miss(kube: KubeClient, namespace: str) -> None:
    await create_all(
        kube, namespace,
        deployment("shop", {"app": "shop-v2"}),
        service("shop", {"app": "shop"}),
    )
    await wait_pods(kube, namespace, "app=shop-v2", 2)
    await wait_slice_exists(kube, namespace, "shop")
    await wait_endpoints(kube, namespace, "shop", count=0, ready=True)

    report = await diagnose(kube, namespace)

    [f] = only(report, "KS301", "shop")
    assert f.evidence["selector"] == "app=shop"
    assert f.evidence["near_misses"] == ["app=shop-v2 (selector wants app=shop) on 2 pods"]
    assert f.cause is None
    assert "KS302" not in codes_for(report, "Service", "shop")


async def test_target_ports_the_pods_do_not_expose(kube: KubeClient, namespace: str) -> None:
    await create_all(
        kube, namespace,
        deployment("web", {"app": "web"}),
        service("named-missing", {"app": "web"}, [{"name": "m", "port": 9100, "targetPort": "metrics"}]),
        service("number-typo", {"app": "web"}, [{"name": "web", "port": 80, "targetPort": 8008}]),
        service("fine", {"app": "web"}, [{"name": "web", "port": 80, "targetPort": 8080}]),
    )
    # Ready endpoints everywhere: the named-port problem hides behind healthy-looking pods.
    for svc in ("named-missing", "number-typo", "fine"):
        await wait_endpoints(kube, namespace, svc, count=2, ready=True)

    report = await diagnose(kube, namespace)

    [named] = only(report, "KS303", "named-missing")
    assert named.evidence["target_port"] == "metrics" and named.evidence["declared_ports"] == ["http:8080/TCP (app)"]
    [numeric] = only(report, "KS304", "number-typo")
    assert numeric.evidence["target_port"] == 8008 and numeric.evidence["port"] == "web:80/TCP"
    assert codes_for(report, "Service", "fine") == set()
    assert "KS302" not in codes_for(report, "Service", "named-missing")


async def test_misconfigured_ingresses(kube: KubeClient, namespace: str, ingress_class: str) -> None:
    classes = (await kube.list(INGRESS_CLASSES)).items
    if any((c["metadata"].get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class") == "true" for c in classes):
        pytest.skip("the cluster has a default IngressClass; the class-less case cannot be observed")
    missing_class = f"ks-missing-{uuid.uuid4().hex[:8]}"
    await create_all(
        kube, namespace,
        deployment("web", {"app": "web"}),
        service("web", {"app": "web"}),
        tls_secret("other-tls"),
        ingress("to-nothing", "gone", {"number": 80}, cls=ingress_class),
        ingress("wrong-port", "web", {"number": 8080}, cls=ingress_class),
        ingress("no-cert", "web", {"number": 80}, cls=ingress_class, tls_secret="web-tls"),
        ingress("bad-class", "web", {"number": 80}, cls=missing_class),
        ingress("no-class", "web", {"name": "web"}, cls=None),
    )
    await wait_endpoints(kube, namespace, "web", count=2, ready=True)

    report = await diagnose(kube, namespace)

    assert only(report, "KS310", "to-nothing")[0].cause == ObjectKey("Service", namespace, "gone")
    [port] = only(report, "KS311", "wrong-port")
    assert port.evidence["missing_ports"] == ["8080"] and port.evidence["service_ports"] == ["web:80"]
    assert only(report, "KS312", "no-cert")[0].cause == ObjectKey("Secret", namespace, "web-tls")
    [cls] = only(report, "KS313", "bad-class")
    assert cls.cause == ObjectKey("IngressClass", "", missing_class) and ingress_class in cls.evidence["classes"]
    assert codes_for(report, "Ingress", "no-class") == {"KS314"}
    # One finding per broken thing: nothing else on these Ingresses or on the healthy Service.
    assert codes_for(report, "Ingress", "to-nothing") == {"KS310"}
    assert codes_for(report, "Ingress", "wrong-port") == {"KS311"}
    assert codes_for(report, "Ingress", "no-cert") == {"KS312"}
    assert codes_for(report, "Service", "web") == set()


async def test_network_policy_selecting_nothing_is_info(kube: KubeClient, namespace: str) -> None:
    await create_all(
        kube, namespace,
        deployment("web", {"app": "web"}, replicas=1),
        network_policy("api-typo", {"matchLabels": {"app": "wbe"}}),
        network_policy("default-deny", {}),
    )
    await wait_pods(kube, namespace, "app=web", 1)

    report = await diagnose(kube, namespace)

    [f] = only(report, "KS320", "api-typo")
    assert f.severity.label == "info" and f.evidence["selector"] == "app=wbe"
    assert codes_for(report, "NetworkPolicy", "default-deny") == set()
