"""Real RBAC identities on the real API server: a ServiceAccount, its bindings, a token for it."""

from __future__ import annotations

from typing import Any

from kubesteward.cluster import KubeClient


async def service_account_token(
    kube: KubeClient, namespace: str, name: str, *, read_in: tuple[str, ...] = (), cluster_role: str | None = None
) -> str:
    """A token of ServiceAccount ``namespace/name``, created with no rights but those given: read
    access to everything in the namespaces ``read_in`` (a Role and RoleBinding each), and
    ``cluster_role`` bound cluster-wide."""
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}})
    subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
    for where in read_in:
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": f"{name}-read", "namespace": where},
                "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}
        await kube.create(role)
        await kube.create(_binding("RoleBinding", f"{name}-read", where, "Role", f"{name}-read", subject))
    if cluster_role is not None:
        await kube.create(_binding("ClusterRoleBinding", f"{namespace}-{name}", None, "ClusterRole", cluster_role, subject))
    response = await kube.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        content=b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}',
        headers={"Content-Type": "application/json"},
    )
    token: str = response.json()["status"]["token"]
    return token


def _binding(kind: str, name: str, namespace: str | None, role_kind: str, role: str,
             subjects: list[dict[str, Any]]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role}, "subjects": subjects}
