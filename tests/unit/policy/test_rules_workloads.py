"""Workload rules (KS800–KS815): replicas and their spread, disruption budgets, autoscalers, Services and
Ingresses that point nowhere, the set's hygiene; each with a case it reports and one it must not, CRD
workloads (an Argo Rollout) counted as pod owners."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubesteward.policy import PolicyConfig, PolicyContext, PolicySettings, evaluate

NS = "shop"
Obj = dict[str, Any]


def workload(name: str = "web", *, kind: str = "Deployment", api: str = "apps/v1", replicas: int | None = 3,
             labels: dict[str, str] | None = None, ns: str | None = NS, spec: Obj | None = None,
             containers: list[Obj] | None = None) -> Obj:
    pod_labels = labels or {"app": name}
    body: Obj = {"selector": {"matchLabels": pod_labels},
                 "template": {"metadata": {"labels": pod_labels},
                              "spec": {"containers": containers or [{"name": "app", "image": "nginx:1.27"}], **(spec or {})}}}
    if replicas is not None:
        body["replicas"] = replicas
    metadata: Obj = {"name": name}
    if ns is not None:
        metadata["namespace"] = ns
    return {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": body}


def rollout(name: str = "canary", **kw: Any) -> Obj:
    return workload(name, kind="Rollout", api="argoproj.io/v1alpha1", **kw)


def spread(app: str) -> Obj:
    return {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": {"app": app}}}]}


def pdb(name: str, selector: Obj | None, *, api: str = "policy/v1", ns: str = NS, **budget: Any) -> Obj:
    spec: Obj = dict(budget)
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": api, "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def hpa(name: str, target: str, *, kind: str = "Deployment", api: str = "apps/v1", min_replicas: int | None = 2,
        max_replicas: int = 5, metrics: list[Obj] | None = None) -> Obj:
    spec: Obj = {"scaleTargetRef": {"apiVersion": api, "kind": kind, "name": target}, "maxReplicas": max_replicas}
    if min_replicas is not None:
        spec["minReplicas"] = min_replicas
    if metrics is not None:
        spec["metrics"] = metrics
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def cpu_utilization(container: str = "") -> Obj:
    if container:
        return {"type": "ContainerResource", "containerResource": {
            "name": "cpu", "container": container, "target": {"type": "Utilization", "averageUtilization": 70}}}
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}


def service(name: str, selector: dict[str, str] | None, *, ports: list[Obj] | None = None, type_: str = "ClusterIP") -> Obj:
    spec: Obj = {"type": type_, "ports": ports if ports is not None else [{"name": "http", "port": 80}]}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS}, "spec": spec}


def ingress(name: str, backends: list[tuple[str, Obj]]) -> Obj:
    paths = [{"path": f"/{i}", "pathType": "Prefix", "backend": {"service": {"name": svc, "port": port}}}
             for i, (svc, port) in enumerate(backends)]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": NS},
            "spec": {"rules": [{"host": "shop.example", "http": {"paths": paths}}]}}


def found(objects: list[Obj], code: str, *, live: bool = False, settings: PolicySettings | None = None,
          profile: str = "all") -> dict[str, list[str]]:
    """Messages of ``code``, by the name of the object each is about."""
    settings = settings or PolicySettings()
    config = PolicyConfig(profile=profile, only=(code,), settings=settings)
    result = evaluate(PolicyContext(objects, settings, live=live), config)
    out: dict[str, list[str]] = {}
    for f in result.findings:
        assert f.code == code
        out.setdefault(f.object.name, []).append(f.message)
    return out


# --------------------------------------------------------------------------- KS800 replicas


def test_ks800_one_replica_and_the_defaulted_one_are_too_few() -> None:
    result = found([workload("api", replicas=1), workload("web", replicas=None), workload("db", kind="StatefulSet", replicas=3)],
                   "KS800")
    assert set(result) == {"api", "web"}
    assert "runs 1 replica(s); production needs at least 2" in result["web"][0]


def test_ks800_the_autoscalers_minimum_counts_and_zero_is_a_choice() -> None:
    objects = [workload("api", replicas=1), hpa("api", "api", min_replicas=3),
               workload("batch", replicas=1), hpa("batch", "batch", min_replicas=None),
               workload("parked", replicas=0)]
    result = found(objects, "KS800")
    assert set(result) == {"batch"}  # api: its HPA keeps 3; parked: scaled to zero on purpose
    assert "may scale it down to 1" in result["batch"][0]
    assert found([workload("api", replicas=2)], "KS800", settings=PolicySettings(min_replicas=3)) == {"api": [
        "runs 2 replica(s); production needs at least 3"]}


def test_ks800_crd_workloads_with_replicas_are_judged_and_those_without_are_not() -> None:
    result = found([rollout("canary", replicas=1), rollout("unknown", replicas=None),
                    workload("agent", kind="DaemonSet", replicas=None), workload("once", kind="Job", replicas=None)], "KS800")
    assert set(result) == {"canary"}


def test_ks800_a_controlled_replicaset_is_not_judged_again() -> None:
    owned = workload("web-5d8f", kind="ReplicaSet", replicas=1)
    owned["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "web", "controller": True}]
    assert found([owned], "KS800", live=True) == {}


# --------------------------------------------------------------------------- KS801 spread


def test_ks801_replicas_without_anti_affinity_or_spread_are_reported() -> None:
    assert set(found([workload("web", replicas=3)], "KS801")) == {"web"}
    assert found([workload("web", replicas=1)], "KS801") == {}


def test_ks801_a_spread_or_anti_affinity_term_counts_only_when_it_selects_its_own_pods() -> None:
    anti = {"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                           "labelSelector": {"matchLabels": {"app": "api"}}}}]}}}
    required = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["db"]}]}}]}}}
    objects = [workload("web", spec=spread("web")), workload("api", spec=anti), workload("db", spec=required),
               workload("typo", spec=spread("tpyo")), rollout("canary", replicas=4)]
    assert set(found(objects, "KS801")) == {"typo", "canary"}


def test_ks801_an_autoscaler_that_may_scale_out_makes_a_workload_replicated() -> None:
    result = found([workload("api", replicas=1), hpa("api", "api", min_replicas=1, max_replicas=4)], "KS801")
    assert "up to 4 replicas" in result["api"][0]


# --------------------------------------------------------------------------- budgets KS802-805, KS815


def test_ks802_a_replicated_workload_needs_a_budget_selecting_its_pods() -> None:
    objects = [workload("web"), workload("api"), workload("single", replicas=1),
               pdb("api", {"matchLabels": {"app": "api"}}, maxUnavailable=1),
               pdb("elsewhere", {"matchLabels": {"app": "web"}}, ns="other", maxUnavailable=1)]
    assert set(found(objects, "KS802")) == {"web"}  # a budget in another namespace protects nothing here


def test_ks802_empty_selectors_follow_the_api_version() -> None:
    v1 = [workload("web"), pdb("all", {}, maxUnavailable=1)]
    v1beta1 = [workload("web"), pdb("all", {}, api="policy/v1beta1", maxUnavailable=1)]
    absent = [workload("web"), pdb("none", None, maxUnavailable=1)]
    assert found(v1, "KS802") == {}
    assert set(found(v1beta1, "KS802")) == {"web"}
    assert set(found(absent, "KS802")) == {"web"}


def test_ks802_a_budget_selecting_a_rollouts_pods_covers_it() -> None:
    objects = [rollout("canary", replicas=3, labels={"app": "canary", "tier": "web"}),
               pdb("canary", {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}, minAvailable="50%")]
    assert found(objects, "KS802") == {}
    assert set(found(objects[:1], "KS802")) == {"canary"}


def test_ks803_budgets_that_forbid_every_eviction() -> None:
    objects = [pdb("zero", {}, maxUnavailable=0), pdb("zero-pct", {}, maxUnavailable="0%"),
               pdb("all", {}, minAvailable="100%"), pdb("fine", {}, maxUnavailable=1), pdb("half", {}, minAvailable="50%")]
    assert set(found(objects, "KS803")) == {"zero", "zero-pct", "all"}


def test_ks804_min_available_at_or_above_the_replicas_blocks_drains() -> None:
    objects = [workload("single", replicas=1), pdb("single", {"matchLabels": {"app": "single"}}, minAvailable=1),
               workload("pair", replicas=2), pdb("pair", {"matchLabels": {"app": "pair"}}, minAvailable=1),
               workload("three", replicas=3), pdb("three", {"matchLabels": {"app": "three"}}, minAvailable="90%"),
               workload("four", replicas=4), pdb("four", {"matchLabels": {"app": "four"}}, minAvailable="50%")]
    result = found(objects, "KS804")
    assert set(result) == {"single", "three"}  # 90% of 3 rounds up to 3
    assert result["single"] == ["keeps 1 of the 1 pod(s) of Deployment/single at their fewest replicas: no eviction is "
                                "allowed, node drains block"]


def test_ks804_counts_every_workload_the_budget_selects_and_the_autoscalers_minimum() -> None:
    shared = {"matchLabels": {"tier": "web"}}
    two = [workload("a", replicas=1, labels={"app": "a", "tier": "web"}),
           workload("b", replicas=1, labels={"app": "b", "tier": "web"}), pdb("web", shared, minAvailable=1)]
    assert found(two, "KS804") == {}  # two pods, one may go
    scaled = [workload("api", replicas=5), hpa("api", "api", min_replicas=2), pdb("api", {"matchLabels": {"app": "api"}},
                                                                                 minAvailable=2)]
    assert set(found(scaled, "KS804")) == {"api"}
    daemon = [workload("agent", kind="DaemonSet", replicas=None), pdb("agent", {"matchLabels": {"app": "agent"}}, minAvailable=1)]
    assert found(daemon, "KS804") == {}  # its pod count is the nodes', not in the manifests


def test_ks805_a_budget_selecting_no_pod_template() -> None:
    objects = [rollout("canary"), pdb("canary", {"matchLabels": {"app": "canary"}}, maxUnavailable=1),
               pdb("typo", {"matchLabels": {"app": "canry"}}, maxUnavailable=1),
               pdb("old", {}, api="policy/v1beta1", maxUnavailable=1)]
    assert set(found(objects, "KS805")) == {"typo", "old"}


def test_ks815_pods_under_two_budgets() -> None:
    objects = [workload("web"), pdb("a", {"matchLabels": {"app": "web"}}, maxUnavailable=1), pdb("b", {}, maxUnavailable=1),
               workload("api"), pdb("c", {"matchLabels": {"app": "api"}}, ns="other", maxUnavailable=1)]
    result = found(objects, "KS815")
    assert set(result) == {"web"} and "(a, b)" in result["web"][0]
    assert found(objects[:2], "KS815") == {}


# --------------------------------------------------------------------------- autoscalers KS806-808


def test_ks806_min_above_max() -> None:
    result = found([hpa("bad", "web", min_replicas=6, max_replicas=3), hpa("ok", "web", min_replicas=3, max_replicas=3),
                    hpa("default", "web", min_replicas=None, max_replicas=1)], "KS806")
    assert set(result) == {"bad"}


def test_ks807_utilization_needs_requests_on_every_container_it_reads() -> None:
    requested = {"name": "app", "image": "x:1", "resources": {"requests": {"cpu": "100m"}}}
    bare = {"name": "sidecar", "image": "y:1"}
    objects = [workload("api", containers=[requested, bare]), hpa("api", "api", metrics=[cpu_utilization()]),
               workload("web", containers=[requested, bare]), hpa("web", "web", metrics=[cpu_utilization("app")]),
               workload("avg", containers=[bare]), hpa("avg", "avg", metrics=[{"type": "Resource", "resource": {
                   "name": "cpu", "target": {"type": "AverageValue", "averageValue": "200m"}}}]),
               workload("dflt", containers=[bare]), hpa("dflt", "dflt")]
    result = found(objects, "KS807")
    assert set(result) == {"api", "dflt"}  # web reads only app's; avg divides by nothing; dflt: 80% CPU by default
    assert "sidecar (cpu)" in result["api"][0]


def test_ks807_a_rollout_target_is_read_like_a_deployment() -> None:
    objects = [rollout("canary", containers=[{"name": "app", "image": "x:1"}]),
               hpa("canary", "canary", kind="Rollout", api="argoproj.io/v1alpha1", metrics=[cpu_utilization()])]
    assert set(found(objects, "KS807")) == {"canary"}


def test_ks808_a_target_that_is_not_in_the_set_or_of_another_group() -> None:
    objects = [workload("web"), hpa("web", "web"), hpa("gone", "nope"),
               hpa("wrong-group", "web", api="argoproj.io/v1alpha1"), rollout("canary"),
               hpa("canary", "canary", kind="Rollout", api="argoproj.io/v1alpha1")]
    assert set(found(objects, "KS808")) == {"gone", "wrong-group"}


# --------------------------------------------------------------------------- Services and Ingresses KS809-811


def test_ks809_a_service_selecting_no_pod_template() -> None:
    objects = [workload("web"), rollout("canary"), service("web", {"app": "web"}), service("canary", {"app": "canary"}),
               service("typo", {"app": "wbe"}), service("manual", None), service("alias", {"app": "x"}, type_="ExternalName")]
    result = found(objects, "KS809")
    assert set(result) == {"typo"}  # a Rollout's pods are a Service's endpoints like any Deployment's
    assert "selector app=wbe matches no pod template in shop" in result["typo"][0]


def test_ks809_selection_is_per_namespace() -> None:
    other = workload("web", ns="other")
    assert set(found([other, service("web", {"app": "web"})], "KS809")) == {"web"}


def test_ks810_ks811_ingress_backends_to_missing_services_and_ports() -> None:
    objects = [service("web", {"app": "web"}, ports=[{"name": "http", "port": 80}]),
               service("ext", None, ports=[], type_="ExternalName"),
               ingress("front", [("web", {"number": 80}), ("web", {"name": "http"}), ("ext", {"number": 443})]),
               ingress("broken", [("gone", {"number": 80}), ("web", {"number": 8080}), ("web", {"name": "grpc"})])]
    missing_service = found(objects, "KS810")
    missing_port = found(objects, "KS811")
    assert set(missing_service) == {"broken"} and "Service gone" in missing_service["broken"][0]
    assert set(missing_port) == {"broken"} and "web:8080 is not a port of Service web (it has http:80)" in missing_port["broken"][0]
    fields = {f.code: f.evidence["field"] for f in evaluate(PolicyContext(objects), PolicyConfig(only=("KS810", "KS811"))).findings}
    assert fields == {"KS810": "spec.rules[0].http.paths[0].backend.service",
                      "KS811": "spec.rules[0].http.paths[1].backend.service"}


# --------------------------------------------------------------------------- hygiene KS812-814


def test_ks812_namespaced_objects_without_namespace_on_files_only() -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Widget", "plural": "widgets"}}}
    objects = [workload("web", ns=None), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
               {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "reader"}},
               crd, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
               {"apiVersion": "other.io/v1", "kind": "Gadget", "metadata": {"name": "g"}},
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS}}]
    assert set(found(objects, "KS812")) == {"web", "w"}  # Gadget's scope is unknown: not judged
    assert found(objects, "KS812", live=True) == {}


def test_ks813_the_same_object_twice() -> None:
    objects = [workload("web"), workload("web"), workload("web", ns="other"), workload("web", kind="StatefulSet"),
               {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": NS}}]
    result = found(objects, "KS813")
    assert result == {"web": ["Deployment web is defined 2 times in the set: the last one applied wins"]}


def test_ks814_a_bare_pod_but_not_one_a_controller_owns() -> None:
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": NS},
            "spec": {"containers": [{"name": "x", "image": "busybox:1"}]}}
    owned = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": NS, "ownerReferences": [
        {"kind": "ReplicaSet", "name": "web-5d8f", "controller": True}]}, "spec": {"containers": [{"name": "x"}]}}
    assert set(found([bare, owned], "KS814", profile="production")) == {"debug"}


# --------------------------------------------------------------------------- hostile manifests

_SCALARS = st.none() | st.booleans() | st.integers(-3, 5) | st.sampled_from(
    ["", "0%", "100%", "web", "TCP", "UDP", "Utilization", "ExternalName", "Ingress", "Egress", "apps/v1", "0.0.0.0/0"])
_KEYS = st.sampled_from([
    "spec", "selector", "matchLabels", "matchExpressions", "key", "operator", "values", "podSelector", "namespaceSelector",
    "ingress", "egress", "from", "to", "ports", "port", "endPort", "protocol", "policyTypes", "ipBlock", "cidr", "except",
    "replicas", "template", "metadata", "labels", "containers", "minAvailable", "maxUnavailable", "scaleTargetRef", "kind",
    "name", "maxReplicas", "minReplicas", "metrics", "type", "resource", "target", "rules", "http", "paths", "backend",
    "service", "number", "defaultBackend", "topologySpreadConstraints", "affinity", "podAntiAffinity", "labelSelector",
    "topologyKey", "app", "namespace", "resources", "requests", "cpu"])
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4),
                     max_leaves=20)
_OBJECTS = st.builds(
    lambda kind, spec, metadata, api: {"apiVersion": api, "kind": kind, "metadata": metadata, "spec": spec},
    st.sampled_from(["Deployment", "Rollout", "NetworkPolicy", "PodDisruptionBudget", "HorizontalPodAutoscaler", "Service",
                     "Ingress", "Pod", "Namespace", "CustomResourceDefinition"]),
    _JSON,
    _JSON | st.fixed_dictionaries({"name": st.sampled_from(["a", "b"]), "namespace": st.sampled_from([NS, "", None]),
                                   "labels": _JSON}),
    st.sampled_from(["apps/v1", "policy/v1beta1", "argoproj.io/v1alpha1", "v1", 3]),
)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_OBJECTS, max_size=6), st.booleans())
def test_malformed_manifests_never_break_a_workload_network_or_api_rule(objects: list[Obj], live: bool) -> None:
    # The API server would refuse most of these; lint reads files before it does, so rules must not raise.
    config = PolicyConfig(profile="all", only=("KS80*", "KS81*", "KS84*", "KS86*"))
    result = evaluate(PolicyContext(objects, live=live), config)
    assert all(f.code[:4] in ("KS80", "KS81", "KS84", "KS86") for f in result.findings)
