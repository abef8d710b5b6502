"""Audit log events as kube-apiserver writes them (``audit.k8s.io/v1``, JSON lines), for the tests of
``rbac minimize``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SA = "system:serviceaccount:shop:web"


def event(verb: str, *, user: str = SA, resource: str = "", namespace: str = "", name: str = "", group: str = "",
          subresource: str = "", uri: str = "", stage: str = "ResponseComplete", audit_id: str = "",
          impersonated: str | None = None, code: int = 200) -> dict[str, Any]:
    document: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": audit_id or f"{verb}-{name}",
        "stage": stage, "requestURI": uri or f"/api/v1/{resource}", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]}, "responseStatus": {"code": code},
    }
    if resource:
        ref = {"resource": resource, "namespace": namespace, "name": name, "apiGroup": group, "apiVersion": "v1",
               "subresource": subresource}
        document["objectRef"] = {key: value for key, value in ref.items() if value}
    if impersonated is not None:
        document["impersonatedUser"] = {"username": impersonated}
    return document


def write_log(path: Path, events: list[dict[str, Any]], *, tail: str = "") -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail)
    return path


RECORDED = [
    event("list", resource="pods", namespace="shop"),
    event("watch", resource="pods", namespace="shop"),
    event("get", resource="configmaps", namespace="shop", name="settings"),
    event("get", resource="configmaps", namespace="shop", name="settings", stage="RequestReceived"),
    event("update", resource="configmaps", namespace="shop", name="settings"),
    event("get", resource="secrets", namespace="shop", name="tls"),
    event("create", resource="pods", namespace="shop", subresource="eviction", name="web-1"),
    event("patch", resource="deployments", namespace="shop", name="web", group="apps", subresource="scale"),
    event("create", resource="events", namespace="other"),
    event("list", resource="nodes"),
    event("list", resource="pods"),  # across every namespace: cluster-wide
    event("get", uri="/metrics"),
    event("get", uri="/version?timeout=32s"),  # every authenticated user may
    event("create", resource="selfsubjectaccessreviews", group="authorization.k8s.io"),  # and this
    event("get", resource="pods", namespace="shop", name="x", user="system:serviceaccount:shop:api"),  # another SA
    event("delete", resource="pods", namespace="shop", name="y", user="admin", impersonated=SA),
    event("get", resource="pods", namespace="shop", name="z", user=SA, impersonated="someone-else"),
    event("get", resource="leases", namespace="shop", name="lock", code=403),  # denied: still needed
]
