"""NetworkPolicy rules (KS840–KS845) and the semantics under them, subtlety by subtlety: an empty podSelector,
policyTypes defaulting, namespaceSelector and podSelector in one peer (intersection) versus two (union),
`namespaceSelector: {}`, the implicit `kubernetes.io/metadata.name` label, a default deny that is never
"allows all", and CRD workloads (an Argo Rollout) as the pods policies select."""

from __future__ import annotations

from typing import Any

from kubesteward.model.semantics.network_policy import (
    EGRESS,
    INGRESS,
    allows_port,
    named_namespaces,
    namespace_selected,
    open_to_everyone,
    peers,
    policy_types,
    read_policy,
)
from kubesteward.model.semantics.selectors import selector_from
from kubesteward.policy import PolicyConfig, PolicyContext, PolicySettings, evaluate

NS = "shop"
Obj = dict[str, Any]


def workload(name: str, ns: str = NS, *, labels: dict[str, str] | None = None, kind: str = "Deployment",
             api: str = "apps/v1") -> Obj:
    pod_labels = labels or {"app": name}
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 2, "selector": {"matchLabels": pod_labels},
                     "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}


def rollout(name: str, ns: str = NS, **kw: Any) -> Obj:
    return workload(name, ns, kind="Rollout", api="argoproj.io/v1alpha1", **kw)


def policy(name: str, ns: str = NS, *, pods: Obj | None = None, types: list[str] | None = None,
           ingress: list[Obj] | None = None, egress: list[Obj] | None = None) -> Obj:
    spec: Obj = {"podSelector": pods if pods is not None else {}}
    if types is not None:
        spec["policyTypes"] = types
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def namespace(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def found(objects: list[Obj], code: str, *, live: bool = False) -> dict[str, list[str]]:
    config = PolicyConfig(profile="all", only=(code,))
    result = evaluate(PolicyContext(objects, PolicySettings(), live=live), config)
    out: dict[str, list[str]] = {}
    for f in result.findings:
        out.setdefault(f.object.name, []).append(f.message)
    return out


DEFAULT_DENY = policy("default-deny", types=["Ingress"])


# --------------------------------------------------------------------------- semantics


def test_policy_types_default_to_ingress_plus_egress_only_with_egress_rules() -> None:
    assert policy_types(policy("p")) == {INGRESS}
    assert policy_types(policy("p", egress=[{"to": []}])) == {INGRESS, EGRESS}
    assert policy_types(policy("p", egress=[])) == {INGRESS}  # an empty list is no rule
    assert policy_types(policy("p", types=["Egress"])) == {EGRESS}
    assert policy_types(policy("p", types=["Egress"], ingress=[{}])) == {EGRESS}  # its ingress rules do nothing


def test_an_empty_pod_selector_selects_every_pod_of_its_own_namespace_only() -> None:
    deny = read_policy(policy("deny"))
    assert deny.every_pod and deny.selects(NS, {"app": "anything"}) and deny.selects(NS, {})
    assert not deny.selects("other", {"app": "anything"})
    absent = policy("absent")
    del absent["spec"]["podSelector"]
    assert read_policy(absent).selects(NS, {"x": "y"})
    narrow = read_policy(policy("narrow", pods={"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}))
    assert narrow.selects(NS, {"app": "web"}) and narrow.selects(NS, {}) and not narrow.selects(NS, {"app": "db"})
    assert not narrow.every_pod


def test_namespace_selection_knows_the_name_label_of_every_namespace() -> None:
    by_name = selector_from({"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}})
    by_team = selector_from({"matchLabels": {"team": "ops"}})
    assert by_name is not None and by_team is not None
    assert namespace_selected(by_name, "monitoring", None) is True  # no Namespace object needed
    assert namespace_selected(by_name, "shop", None) is False
    assert namespace_selected(by_team, "monitoring", None) is None  # its labels are unknown: cannot tell
    assert namespace_selected(by_team, "monitoring", {"team": "ops"}) is True
    assert named_namespaces(by_name) == frozenset({"monitoring"})
    assert named_namespaces(by_team) is None


def test_one_peer_with_both_selectors_is_an_intersection_two_peers_a_union() -> None:
    one = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                     "podSelector": {"matchLabels": {"app": "prometheus"}}}]}
    two = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
                    {"podSelector": {"matchLabels": {"app": "prometheus"}}}]}
    [both] = peers(one, INGRESS) or []
    either = peers(two, INGRESS) or []

    def allowed(peer_list: list[Any], ns: str, labels: dict[str, str]) -> bool:
        return any(p.selects(NS, ns, None, labels) for p in peer_list)

    prometheus, grafana = {"app": "prometheus"}, {"app": "grafana"}
    assert allowed([both], "monitoring", prometheus) and not allowed([both], "monitoring", grafana)
    assert not allowed([both], NS, prometheus)
    assert allowed(either, "monitoring", grafana)  # every pod of monitoring
    assert allowed(either, NS, prometheus)  # prometheus pods of the policy's own namespace
    assert not allowed(either, "other", prometheus)  # a podSelector alone never leaves its namespace


def test_open_to_everyone_only_when_nothing_narrows_the_rule() -> None:
    assert open_to_everyone({}, INGRESS) == "every source"
    assert open_to_everyone({"from": []}, INGRESS) == "every source"
    assert open_to_everyone({"from": [{"namespaceSelector": {}}]}, INGRESS) is not None
    assert open_to_everyone({"from": [{"namespaceSelector": {}, "podSelector": {}}]}, INGRESS) is not None
    assert open_to_everyone({"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"a": "b"}}}]}, INGRESS) is None
    assert open_to_everyone({"from": [{"podSelector": {}}]}, INGRESS) is None  # every pod of its own namespace
    assert open_to_everyone({"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}, INGRESS) is not None
    assert open_to_everyone({"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}, INGRESS) is None
    assert open_to_everyone({"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}, EGRESS) is None


def test_ports_a_rule_allows() -> None:
    assert allows_port({}, 53, "UDP")
    assert allows_port({"ports": [{"port": 53, "protocol": "UDP"}]}, 53, "UDP")
    assert not allows_port({"ports": [{"port": 53}]}, 53, "UDP")  # TCP by default
    assert allows_port({"ports": [{"port": 1, "endPort": 1000, "protocol": "UDP"}]}, 53, "UDP")
    assert allows_port({"ports": [{"protocol": "UDP"}]}, 53, "UDP")  # every UDP port
    assert allows_port({"ports": [{"port": "dns", "protocol": "UDP"}]}, 53, "UDP", ("dns",))


# --------------------------------------------------------------------------- KS840 / KS841


def test_ks840_a_namespace_without_policies_leaves_its_pods_open() -> None:
    result = found([workload("web"), rollout("canary")], "KS840")
    assert set(result) == {"web", "canary"}
    assert "no NetworkPolicy of shop isolates these pods for ingress" in result["web"][0]


def test_ks840_a_default_deny_with_an_empty_selector_covers_every_workload_including_crds() -> None:
    assert found([workload("web"), rollout("canary"), DEFAULT_DENY], "KS840") == {}
    # ...but only in its own namespace
    assert set(found([workload("web", "other"), DEFAULT_DENY], "KS840")) == {"web"}


def test_ks840_an_egress_only_policy_does_not_isolate_ingress_and_no_types_means_ingress() -> None:
    egress_only = policy("egress-only", types=["Egress"])
    assert set(found([workload("web"), egress_only], "KS840")) == {"web"}
    untyped = policy("untyped", pods={"matchLabels": {"app": "web"}}, ingress=[{"from": [{"podSelector": {}}]}])
    assert set(found([workload("web"), workload("api"), untyped], "KS840")) == {"api"}
    rollout_selected = policy("canary", pods={"matchLabels": {"app": "canary"}})
    assert found([rollout("canary"), rollout_selected], "KS840") == {}


def test_ks841_egress_isolation_needs_the_type_or_egress_rules() -> None:
    assert set(found([workload("web"), DEFAULT_DENY], "KS841")) == {"web"}  # [Ingress] says nothing of egress
    with_rules = policy("out", egress=[{"to": [{"podSelector": {}}]}])
    assert found([workload("web"), with_rules], "KS841") == {}
    assert found([workload("web"), policy("deny-out", types=["Egress"])], "KS841") == {}


def test_ks840_on_a_cluster_judges_each_workload_once() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": NS, "labels": {"app": "web"},
                                                          "ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": True}]},
           "spec": {"containers": [{"name": "c"}]}}
    assert set(found([workload("web"), pod], "KS840", live=True)) == {"web"}


# --------------------------------------------------------------------------- KS842


def test_ks842_a_policy_selecting_nothing_but_never_an_empty_selector() -> None:
    objects = [workload("web"), rollout("canary"), DEFAULT_DENY,
               policy("web", pods={"matchLabels": {"app": "web"}}), policy("canary", pods={"matchLabels": {"app": "canary"}}),
               policy("typo", pods={"matchLabels": {"app": "wbe"}}),
               policy("elsewhere", "other", pods={"matchLabels": {"app": "web"}}),
               policy("deny-empty-ns", "empty")]
    assert set(found(objects, "KS842")) == {"typo", "elsewhere"}


# --------------------------------------------------------------------------- KS843


def test_ks843_default_deny_is_never_allows_all() -> None:
    objects = [DEFAULT_DENY, policy("deny-both", types=["Ingress", "Egress"]), policy("deny-untyped"),
               policy("empty-list", ingress=[])]
    assert found(objects, "KS843") == {}


def test_ks843_rules_open_to_every_source() -> None:
    objects = [
        policy("allow-all", ingress=[{}]),
        policy("all-namespaces", ingress=[{"from": [{"namespaceSelector": {}}], "ports": [{"port": 8080}]}]),
        policy("union", ingress=[{"from": [{"namespaceSelector": {}}, {"podSelector": {"matchLabels": {"app": "x"}}}]}]),
        policy("intersection", ingress=[{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "x"}}}]}]),
        policy("same-namespace", ingress=[{"from": [{"podSelector": {}}]}]),
        policy("internet", ingress=[{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]),
        policy("egress-typed", types=["Egress"], ingress=[{}]),  # its ingress rules do not take effect
    ]
    result = found(objects, "KS843")
    assert set(result) == {"allow-all", "all-namespaces", "union", "internet"}
    assert result["allow-all"] == ["ingress rule 0 lets in every source on every port"]
    assert "on 8080/TCP" in result["all-namespaces"][0]


# --------------------------------------------------------------------------- KS844


def test_ks844_a_peer_in_the_policys_namespace_selecting_no_pod() -> None:
    objects = [workload("web"), workload("api"),
               policy("ok", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]),
               policy("typo", ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "wbe"}}}]}])]
    result = found(objects, "KS844")
    assert set(result) == {"typo"} and "from peer 0 (podSelector app=wbe) selects no pod" in result["typo"][0]


def test_ks844_intersection_and_union_across_namespaces() -> None:
    monitoring = workload("prometheus", "monitoring")
    by_name = {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    wrong_app = {"matchLabels": {"app": "grafana"}}
    objects = [workload("web"), monitoring,
               # one peer: grafana pods in monitoring; there are none
               policy("intersection", ingress=[{"from": [{"namespaceSelector": by_name, "podSelector": wrong_app}]}]),
               # two peers: every pod of monitoring, or grafana pods of shop; the first selects prometheus
               policy("union", ingress=[{"from": [{"namespaceSelector": by_name}, {"podSelector": wrong_app}]}])]
    result = found(objects, "KS844")
    # the union's second peer alone selects nothing (no grafana in shop): that peer, not the rule, is reported
    assert set(result) == {"intersection", "union"}
    assert "peer 0" in result["intersection"][0] and "peer 1" in result["union"][0]
    fixed = [workload("web"), monitoring,
             policy("intersection", ingress=[{"from": [{"namespaceSelector": by_name,
                                                        "podSelector": {"matchLabels": {"app": "prometheus"}}}]}])]
    assert found(fixed, "KS844") == {}


def test_ks844_files_do_not_judge_namespaces_they_do_not_hold_but_a_cluster_does() -> None:
    by_team = {"matchLabels": {"team": "ops"}}
    outside = {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}
    objects = [workload("web"),
               policy("by-labels", ingress=[{"from": [{"namespaceSelector": by_team}]}]),
               policy("outside", ingress=[{"from": [{"namespaceSelector": outside}]}])]
    assert found(objects, "KS844") == {}  # their pods may be defined elsewhere
    on_cluster = [*objects, namespace(NS), namespace("ingress-nginx")]
    assert set(found(on_cluster, "KS844", live=True)) == {"by-labels", "outside"}
    labelled = [*on_cluster, namespace("ops", {"team": "ops"}), workload("tool", "ops"),
                workload("controller", "ingress-nginx")]
    assert found(labelled, "KS844", live=True) == {}


def test_ks844_namespace_objects_of_the_files_give_their_labels() -> None:
    ops = {"matchLabels": {"team": "ops"}}
    objects = [workload("web"), workload("tool", "ops"), namespace("ops", {"team": "ops"}),
               policy("ops", ingress=[{"from": [{"namespaceSelector": ops, "podSelector": {"matchLabels": {"app": "tool"}}}]}])]
    assert found(objects, "KS844") == {}


def test_ks844_a_rollouts_pods_are_peers_like_any_other() -> None:
    objects = [rollout("canary"), workload("web"),
               policy("from-canary", pods={"matchLabels": {"app": "web"}},
                      ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "canary"}}}]}])]
    assert found(objects, "KS844") == {}


# --------------------------------------------------------------------------- KS845


def test_ks845_egress_isolation_without_dns() -> None:
    deny_out = policy("deny-out", types=["Egress"])
    dns = policy("dns", types=["Egress"], egress=[{"to": [{"namespaceSelector": {}}],
                                                   "ports": [{"port": 53, "protocol": "UDP"}]}])
    tcp_only = policy("tcp", pods={"matchLabels": {"app": "api"}}, types=["Egress"],
                      egress=[{"ports": [{"port": 53}]}])
    assert set(found([workload("web"), deny_out], "KS845")) == {"web"}
    assert found([workload("web"), deny_out, dns], "KS845") == {}
    assert set(found([workload("web"), workload("api"), tcp_only], "KS845")) == {"api"}
    assert found([workload("web"), DEFAULT_DENY], "KS845") == {}  # egress not isolated
