"""The drift normalisation and comparison: each expected difference dropped, user ignores, Secret digests."""

from __future__ import annotations

from typing import Any

import pytest

from kubesteward.drift.compare import compare, unified_diff
from kubesteward.drift.namespaces import compare_stores
from kubesteward.drift.normalise import excluded, normalise, parse_ignore, parse_ignores
from kubesteward.errors import UsageError
from kubesteward.model.cluster import Skipped
from kubesteward.model.full import FullObjects, admit


def _deployment(namespace: str = "a", image: str = "nginx:1.25", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": "web", "namespace": namespace, "uid": f"uid-{namespace}", "resourceVersion": "7",
            "generation": 3, "creationTimestamp": f"2026-01-0{len(namespace)}T00:00:00Z",
            "managedFields": [{"manager": namespace}], "selfLink": f"/x/{namespace}",
            "annotations": {"deployment.kubernetes.io/revision": namespace,
                            "kubectl.kubernetes.io/last-applied-configuration": namespace},
            "labels": {"app": "web"},
            "ownerReferences": [{"kind": "Thing", "name": "t", "uid": namespace}],
        },
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}, {"name": "side", "image": "busybox"}],
                         "volumes": [{"name": "tmp", "emptyDir": {}}]},
            },
        },
        "status": {"replicas": replicas, "observedGeneration": len(namespace)},
    }


def test_bookkeeping_and_status_are_not_drift() -> None:
    left, right = _deployment("a"), _deployment("prod")
    del right["spec"]["template"]["metadata"]["creationTimestamp"]
    assert compare(normalise(left), normalise(right)) == []
    kept = normalise(left)
    assert "annotations" not in kept["metadata"]  # emptied by the rules: no empty map to compare
    assert kept["spec"]["template"]["spec"]["volumes"][0]["emptyDir"] == {}  # an empty map that means something
    assert kept["metadata"]["ownerReferences"] == [{"kind": "Thing", "name": "t"}]


def test_real_differences_are_reported_with_paths() -> None:
    changes = compare(normalise(_deployment("a")), normalise(_deployment("b", image="nginx:1.26", replicas=3)))
    assert [(c.path, c.kind, c.old, c.new) for c in changes] == [
        ("/spec/replicas", "changed", 2, 3),
        ("/spec/template/spec/containers/0/image", "changed", "nginx:1.25", "nginx:1.26"),
    ]
    assert changes[0].describe() == "/spec/replicas: 2 -> 3"


def test_added_and_removed_fields_and_list_tails() -> None:
    left = {"kind": "ConfigMap", "data": {"a": "1", "b": "2"}, "list": [1]}
    right = {"kind": "ConfigMap", "data": {"a": "1", "c": "3"}, "list": [1, 2]}
    assert [(c.path, c.kind) for c in compare(left, right)] == [
        ("/data/b", "removed"), ("/data/c", "added"), ("/list/1", "added"),
    ]


def test_service_cluster_assigned_fields_are_dropped_headless_kept() -> None:
    def service(ip: str, node_port: int) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"clusterIP": ip, "clusterIPs": [ip], "healthCheckNodePort": node_port + 1,
                         "type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]}}

    assert compare(normalise(service("10.0.0.1", 30001)), normalise(service("10.0.0.2", 30002))) == []
    kept = compare(normalise(service("10.0.0.1", 30001), keep_node_ports=True),
                   normalise(service("10.0.0.2", 30002), keep_node_ports=True))
    assert [c.path for c in kept] == ["/spec/ports/0/nodePort"]
    headless = normalise(service("None", 1))
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["clusterIPs"] == ["None"]


def test_other_cluster_assigned_fields() -> None:
    sa = {"kind": "ServiceAccount", "metadata": {"name": "default"}, "secrets": [{"name": "default-token-x"}]}
    assert "secrets" not in normalise(sa)
    pvc = {"kind": "PersistentVolumeClaim", "metadata": {"name": "d", "annotations": {
        "pv.kubernetes.io/bind-completed": "yes"}}, "spec": {"volumeName": "pvc-123", "resources": {}}}
    assert normalise(pvc) == {"kind": "PersistentVolumeClaim", "metadata": {"name": "d"}, "spec": {"resources": {}}}
    ns = {"kind": "Namespace", "metadata": {"name": "a", "labels": {"kubernetes.io/metadata.name": "a", "t": "x"}}}
    assert normalise(ns)["metadata"]["labels"] == {"t": "x"}
    generated = {"kind": "ConfigMap", "metadata": {"name": "job-abc12", "generateName": "job-"}}
    assert normalise(generated)["metadata"] == {"generateName": "job-"}


def test_excluded_objects() -> None:
    assert excluded({"kind": "Secret", "type": "kubernetes.io/service-account-token", "metadata": {"name": "t"}})
    assert excluded({"kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt"}})
    assert excluded({"kind": "ReplicaSet", "metadata": {"name": "r", "ownerReferences": [{"controller": True}]}})
    assert not excluded({"kind": "ConfigMap", "metadata": {"name": "app",
                                                            "ownerReferences": [{"controller": False}]}})
    assert not excluded({"kind": "Secret", "type": "Opaque", "metadata": {"name": "s"}})


def test_pointer_and_glob_ignores() -> None:
    left, right = _deployment("a"), _deployment("b", image="nginx:9", replicas=5)
    assert [c.path for c in compare(normalise(left, parse_ignores(["/spec/replicas"])),
                                    normalise(right, parse_ignores(["/spec/replicas"])))] == [
        "/spec/template/spec/containers/0/image"]
    rules = parse_ignores(["spec.replicas", "spec.template.spec.containers[*].image"])
    assert compare(normalise(left, rules), normalise(right, rules)) == []
    # Only the Deployment kind: a rule for StatefulSets leaves the replicas in.
    other = parse_ignores(["StatefulSet:/spec/replicas"])
    assert [c.path for c in compare(normalise(left, other), normalise(right, other))][0] == "/spec/replicas"
    same = parse_ignores(["Deployment.apps:/spec/replicas", "Deployment:spec.template.spec.containers[0].image"])
    assert compare(normalise(left, same), normalise(right, same)) == []


def test_ignore_rule_grammar() -> None:
    assert parse_ignore("/metadata/annotations/example.com~1owner").path == (
        "metadata", "annotations", "example.com/owner")
    assert parse_ignore('metadata.annotations["example.com/owner"]').path == (
        "metadata", "annotations", "example.com/owner")
    rule = parse_ignore("Deployment:/spec/replicas")
    assert (rule.kind, rule.path) == ("Deployment", ("spec", "replicas"))
    assert parse_ignore("metadata.labels.app*").path == ("metadata", "labels", "app*")
    for bad in ("", "/", "spec..replicas", ".spec", "spec.", "spec.[", "Deployment:"):
        with pytest.raises(UsageError):
            parse_ignore(bad)


def test_secret_values_compared_by_digest_and_never_shown() -> None:
    def secret(password: str) -> dict[str, Any]:
        return admit({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "db"},
                      "data": {"password": password, "user": "YWRtaW4="}}).manifest()

    left, right = normalise(secret("czNjcjN0LW9uZQ==")), normalise(secret("czNjcjN0LXR3bw=="))
    changes = compare(left, right)
    assert [(c.path, c.kind, c.secret) for c in changes] == [("/data/password", "changed", True)]
    line = changes[0].describe()
    assert line.startswith("/data/password: changed (sha256:") and "redacted" not in line
    diff = "\n".join(unified_diff(left, right, "a", "b"))
    text = line + diff + repr(changes[0].document())
    for value in ("czNjcjN0LW9uZQ==", "czNjcjN0LXR3bw==", "YWRtaW4="):
        assert value not in text
    assert "sha256:" in diff


def test_secret_values_that_were_never_redacted_are_digested_here() -> None:
    left = {"kind": "Secret", "stringData": {"token": "plain-one"}}
    right = {"kind": "Secret"}
    (change,) = compare(left, right)
    assert change.kind == "removed" and "plain-one" not in repr(change) and "sha256:" in repr(change.old)
    assert "plain-one" not in "\n".join(unified_diff(left, right, "a", "b"))


def test_unified_diff_shows_the_changed_line_only() -> None:
    lines = unified_diff(normalise(_deployment("a")), normalise(_deployment("b", replicas=4)), "a/web", "b/web")
    assert lines[:2] == ["--- a/web", "+++ b/web"]
    assert [line for line in lines[2:] if line[:1] in "+-"] == ["-  replicas: 2", "+  replicas: 4"]
    assert unified_diff(None, {"kind": "ConfigMap"}, "a", "b")[-1] == "+kind: ConfigMap"


def _store(*manifests: dict[str, Any]) -> FullObjects:
    store = FullObjects()
    for manifest in manifests:
        store.add_manifest(manifest)
    return store


def _cm(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace,
                                                                  "uid": namespace + name}, "data": data}


def test_compare_stores_statuses_and_name_map() -> None:
    left = _store(_cm("same", "a", k="1"), _cm("changed", "a", k="1"), _cm("old", "a", k="1"), _cm("gone", "a"),
                  _cm("kube-root-ca.crt", "a", ca="x"),
                  {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                   "metadata": {"name": "default-token", "namespace": "a"}, "data": {"token": "dA=="}})
    right = _store(_cm("same", "b", k="1"), _cm("changed", "b", k="2"), _cm("new", "b", k="1"), _cm("added", "b"),
                   _cm("kube-root-ca.crt", "b", ca="y"))
    result = {obj.ref: (obj.status, [c.path for c in obj.changes])
              for obj in compare_stores(left, right, name_map={"old": "new"})}
    assert result == {
        "ConfigMap/added": ("extra", []), "ConfigMap/changed": ("drifted", ["/data/k"]),
        "ConfigMap/gone": ("missing", []), "ConfigMap/old=new": ("in-sync", []), "ConfigMap/same": ("in-sync", []),
    }


def test_compare_stores_hpa_scaled_replicas_and_unread_kinds() -> None:
    def deploy(namespace: str, replicas: int, name: str = "web") -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
                "spec": {"replicas": replicas}}

    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h", "namespace": "b"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "maxReplicas": 3}}
    left = _store(deploy("a", 2), deploy("a", 2, "api"), {"apiVersion": "v1", "kind": "Secret",
                                                          "metadata": {"name": "s", "namespace": "a"}})
    right = _store(deploy("b", 5), deploy("b", 5, "api"), hpa)
    right.skipped.append(Skipped("Secret", "forbidden: secrets"))
    result = {obj.ref: (obj.status, [c.path for c in obj.changes]) for obj in compare_stores(left, right)}
    # web is scaled by an HPA (on the right): its replicas are not drift; api's are. The Secret the right
    # side could not read is a coverage gap, not a missing object.
    assert result == {"Deployment.apps/api": ("drifted", ["/spec/replicas"]), "Deployment.apps/web": ("in-sync", []),
                      "HorizontalPodAutoscaler.autoscaling/h": ("extra", [])}


def test_role_binding_subjects_in_their_own_namespace_are_the_same_subjects() -> None:
    def binding(namespace: str, subject_namespace: str) -> dict[str, Any]:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "b", "namespace": namespace},
                "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": subject_namespace},
                             {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}]}

    assert compare(normalise(binding("staging", "staging")), normalise(binding("prod", "prod"))) == []
    (change,) = compare(normalise(binding("staging", "staging")), normalise(binding("prod", "staging")))
    assert (change.path, change.kind, change.new) == ("/subjects/0/namespace", "added", "staging")
    assert normalise(binding("prod", "prod"))["subjects"][1]["namespace"] == "tools"


def test_a_template_whose_metadata_held_only_a_null_timestamp_has_none() -> None:
    with_null = {"kind": "CronJob", "spec": {"jobTemplate": {"metadata": {"creationTimestamp": None},
                                                             "spec": {"template": {"spec": {}}}}}}
    without = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}}
    assert normalise(with_null) == without
    assert compare(normalise(with_null), normalise(without)) == []


def test_lists_with_a_merge_key_are_matched_by_it() -> None:
    def pod(*env: str, containers: tuple[str, ...] = ("app", "side"), image: str = "x:1") -> dict[str, Any]:
        return {"kind": "Pod", "spec": {"containers": [
            {"name": name, "image": image if name == "app" else "y:1",
             "env": [{"name": var, "value": "v"} for var in env] if name == "app" else []}
            for name in containers]}}

    # One variable inserted in the middle: one change, not one at every index after it.
    (added,) = compare(pod("A", "C"), pod("A", "B", "C"))
    assert (added.path, added.kind, added.new) == ("/spec/containers/0/env/1", "added", {"name": "B", "value": "v"})
    assert compare(pod("A"), pod("A", containers=("side", "app"))) == []  # the same containers, moved
    (moved,) = compare(pod("A"), pod("A", containers=("side", "app"), image="x:2"))
    assert (moved.path, moved.old, moved.new) == ("/spec/containers/0/image", "x:1", "x:2")
    (removed,) = compare(pod("A", "B"), pod("B"))
    assert (removed.path, removed.kind) == ("/spec/containers/0/env/0", "removed")
    assert compare(pod("A"), pod("A", containers=("app",)))[0].path == "/spec/containers/1"
    # Without a key every item carries once, lists go index by index.
    assert [c.path for c in compare({"args": ["a", "b"]}, {"args": ["b", "a"]})] == ["/args/0", "/args/1"]
