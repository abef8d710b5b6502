"""RBAC evaluation (model.semantics.rbac), subtlety by subtlety, each allowed and refused case
written as the API server's RBAC authorizer decides it."""

from __future__ import annotations

import pytest

from kubesteward.model.semantics.rbac import (
    RBAC,
    ObjectRef,
    Request,
    Rule,
    Subject,
    User,
    parse_service_account,
    subject_of,
)
from tests.support.rbac import Obj, binding, role, sa


def user(name: str) -> Obj:
    return {"kind": "User", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def group(name: str) -> Obj:
    return {"kind": "Group", "name": name, "apiGroup": "rbac.authorization.k8s.io"}


def rule(verbs: list[str], resources: list[str] | None = None, groups: list[str] | None = None,
         names: list[str] | None = None, urls: list[str] | None = None) -> Rule:
    manifest: Obj = {"verbs": verbs}
    if resources is not None:
        manifest["resources"] = resources
        manifest["apiGroups"] = groups if groups is not None else [""]
    if names is not None:
        manifest["resourceNames"] = names
    if urls is not None:
        manifest["nonResourceURLs"] = urls
    return Rule.from_manifest(manifest)


ALICE = User.named("alice")
WEB = User.named("system:serviceaccount:shop:web")


# --------------------------------------------------------------------------- one rule


@pytest.mark.parametrize(
    ("the_rule", "request_", "allowed"),
    [
        # verbs
        (rule(["get"], ["pods"]), Request("get", "pods"), True),
        (rule(["get"], ["pods"]), Request("list", "pods"), False),
        (rule(["*"], ["pods"]), Request("deletecollection", "pods"), True),
        (rule(["Get"], ["pods"]), Request("get", "pods"), False),  # verbs compare exactly
        # apiGroups
        (rule(["get"], ["deployments"], ["apps"]), Request("get", "deployments", "apps"), True),
        (rule(["get"], ["deployments"], [""]), Request("get", "deployments", "apps"), False),
        (rule(["get"], ["deployments"], ["*"]), Request("get", "deployments", "apps"), True),
        (rule(["get"], ["pods"], ["apps"]), Request("get", "pods"), False),  # the core group is ""
        (Rule.from_manifest({"verbs": ["get"], "resources": ["pods"]}), Request("get", "pods"), False),  # no groups
        # resources and subresources
        (rule(["create"], ["pods"]), Request("create", "pods", subresource="exec"), False),
        (rule(["create"], ["pods/exec"]), Request("create", "pods", subresource="exec"), True),
        (rule(["create"], ["pods/exec"]), Request("create", "pods"), False),
        (rule(["create"], ["pods/exec"]), Request("create", "pods", subresource="attach"), False),
        (rule(["create"], ["*"]), Request("create", "pods", subresource="exec"), True),
        (rule(["update"], ["*/scale"], ["*"]), Request("update", "deployments", "apps", "scale"), True),
        (rule(["update"], ["*/scale"], ["*"]), Request("update", "deployments", "apps"), False),
        (rule(["update"], ["*/scale"], ["*"]), Request("update", "deployments", "apps", "status"), False),
        (rule(["update"], ["*/scale"], ["*"]), Request("update", "deployments", "apps", "rescale"), False),
        (rule(["create"], ["pods/*"]), Request("create", "pods", subresource="exec"), False),  # not a pattern
        (rule(["get"], ["Pods"]), Request("get", "pods"), False),
        # resourceNames
        (rule(["get"], ["configmaps"], names=["app"]), Request("get", "configmaps", name="app"), True),
        (rule(["get"], ["configmaps"], names=["app"]), Request("get", "configmaps", name="other"), False),
        (rule(["list"], ["configmaps"], names=["app"]), Request("list", "configmaps"), False),  # no name
        (rule(["create"], ["configmaps"], names=["app"]), Request("create", "configmaps"), False),
        (rule(["get"], ["configmaps"]), Request("get", "configmaps", name="any"), True),
        # non-resource URLs
        (rule(["get"], urls=["/healthz"]), Request("get", path="/healthz"), True),
        (rule(["get"], urls=["/healthz"]), Request("get", path="/healthz/etcd"), False),
        (rule(["get"], urls=["/healthz/*"]), Request("get", path="/healthz/etcd"), True),
        (rule(["get"], urls=["/healthz*"]), Request("get", path="/healthzz"), True),  # a plain prefix
        (rule(["get"], urls=["*"]), Request("get", path="/metrics"), True),
        (rule(["get"], urls=["/metrics"]), Request("post", path="/metrics"), False),
        (rule(["get"], ["*"], ["*"]), Request("get", path="/metrics"), False),  # resources never grant a URL
        (rule(["get"], urls=["*"]), Request("get", "pods"), False),  # nor URLs a resource
    ],
)
def test_a_rule_matches_as_the_authorizer(the_rule: Rule, request_: Request, allowed: bool) -> None:
    assert the_rule.allows(request_) is allowed


def test_a_rule_reads_and_writes_its_manifest() -> None:
    manifest = {"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"], "verbs": ["get"]}
    assert Rule.from_manifest(manifest).manifest() == manifest
    assert Rule.from_manifest({"verbs": "get", "resources": None}) == Rule()  # malformed fields are empty


# --------------------------------------------------------------------------- subjects


def test_service_account_names_and_groups() -> None:
    assert parse_service_account("system:serviceaccount:shop:web") == ("shop", "web")
    assert parse_service_account("system:serviceaccount:shop") is None
    assert parse_service_account("system:serviceaccounts:shop") is None
    assert parse_service_account("alice") is None
    assert WEB.groups == {"system:authenticated", "system:serviceaccounts", "system:serviceaccounts:shop"}
    assert ALICE.groups == {"system:authenticated"}
    assert subject_of("system:serviceaccount:shop:web") == Subject("ServiceAccount", "web", "shop")
    assert subject_of("alice") == Subject("User", "alice")
    with pytest.raises(ValueError, match="group"):
        User.of(Subject("Group", "devs"))


def pods_reader(*subjects: Obj, namespace: str | None = "shop") -> RBAC:
    return RBAC.from_manifests([
        role("read", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}], namespace="shop"),
        role("cluster-read", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]),
        binding("b", "Role" if namespace else "ClusterRole", "read" if namespace else "cluster-read", list(subjects),
                namespace=namespace),
    ])


@pytest.mark.parametrize(
    ("subject", "who", "allowed"),
    [
        (user("alice"), ALICE, True),
        (user("bob"), ALICE, False),
        (group("system:authenticated"), ALICE, True),
        (group("system:authenticated"), WEB, True),
        (group("system:serviceaccounts"), ALICE, False),
        (group("system:serviceaccounts"), WEB, True),
        (group("system:serviceaccounts:shop"), WEB, True),
        (group("system:serviceaccounts:other"), WEB, False),
        (sa("web", "shop"), WEB, True),
        (sa("web"), WEB, True),  # a RoleBinding's subject without namespace: the binding's
        (sa("web", "other"), WEB, False),
        (sa("api", "shop"), WEB, False),
        (user("system:serviceaccount:shop:web"), WEB, True),  # the same user, named as a User
        (group("devs"), User.named("carol", ["devs"]), True),
        (group("devs"), User.named("carol"), False),
    ],
)
def test_subjects_match_as_the_authorizer(subject: Obj, who: User, allowed: bool) -> None:
    rbac = pods_reader(subject)
    assert rbac.allows(who, Request("list", "pods", namespace="shop")) is allowed


def test_a_service_account_without_namespace_in_a_cluster_role_binding_is_nobody() -> None:
    rbac = pods_reader(sa("web"), namespace=None)
    assert not rbac.allows(WEB, Request("list", "pods", namespace="shop"))
    assert rbac.who_can(Request("list", "pods", namespace="shop")) == []


def test_system_masters_is_allowed_everything_without_a_binding() -> None:
    assert RBAC([], []).allows(User.named("admin", ["system:masters"]), Request("delete", "nodes", name="n1"))
    assert not RBAC([], []).allows(ALICE, Request("get", path="/healthz"))


# --------------------------------------------------------------------------- scopes


def test_a_role_binding_grants_only_in_its_namespace() -> None:
    rbac = pods_reader(user("alice"))
    assert rbac.allows(ALICE, Request("list", "pods", namespace="shop"))
    assert not rbac.allows(ALICE, Request("list", "pods", namespace="other"))
    assert not rbac.allows(ALICE, Request("list", "pods"))  # across every namespace


def test_a_cluster_role_binding_grants_everywhere() -> None:
    rbac = pods_reader(user("alice"), namespace=None)
    assert rbac.allows(ALICE, Request("list", "pods", namespace="shop"))
    assert rbac.allows(ALICE, Request("list", "pods", namespace="other"))
    assert rbac.allows(ALICE, Request("list", "pods"))


def test_a_role_binding_to_a_cluster_role_grants_its_rules_in_the_namespace_only() -> None:
    rbac = RBAC.from_manifests([
        role("nodes-and-pods", [{"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get"]},
                                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
        binding("b", "ClusterRole", "nodes-and-pods", [user("alice")], namespace="shop"),
    ])
    assert rbac.allows(ALICE, Request("get", "pods", name="p", namespace="shop"))
    assert not rbac.allows(ALICE, Request("get", "pods", name="p", namespace="other"))
    assert not rbac.allows(ALICE, Request("get", "nodes", name="n1"))  # cluster-scoped: no namespace
    assert not rbac.allows(ALICE, Request("get", path="/metrics"))  # URLs only through a ClusterRoleBinding
    assert rbac.who_can(Request("get", path="/metrics")) == []


def test_non_resource_urls_through_a_cluster_role_binding() -> None:
    rbac = RBAC.from_manifests([
        role("metrics", [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]),
        binding("b", "ClusterRole", "metrics", [user("alice")]),
    ])
    assert rbac.allows(ALICE, Request("get", path="/metrics"))
    assert [str(g.subject) for g in rbac.who_can(Request("get", path="/metrics"))] == ["User alice"]


def test_a_role_ref_resolves_in_the_binding_namespace() -> None:
    rbac = RBAC.from_manifests([
        role("read", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], namespace="other"),
        binding("b", "Role", "read", [user("alice")], namespace="shop"),  # no Role "read" in shop
        binding("c", "Role", "read", [user("alice")]),  # a ClusterRoleBinding cannot name a Role
    ])
    assert not rbac.allows(ALICE, Request("get", "pods", name="p", namespace="shop"))
    assert not rbac.allows(ALICE, Request("get", "pods", name="p", namespace="other"))
    assert {str(b.ref) for b in rbac.dangling()} == {"RoleBinding shop/b", "ClusterRoleBinding c"}


def test_roles_named_alike_in_two_namespaces_stay_apart() -> None:
    rbac = RBAC.from_manifests([
        role("app", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], namespace="a"),
        role("app", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}], namespace="b"),
        binding("x", "Role", "app", [user("alice")], namespace="a"),
    ])
    assert rbac.allows(ALICE, Request("get", "pods", name="p", namespace="a"))
    assert not rbac.allows(ALICE, Request("get", "secrets", name="s", namespace="a"))
    assert rbac.bound_roles() == {ObjectRef("Role", "app", "a")}


# --------------------------------------------------------------------------- who can


def test_who_can_names_the_subject_binding_role_and_rule() -> None:
    rbac = RBAC.from_manifests([
        role("exec", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}], namespace="shop"),
        binding("exec", "Role", "exec", [sa("debug"), group("oncall")], namespace="shop"),
        role("admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
        binding("admins", "ClusterRole", "admin", [user("root")]),
    ])
    grants = rbac.who_can(Request("create", "pods", subresource="exec", namespace="shop"))
    assert [(str(g.subject), str(g.binding), str(g.role), g.scope) for g in grants] == [
        ("User root", "ClusterRoleBinding admins", "ClusterRole admin", ""),
        ("ServiceAccount shop/debug", "RoleBinding shop/exec", "Role shop/exec", "shop"),
        ("Group oncall", "RoleBinding shop/exec", "Role shop/exec", "shop"),
    ]
    assert grants[1].rule.resources == ("pods/exec",)
    # In another namespace only the cluster-wide grant holds; asked everywhere, both, each with its scope.
    elsewhere = rbac.who_can(Request("create", "pods", subresource="exec", namespace="other"))
    assert [str(g.subject) for g in elsewhere] == ["User root"]
    anywhere = rbac.who_can(Request("create", "pods", subresource="exec"), every_namespace=True)
    assert {(str(g.subject), g.scope) for g in anywhere} == {
        ("User root", ""), ("ServiceAccount shop/debug", "shop"), ("Group oncall", "shop")}
    # Plain `create pods` is not `pods/exec`.
    assert [str(g.subject) for g in rbac.who_can(Request("create", "pods", namespace="shop"))] == ["User root"]


# --------------------------------------------------------------------------- aggregation


def aggregated_set(*, carry: list[Obj] | None = None) -> list[Obj]:
    return [
        role("monitoring", carry or [], labels={}, aggregate=[{"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]),
        role("read-pods", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
             labels={"rbac.example.com/aggregate-to-monitoring": "true"}),
        role("read-nodes", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
             labels={"rbac.example.com/aggregate-to-monitoring": "false"}),
        binding("mon", "ClusterRole", "monitoring", [user("alice")]),
    ]


def test_an_aggregated_cluster_role_holds_the_rules_its_selectors_match() -> None:
    rbac = RBAC.from_manifests(aggregated_set())
    assert rbac.allows(ALICE, Request("list", "pods"))
    assert not rbac.allows(ALICE, Request("get", "nodes", name="n1"))  # label value differs
    assert rbac.aggregated_from(ObjectRef("ClusterRole", "monitoring")) == [ObjectRef("ClusterRole", "read-pods")]
    # the sources are in use through the aggregate; the unlabelled role is bound by nobody
    assert rbac.bound_roles() == {ObjectRef("ClusterRole", "monitoring"), ObjectRef("ClusterRole", "read-pods")}


def test_an_aggregated_role_keeps_the_rules_it_carries() -> None:
    # A live cluster's aggregate already carries them; a file may name sources it does not hold.
    carried = [{"apiGroups": [""], "resources": ["services"], "verbs": ["get"]},
               {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]  # also read-pods' rule
    rbac = RBAC.from_manifests(aggregated_set(carry=carried))
    assert rbac.allows(ALICE, Request("get", "services", name="s", namespace="x"))
    assert rbac.allows(ALICE, Request("list", "pods"))
    rules = rbac.rules_of(ObjectRef("ClusterRole", "monitoring"))
    assert rules is not None and len(rules) == 2  # no duplicate when a carried rule is also a source's


def test_aggregation_is_transitive_and_survives_a_cycle() -> None:
    rbac = RBAC.from_manifests([
        role("a", [], labels={"tier": "a"}, aggregate=[{"matchLabels": {"to": "a"}}]),
        role("b", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}], labels={"to": "a"},
             aggregate=[{"matchExpressions": [{"key": "to", "operator": "In", "values": ["b"]}]}]),
        role("c", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}], labels={"to": "b"}),
        role("d", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
             labels={"to": "b"}, aggregate=[{"matchLabels": {"to": "a"}}]),  # aggregates b, and b it: a cycle
        binding("x", "ClusterRole", "a", [user("alice")]),
    ])
    for resource in ("secrets", "configmaps", "pods"):
        assert rbac.allows(ALICE, Request("get", resource, name="n", namespace="ns")), resource


def test_only_cluster_roles_aggregate_and_an_empty_selector_matches_every_other() -> None:
    rbac = RBAC.from_manifests([
        role("all", [], aggregate=[{}]),
        role("pods", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], namespace="shop",
             labels={"x": "y"}),  # a Role: never a source
        role("nodes", [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]),
        binding("x", "ClusterRole", "all", [user("alice")]),
    ])
    assert rbac.allows(ALICE, Request("get", "nodes", name="n"))
    assert not rbac.allows(ALICE, Request("get", "pods", name="p", namespace="shop"))


# --------------------------------------------------------------------------- permissions of a user


def test_permissions_of_a_service_account_include_its_groups() -> None:
    rbac = RBAC.from_manifests([
        role("read", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], namespace="shop"),
        binding("direct", "Role", "read", [sa("web")], namespace="shop"),
        role("view", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
        binding("sas", "ClusterRole", "view", [group("system:serviceaccounts:shop")]),
        binding("others", "ClusterRole", "view", [group("system:serviceaccounts:other")]),
        binding("gone", "ClusterRole", "missing", [sa("web", "shop")]),  # grants nothing
    ])
    found = rbac.permissions_of(WEB)
    assert [(str(p.binding), str(p.subject), p.scope) for p in found] == [
        ("ClusterRoleBinding sas", "Group system:serviceaccounts:shop", ""),
        ("RoleBinding shop/direct", "ServiceAccount shop/web", "shop"),
    ]
    assert found[1].rules == (rule(["get"], ["pods"]),)


def test_non_rbac_kinds_and_other_groups_are_passed_over() -> None:
    rbac = RBAC.from_manifests([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a"}},
        {"apiVersion": "example.com/v1", "kind": "Role", "metadata": {"name": "x"}},
        {"kind": "Role", "metadata": {"name": "bare", "namespace": "a"}, "rules": "not a list"},
    ])
    assert list(rbac.roles) == [ObjectRef("Role", "bare", "a")]
    assert rbac.rules_of(ObjectRef("Role", "bare", "a")) == ()
    assert rbac.rules_of(ObjectRef("Role", "nope", "a")) is None
