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
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.checks.engine import run_checks
from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient, load_config, resources
from kubesteward.errors import NotFound
from kubesteward.findings.incidents import build_incidents
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
LEGACY_ENDPOINTS = builtin("v1", "Endpoints")
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
                "networking.ingress_class", "networking.network_policies", "networking.service_selectors",
                "networking.selectorless_services", "networking.ingress_backend_selectors",
                "networking.ingress_backend_endpoints"} & skipped


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


# --------------------------------------------------------------------------- what the input holds


async def reader(kube: KubeClient, namespace: str, kubeconfig: Path, tmp_path: Path, name: str,
                 core: list[str], groups: list[str]) -> KubeClient:
    """A client that may read, in ``namespace`` only, the core ``core`` resources and everything of
    the API ``groups`` (RBAC as a namespace admin would grant it; the rest is forbidden)."""
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}, namespace=namespace)
    verbs = ["get", "list", "watch"]
    await kube.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": core, "verbs": verbs}, {"apiGroups": groups, "resources": ["*"], "verbs": verbs}],
    }, namespace=namespace)
    await kube.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
    }, namespace=namespace)
    response = await kube.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        content=b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}',
        headers={"Content-Type": "application/json"},
    )
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"] = {"token": response.json()["status"]["token"]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return KubeClient(load_config(str(path)))


async def wait_legacy_endpoints(kube: KubeClient, namespace: str, svc: str, *, ready: int, not_ready: int) -> None:
    async def counts() -> tuple[int, int]:
        subsets = (await kube.get(LEGACY_ENDPOINTS, svc, namespace)).get("subsets") or []
        return (sum(len(s.get("addresses") or []) for s in subsets), sum(len(s.get("notReadyAddresses") or []) for s in subsets))

    await eventually(counts, lambda found: found == (ready, not_ready), timeout=WAIT,
                     what=f"Endpoints {svc} with {ready} ready and {not_ready} unready addresses")


OTHER_KINDS = ["apps", "batch", "networking.k8s.io", "policy", "autoscaling"]  # not discovery.k8s.io
CORE = ["pods", "services", "configmaps", "secrets", "serviceaccounts", "persistentvolumeclaims", "events"]


async def test_endpoints_stand_in_where_endpoint_slices_are_forbidden(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    await create_all(
        kube, namespace,
        deployment("api", {"app": "api"}, fault="not-ready"),
        service("api", {"app": "api"}),
        deployment("web", {"app": "web"}),
        service("web", {"app": "web"}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"}, "spec": {"ports": [{"port": 5432}]}},
        service("typo", {"app": "wbe"}),
    )
    await wait_legacy_endpoints(kube, namespace, "api", ready=0, not_ready=2)
    await wait_legacy_endpoints(kube, namespace, "web", ready=2, not_ready=0)
    await wait_endpoints(kube, namespace, "web", count=2, ready=True)

    # Where EndpointSlices may be listed, Endpoints are not listed at all: no extra LIST.
    model = await load_cluster(kube, namespace=namespace)
    assert "EndpointSlice" in model.loaded and "Endpoints" not in model.loaded
    assert not [s for s in model.sources if s.kind == "Endpoints"]
    with_slices = run_checks(model, settings=NO_GRACE)

    # Where they are forbidden, the legacy Endpoints are listed instead, with the same findings.
    viewer = await reader(kube, namespace, sandbox_kubeconfig, tmp_path, "no-slices", [*CORE, "endpoints"], OTHER_KINDS)
    try:
        report = await diagnose(viewer, namespace, settings=NO_GRACE)
        legacy = await load_cluster(viewer, namespace=namespace)
    finally:
        await viewer.aclose()
    assert "EndpointSlice" not in legacy.loaded and "Endpoints" in legacy.loaded
    assert [s.kind for s in legacy.skipped if s.kind == "EndpointSlice"] == ["EndpointSlice"]
    assert ks3(report.findings) == ks3(with_slices.findings) == sorted(
        [f"KS301 Service/{namespace}/typo", f"KS302 Service/{namespace}/api", f"KS305 Service/{namespace}/manual"])
    [api] = only(report, "KS302", "api")
    assert api.cause == ObjectKey("Deployment", namespace, "api") and len(api.related) == 2
    assert not [s for s in report.skipped_checks if s.analyzer.startswith("networking.service") or "EndpointSlice" in s.missing]

    # Neither kind of endpoints may be read: the selector is still checked (it needs only pods),
    # and exactly the checks that read endpoints are said to be skipped.
    blind = await reader(kube, namespace, sandbox_kubeconfig, tmp_path, "no-endpoints", CORE, OTHER_KINDS)
    try:
        report = await diagnose(blind, namespace, settings=NO_GRACE)
    finally:
        await blind.aclose()
    assert ks3(report.findings) == [f"KS301 Service/{namespace}/typo"]
    skipped = {s.analyzer: s.missing for s in report.skipped_checks if "EndpointSlice" in s.missing}
    assert skipped == {"networking.service_endpoints": ("EndpointSlice",), "networking.selectorless_services": ("EndpointSlice",),
                       "networking.ingress_backend_endpoints": ("EndpointSlice",)}
    assert {s.kind for s in report.skipped_kinds} >= {"EndpointSlice", "Endpoints"}


async def test_an_ingress_without_class_is_its_own_incident_next_to_an_oom_killed_deployment(kube: KubeClient, namespace: str) -> None:
    classes = (await kube.list(INGRESS_CLASSES)).items
    if any((c["metadata"].get("annotations") or {}).get("ingressclass.kubernetes.io/is-default-class") == "true" for c in classes):
        pytest.skip("the cluster has a default IngressClass; the class-less case cannot be observed")
    await create_all(
        kube, namespace,
        deployment("checkout", {"app": "checkout"}, fault="crashloop-oom"),
        service("checkout", {"app": "checkout"}),
        ingress("shop", "checkout", {"name": "web"}, cls=None),
    )
    await wait_endpoints(kube, namespace, "checkout", count=2, ready=False)

    report = await eventually(
        lambda: diagnose(kube, namespace, settings=NO_GRACE),
        lambda r: {"KS102", "KS302", "KS315", "KS314"} <= {f.code for f in r.findings},
        timeout=WAIT, interval=2.0, what="the OOM kills and the class-less Ingress",
    )
    by_root = {i.root: i for i in report.incidents}
    oom = by_root[ObjectKey("Deployment", namespace, "checkout")]
    assert {(f.code, f.object.kind) for f in oom.findings} >= {("KS102", "Pod"), ("KS302", "Service"), ("KS315", "Ingress")}
    assert "KS314" not in {f.code for f in oom.findings}
    classless = by_root[ObjectKey("Ingress", namespace, "shop")]
    assert [(f.code, f.object.name) for f in classless.findings] == [("KS314", "shop")]
    # Every step the table view shows names the real objects and ends on something to do.
    for item in report.findings:
        step, text = item.remediation.first.rendered(), item.remediation.text
        assert not step.endswith(":") and "<namespace>" not in text and "<ns>" not in text
    [svc] = only(report, "KS302", "checkout")
    assert f"kubectl get pods -n {namespace} -l app=checkout -o wide" in svc.remediation.text
