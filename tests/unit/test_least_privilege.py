"""Least privilege from an audit log (policy.least_privilege): what is read, what is granted, and that
the roles written allow exactly the recorded requests (checked by the RBAC evaluator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesteward.errors import InputError
from kubesteward.model.semantics.rbac import RBAC, UNNAMED_VERBS, Request, Rule, User
from kubesteward.policy.least_privilege import (
    default_role_name,
    granted_to_everyone,
    least_rules,
    minimize,
    read_audit_log,
)
from tests.support.audit import RECORDED, SA, write_log


def test_the_log_gives_each_request_of_the_subject_once(tmp_path: Path) -> None:
    read = read_audit_log([write_log(tmp_path / "audit.log", RECORDED)], SA)
    assert read.events == len(RECORDED)
    assert read.matched == len(RECORDED) - 2  # another SA's, and what this one did as someone else
    assert Request("get", "configmaps", "", "", "settings", "shop") in read.requests
    assert Request("delete", "pods", name="y", namespace="shop") in read.requests  # impersonated by admin
    assert Request("get", "pods", name="z", namespace="shop") not in read.requests
    assert Request("get", path="/version") in read.requests  # the query is not part of the URL
    assert len(read.requests) == len(set(read.requests)) == len(RECORDED) - 3  # the two stages count once


def test_the_roles_allow_exactly_what_was_recorded(tmp_path: Path) -> None:
    read = read_audit_log([write_log(tmp_path / "audit.log", RECORDED)], SA)
    made = minimize(read.requests, SA)
    kinds = [(m["kind"], m["metadata"].get("namespace", "")) for m in made.manifests]
    assert kinds == [("Role", "other"), ("RoleBinding", "other"), ("Role", "shop"), ("RoleBinding", "shop"),
                     ("ClusterRole", ""), ("ClusterRoleBinding", "")]
    assert made.omitted == 2
    assert {m["metadata"]["name"] for m in made.manifests} == {"web-least-privilege"}
    binding = made.manifests[3]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "web", "namespace": "shop"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "web-least-privilege"}

    rbac = RBAC.from_manifests(made.manifests)
    web = User.named(SA)
    for request in read.requests:  # those every user may make come from the default roles, not these
        assert rbac.allows(web, request) is not granted_to_everyone(request), request
    for other in (
        Request("get", "configmaps", name="other", namespace="shop"),  # another name
        Request("delete", "configmaps", name="settings", namespace="shop"),  # another verb
        Request("list", "configmaps", namespace="shop"),  # list never came up
        Request("list", "secrets", namespace="shop"),
        Request("get", "secrets", name="tls", namespace="other"),  # another namespace
        Request("create", "pods", namespace="shop"),  # pods/eviction is not pods
        Request("update", "deployments", "apps", "", "web", "shop"),  # scale is not the deployment
        Request("delete", "nodes", name="n1"),
        Request("get", path="/healthz/etcd"),
    ):
        assert not rbac.allows(web, other), other
    assert not rbac.allows(User.named("system:serviceaccount:shop:api"), Request("list", "pods", namespace="shop"))


def test_rules_are_few_and_exact() -> None:
    rules = least_rules([
        Request("get", "configmaps", name="a", namespace="s"),
        Request("get", "secrets", name="a", namespace="s"),  # same verbs and names: one rule, two resources
        Request("delete", "configmaps", name="b", namespace="s"),  # other names: its own rule
        Request("list", "services", namespace="s"),
        Request("watch", "services", name="one", namespace="s"),  # a watch of one object: still unnamed
        Request("get", "services", name="one", namespace="s"),
        Request("get", path="/metrics"),
        Request("get", path="/logs"),
    ])
    assert [r.manifest() for r in rules] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["b"], "verbs": ["delete"]},
        {"apiGroups": [""], "resources": ["configmaps", "secrets"], "resourceNames": ["a"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["services"], "resourceNames": ["one"], "verbs": ["get"]},
        {"nonResourceURLs": ["/logs", "/metrics"], "verbs": ["get"]},
    ]
    without_names = least_rules([Request("get", "configmaps", name="a", namespace="s")], resource_names=False)
    assert without_names == [Rule(("get",), ("",), ("configmaps",))]


def test_a_user_is_bound_as_a_user_and_defaults_can_be_kept() -> None:
    made = minimize([Request("get", path="/version"), Request("list", "pods", namespace="a")], "alice@example.com",
                    include_defaults=True)
    assert made.manifests[1]["subjects"] == [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io",
                                              "name": "alice@example.com"}]
    assert made.manifests[2]["rules"] == [{"nonResourceURLs": ["/version"], "verbs": ["get"]}]
    assert made.manifests[0]["metadata"]["name"] == "alice-example.com-least-privilege"
    assert minimize([Request("get", path="/version")], "alice").manifests == []


def test_role_names_are_valid_object_names() -> None:
    from kubesteward.model.semantics.rbac import Subject

    assert default_role_name(Subject("User", "Jane Doe:ops")) == "jane-doe-ops-least-privilege"
    assert default_role_name(Subject("User", "::")) == "subject-least-privilege"


def test_a_broken_line_is_an_input_error_but_a_line_being_written_is_not(tmp_path: Path) -> None:
    torn = write_log(tmp_path / "torn.log", RECORDED[:2], tail='{"kind":"Event","apiVer')
    assert len(read_audit_log([torn], SA).requests) == 2
    broken = write_log(tmp_path / "broken.log", RECORDED[:1], tail="not json\n" + json.dumps(RECORDED[1]) + "\n")
    with pytest.raises(InputError, match=r"broken.log:2: not an audit event"):
        read_audit_log([broken], SA)
    with pytest.raises(InputError, match="cannot read audit log"):
        read_audit_log([tmp_path / "missing.log"], SA)
    other = write_log(tmp_path / "other.log", [{"kind": "Pod", "apiVersion": "v1", "verb": "get"}])
    assert read_audit_log([other], SA).events == 0  # not audit events: passed over


# --------------------------------------------------------------------------- any recorded set


VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "escalate")
resource_requests = st.builds(
    Request,
    verb=st.sampled_from(VERBS),
    resource=st.sampled_from(("pods", "configmaps", "deployments", "nodes")),
    group=st.sampled_from(("", "apps")),
    subresource=st.sampled_from(("", "", "scale", "exec")),
    name=st.sampled_from(("", "a", "b")),
    namespace=st.sampled_from(("", "shop", "web")),
)
url_requests = st.builds(Request, verb=st.sampled_from(("get", "post")), path=st.sampled_from(("/metrics", "/logs/x")))
requests = st.one_of(resource_requests, url_requests)


def covered(asked: Request, recorded: list[Request]) -> bool:
    """Whether ``asked`` is one of the recorded requests, up to what RBAC cannot tell apart: the name of
    a request whose verb carries none (list, watch, create, deletecollection), and the namespace of a
    request that had none (across every namespace: only a ClusterRoleBinding grants it, in each one too)."""
    for seen in recorded:
        if (asked.verb, asked.resource, asked.group, asked.subresource, asked.path) != \
                (seen.verb, seen.resource, seen.group, seen.subresource, seen.path):
            continue
        if seen.namespace and asked.namespace != seen.namespace:
            continue
        if asked.name == seen.name or asked.verb in UNNAMED_VERBS or not seen.name:
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(st.lists(requests, min_size=1, max_size=12), st.lists(requests, max_size=12))
def test_minimized_roles_allow_every_recorded_request_and_only_those(recorded: list[Request], others: list[Request]) -> None:
    made = minimize(recorded, SA, include_defaults=True)
    rbac = RBAC.from_manifests(made.manifests)
    web = User.named(SA)
    for request in recorded:
        assert rbac.allows(web, request), request
    for request in others:
        assert rbac.allows(web, request) == covered(request, recorded), request
