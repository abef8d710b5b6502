"""The watch exporter over real HTTP on 127.0.0.1: scrape, parse the text format, check values and labels."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kubesteward.errors import UsageError
from kubesteward.findings import Finding, Remediation, Severity, Step
from kubesteward.metrics import (
    OTHER,
    ClusterView,
    MetricsServer,
    parse_addr,
    serve_metrics,
)
from kubesteward.metrics.cardinality import cap_series, worst
from kubesteward.model.cluster import ClusterModel, ObjectKey
from kubesteward.model.files import model_from_objects

NOW = dt.datetime(2025, 1, 10, 12, 0, 0, tzinfo=dt.UTC)
NS = "shop"
Obj = dict[str, Any]


# ------------------------------------------------------------------ objects (kubectl-style dicts)


def meta(kind: str, name: str, owner: tuple[str, str] | None = None, ns: str = NS) -> Obj:
    out: Obj = {"name": name, "namespace": ns, "uid": f"uid-{kind}-{name}"}
    if owner is not None:
        kind_, name_ = owner
        out["ownerReferences"] = [{"kind": kind_, "name": name_, "uid": f"uid-{kind_}-{name_}", "controller": True}]
    return out


def deployment(name: str, *, replicas: int | None, available: int, ns: str = NS) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": name}}, "template": {"spec": {"containers": []}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "kind": "Deployment",
        "metadata": meta("Deployment", name, ns=ns),
        "spec": spec,
        "status": {"availableReplicas": available},
    }


def replicaset(name: str, deployment_name: str) -> Obj:
    return {"kind": "ReplicaSet", "metadata": meta("ReplicaSet", name, ("Deployment", deployment_name)), "spec": {}}


def statefulset(name: str) -> Obj:
    return {"kind": "StatefulSet", "metadata": meta("StatefulSet", name), "spec": {}}


def pod(
    name: str, owner: tuple[str, str] | None, restarts: Sequence[int], init_restarts: Sequence[int] = (), ns: str = NS
) -> Obj:
    def statuses(counts: Sequence[int], prefix: str) -> list[Obj]:
        return [{"name": f"{prefix}{i}", "restartCount": n, "image": "shop/api:1"} for i, n in enumerate(counts)]

    status: Obj = {"phase": "Running", "containerStatuses": statuses(restarts, "app")}
    if init_restarts:
        status["initContainerStatuses"] = statuses(init_restarts, "init")
    return {
        "kind": "Pod",
        "metadata": meta("Pod", name, owner, ns=ns),
        "spec": {"containers": [{"name": "app0", "image": "shop/api:1"}]},
        "status": status,
    }


def model_of(objects: list[Obj], context: str = "prod") -> ClusterModel:
    model, ignored = model_from_objects(objects, context=context, now=NOW)
    assert not ignored
    return model


def shop_model() -> ClusterModel:
    return model_of(
        [
            deployment("web", replicas=4, available=3),
            replicaset("web-5f7c", "web"),
            replicaset("web-6a8d", "web"),  # mid-rollout: pods of both ReplicaSets belong to "web"
            pod("web-5f7c-aaaaa", ("ReplicaSet", "web-5f7c"), [2, 1]),
            pod("web-6a8d-bbbbb", ("ReplicaSet", "web-6a8d"), [3], init_restarts=[1]),
            statefulset("db"),
            pod("db-0", ("StatefulSet", "db"), [4]),
            pod("db-1", ("StatefulSet", "db"), [0]),
            pod("debug", None, [1]),  # a bare pod is its own workload
            # Its ReplicaSet is not in the model (deleted, or not watched yet): grouped under the
            # ReplicaSet's name, never under the pod's.
            pod("old-9z9z-ccccc", ("ReplicaSet", "old-9z9z"), [5]),
            deployment("idle", replicas=0, available=0),
            deployment("defaulted", replicas=None, available=1),  # omitted spec.replicas means 1
            deployment("surging", replicas=3, available=5),  # surge pods during a rollout
            deployment("down", replicas=2, available=0, ns="ops"),
        ]
    )


def finding(code: str, severity: Severity, kind: str, name: str, ns: str = NS) -> Finding:
    return Finding(code, severity, ObjectKey(kind, ns, name), message=f"{name} is broken", remediation=Remediation((Step("fix it"),)))


# ------------------------------------------------------------------ a source the tests can flip


@dataclass
class FakeSource:
    views: list[ClusterView]
    sinks: dict[str, dict[str, int]] = field(default_factory=dict)
    is_healthy: bool = True
    is_ready: bool = True
    fail_scrape: bool = False

    def clusters(self) -> Sequence[ClusterView]:
        if self.fail_scrape:
            raise RuntimeError("engine state unavailable")
        return self.views

    def sink_stats(self) -> Mapping[str, Mapping[str, int]]:
        return self.sinks

    def healthy(self) -> bool:
        return self.is_healthy

    def ready(self) -> bool:
        return self.is_ready


def shop_source() -> FakeSource:
    prod = ClusterView(
        context="prod",
        model=shop_model(),
        findings=[
            finding("KS101", Severity.ERROR, "Pod", "web-5f7c-aaaaa"),
            finding("KS101", Severity.ERROR, "Pod", "web-6a8d-bbbbb"),
            finding("KS101", Severity.ERROR, "Pod", "db-0", ns="data"),
            finding("KS201", Severity.WARNING, "Deployment", "web"),
            finding("KS501", Severity.ERROR, "Node", "node-1", ns=""),
        ],
        alerts={("firing", "error"): 2, ("silenced", "warning"): 1},
        events_processed={"Pod": 120, "Deployment": 7},
        relists={"Pod": 1, "Deployment": 0},
        watch_lag_seconds={"Pod": 0.25},
        last_event_age_seconds={"Pod": 3.5, "Deployment": 42.0},
        synced=True,
    )
    staging = ClusterView(context="staging", model=model_of([], "staging"), synced=False)
    sinks = {"slack": {"delivered": 9, "failures": 2, "pending": 1}, "webhook": {"delivered": 3}}
    return FakeSource([prod, staging], sinks)


# ------------------------------------------------------------------ scraping helpers


@pytest.fixture
def shop() -> Iterator[tuple[FakeSource, MetricsServer]]:
    source = shop_source()
    with serve_metrics(source, "127.0.0.1:0") as server:
        yield source, server


Families = dict[str, Any]


def scrape(server: MetricsServer) -> Families:
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def series(families: Families, family: str, *labels: str) -> dict[tuple[str, ...], float]:
    """Label values (in the given order) -> value, for every sample of a family."""
    out: dict[tuple[str, ...], float] = {}
    for sample in families[family].samples:
        assert set(sample.labels) == set(labels), sample
        key = tuple(sample.labels[name] for name in labels)
        assert key not in out, f"duplicate series {key} in {family}"
        out[key] = sample.value
    return out


# ------------------------------------------------------------------ /metrics


def test_restarts_are_summed_per_workload_never_per_pod(shop: tuple[FakeSource, MetricsServer]) -> None:
    _, server = shop
    restarts = series(
        scrape(server), "kubesteward_container_restarts", "context", "namespace", "workload_kind", "workload"
    )
    assert restarts == {
        ("prod", NS, "Deployment", "web"): 2 + 1 + 3 + 1,  # both ReplicaSets, init containers included
        ("prod", NS, "StatefulSet", "db"): 4,
        ("prod", NS, "Pod", "debug"): 1,
        ("prod", NS, "ReplicaSet", "old-9z9z"): 5,
    }


def test_deployment_available_ratio(shop: tuple[FakeSource, MetricsServer]) -> None:
    _, server = shop
    ratios = series(scrape(server), "kubesteward_deployment_available_ratio", "context", "namespace", "deployment")
    assert ratios == {
        ("prod", NS, "web"): 0.75,
        ("prod", NS, "idle"): 1.0,
        ("prod", NS, "defaulted"): 1.0,
        ("prod", NS, "surging"): 1.0,
        ("prod", "ops", "down"): 0.0,
    }


def test_findings_alerts_and_model_counts(shop: tuple[FakeSource, MetricsServer]) -> None:
    _, server = shop
    families = scrape(server)
    assert series(families, "kubesteward_findings", "context", "code", "severity", "namespace") == {
        ("prod", "KS101", "error", NS): 2,
        ("prod", "KS101", "error", "data"): 1,
        ("prod", "KS201", "warning", NS): 1,
        ("prod", "KS501", "error", ""): 1,
    }
    alerts = series(families, "kubesteward_alerts_active", "context", "state", "severity")
    assert alerts[("prod", "firing", "error")] == 2
    assert alerts[("prod", "silenced", "warning")] == 1
    # every state x severity is present from the first scrape, so "== 0" queries have data
    assert len([k for k in alerts if k[0] == "staging"]) == 4 * 3
    assert sum(v for k, v in alerts.items() if k[0] == "staging") == 0
    objects = series(families, "kubesteward_model_objects", "context", "kind")
    assert objects[("prod", "Pod")] == 6
    assert objects[("prod", "Deployment")] == 5
    assert objects[("prod", "ReplicaSet")] == 2


def test_watch_and_sink_families(shop: tuple[FakeSource, MetricsServer]) -> None:
    _, server = shop
    families = scrape(server)
    for counter in (
        "kubesteward_watch_events",
        "kubesteward_watch_relists",
        "kubesteward_sink_deliveries",
        "kubesteward_sink_delivery_failures",
    ):
        assert families[counter].type == "counter"
        assert {s.name for s in families[counter].samples} == {counter + "_total"}
    assert series(families, "kubesteward_watch_events", "context", "kind") == {
        ("prod", "Pod"): 120,
        ("prod", "Deployment"): 7,
    }
    assert series(families, "kubesteward_watch_relists", "context", "kind") == {
        ("prod", "Pod"): 1,
        ("prod", "Deployment"): 0,
    }
    assert series(families, "kubesteward_watch_lag_seconds", "context", "kind") == {("prod", "Pod"): 0.25}
    assert series(families, "kubesteward_watch_last_event_age_seconds", "context", "kind") == {
        ("prod", "Pod"): 3.5,
        ("prod", "Deployment"): 42.0,
    }
    assert series(families, "kubesteward_watch_synced", "context") == {("prod",): 1, ("staging",): 0}
    assert families["kubesteward_watch_synced"].type == "gauge"
    assert series(families, "kubesteward_sink_deliveries", "sink") == {("slack",): 9, ("webhook",): 3}
    assert series(families, "kubesteward_sink_delivery_failures", "sink") == {("slack",): 2, ("webhook",): 0}
    assert series(families, "kubesteward_outbox_pending", "sink") == {("slack",): 1, ("webhook",): 0}


def test_labels_never_carry_pod_names_images_or_messages(shop: tuple[FakeSource, MetricsServer]) -> None:
    _, server = shop
    text = httpx.get(f"{server.url}/metrics").text
    for forbidden in ("web-5f7c-aaaaa", "db-0", "old-9z9z-ccccc", "shop/api", "is broken"):
        assert forbidden not in text


def test_scrape_reads_the_source_live(shop: tuple[FakeSource, MetricsServer]) -> None:
    source, server = shop
    source.views = source.views[:1]
    source.views[0].events_processed = {"Pod": 121}
    families = scrape(server)
    assert series(families, "kubesteward_watch_events", "context", "kind") == {("prod", "Pod"): 121}
    assert series(families, "kubesteward_watch_synced", "context") == {("prod",): 1}


def test_only_kubesteward_families_on_a_private_registry(shop: tuple[FakeSource, MetricsServer]) -> None:
    _, server = shop
    assert all(name.startswith("kubesteward_") for name in scrape(server))  # no python_/process_ collectors
    assert not any(name.startswith("kubesteward_") for name in (m.name for m in REGISTRY.collect()))


# ------------------------------------------------------------------ the series cap


def test_cap_folds_the_smallest_series_into_other() -> None:
    objects = [pod(f"job-{i}", None, [i]) for i in range(1, 6)]  # bare pods with 1..5 restarts
    objects += [
        deployment("a", replicas=4, available=0),
        deployment("b", replicas=2, available=1),
        deployment("c", replicas=3, available=3),
        deployment("d", replicas=1, available=1),
    ]
    view = ClusterView(
        "prod",
        model_of(objects),
        findings=[finding("KS101", Severity.ERROR, "Pod", f"p{i}", ns=f"ns{i % 4}") for i in range(10)],
        synced=True,
    )
    with serve_metrics(FakeSource([view]), ":0", series_cap=3) as server:
        families = scrape(server)
    restarts = series(families, "kubesteward_container_restarts", "context", "namespace", "workload_kind", "workload")
    assert restarts == {
        ("prod", NS, "Pod", "job-5"): 5,
        ("prod", NS, "Pod", "job-4"): 4,
        ("prod", OTHER, OTHER, OTHER): 1 + 2 + 3,
    }
    # namespaces ns0..ns3 hold 3, 3, 2, 2 findings: ties fold by name, the total is kept
    findings = series(families, "kubesteward_findings", "context", "code", "severity", "namespace")
    assert findings == {
        ("prod", "KS101", "error", "ns0"): 3,
        ("prod", "KS101", "error", "ns1"): 3,
        ("prod", OTHER, OTHER, OTHER): 4,
    }
    # the least available deployments stay visible; the fold is the pooled ratio of the rest
    ratios = series(families, "kubesteward_deployment_available_ratio", "context", "namespace", "deployment")
    assert ratios == {("prod", NS, "a"): 0.0, ("prod", NS, "b"): 0.5, ("prod", OTHER, OTHER): 1.0}


def test_cap_keeps_everything_up_to_the_cap_and_folds_lags_to_the_worst() -> None:
    lags: dict[tuple[str, ...], float] = {("Pod",): 0.1, ("Node",): 3.0, ("Event",): 0.5, ("Service",): 0.2}
    assert [labels for labels, _ in cap_series(lags, 4, weight=float, merge=worst)] == sorted(lags)
    assert cap_series(lags, 2, weight=float, merge=worst) == [(("Node",), 3.0), ((OTHER,), 0.5)]
    assert cap_series(lags, 1, weight=float, merge=worst) == [((OTHER,), 3.0)]
    with pytest.raises(ValueError):
        cap_series(lags, 0, weight=float, merge=worst)


# ------------------------------------------------------------------ probes, errors, lifecycle


def test_healthz_and_readyz_follow_the_source(shop: tuple[FakeSource, MetricsServer]) -> None:
    source, server = shop
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert httpx.get(f"{server.url}/healthz").text == "ok\n"
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    source.is_healthy = False
    source.is_ready = False
    assert httpx.get(f"{server.url}/healthz").status_code == 503
    not_ready = httpx.get(f"{server.url}/readyz")
    assert not_ready.status_code == 503
    assert "staging" in not_ready.text and "prod" not in not_ready.text
    source.is_healthy = True
    source.is_ready = True
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_unknown_paths_are_404(shop: tuple[FakeSource, MetricsServer]) -> None:
    _, server = shop
    for path in ("/", "/metricsx", "/favicon.ico", "/healthz/extra"):
        assert httpx.get(f"{server.url}{path}").status_code == 404
    assert httpx.get(f"{server.url}/metrics?name[]=up").status_code == 200  # query strings are ignored


def test_a_failing_source_gives_500_and_the_server_keeps_serving(shop: tuple[FakeSource, MetricsServer]) -> None:
    source, server = shop
    source.fail_scrape = True
    failed = httpx.get(f"{server.url}/metrics")
    assert failed.status_code == 500
    assert "engine state unavailable" in failed.text
    source.fail_scrape = False
    assert "kubesteward_watch_synced" in scrape(server)


@pytest.mark.parametrize("addr", ["0.0.0.0:9808", "10.1.2.3:0", "example.com:9808", "[::]:9808"])
def test_non_loopback_addresses_are_refused(addr: str) -> None:
    with pytest.raises(UsageError, match="not a loopback address"):
        serve_metrics(shop_source(), addr)
    assert parse_addr(addr, allow_remote=True)[0] != "127.0.0.1"


def test_addr_parsing() -> None:
    assert parse_addr(":9808") == ("127.0.0.1", 9808)
    assert parse_addr("localhost:0") == ("127.0.0.1", 0)
    assert parse_addr("127.0.0.2:80") == ("127.0.0.2", 80)
    assert parse_addr("[::1]:9808") == ("::1", 9808)
    for bad in ("9808", "127.0.0.1:", "127.0.0.1:http", ":65536", "::1:9808", "[::1]"):
        with pytest.raises(UsageError):
            parse_addr(bad)


def test_close_frees_the_port_and_a_busy_port_is_a_usage_error() -> None:
    source = shop_source()
    first = serve_metrics(source, "127.0.0.1:0")
    port = first.port
    assert port > 0 and first.url == f"http://127.0.0.1:{port}"
    with pytest.raises(UsageError, match="cannot serve metrics"):
        serve_metrics(source, f"127.0.0.1:{port}")
    first.close()
    first.close()  # idempotent
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")
    with serve_metrics(source, f"127.0.0.1:{port}") as again:
        assert httpx.get(f"{again.url}/healthz").status_code == 200
    with socket.create_server(("127.0.0.1", port)):  # nothing still holds the port
        pass


# ------------------------------------------------------------------ per-context readiness (issue 15, item 5)


def health_source() -> FakeSource:
    """Four contexts, one per kind of trouble; ``prod`` synced with kinds its identity may not list."""
    prod = ClusterView(context="prod", model=shop_model(), synced=True, state="synced",
                       skipped_kinds={"Node": "none", "Secret": "partial"}, skipped_checks=["KS501", "KS502"])
    revoked = ClusterView(context="revoked", model=shop_model(), synced=True, state="unauthorized",
                          reason="watch of Pod (shop): unauthorized (401): the server rejected the credentials")
    blind = ClusterView(context="blind", model=None, state="forbidden",
                        reason="forbidden (403): the identity may list nothing\nthat kubesteward reads")
    down = ClusterView(context="down", model=None, state="unreachable",
                       reason="cannot connect to https://127.0.0.1:1: connection refused")
    return FakeSource([prod, revoked, blind, down], is_ready=False)


def test_each_context_exports_its_state_and_synced_only_when_it_truly_is() -> None:
    with serve_metrics(health_source(), "127.0.0.1:0") as server:
        families = scrape(server)
    states = series(families, "kubesteward_watch_context_state", "context", "state")
    assert {k: v for k, v in states.items() if v} == {
        ("prod", "synced"): 1, ("revoked", "unauthorized"): 1, ("blind", "forbidden"): 1, ("down", "unreachable"): 1}
    assert len(states) == 4 * 5  # every state of every context, 0 when not current
    # A context whose watches all get 401 is not synced, even though its initial list was done.
    assert series(families, "kubesteward_watch_synced", "context") == {
        ("prod",): 1, ("revoked",): 0, ("blind",): 0, ("down",): 0}
    assert series(families, "kubesteward_watch_skipped_kinds", "context", "kind", "coverage") == {
        ("prod", "Node", "none"): 1, ("prod", "Secret", "partial"): 1}
    assert series(families, "kubesteward_watch_skipped_checks", "context", "code") == {
        ("prod", "KS501"): 1, ("prod", "KS502"): 1}
    # A context never listed exports no model families, only its state.
    assert {k[0] for k in series(families, "kubesteward_model_objects", "context", "kind")} == {"prod", "revoked"}


def test_readyz_says_per_context_what_is_not_synced_and_why() -> None:
    with serve_metrics(health_source(), "127.0.0.1:0") as server:
        response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 503
    lines = response.text.splitlines()
    assert lines[0] == "not ready:"
    assert lines[1:] == [
        "blind: forbidden: forbidden (403): the identity may list nothing that kubesteward reads",
        "down: unreachable: cannot connect to https://127.0.0.1:1: connection refused",
        "revoked: unauthorized: watch of Pod (shop): unauthorized (401): the server rejected the credentials",
    ]
