"""sync's pure parts: the apply order, what counts as an update (never a value), the verdict and exit code."""

from __future__ import annotations

from kubesteward.cli.sync import exit_code
from kubesteward.drift.reconcile import SyncAction, SyncResult, Verb, changed_paths, step_of
from kubesteward.model.wait import WaitOutcome


def test_apply_order() -> None:
    ordered = [
        ("", "Namespace", False), ("apiextensions.k8s.io", "CustomResourceDefinition", False),
        ("storage.k8s.io", "StorageClass", False), ("", "ServiceAccount", True),
        ("rbac.authorization.k8s.io", "ClusterRole", False), ("rbac.authorization.k8s.io", "RoleBinding", True),
        ("", "Secret", True), ("", "PersistentVolumeClaim", True), ("apps", "Deployment", True), ("", "Service", True),
        ("networking.k8s.io", "Ingress", True), ("autoscaling", "HorizontalPodAutoscaler", True),
        ("example.com", "Widget", True), ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", False),
    ]
    steps = [step_of(*kind) for kind in ordered]
    assert steps == sorted(steps) and len(set(steps)) == len(steps) - 1  # the CR and the webhook share the last
    assert step_of("example.com", "Cluster", False) == step_of("storage.k8s.io", "StorageClass", False)
    assert step_of("", "ConfigMap", True) == step_of("", "Secret", True)
    assert step_of("", "ResourceQuota", True) < step_of("apps", "Deployment", True)


def test_an_update_names_fields_never_values() -> None:
    before = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "s", "resourceVersion": "1", "managedFields": [{"manager": "a"}], "generation": 1},
              "data": {"password": "b2xk", "user": "dXNlcg=="}, "status": {"x": 1}}
    after = {**before, "metadata": {**before["metadata"], "resourceVersion": "2", "managedFields": [], "generation": 2},
             "data": {"password": "bmV3", "user": "dXNlcg=="}, "status": {"x": 2}}
    assert changed_paths(before, after) == ["/data/password"]
    assert changed_paths(before, {**after, "data": before["data"]}) == []  # bookkeeping and status only
    labelled = {**before, "metadata": {**before["metadata"], "labels": {"applyset.kubernetes.io/part-of": "x"}}}
    assert changed_paths(before, labelled) == ["/metadata/labels"]


def action(verb: Verb, managers: tuple[str, ...] = ()) -> SyncAction:
    return SyncAction("ConfigMap", "", "shop", "c", verb, managers=managers)


def result(*actions: SyncAction, healthy: bool = True) -> SyncResult:
    wait = WaitOutcome("Deployment", "apps", "shop", "web", healthy, "complete", "", 1.0)
    return SyncResult("shop", "prod", "shop", "applyset-x-v1", "deploy", None, False, actions, (wait,))


def test_verdict_and_exit_code() -> None:
    clean = result(action("create"), action("update"), action("unchanged"), action("prune"))
    assert clean.ok and exit_code(clean) == 0
    assert clean.counts() == {"create": 1, "update": 1, "unchanged": 1, "prune": 1, "conflict": 0, "error": 0}
    assert exit_code(result(action("create"), healthy=False)) == 1
    assert exit_code(result(action("error"))) == 1
    conflicted = result(action("conflict", ("kubectl-edit",)), action("error"), healthy=False)
    assert exit_code(conflicted) == 7 and not conflicted.ok  # conflicts say what --force-conflicts would do
    document = conflicted.document()
    assert document["actions"][0] == {"kind": "ConfigMap", "group": "", "namespace": "shop", "name": "c",
                                      "action": "conflict", "detail": "", "managers": ["kubectl-edit"]}
    assert document["waits"][0]["healthy"] is False and document["ok"] is False
    assert SyncAction("Deployment", "apps", "shop", "web", "create").ref == "Deployment.apps/shop/web"
    assert SyncAction("Namespace", "", "", "shop", "create").ref == "Namespace/shop"
