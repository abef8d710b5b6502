"""RBAC rules (KS820–KS827): each with the objects it reports and those it must leave alone."""

from __future__ import annotations

import pytest

from kubesteward.policy import PolicyConfig, PolicyContext, PolicySettings, evaluate, evaluate_admission
from tests.support import rbac
from tests.support.rbac import Obj

DEFAULTS = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def role(name: str, *rules: Obj, namespace: str | None = "shop", labels: dict[str, str] | None = None,
         aggregate: bool = False) -> Obj:
    """A Role in shop (a ClusterRole with ``namespace=None``), aggregating ClusterRoles labelled ``to=<name>``."""
    return rbac.role(name, list(rules), namespace, labels, [{"matchLabels": {"to": name}}] if aggregate else None)


def binding(name: str, role_kind: str, role_name: str, *subjects: Obj, namespace: str | None = "shop",
            labels: dict[str, str] | None = None) -> Obj:
    return rbac.binding(name, role_kind, role_name, list(subjects), namespace, labels)


def rule(verbs: list[str], resources: list[str], groups: list[str] | None = None, names: list[str] | None = None) -> Obj:
    made: Obj = {"apiGroups": groups if groups is not None else [""], "resources": resources, "verbs": verbs}
    if names:
        made["resourceNames"] = names
    return made


def sa(name: str, namespace: str = "shop") -> Obj:
    return rbac.sa(name, namespace)


def account(name: str, namespace: str = "shop") -> Obj:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def found(objects: list[Obj], code: str, *, live: bool = False, target: str = "1.35") -> list[str]:
    """``code``'s findings as ``kind/name: message``."""
    settings = PolicySettings(target_version=target)
    result = evaluate(PolicyContext(objects, settings, live=live), PolicyConfig(only=(code,), settings=settings))
    return [f"{f.object.kind}/{f.object.name}: {f.message}" for f in result.findings]


# --------------------------------------------------------------------------- KS820 wildcards


def test_wildcards_in_verbs_resources_or_groups_are_reported_per_rule() -> None:
    reported = found([role("ops", rule(["get"], ["pods"]), rule(["*"], ["deployments"], ["apps"]),
                           rule(["get"], ["*"], ["*"]))], "KS820")
    assert reported == ["Role/ops: rule 1 grants * in verbs", "Role/ops: rule 2 grants * in resources, apiGroups"]


def test_named_verbs_kubernetes_own_roles_and_aggregates_are_not_wildcards() -> None:
    assert found([role("read", rule(["get", "list"], ["pods", "services"]))], "KS820") == []
    assert found([role("cluster-admin", rule(["*"], ["*"], ["*"]), namespace=None, labels=DEFAULTS)], "KS820") == []
    # An aggregate carries copies of its sources' rules: the source is judged, once.
    source = role("src", rule(["*"], ["pods"]), namespace=None, labels={"to": "agg"})
    aggregate = role("agg", rule(["*"], ["pods"]), namespace=None, aggregate=True)
    assert found([source, aggregate], "KS820") == ["ClusterRole/src: rule 0 grants * in verbs"]


# --------------------------------------------------------------------------- KS821 cluster-admin


def test_a_binding_to_cluster_admin_is_an_error_naming_its_subjects() -> None:
    objects = [binding("ci", "ClusterRole", "cluster-admin", sa("deployer"), namespace=None),
               binding("team", "ClusterRole", "cluster-admin", {"kind": "Group", "name": "devs"})]
    assert found(objects, "KS821") == [
        "ClusterRoleBinding/ci: binds cluster-admin cluster-wide to ServiceAccount shop/deployer",
        "RoleBinding/team: binds cluster-admin in namespace shop to Group devs",
    ]
    verdict = evaluate_admission(objects[0])
    assert [f.code for f in verdict.denials] == ["KS821"]


def test_other_roles_and_kubernetes_own_binding_are_not_cluster_admin() -> None:
    assert found([binding("view", "ClusterRole", "view", sa("x")),
                  binding("admin", "Role", "cluster-admin", sa("x")),  # a Role of that name is not the ClusterRole
                  binding("cluster-admin", "ClusterRole", "cluster-admin", {"kind": "Group", "name": "system:masters"},
                          namespace=None, labels=DEFAULTS)], "KS821") == []


# --------------------------------------------------------------------------- KS822 Secrets


@pytest.mark.parametrize(
    ("the_rule", "verbs"),
    [
        (rule(["get", "list"], ["secrets"]), "get, list"),
        (rule(["watch"], ["secrets", "configmaps"]), "watch"),
        (rule(["*"], ["*"], ["*"]), "get, list, watch"),
        (rule(["list"], ["*"]), "list"),
    ],
)
def test_reading_every_secret_is_reported(the_rule: Obj, verbs: str) -> None:
    assert found([role("r", the_rule)], "KS822") == [f"Role/r: rule 0 can {verbs} every Secret in namespace shop"]


@pytest.mark.parametrize(
    "the_rule",
    [
        rule(["get"], ["secrets"], names=["tls"]),  # named Secrets: the least-privilege form
        rule(["create", "delete"], ["secrets"]),
        rule(["get"], ["secrets"], ["apps"]),  # not the core group
        rule(["get", "list"], ["configmaps"]),
        rule(["get"], ["secrets/status"]),
    ],
)
def test_named_secrets_writes_and_other_resources_are_not_reads(the_rule: Obj) -> None:
    assert found([role("r", the_rule)], "KS822") == []


def test_a_cluster_role_reading_secrets_says_where() -> None:
    assert found([role("r", rule(["list"], ["secrets"]), namespace=None)], "KS822") == [
        "ClusterRole/r: rule 0 can list every Secret wherever it is bound"]


# --------------------------------------------------------------------------- KS823 exec


def test_exec_is_create_on_pods_exec_and_get_too_before_1_35() -> None:
    creates = role("debug", rule(["create"], ["pods/exec"]))
    gets = role("peek", rule(["get"], ["pods/exec", "pods/log"]))
    assert found([creates, gets], "KS823") == ["Role/debug: rule 0 can exec into pods in namespace shop (create pods/exec)"]
    assert found([creates, gets], "KS823", target="1.34") == [
        "Role/debug: rule 0 can exec into pods in namespace shop (create pods/exec)",
        "Role/peek: rule 0 can exec into pods in namespace shop (get pods/exec)",
    ]
    assert found([role("all", rule(["*"], ["*"]))], "KS823") == [
        "Role/all: rule 0 can exec into pods in namespace shop (create pods/exec)"]


@pytest.mark.parametrize("the_rule", [rule(["create"], ["pods"]), rule(["create"], ["pods/attach", "pods/log"]),
                                      rule(["create"], ["pods/*"])])
def test_pods_and_other_subresources_are_not_exec(the_rule: Obj) -> None:
    assert found([role("r", the_rule)], "KS823") == []


# --------------------------------------------------------------------------- KS824 escalate, bind, impersonate


def test_escalate_bind_and_impersonate_are_reported() -> None:
    objects = [
        role("binder", rule(["bind", "escalate"], ["clusterroles"], ["rbac.authorization.k8s.io"])),
        role("actor", rule(["impersonate"], ["users", "groups"]), namespace=None),
        role("rbac-admin", rule(["*"], ["*"], ["rbac.authorization.k8s.io"])),
    ]
    assert found(objects, "KS824") == [
        "ClusterRole/actor: rule 0 can impersonate groups; impersonate users wherever it is bound",
        "Role/binder: rule 0 can bind clusterroles.rbac.authorization.k8s.io; escalate "
        "clusterroles.rbac.authorization.k8s.io in namespace shop",
        "Role/rbac-admin: rule 0 can bind clusterroles.rbac.authorization.k8s.io; bind roles.rbac.authorization.k8s.io; "
        "escalate clusterroles.rbac.authorization.k8s.io; escalate roles.rbac.authorization.k8s.io in namespace shop",
    ]


@pytest.mark.parametrize(
    "the_rule",
    [
        rule(["bind"], ["clusterroles"], ["rbac.authorization.k8s.io"], names=["view"]),  # limited to one role
        rule(["create", "update"], ["roles", "rolebindings"], ["rbac.authorization.k8s.io"]),
        rule(["bind"], ["clusterroles"]),  # the core group has no roles
        rule(["impersonate"], ["users"], names=["ci-bot"]),
    ],
)
def test_limited_or_ordinary_rbac_writes_are_not_escalation(the_rule: Obj) -> None:
    assert found([role("r", the_rule)], "KS824") == []


# --------------------------------------------------------------------------- KS825 dangling bindings


def test_a_binding_to_a_missing_role_is_reported() -> None:
    objects = [
        role("app", rule(["get"], ["pods"]), namespace="other"),
        binding("b1", "Role", "app", sa("x")),  # the Role is in another namespace
        binding("b2", "ClusterRole", "gone", sa("x"), namespace=None),
        binding("b3", "Role", "app", sa("x"), namespace=None),
    ]
    assert sorted(found(objects, "KS825")) == [
        "ClusterRoleBinding/b2: refers to ClusterRole gone, which does not exist: it grants nothing until someone "
        "creates one of that name",
        "ClusterRoleBinding/b3: refers to Role app: a ClusterRoleBinding can only refer to a ClusterRole",
        "RoleBinding/b1: refers to Role app, which does not exist in namespace shop: it grants nothing until someone "
        "creates one of that name",
    ]


def test_existing_roles_and_kubernetes_cluster_roles_in_files_are_not_missing() -> None:
    objects = [role("app", rule(["get"], ["pods"])), binding("b1", "Role", "app", sa("x")),
               binding("b2", "ClusterRole", "view", sa("x")), binding("b3", "ClusterRole", "system:node-proxier", sa("x"))]
    assert found(objects, "KS825") == []
    # A live cluster holds every ClusterRole: one it lacks is missing, whatever its name.
    assert found([binding("b2", "ClusterRole", "view", sa("x"))], "KS825", live=True) == [
        "RoleBinding/b2: refers to ClusterRole view, which does not exist: it grants nothing until someone creates "
        "one of that name"]


def test_set_rules_do_not_run_at_admission() -> None:
    verdict = evaluate_admission(binding("b", "Role", "missing", sa("x")))
    assert not verdict.denials and not [f for f in verdict.warnings if f.code == "KS825"]


# --------------------------------------------------------------------------- KS826 unbound roles


def test_a_role_bound_by_nobody_is_reported() -> None:
    objects = [role("used", rule(["get"], ["pods"])), role("left-over", rule(["get"], ["pods"])),
               role("same-name", rule(["get"], ["pods"]), namespace="other"),
               binding("b", "Role", "used", sa("x")), binding("c", "Role", "same-name", sa("x"))]
    assert sorted(found(objects, "KS826")) == [
        "Role/left-over: no binding refers to Role left-over: it grants nothing",
        "Role/same-name: no binding refers to Role same-name: it grants nothing",  # the binding is in shop
    ]


def test_aggregation_sources_and_kubernetes_roles_are_in_use() -> None:
    objects = [
        role("agg", namespace=None, aggregate=True),
        role("source", rule(["get"], ["pods"]), namespace=None, labels={"to": "agg"}),
        role("to-view", rule(["get"], ["widgets"], ["example.com"]), namespace=None,
             labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
        role("edit", rule(["*"], ["*"]), namespace=None, labels=DEFAULTS),
        binding("b", "ClusterRole", "agg", sa("x"), namespace=None),
    ]
    assert found(objects, "KS826") == []


# --------------------------------------------------------------------------- KS827 missing ServiceAccounts


def test_a_binding_to_a_service_account_that_does_not_exist_is_reported() -> None:
    objects = [account("web"), role("r", rule(["get"], ["pods"])),
               binding("b", "Role", "r", sa("web"), sa("wbe"), {"kind": "User", "name": "alice"})]
    assert found(objects, "KS827") == [
        "RoleBinding/b: names ServiceAccount shop/wbe, which does not exist: whoever creates it gets the role's rights"]


def test_service_accounts_of_namespaces_the_files_do_not_hold_are_not_judged() -> None:
    objects = [role("r", rule(["get"], ["pods"])), binding("b", "Role", "r", sa("web"), sa("api", "elsewhere"))]
    assert found(objects, "KS827") == []
    assert found([account("x"), binding("d", "ClusterRole", "view", sa("default"))], "KS827") == []
    # Live, every ServiceAccount of the cluster is known: a missing one is missing.
    assert found([binding("b", "Role", "r", sa("api", "elsewhere"))], "KS827", live=True) == [
        "RoleBinding/b: names ServiceAccount elsewhere/api, which does not exist: whoever creates it gets the role's "
        "rights"]


def test_exempt_namespaces_are_not_judged() -> None:
    assert found([role("r", rule(["*"], ["*"]), namespace="kube-system")], "KS820") == []
