"""Networking analyzers (KS3xx) on hand-built models shaped like ``kubectl get -o json`` output."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from kubesteward.checks import networking as net
from kubesteward.checks.engine import run_checks
from kubesteward.checks.settings import CheckSettings
from kubesteward.diagnosis import diagnose_files
from kubesteward.findings import Code, Finding, Severity
from kubesteward.findings.incidents import build_incidents
from kubesteward.model.cluster import ClusterModel, ObjectKey
from kubesteward.model.files import load_files, model_from_objects
from kubesteward.model.snapshot import snapshot_document

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def ago(seconds: float) -> str:
    return (NOW - dt.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


OLD = ago(7200)
YOUNG = ago(20)
NS = "shop"
Obj = dict[str, Any]
Analyzer = Callable[[ClusterModel, CheckSettings], Iterable[Finding]]


# --------------------------------------------------------------------------- builders


def meta(name: str, ns: str = NS, *, labels: dict[str, str] | None = None, owner: tuple[str, str] | None = None,
         created: str = OLD, **extra: Any) -> Obj:
    m: Obj = {"name": name, "creationTimestamp": created, **extra}
    if ns:
        m["namespace"] = ns
    if labels:
        m["labels"] = labels
    if owner:
        m["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": f"uid-{owner[0]}-{owner[1]}", "controller": True}]
    return m


def deployment(name: str, labels: dict[str, str], replicas: int = 2, created: str = OLD) -> list[Obj]:
    """A Deployment and its ReplicaSet (pods then point at ``<name>-rs``)."""
    return [
        {"kind": "Deployment", "metadata": meta(name, created=created),
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}},
        {"kind": "ReplicaSet", "metadata": meta(f"{name}-rs", owner=("Deployment", name)),
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels}}},
    ]


def pod(name: str, labels: dict[str, str], *, ready: bool = True, owner: str | None = None, ns: str = NS,
        ports: list[Obj] | None = None, containers: list[Obj] | None = None, waiting: str = "", created: str = OLD,
        phase: str = "Running", ready_since: str | None = None) -> Obj:
    cond: Obj = {"type": "Ready", "status": "True" if ready else "False"}
    if ready_since:
        cond["lastTransitionTime"] = ready_since
    status: Obj = {"phase": phase, "conditions": [cond]}
    if waiting:
        status["containerStatuses"] = [{"name": "app", "ready": False, "state": {"waiting": {"reason": waiting}}}]
    return {
        "kind": "Pod",
        "metadata": meta(name, ns, labels=labels, owner=("ReplicaSet", owner) if owner else None, created=created),
        "spec": {"nodeName": "n1", "containers": containers or [{"name": "app", "ports": ports or []}]},
        "status": status,
    }


def service(name: str, selector: dict[str, str] | None, *, ports: list[Obj] | None = None, ns: str = NS, **spec: Any) -> Obj:
    body: Obj = {"ports": ports if ports is not None else [{"port": 80, "targetPort": 8080}], **spec}
    if selector is not None:
        body["selector"] = selector
    return {"kind": "Service", "metadata": meta(name, ns), "spec": body}


def endpoint_slice(svc: str, *endpoints: tuple[str, bool], ns: str = NS) -> Obj:
    """An EndpointSlice as the controller writes it: one endpoint per (pod, ready)."""
    return {
        "kind": "EndpointSlice",
        "metadata": meta(f"{svc}-abcde", ns, labels={"kubernetes.io/service-name": svc}),
        "endpoints": [
            {"addresses": [f"10.0.0.{i}"], "conditions": {"ready": ready}, "targetRef": {"kind": "Pod", "name": p, "namespace": ns}}
            for i, (p, ready) in enumerate(endpoints, start=1)
        ],
    }


def legacy_endpoints(svc: str, *, ready: int = 0, not_ready: int = 0, ns: str = NS) -> Obj:
    """The core v1 Endpoints of a Service (what dumps of older clusters hold instead of slices)."""
    subset: Obj = {"ports": [{"port": 8080}]}
    if ready:
        subset["addresses"] = [{"ip": f"10.0.1.{i}"} for i in range(ready)]
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": f"10.0.2.{i}"} for i in range(not_ready)]
    return {"kind": "Endpoints", "metadata": meta(svc, ns), "subsets": [subset] if ready or not_ready else []}


def ingress(name: str, backends: list[tuple[str, Obj]], *, cls: str | None = "nginx", tls: list[Obj] | None = None,
            annotations: dict[str, str] | None = None) -> Obj:
    spec: Obj = {"rules": [{"host": "shop.example.com", "http": {"paths": [
        {"path": f"/{svc}", "pathType": "Prefix", "backend": {"service": {"name": svc, "port": port}}} for svc, port in backends
    ]}}]}
    if cls:
        spec["ingressClassName"] = cls
    if tls:
        spec["tls"] = tls
    return {"kind": "Ingress", "metadata": meta(name, annotations=annotations or {}), "spec": spec}


def ingress_class(name: str, default: bool = False) -> Obj:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"kind": "IngressClass", "metadata": meta(name, "", annotations=annotations), "spec": {"controller": "k8s.io/ingress-nginx"}}


def secret(name: str, keys: Iterable[str] = ("tls.crt", "tls.key"), type_: str = "kubernetes.io/tls") -> Obj:
    return {"kind": "Secret", "metadata": meta(name), "type": type_, "data": {k: "eA==" for k in keys}}


def netpol(name: str, selector: Obj) -> Obj:
    return {"kind": "NetworkPolicy", "metadata": meta(name), "spec": {"podSelector": selector, "policyTypes": ["Ingress"]}}


def build(*objects: Obj | list[Obj], loaded: Iterable[str] = ()) -> ClusterModel:
    flat: list[Obj] = []
    for item in objects:
        flat.extend(item if isinstance(item, list) else [item])
    for obj in flat:  # unique per kind and name, as owner references expect
        obj["metadata"].setdefault("uid", f"uid-{obj['kind']}-{obj['metadata']['name']}")
    model, ignored = model_from_objects(flat, now=NOW)
    assert not ignored
    model.loaded.update(loaded)  # kinds listed but empty (e.g. no EndpointSlice at all)
    return model


def run(analyzer: Analyzer, model: ClusterModel, settings: CheckSettings | None = None) -> list[Finding]:
    return list(analyzer(model, settings or CheckSettings()))


def web_app(ready: bool = True, *, labels: dict[str, str] | None = None, ports: list[Obj] | None = None) -> list[Obj]:
    """Deployment web (2 pods app=web) and a Service web whose slice mirrors the pods' readiness."""
    labels = labels or {"app": "web"}
    ports = ports if ports is not None else [{"containerPort": 8080, "name": "http"}]
    pods = [pod(f"web-rs-{i}", labels, ready=ready, owner="web-rs", ports=ports,
                waiting="" if ready else "CrashLoopBackOff") for i in range(2)]
    return [*deployment("web", labels), *pods, service("web", {"app": "web"}),
            endpoint_slice("web", ("web-rs-0", ready), ("web-rs-1", ready))]


def service_checks(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    """Every analyzer of a Service's endpoints (each asks one question, from only the kinds it reads)."""
    for check in (net.service_selectors, net.service_endpoints, net.selectorless_services):
        yield from check(model, settings)


def ingress_checks(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    """Every analyzer of an Ingress's backends."""
    for check in (net.ingress_backends, net.ingress_backend_selectors, net.ingress_backend_endpoints):
        yield from check(model, settings)


def codes(findings: Iterable[Finding]) -> list[str]:
    return sorted(f.code for f in findings)


# --------------------------------------------------------------------------- services: endpoints


def test_service_with_ready_endpoints_is_silent() -> None:
    model = build(web_app(ready=True))
    assert run(service_checks, model) == []
    assert run(net.service_ports, model) == []


def test_selector_matching_no_pod_is_a_config_error_with_near_miss() -> None:
    pods = [pod(f"web-{i}", {"app": "web-v2", "tier": "fe"}) for i in range(2)]
    model = build(*pods, service("web", {"app": "web", "tier": "fe"}), endpoint_slice("web"))
    [f] = run(service_checks, model)
    assert f.code == "KS301" and f.severity is Severity.ERROR
    assert f.object == ObjectKey("Service", NS, "web")
    assert f.evidence["selector"] == "app=web,tier=fe"
    assert f.evidence["near_misses"] == ["app=web-v2 (selector wants app=web) on 2 pods"]
    assert "near miss" in f.message
    assert f.cause is None  # the Service itself is what is wrong


def test_near_miss_finds_a_typo_in_the_key() -> None:
    model = build(pod("web-0", {"app": "web", "tier": "fe"}), service("web", {"ap": "web", "tier": "fe"}), endpoint_slice("web"))
    [f] = run(service_checks, model)
    assert f.code == "KS301"
    assert f.evidence["near_misses"] == ["app=web (selector wants ap=web) on 1 pod"]


def test_no_near_miss_noise_from_unrelated_pods() -> None:
    unrelated = [pod("db-0", {"role": "db"}), pod("api-0", {"app": "api"}), pod("x-0", {"name": "shop"})]
    model = build(*unrelated, service("web", {"app": "shop"}), endpoint_slice("web"))
    [f] = run(service_checks, model)
    assert f.code == "KS301" and "near_misses" not in f.evidence and "near miss" not in f.message


def test_single_pair_selector_near_miss_must_look_like_a_typo() -> None:
    pods = [pod("api-0", {"app": "api"}), pod("shop-0", {"app": "shop-v2"}), pod("fe-0", {"ap": "frontend"}),
            pod("fe-1", {"app": "fronted"})]
    model = build(*pods, service("shop", {"app": "shop"}), service("fe", {"app": "frontend"}), endpoint_slice("shop"), endpoint_slice("fe"))
    found = {f.object.name: f.evidence["near_misses"] for f in run(service_checks, model)}
    assert found["shop"] == ["app=shop-v2 (selector wants app=shop) on 1 pod"]
    assert sorted(found["fe"]) == ["ap=frontend (selector wants app=frontend) on 1 pod", "app=fronted (selector wants app=frontend) on 1 pod"]


def test_selector_matching_pods_in_another_namespace_says_so() -> None:
    model = build(pod("web-0", {"app": "web"}, ns="other"), service("web", {"app": "web"}), endpoint_slice("web"))
    [f] = run(service_checks, model)
    assert f.code == "KS301" and f.evidence["matching_pods_in"] == ["other"]


def test_selected_pods_none_ready_is_a_symptom_of_their_workload() -> None:
    model = build(web_app(ready=False))
    [f] = run(service_checks, model)
    assert f.code == "KS302" and f.severity is Severity.ERROR
    assert f.cause == ObjectKey("Deployment", NS, "web")
    assert sorted(f.related) == [ObjectKey("Pod", NS, "web-rs-0"), ObjectKey("Pod", NS, "web-rs-1")]
    assert f.evidence["pods"] == ["web-rs-0: CrashLoopBackOff", "web-rs-1: CrashLoopBackOff"]
    assert f.evidence["selector"] == "app=web" and f.evidence["ready_endpoints"] == 0


def test_running_but_not_ready_pod_is_described_as_such() -> None:
    model = build(pod("solo", {"app": "solo"}, ready=False), service("solo", {"app": "solo"}), endpoint_slice("solo", ("solo", False)))
    [f] = run(service_checks, model)
    assert f.cause == ObjectKey("Pod", NS, "solo")  # a bare pod is its own root
    assert f.evidence["pods"] == ["solo: Running, not ready"]


def test_young_not_ready_pods_are_still_starting() -> None:
    objects = [service("web", {"app": "web"}), endpoint_slice("web", ("web-0", False)),
               pod("web-0", {"app": "web"}, ready=False, created=YOUNG)]
    assert run(service_checks, build(*objects)) == []
    impatient = CheckSettings(pod_not_ready_seconds=0)
    assert codes(run(service_checks, build(*objects), impatient)) == ["KS302"]


def test_readiness_lost_moments_ago_gets_the_same_grace_as_the_pods_analyzer() -> None:
    blip = pod("web-0", {"app": "web"}, ready=False, created=OLD, ready_since=YOUNG)
    model = build(service("web", {"app": "web"}), endpoint_slice("web", ("web-0", False)), blip)
    assert run(service_checks, model) == []
    assert codes(run(service_checks, model, CheckSettings(pod_not_ready_seconds=10))) == ["KS302"]


def test_clearly_failing_young_pods_get_no_grace() -> None:
    crashing = pod("web-0", {"app": "web"}, ready=False, created=YOUNG, waiting="ImagePullBackOff")
    model = build(service("web", {"app": "web"}), endpoint_slice("web", ("web-0", False)), crashing)
    [f] = run(service_checks, model)
    assert f.code == "KS302" and f.evidence["pods"] == ["web-0: ImagePullBackOff"]


def test_pending_pods_use_the_pending_grace() -> None:
    pending = pod("web-0", {"app": "web"}, ready=False, phase="Pending", created=ago(200))
    pending["status"]["conditions"].append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable"})
    model = build(service("web", {"app": "web"}), endpoint_slice("web"), pending)
    [f] = run(service_checks, model)  # 200s > pod_pending_seconds (120s)
    assert f.code == "KS302" and f.evidence["pods"] == ["web-0: Pending (Unschedulable)"]
    assert run(service_checks, model, CheckSettings(pod_pending_seconds=600)) == []


def test_ready_pod_with_lagging_endpoint_slice_is_silent() -> None:
    # The pod is Ready but the slice still says otherwise: the controller has not caught up.
    model = build(service("web", {"app": "web"}), endpoint_slice("web", ("web-0", False)), pod("web-0", {"app": "web"}, ready=True))
    assert run(service_checks, model) == []


def test_nil_ready_condition_counts_as_ready() -> None:
    # EndpointConditions.ready unset means ready, per the API.
    slice_ = endpoint_slice("web", ("web-0", True))
    del slice_["endpoints"][0]["conditions"]["ready"]
    model = build(service("web", {"app": "web"}), slice_, pod("web-0", {"app": "web"}, ready=False))
    assert run(service_checks, model) == []


def test_cause_is_the_workload_owning_most_selected_pods() -> None:
    stable = [pod(f"stable-rs-{i}", {"app": "web", "track": "stable"}, ready=False, owner="stable-rs") for i in range(3)]
    canary = [pod("canary-rs-0", {"app": "web", "track": "canary"}, ready=False, owner="canary-rs")]
    model = build(deployment("stable", {"app": "web", "track": "stable"}), deployment("canary", {"app": "web", "track": "canary"}),
                  *stable, *canary, service("web", {"app": "web"}), endpoint_slice("web"))
    [f] = run(service_checks, model)
    assert f.cause == ObjectKey("Deployment", NS, "stable") and len(f.related) == 4


def test_service_of_a_workload_scaled_to_zero_is_info() -> None:
    model = build(deployment("web", {"app": "web"}, replicas=0), service("web", {"app": "web"}), endpoint_slice("web"), loaded=["Pod"])
    [f] = run(service_checks, model)
    assert f.code == "KS306" and f.severity is Severity.INFO
    assert f.related == [ObjectKey("Deployment", NS, "web")]
    assert "kubectl scale deployment/web -n shop" in f.remediation.text


def test_workload_that_cannot_create_pods_is_the_cause() -> None:
    model = build(deployment("web", {"app": "web"}, replicas=3), service("web", {"app": "web"}), endpoint_slice("web"), loaded=["Pod"])
    [f] = run(service_checks, model)
    assert f.code == "KS302" and f.cause == ObjectKey("Deployment", NS, "web")
    assert "has no pods" in f.message and f.related == []


def test_fresh_workload_without_pods_yet_is_silent() -> None:
    model = build(deployment("web", {"app": "web"}, created=YOUNG), service("web", {"app": "web"}), endpoint_slice("web"), loaded=["Pod"])
    assert run(service_checks, model) == []
    assert codes(run(service_checks, model, CheckSettings(pod_pending_seconds=0))) == ["KS302"]


def test_selectorless_service_with_manual_endpoints_is_silent() -> None:
    model = build(service("db", None), endpoint_slice("db", ("x", False)))
    assert run(service_checks, model) == []


def test_selectorless_service_without_endpoints_is_info_at_most() -> None:
    model = build(service("db", None), pod("unrelated", {"app": "x"}), loaded=["EndpointSlice"])
    [f] = run(service_checks, model)
    assert f.code == "KS305" and f.severity is Severity.INFO


def test_external_name_service_is_never_reported() -> None:
    model = build(service("ext", {"app": "web"}, type="ExternalName", externalName="db.example.com"),
                  pod("x", {"app": "x"}), loaded=["EndpointSlice"])
    assert run(service_checks, model) == []
    assert run(net.service_ports, model) == []


def test_unknown_endpoints_are_not_called_missing() -> None:
    # EndpointSlices could not be listed (RBAC): no claim about readiness at all.
    model = build(web_app(ready=False)[:-1])
    assert "EndpointSlice" not in model.loaded
    assert run(service_checks, model) == []


# --------------------------------------------------------------------------- endpoints: slices, else Endpoints


def without_slices(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] != "EndpointSlice"]


def test_legacy_endpoints_stand_in_where_slices_are_absent() -> None:
    broken = build(without_slices(web_app(ready=False)), legacy_endpoints("web", not_ready=2))
    assert "EndpointSlice" not in broken.loaded and broken.endpoints_known(NS)
    [f] = run(service_checks, broken)
    assert f.code == "KS302" and f.cause == ObjectKey("Deployment", NS, "web")
    [ing] = run(ingress_checks, build(without_slices(web_app(ready=False)), legacy_endpoints("web", not_ready=2),
                                      ingress("web", [("web", {"number": 80})])))
    assert ing.code == "KS315" and ing.cause == ObjectKey("Service", NS, "web")
    healthy = build(without_slices(web_app(ready=True)), legacy_endpoints("web", ready=2))
    assert run(service_checks, healthy) == []
    # Ready addresses silence it even when the pods in the dump say otherwise (the dump's pods are older).
    assert run(service_checks, build(without_slices(web_app(ready=False)), legacy_endpoints("web", ready=1))) == []


def test_selectorless_service_is_judged_by_its_legacy_endpoints_without_any_pod() -> None:
    empty = build(service("db", None), legacy_endpoints("db"))
    assert "Pod" not in empty.loaded
    assert [(f.code, f.object.name) for f in run(service_checks, empty)] == [("KS305", "db")]
    assert run(service_checks, build(service("db", None), legacy_endpoints("db", not_ready=1))) == []


def test_slices_are_preferred_to_endpoints_when_both_were_loaded() -> None:
    # The slices are what kube-proxy routes to; a stale Endpoints object must not contradict them.
    model = build(web_app(ready=True), legacy_endpoints("web", not_ready=2))
    assert model.ready_endpoints(model.services[0]) == 2
    assert run(service_checks, model) == []


def test_each_service_check_needs_only_the_kinds_it_reads() -> None:
    # A dump of Services, Deployments and pods, without endpoints of either kind: the selector
    # and scaled-to-zero questions need none, so they are answered; only readiness is skipped.
    model = build(deployment("web", {"app": "web"}), pod("web-rs-0", {"app": "web"}, owner="web-rs"),
                  service("web", {"app": "web"}), service("typo", {"app": "wbe"}), service("manual", None),
                  ingress("front", [("typo", {"number": 80})]), ingress_class("nginx"))
    report = run_checks(model)
    assert {(f.code, f.object.name) for f in report.findings if f.code.startswith("KS3")} == {("KS301", "typo"), ("KS315", "front")}
    skipped = {s.analyzer: s.missing for s in report.skipped_checks if s.analyzer.startswith("networking.")}
    assert skipped == {
        "networking.service_endpoints": ("EndpointSlice",),
        "networking.selectorless_services": ("EndpointSlice",),
        "networking.ingress_backend_endpoints": ("EndpointSlice",),
        "networking.ingress_tls": ("Secret",),
        "networking.network_policies": ("NetworkPolicy",),
    }
    # With the legacy Endpoints, nothing of the Service checks is skipped any more.
    model = build(deployment("web", {"app": "web"}), pod("web-rs-0", {"app": "web"}, owner="web-rs"),
                  service("web", {"app": "web"}), legacy_endpoints("web", ready=1), service("manual", None), legacy_endpoints("manual"))
    report = run_checks(model)
    assert {(f.code, f.object.name) for f in report.findings if f.code.startswith("KS3")} == {("KS305", "manual")}
    assert not {s.analyzer for s in report.skipped_checks} & {
        "networking.service_selectors", "networking.service_endpoints", "networking.selectorless_services"}


def test_services_and_endpoints_without_pods_skip_only_what_needs_pods() -> None:
    report = run_checks(build(service("web", {"app": "web"}), legacy_endpoints("web"), service("db", None), legacy_endpoints("db")))
    assert [(f.code, f.object.name) for f in report.findings if f.code.startswith("KS3")] == [("KS305", "db")]
    skipped = {s.analyzer: s.missing for s in report.skipped_checks if s.analyzer.startswith("networking.service")}
    assert skipped == {"networking.service_selectors": ("Pod",), "networking.service_endpoints": ("Pod",),
                       "networking.service_ports": ("Pod",)}


KUBECTL_BUNDLE = """
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: api, namespace: shop, uid: d1, creationTimestamp: "2026-11-01T08:00:00Z"}
  spec:
    replicas: 1
    selector: {matchLabels: {app: api}}
    template: {metadata: {labels: {app: api}}, spec: {containers: [{name: app}]}}
- apiVersion: v1
  kind: Pod
  metadata:
    name: api-0
    namespace: shop
    uid: p1
    creationTimestamp: "2026-11-01T08:00:00Z"
    labels: {app: api}
    ownerReferences: [{kind: Deployment, name: api, uid: d1, controller: true}]
  spec: {nodeName: n1, containers: [{name: app}]}
  status:
    phase: Running
    conditions: [{type: Ready, status: "False", lastTransitionTime: "2026-11-01T08:00:00Z"}]
    containerStatuses: [{name: app, ready: false, restartCount: 9, state: {waiting: {reason: CrashLoopBackOff}}}]
- apiVersion: v1
  kind: Service
  metadata: {name: api, namespace: shop}
  spec: {selector: {app: api}, ports: [{port: 80}]}
- apiVersion: v1
  kind: Endpoints
  metadata: {name: api, namespace: shop}
  subsets: [{notReadyAddresses: [{ip: 10.0.0.7, targetRef: {kind: Pod, name: api-0}}], ports: [{port: 80}]}]
- apiVersion: v1
  kind: Service
  metadata: {name: legacy-db, namespace: shop}
  spec: {ports: [{port: 5432}]}
- apiVersion: v1
  kind: Endpoints
  metadata: {name: legacy-db, namespace: shop}
"""


def test_diagnose_from_file_reads_legacy_endpoints(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.yaml"
    bundle.write_text(KUBECTL_BUNDLE)
    result = diagnose_files([bundle])
    assert "Endpoints" in result.model.loaded and len(result.model.endpoints) == 2
    found = {(f.code, f.object.name): f for f in result.report.findings if f.code.startswith("KS3")}
    assert set(found) == {("KS302", "api"), ("KS305", "legacy-db")}
    assert found["KS302", "api"].cause == ObjectKey("Deployment", NS, "api")
    assert not [s for s in result.report.skipped_checks if "EndpointSlice" in s.missing]


def test_a_snapshot_keeps_the_legacy_endpoints_it_was_diagnosed_from(tmp_path: Path) -> None:
    model = build(without_slices(web_app(ready=False)), legacy_endpoints("web", not_ready=2), service("db", None), legacy_endpoints("db"))
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(snapshot_document(model)))
    replayed, _ = load_files([path])
    assert "Endpoints" in replayed.loaded and len(replayed.endpoints) == 2
    assert [(f.code, f.object) for f in run_checks(replayed).findings] == [(f.code, f.object) for f in run_checks(model).findings]
    assert {f.code for f in run_checks(replayed).findings} >= {"KS302", "KS305"}


def test_an_ingress_without_class_is_not_filed_under_an_unrelated_oom_incident() -> None:
    # An OOMKilled Deployment behind a Service and two Ingresses; the Ingresses also lack a class (and
    # there is no default class): the missing class is its own cause, not a symptom of the OOM kills.
    oom = {"name": "app", "ready": False, "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
           "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": OLD}}}
    pods = []
    for i in range(2):
        crashing = pod(f"web-rs-{i}", {"app": "web"}, ready=False, owner="web-rs")
        crashing["status"]["containerStatuses"] = [oom]
        pods.append(crashing)
    model = build(deployment("web", {"app": "web"}), *pods, service("web", {"app": "web"}),
                  endpoint_slice("web", ("web-rs-0", False), ("web-rs-1", False)),
                  ingress("web", [("web", {"number": 80})], cls=None), ingress("shop", [("web", {"number": 80})], cls=None),
                  loaded=["IngressClass"])
    report = run_checks(model)
    incidents = {i.root: sorted((f.code, f.object.name) for f in i.findings) for i in report.incidents}
    assert incidents[ObjectKey("Deployment", NS, "web")] == [
        ("KS102", "web-rs-0"), ("KS102", "web-rs-1"), ("KS201", "web"), ("KS302", "web"), ("KS315", "shop"), ("KS315", "web")]
    assert incidents[ObjectKey("Ingress", NS, "web")] == [("KS314", "web")]
    assert incidents[ObjectKey("Ingress", NS, "shop")] == [("KS314", "shop")]
    assert len(incidents) == 3


def test_a_service_selecting_nothing_stays_apart_from_the_own_trouble_of_its_ingress() -> None:
    # The Service's related Ingress has a finding of its own (no class): it does not explain the Service.
    model = build(pod("web-0", {"app": "web"}), service("shop", {"app": "shop"}), endpoint_slice("shop"),
                  ingress("front", [("shop", {"number": 80})], cls=None), loaded=["IngressClass"])
    report = run_checks(model)
    incidents = {i.root: sorted((f.code, f.object.name) for f in i.findings) for i in report.incidents}
    assert incidents == {
        ObjectKey("Service", NS, "shop"): [("KS301", "shop"), ("KS315", "front")],
        ObjectKey("Ingress", NS, "front"): [("KS314", "front")],
    }


def test_troubles_of_one_ingress_with_different_causes_are_different_incidents() -> None:
    # Routes to a Service that does not exist, terminates TLS with a Secret that does not exist, has
    # no class: three fixes, three causes; sharing the Ingress does not make them one incident.
    admin = ingress("admin", [("admin-ui", {"number": 80})], cls=None, tls=[{"hosts": ["admin.example.com"], "secretName": "admin-tls"}])
    model = build(admin, service("web", {"app": "web"}), secret("other"), loaded=["IngressClass", "Pod"])
    report = run_checks(model, only=["KS31*"])
    incidents = {i.root: [(f.code, f.object.name) for f in i.findings] for i in report.incidents}
    assert incidents == {
        ObjectKey("Service", NS, "admin-ui"): [("KS310", "admin")],
        ObjectKey("Secret", NS, "admin-tls"): [("KS312", "admin")],
        ObjectKey("Ingress", NS, "admin"): [("KS314", "admin")],
    }


# --------------------------------------------------------------------------- services: ports


def test_named_target_port_that_no_pod_defines_is_an_error() -> None:
    model = build(web_app(), service("api", {"app": "web"}, ports=[{"name": "api", "port": 80, "targetPort": "grpc"}]))
    [f] = run(net.service_ports, model)
    assert f.code == "KS303" and f.severity is Severity.ERROR and f.object.name == "api"
    assert f.evidence["port"] == "api:80/TCP" and f.evidence["target_port"] == "grpc"
    assert f.evidence["declared_ports"] == ["http:8080/TCP (app)"]
    assert len(f.related) == 2


def test_named_target_port_must_match_the_protocol_too() -> None:
    udp = [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]
    objects = [pod("dns-0", {"app": "dns"}, ports=udp)]
    tcp_svc = service("dns", {"app": "dns"}, ports=[{"port": 53, "targetPort": "dns", "protocol": "TCP"}])
    udp_svc = service("dns", {"app": "dns"}, ports=[{"port": 53, "targetPort": "dns", "protocol": "UDP"}])
    assert codes(run(net.service_ports, build(*objects, tcp_svc))) == ["KS303"]
    assert run(net.service_ports, build(*objects, udp_svc)) == []


def test_named_target_port_defined_by_the_pods_is_silent() -> None:
    model = build(web_app(), service("api", {"app": "web"}, ports=[{"port": 80, "targetPort": "http"}]))
    assert run(net.service_ports, model) == []


def test_numeric_target_port_outside_declared_ports_is_a_warning() -> None:
    model = build(web_app(), service("typo", {"app": "web"}, ports=[{"port": 80, "targetPort": 8008}]))
    [f] = run(net.service_ports, model)
    assert f.code == "KS304" and f.severity is Severity.WARNING
    assert f.evidence["target_port"] == 8008 and f.evidence["port"] == "80/TCP"
    assert f.evidence["declared_ports"] == ["http:8080/TCP (app)"]


def test_numeric_target_port_with_undeclared_ports_is_silent() -> None:
    # Container ports are informational: no declaration, no opinion.
    model = build(web_app(ports=[]), service("any", {"app": "web"}, ports=[{"port": 80, "targetPort": 9999}]))
    assert run(net.service_ports, model) == []


def test_target_port_defaults_to_port() -> None:
    model = build(web_app(), service("same", {"app": "web"}, ports=[{"port": 8080}]))
    assert run(net.service_ports, model) == []
    model = build(web_app(), service("other", {"app": "web"}, ports=[{"port": 9090}]))
    assert codes(run(net.service_ports, model)) == ["KS304"]


def test_mesh_sidecar_ports_do_not_count_as_declared() -> None:
    containers: list[Obj] = [{"name": "app"}, {"name": "istio-proxy", "ports": [{"containerPort": 15090, "name": "http-envoy-prom"}]}]
    model = build(pod("web-0", {"app": "web"}, containers=containers), service("web", {"app": "web"}, ports=[{"port": 80, "targetPort": 8080}]))
    assert run(net.service_ports, model) == []


def test_headless_service_ports_are_not_checked() -> None:
    model = build(web_app(), service("peers", {"app": "web"}, clusterIP="None", ports=[{"port": 7000, "targetPort": "gossip"}]))
    assert run(net.service_ports, model) == []


# --------------------------------------------------------------------------- ingress


def healthy_ingress_objects() -> list[Obj]:
    return [*web_app(), ingress_class("nginx"), secret("web-tls"),
            ingress("web", [("web", {"number": 80})], tls=[{"hosts": ["shop.example.com"], "secretName": "web-tls"}])]


def all_ingress(model: ClusterModel) -> list[Finding]:
    return run(ingress_checks, model) + run(net.ingress_tls, model) + run(net.ingress_class, model)


def test_healthy_ingress_is_silent() -> None:
    model = build(healthy_ingress_objects())
    assert all_ingress(model) == []


def test_ingress_to_missing_service_is_linked_to_that_service() -> None:
    model = build(web_app(), ingress("shop", [("web", {"number": 80}), ("cart", {"number": 80})]))
    [f] = run(ingress_checks, model)
    assert f.code == "KS310" and f.object == ObjectKey("Ingress", NS, "shop")
    assert f.cause == ObjectKey("Service", NS, "cart")
    assert f.evidence["service"] == "cart" and f.evidence["paths"] == ["shop.example.com/cart"]


def test_ingress_to_port_the_service_lacks_by_number_or_name() -> None:
    by_number = build(web_app(), ingress("a", [("web", {"number": 8080})]))  # the targetPort, a classic
    [f] = run(ingress_checks, by_number)
    assert f.code == "KS311" and f.evidence["missing_ports"] == ["8080"] and f.evidence["service_ports"] == ["80"]
    assert f.related == [ObjectKey("Service", NS, "web")]
    by_name = build(web_app(), ingress("b", [("web", {"name": "https"})]))
    assert codes(run(ingress_checks, by_name)) == ["KS311"]
    named = build(web_app(), service("named", {"app": "web"}, ports=[{"name": "http", "port": 80}]),
                  endpoint_slice("named", ("web-rs-0", True)), ingress("c", [("named", {"name": "http"})]))
    assert run(ingress_checks, named) == []


def test_ingress_to_service_without_ready_endpoints_points_at_the_service() -> None:
    model = build(web_app(ready=False), ingress("web", [("web", {"number": 80})]))
    [f] = run(ingress_checks, model)
    assert f.code == "KS315" and f.cause == ObjectKey("Service", NS, "web")
    # ... and the Service's own finding points at the Deployment, so all three form one incident.
    findings = run(service_checks, model) + [f]
    [incident] = build_incidents(model, findings)
    assert incident.cause.code == "KS302" and incident.root == ObjectKey("Deployment", NS, "web")
    assert incident.pods == 2 and incident.services == 1


def test_ingress_to_service_scaled_to_zero_is_not_an_outage_finding() -> None:
    model = build(deployment("web", {"app": "web"}, replicas=0), service("web", {"app": "web"}), endpoint_slice("web"),
                  ingress("web", [("web", {"number": 80})]), loaded=["Pod"])
    assert codes(run(service_checks, model)) == ["KS306"]
    assert run(ingress_checks, model) == []


def test_missing_tls_secret_only_when_secrets_were_loaded() -> None:
    objects = [*web_app(), ingress("web", [("web", {"number": 80})], tls=[{"hosts": ["a.example.com"], "secretName": "gone"}])]
    [f] = run(net.ingress_tls, build(*objects, secret("other")))
    assert f.code == "KS312" and f.cause == ObjectKey("Secret", NS, "gone")
    assert f.evidence == {"secret": "gone", "hosts": ["a.example.com"]}
    assert run(net.ingress_tls, build(*objects)) == []  # no Secret listed at all: cannot tell


def test_tls_without_secret_name_uses_the_default_certificate() -> None:
    model = build(web_app(), secret("x"), ingress("web", [("web", {"number": 80})], tls=[{"hosts": ["a.example.com"]}]))
    assert run(net.ingress_tls, model) == []


def test_tls_secret_without_certificate_keys() -> None:
    model = build(web_app(), secret("web-tls", keys=["password"], type_="Opaque"),
                  ingress("web", [("web", {"number": 80})], tls=[{"secretName": "web-tls"}]))
    [f] = run(net.ingress_tls, model)
    assert f.code == "KS316" and f.evidence["missing_keys"] == ["tls.crt", "tls.key"]


def test_ingress_class_that_does_not_exist() -> None:
    model = build(web_app(), ingress_class("nginx"), ingress("web", [("web", {"number": 80})], cls="traefik"))
    [f] = run(net.ingress_class, model)
    assert f.code == "KS313" and f.severity is Severity.ERROR
    assert f.cause == ObjectKey("IngressClass", "", "traefik") and f.evidence["classes"] == ["nginx"]


def test_legacy_class_annotation_is_only_a_warning() -> None:
    legacy = ingress("web", [("web", {"number": 80})], cls=None, annotations={"kubernetes.io/ingress.class": "haproxy"})
    [f] = run(net.ingress_class, build(web_app(), ingress_class("nginx", default=True), legacy))
    assert f.code == "KS313" and f.severity is Severity.WARNING
    assert f.evidence["source"] == "annotation kubernetes.io/ingress.class"
    ok = ingress("web", [("web", {"number": 80})], cls=None, annotations={"kubernetes.io/ingress.class": "nginx"})
    assert run(net.ingress_class, build(web_app(), ingress_class("nginx"), ok)) == []


def test_ingress_without_class_needs_a_default_class() -> None:
    classless = ingress("web", [("web", {"number": 80})], cls=None)
    [f] = run(net.ingress_class, build(web_app(), ingress_class("nginx"), classless))
    assert f.code == "KS314" and f.severity is Severity.WARNING and f.evidence["classes"] == ["nginx"]
    assert run(net.ingress_class, build(web_app(), ingress_class("nginx", default=True), classless)) == []
    # IngressClasses could not be listed: no opinion.
    assert run(net.ingress_class, build(web_app(), classless)) == []


# --------------------------------------------------------------------------- network policies


def test_default_deny_network_policy_is_silent() -> None:
    model = build(web_app(), netpol("default-deny", {}))
    assert run(net.network_policies, model) == []
    # Even in a namespace without pods: an empty selector is a namespace-wide rule.
    assert run(net.network_policies, build(netpol("default-deny", {}), pod("x", {"a": "b"}, ns="other"))) == []


def test_network_policy_selecting_pods_is_silent() -> None:
    model = build(web_app(), netpol("web", {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}))
    assert run(net.network_policies, model) == []


def test_network_policy_selecting_nothing_is_info() -> None:
    model = build(web_app(), netpol("api", {"matchLabels": {"app": "api"}}))
    [f] = run(net.network_policies, model)
    assert f.code == "KS320" and f.severity is Severity.INFO and f.evidence["selector"] == "app=api"


def test_network_policy_for_a_workload_scaled_to_zero_is_silent() -> None:
    model = build(deployment("api", {"app": "api"}, replicas=0), pod("x", {"app": "x"}), netpol("api", {"matchLabels": {"app": "api"}}))
    assert run(net.network_policies, model) == []


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("code", [c for c in net.__dict__.values() if isinstance(c, Code)], ids=lambda c: c.code)
def test_codes_are_documented(code: Code) -> None:
    assert code.code.startswith("KS3") and code.area == "networking"
    assert len(code.explanation) > 150 and "kubectl" in code.remediation.text


def test_services_and_ingresses_on_their_way_out_are_silent() -> None:
    # A namespace deletion removes pods first: every Service and Ingress in it would look broken
    # (a storm of alerts, one per Service) until they are deleted too.
    def objects(ns_status: Obj, deleting: str | None = None) -> list[Obj]:
        svc = service("web", {"app": "web"}, ns=NS)
        if deleting:
            svc["metadata"]["deletionTimestamp"] = deleting
        namespace = {"kind": "Namespace", "metadata": meta(NS, ""), "status": ns_status}
        front = ingress("front", [("/", {"service": {"name": "gone", "port": {"number": 80}}})])
        return [namespace, svc, endpoint_slice("web"), pod("api-0", {"app": "api"}), front, ingress_class("nginx")]

    active = build(*objects({"phase": "Active"}))
    assert codes(run(service_checks, active)) == ["KS301"]
    assert run(ingress_checks, active) != []

    terminating = build(*objects({"phase": "Terminating"}))
    assert run(service_checks, terminating) == []
    assert run(ingress_checks, terminating) == []

    being_deleted = build(*objects({"phase": "Active"}, deleting=ago(5)))
    assert run(service_checks, being_deleted) == []
