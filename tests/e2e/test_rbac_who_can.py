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
from tests.support.cli import assert_one_clear_line, cli, variant
from tests.support.identities import service_account_token

RBAC = "rbac.authorization.k8s.io/v1"
CLUSTER_ROLE = resources.by_name("ClusterRole")
assert CLUSTER_ROLE is not None


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
    # An unknown resource is a usage error before any RBAC LIST.
    assert_one_clear_line(cli("rbac", "who-can", "get", "gizmos", "--kubeconfig", str(sandbox_kubeconfig)), 2,
                          "unknown resource 'gizmos'")
