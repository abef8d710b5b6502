"""``kubesteward rbac minimize`` against a real kube-apiserver writing a real audit log.

A ServiceAccount works with broad rights (bound to cluster-admin) while the API server records its
requests; the broad binding goes; ``rbac minimize`` writes its roles from the log; once they are
applied, every recorded request succeeds again and anything else gets 403.

The module runs its own small sandbox (one simulated node, no metrics-server) with the audit log on,
since the shared test cluster keeps none; it is torn down at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.cluster import KubeClient, load_config, resources
from kubesteward.errors import Forbidden, NotFound
from kubesteward.policy.least_privilege import read_audit_log
from kubesteward.sandbox.cluster import Sandbox
from tests.support.cli import cli, variant
from tests.support.identities import service_account_token
from tests.support.sandboxes import own_sandbox
from tests.support.wait import eventually

NAMESPACE, ACCOUNT = "shop", "worker"
USERNAME = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
CONFIGMAP = resources.by_name("ConfigMap")
CLUSTER_ROLE_BINDING = resources.by_name("ClusterRoleBinding")
assert CONFIGMAP is not None and CLUSTER_ROLE_BINDING is not None


@pytest.fixture(scope="module")
def audited() -> Iterator[Sandbox]:
    with own_sandbox("t17-audit", audit_log=True) as sandbox:
        yield sandbox


@pytest.fixture
async def admin(audited: Sandbox) -> AsyncIterator[KubeClient]:
    client = KubeClient(load_config(str(audited.kubeconfig)))
    try:
        yield client
    finally:
        await client.aclose()


async def the_workload(client: KubeClient) -> None:
    """What the ServiceAccount does: the requests recorded, then replayed."""
    await client.list(resources.POD, namespace=NAMESPACE)
    await client.get(CONFIGMAP, "settings", NAMESPACE)
    await client.patch(CONFIGMAP, "settings", {"data": {"mode": "fast"}}, namespace=NAMESPACE)
    await client.list(resources.NODE)
    await client.request("GET", "/healthz/ping")


async def forbidden(call: Awaitable[Any]) -> bool:
    try:
        await call
    except Forbidden:
        return True
    return False


async def test_minimized_roles_allow_the_recorded_requests_and_nothing_else(
    audited: Sandbox, admin: KubeClient, tmp_path: Path
) -> None:
    await admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    await admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NAMESPACE},
                        "data": {"mode": "slow"}})
    await admin.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": NAMESPACE}})
    token = await service_account_token(admin, NAMESPACE, ACCOUNT, cluster_role="cluster-admin")
    kubeconfig = variant(audited.kubeconfig, tmp_path, user={"token": token})
    worker = KubeClient(load_config(str(kubeconfig)))
    try:
        await eventually(lambda: _succeeds(the_workload(worker)), bool, what="cluster-admin to reach the worker")
        log = audited.audit_log_path
        await eventually(lambda: asyncio.to_thread(read_audit_log, [log], USERNAME), lambda read: len(read.requests) >= 5,
                         what="the worker's requests in the audit log")

        await admin.delete(CLUSTER_ROLE_BINDING, f"{NAMESPACE}-{ACCOUNT}")  # the broad rights go
        await eventually(lambda: forbidden(worker.list(resources.NODE)), bool, what="the broad rights to be gone")

        result = cli("rbac", "minimize", "--audit-log", str(log), "--user", USERNAME)
        assert result.returncode == 0, result.stderr
        documents = list(yaml.safe_load_all(result.stdout))
        assert [(d["kind"], d["metadata"].get("namespace")) for d in documents] == [
            ("Role", NAMESPACE), ("RoleBinding", NAMESPACE), ("ClusterRole", None), ("ClusterRoleBinding", None)]
        role, cluster_role = documents[0], documents[2]
        assert {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"],
                "verbs": ["get", "patch"]} in role["rules"]
        assert {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]} in role["rules"]
        assert {"nonResourceURLs": ["/healthz/ping"], "verbs": ["get"]} in cluster_role["rules"]
        for document in documents:
            await admin.create(document)

        await eventually(lambda: _succeeds(the_workload(worker)), bool, what="the minimized roles to reach the worker")
        for other in (
            worker.get(CONFIGMAP, "other", NAMESPACE),  # another name
            worker.delete(CONFIGMAP, "settings", namespace=NAMESPACE),  # another verb
            worker.list(CONFIGMAP, namespace=NAMESPACE),
            worker.list(resources.POD),  # pods of every namespace: only those of its own were listed
            worker.get(resources.NODE, audited.node_names()[0]),  # nodes were listed, not read one by one
            worker.request("GET", "/metrics"),
        ):
            assert await forbidden(other)
    finally:
        await worker.aclose()


async def _succeeds(call: Awaitable[Any]) -> bool:
    try:
        await call
    except (Forbidden, NotFound):
        return False
    return True

