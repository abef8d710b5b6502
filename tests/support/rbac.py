"""RBAC objects as manifests, for the tests of the evaluator, the rules and the commands."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
RBAC_API = "rbac.authorization.k8s.io/v1"


def role(name: str, rules: list[Obj], namespace: str | None = None, labels: dict[str, str] | None = None,
         aggregate: list[Obj] | None = None) -> Obj:
    """A Role in ``namespace``, or a ClusterRole without one (aggregated by the ``aggregate`` selectors)."""
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    manifest: Obj = {"apiVersion": RBAC_API, "kind": "Role" if namespace else "ClusterRole", "metadata": metadata,
                     "rules": rules}
    if aggregate is not None:
        manifest["aggregationRule"] = {"clusterRoleSelectors": aggregate}
    return manifest


def binding(name: str, role_kind: str, role_name: str, subjects: list[Obj], namespace: str | None = None,
            labels: dict[str, str] | None = None) -> Obj:
    """A RoleBinding in ``namespace``, or a ClusterRoleBinding without one."""
    metadata: Obj = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": RBAC_API, "kind": "RoleBinding" if namespace else "ClusterRoleBinding", "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": subjects}


def sa(name: str, namespace: str | None = None) -> Obj:
    subject: Obj = {"kind": "ServiceAccount", "name": name}
    if namespace is not None:
        subject["namespace"] = namespace
    return subject
