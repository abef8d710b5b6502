"""``kubesteward rbac who-can`` against the real API server: a Role, a RoleBinding and a ServiceAccount
made in a test namespace appear in the answer, an aggregated ClusterRole grants what its sources
hold, and an identity that may not list RBAC gets exit 5, never an answer naming nobody."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import NotFound
from kubesteward.model.semantics.rbac import Request, User
from kubesteward.policy.access import load_rbac
from tests.support.cli import assert_one_clear_line, cli, variant
from tests.support.identities import service_account_token
from tests.support.rbac import binding, role, sa
from tests.support.wait import eventually

RBAC = "rbac.authorization.k8s.io/v1"
CLUSTER_ROLE = resources.by_name("ClusterRole")
CLUSTER_ROLE_BINDING = resources.by_name("ClusterRoleBinding")
assert CLUSTER_ROLE is not None and CLUSTER_ROLE_BINDING is not None


def who_can(kubeconfig: Path, *args: str) -> dict[str, Any]:
    result = cli("rbac", "who-can", *args, "--kubeconfig", str(kubeconfig), "-o", "json")
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def grants_to(answer: dict[str, Any], kind: str, name: str) -> list[dict[str, Any]]:
    return [g for g in answer["grants"] if g["subject"]["kind"] == kind and g["subject"]["name"] == name]


@pytest.fixture
async def cluster_roles(kube: KubeClient) -> AsyncIterator[list[str]]:
    """Names of ClusterRoles a test makes, deleted afterwards (they outlive its namespace)."""
    made: list[str] = []
    yield made
    for name in made:
        try:
            await kube.delete(CLUSTER_ROLE, name)
        except NotFound:
            pass


async def test_a_role_binding_and_its_service_account_are_in_the_answer(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path
) -> None:
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "debugger", "namespace": namespace}})
    await kube.create({"apiVersion": RBAC, "kind": "Role", "metadata": {"name": "exec", "namespace": namespace},
                       "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]})
    await kube.create({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "exec-debugger", "namespace": namespace},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "exec"},
                       "subjects": [{"kind": "ServiceAccount", "name": "debugger", "namespace": namespace}]})

    answer = who_can(sandbox_kubeconfig, "create", "pods/exec", "-n", namespace)
    assert answer["request"] == f"create pods/exec in {namespace}"
    (grant,) = grants_to(answer, "ServiceAccount", "debugger")
    assert grant == {
        "subject": {"kind": "ServiceAccount", "name": "debugger", "namespace": namespace},
        "namespace": namespace,
        "binding": {"kind": "RoleBinding", "name": "exec-debugger"},
        "role": {"kind": "Role", "name": "exec"},
        "rule": {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
    }
    assert grants_to(answer, "Group", "system:masters")  # cluster-admin's binding, cluster-wide

    # Not `create pods`, not another namespace; asked everywhere, it holds in its own.
    assert not grants_to(who_can(sandbox_kubeconfig, "create", "pods", "-n", namespace), "ServiceAccount", "debugger")
    assert not grants_to(who_can(sandbox_kubeconfig, "create", "pods/exec", "-n", "default"), "ServiceAccount", "debugger")
    everywhere = who_can(sandbox_kubeconfig, "create", "pods", "--subresource", "exec")
    assert [g["namespace"] for g in grants_to(everywhere, "ServiceAccount", "debugger")] == [namespace]

    table = cli("rbac", "who-can", "create", "pods/exec", "-n", namespace, "--kubeconfig", str(sandbox_kubeconfig))
    assert table.returncode == 0, table.stderr
    (line,) = [line for line in table.stdout.splitlines() if "debugger" in line]
    assert line.split() == ["ServiceAccount", f"{namespace}/debugger", namespace, "RoleBinding/exec-debugger", "Role/exec"]


async def test_an_aggregated_cluster_role_grants_what_its_sources_hold(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, cluster_roles: list[str]
) -> None:
    label = f"kubesteward.test/aggregate-to-{namespace}"
    aggregate, source = f"{namespace}-aggregate", f"{namespace}-source"
    cluster_roles += [aggregate, source]
    await kube.create({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": aggregate},
                       "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]}, "rules": []})
    await kube.create({"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": source, "labels": {label: "true"}},
                       "rules": [{"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["update"]}]})
    await kube.create({"apiVersion": RBAC, "kind": "RoleBinding", "metadata": {"name": "scalers", "namespace": namespace},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": aggregate},
                       "subjects": [{"kind": "Group", "name": f"{namespace}-scalers",
                                     "apiGroup": "rbac.authorization.k8s.io"}]})

    answer = who_can(sandbox_kubeconfig, "update", "deployments.apps/scale", "-n", namespace)
    (grant,) = grants_to(answer, "Group", f"{namespace}-scalers")
    assert grant["role"] == {"kind": "ClusterRole", "name": aggregate}
    assert grant["rule"]["resources"] == ["deployments/scale"]
    # The source's rule is not a grant of the deployment itself.
    assert not grants_to(who_can(sandbox_kubeconfig, "update", "deployments", "-n", namespace), "Group",
                         f"{namespace}-scalers")


async def test_an_identity_that_may_not_list_rbac_gets_exit_5(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    # It may read everything in its namespace, so only the cluster-wide LISTs of RBAC are refused.
    token = await service_account_token(kube, namespace, f"reader-{uuid.uuid4().hex[:6]}", read_in=(namespace,))
    kubeconfig = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    result = cli("rbac", "who-can", "get", "secrets", "-n", namespace, "--kubeconfig", str(kubeconfig))
    assert_one_clear_line(result, 5, "cannot list", "who-can needs every role and binding")
    assert not result.stdout
    assert token not in result.stderr
    # An unknown resource or namespace is a usage error, not an answer naming nobody.
    assert_one_clear_line(cli("rbac", "who-can", "get", "gizmos", "--kubeconfig", str(sandbox_kubeconfig)), 2,
                          "unknown resource 'gizmos'")
    assert_one_clear_line(cli("rbac", "who-can", "get", "pods", "-n", f"{namespace}-nope", "--kubeconfig",
                              str(sandbox_kubeconfig)), 2, f"namespace '{namespace}-nope' does not exist")


# --------------------------------------------------------------------------- the evaluator against the authorizer


async def subject_access_review(kube: KubeClient, user: User, request: Request) -> bool:
    """The API server's own answer (SubjectAccessReview: every authorizer, RBAC among them)."""
    spec: dict[str, Any] = {"user": user.name, "groups": sorted(user.groups)}
    if request.is_resource:
        spec["resourceAttributes"] = {"namespace": request.namespace, "verb": request.verb, "group": request.group,
                                      "resource": request.resource, "subresource": request.subresource,
                                      "name": request.name}
    else:
        spec["nonResourceAttributes"] = {"path": request.path, "verb": request.verb}
    response = await kube.request(
        "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        content=json.dumps({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                            "spec": spec}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return bool(response.json()["status"].get("allowed"))


async def test_the_evaluator_answers_as_the_api_server_authorizes(
    kube: KubeClient, namespace: str, cluster_roles: list[str]
) -> None:
    ns, other = namespace, "default"
    label = f"kubesteward.test/aggregate-to-{ns}"
    scale, urls, aggregate, source = (f"{ns}-{what}" for what in ("scale", "urls", "aggregate", "source"))
    cluster_roles += [scale, urls, aggregate, source]
    cluster_role_bindings = [f"{ns}-urls", f"{ns}-aggregate"]
    group = f"{ns}-group"
    objects = [
        role("r1", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]},
                    {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"], "verbs": ["get"]}],
             namespace=ns),
        role(scale, [{"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["update"]},
                     {"nonResourceURLs": [f"/scale-{ns}"], "verbs": ["get"]}]),
        role(urls, [{"nonResourceURLs": [f"/custom-{ns}/*"], "verbs": ["get"]}]),
        role(aggregate, [], aggregate=[{"matchLabels": {label: "true"}}]),
        role(source, [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}], labels={label: "true"}),
        binding("r1", "Role", "r1", [{"kind": "User", "name": f"alice-{ns}", "apiGroup": "rbac.authorization.k8s.io"},
                                     {"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"},
                                     sa("bot")], namespace=ns),
        binding("scale", "ClusterRole", scale, [{"kind": "User", "name": f"alice-{ns}"}], namespace=ns),
        binding(f"{ns}-urls", "ClusterRole", urls, [{"kind": "User", "name": f"alice-{ns}"}]),
        binding(f"{ns}-aggregate", "ClusterRole", aggregate, [{"kind": "Group", "name": group}]),
    ]
    try:
        for obj in objects:
            await kube.create(obj)
        alice, member = User.named(f"alice-{ns}"), User.named(f"carol-{ns}", [group])
        bot, stranger = User.named(f"system:serviceaccount:{ns}:bot"), User.named(f"system:serviceaccount:{other}:bot")
        cases = [
            (alice, Request("get", "pods", name="p", namespace=ns)),
            (alice, Request("get", "pods", name="p", namespace=other)),
            (alice, Request("list", "pods")),
            (alice, Request("create", "pods", subresource="exec", name="p", namespace=ns)),
            (alice, Request("create", "pods", name="p", namespace=ns)),
            (alice, Request("get", "configmaps", name="app", namespace=ns)),
            (alice, Request("get", "configmaps", name="other", namespace=ns)),
            (alice, Request("list", "configmaps", namespace=ns)),
            (alice, Request("update", "deployments", "apps", "scale", "d", ns)),
            (alice, Request("update", "statefulsets", "apps", "scale", "s", ns)),
            (alice, Request("update", "deployments", "apps", "", "d", ns)),
            (alice, Request("update", "deployments", "apps", "scale", "d", other)),
            (alice, Request("get", path=f"/scale-{ns}")),  # a URL through a RoleBinding: never
            (alice, Request("get", path=f"/custom-{ns}/x")),
            (alice, Request("get", path=f"/custom-{ns}")),
            (alice, Request("post", path=f"/custom-{ns}/x")),
            (member, Request("list", "secrets", namespace=other)),  # the aggregate's, cluster-wide
            (member, Request("get", "secrets", name="s", namespace=other)),
            (member, Request("get", "pods", name="p", namespace=ns)),
            (bot, Request("list", "pods", namespace=ns)),
            (stranger, Request("list", "pods", namespace=ns)),
        ]
        # RBAC reaches the authorizer through its informers, and the aggregate through its controller.
        await eventually(lambda: subject_access_review(kube, member, cases[16][1]), bool, what="RBAC to be in force")
        await eventually(lambda: subject_access_review(kube, alice, cases[13][1]), bool, what="RBAC to be in force")
        rbac = await load_rbac(kube)
        ours = [rbac.allows(user, request) for user, request in cases]
        theirs = [await subject_access_review(kube, user, request) for user, request in cases]
        assert [(str(r), o) for (_, r), o in zip(cases, ours, strict=True)] == \
               [(str(r), t) for (_, r), t in zip(cases, theirs, strict=True)]
        assert 0 < sum(ours) < len(ours)  # both answers occur
    finally:
        for name in cluster_role_bindings:
            try:
                await kube.delete(CLUSTER_ROLE_BINDING, name)
            except NotFound:
                pass
