"""The safe fixes (policy/fixes.py): only missing values added, never a chosen one changed; the fewest
JSON Patch operations; JSON Pointer escaping; any kind with a pod template; idempotent."""

from __future__ import annotations

import copy
from typing import Any

from kubesteward.policy.fixes import Fix, apply_fixes, json_patch, safe_fixes
from kubesteward.policy.settings import PolicySettings


def pod(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
            "spec": {"containers": list(containers) or [{"name": "app", "image": "nginx:1.27"}], **spec}}


def deployment(container: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}}}


def ops(manifest: dict[str, Any], settings: PolicySettings | None = None) -> list[dict[str, Any]]:
    return json_patch(manifest, safe_fixes(manifest, settings))


def test_a_bare_pod_gets_each_missing_branch_in_one_operation() -> None:
    assert ops(pod()) == [
        {"op": "add", "path": "/spec/containers/0/resources",
         "value": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}},
        {"op": "add", "path": "/spec/containers/0/securityContext", "value": {"allowPrivilegeEscalation": False}},
        {"op": "add", "path": "/spec/securityContext", "value": {"seccompProfile": {"type": "RuntimeDefault"}}},
    ]


def test_a_deployment_is_fixed_in_its_template_and_init_containers_too() -> None:
    manifest = deployment({"name": "app", "image": "a:1", "resources": {"requests": {"cpu": "1"}},
                           "securityContext": {"runAsUser": 1000}})
    manifest["spec"]["template"]["spec"]["initContainers"] = [{"name": "init", "image": "b:1", "resources": None}]
    assert ops(manifest) == [
        {"op": "add", "path": "/spec/template/spec/initContainers/0/resources",
         "value": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}},
        {"op": "add", "path": "/spec/template/spec/initContainers/0/securityContext",
         "value": {"allowPrivilegeEscalation": False}},
        {"op": "add", "path": "/spec/template/spec/containers/0/resources/requests/memory", "value": "128Mi"},
        {"op": "add", "path": "/spec/template/spec/containers/0/resources/limits", "value": {"memory": "256Mi"}},
        {"op": "add", "path": "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
         "value": False},
        {"op": "add", "path": "/spec/template/spec/securityContext",
         "value": {"seccompProfile": {"type": "RuntimeDefault"}}},
    ]


def test_cronjobs_and_crd_workloads_are_fixed_where_their_template_is() -> None:
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
               "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "j", "image": "x:1"}]}}}}}}
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
               "spec": {"template": {"spec": {"containers": [{"name": "r", "image": "x:1"}]}}}}
    assert ops(cronjob)[0]["path"] == "/spec/jobTemplate/spec/template/spec/containers/0/resources"
    assert ops(rollout)[0]["path"] == "/spec/template/spec/containers/0/resources"
    assert ops({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}) == []


def test_a_limit_stands_for_its_request_and_a_limit_below_the_request_is_not_added() -> None:
    # The API server makes a missing request equal to its limit: adding a default could exceed the limit.
    limited = pod({"name": "a", "image": "a:1", "resources": {"limits": {"cpu": "50m", "memory": "64Mi"}}})
    assert not [op for op in ops(limited) if "resources" in op["path"]]
    big = pod({"name": "a", "image": "a:1", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}})
    assert not [op for op in ops(big) if "resources" in op["path"]]  # a 256Mi limit under 1Gi would be refused


def test_no_escalation_fix_where_the_api_server_would_refuse_the_pair() -> None:
    privileged = pod({"name": "a", "image": "a:1", "securityContext": {"privileged": True}})
    sys_admin = pod({"name": "a", "image": "a:1", "securityContext": {"capabilities": {"add": ["CAP_SYS_ADMIN"]}}})
    chosen = pod({"name": "a", "image": "a:1", "securityContext": {"allowPrivilegeEscalation": True}})
    for manifest in (privileged, sys_admin, chosen):
        assert not [op for op in ops(manifest) if "allowPrivilegeEscalation" in str(op)]


def test_seccomp_left_alone_when_set_or_annotated_and_windows_pods_get_no_security_fixes() -> None:
    set_already = pod(securityContext={"seccompProfile": {"type": "Localhost", "localhostProfile": "x.json"}})
    annotated = pod()
    annotated["metadata"]["annotations"] = {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default"}
    for manifest in (set_already, annotated):
        assert not [op for op in ops(manifest) if "seccomp" in str(op)]
    windows = ops(pod(os={"name": "windows"}))
    assert [op["path"] for op in windows] == ["/spec/containers/0/resources"]


def test_the_profile_defaults_are_what_is_added() -> None:
    settings = PolicySettings(default_requests={"cpu": "250m"}, default_limits={"cpu": "1", "memory": "1Gi"})
    assert ops(pod(), settings)[0]["value"] == {"requests": {"cpu": "250m"}, "limits": {"cpu": "1", "memory": "1Gi"}}


def test_fixing_twice_is_fixing_once_and_the_input_is_not_changed() -> None:
    manifest = deployment({"name": "app", "image": "a:1"})
    before = copy.deepcopy(manifest)
    fixed = apply_fixes(manifest, safe_fixes(manifest))
    assert manifest == before
    assert fixed["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"memory": "256Mi"}
    assert ops(fixed) == []


def test_json_pointers_escape_slash_and_tilde_in_keys() -> None:
    manifest = pod()
    manifest["metadata"]["annotations"] = {"other": "x"}
    fixes = [Fix(("metadata", "annotations", "kubesteward.io/mutated"), "yes", "noted"),
             Fix(("metadata", "annotations", "a~b"), "t", "noted")]
    patch = json_patch(manifest, fixes)
    assert patch == [{"op": "add", "path": "/metadata/annotations/kubesteward.io~1mutated", "value": "yes"},
                     {"op": "add", "path": "/metadata/annotations/a~0b", "value": "t"}]
    assert apply_fixes(manifest, fixes)["metadata"]["annotations"] == {"other": "x", "kubesteward.io/mutated": "yes",
                                                                     "a~b": "t"}
    bare = pod()
    assert json_patch(bare, fixes[:1]) == [{"op": "add", "path": "/metadata/annotations",
                                            "value": {"kubesteward.io/mutated": "yes"}}]
