"""``audit``'s pure parts: which custom kinds make pods (from CRD schemas), which kinds are listed,
what a namespace or selector scopes, the ranking of namespaces, and coverage from full objects."""

from __future__ import annotations

from typing import Any

import pytest

from kubesteward.errors import Forbidden
from kubesteward.model.cluster import Skipped
from kubesteward.model.coverage import coverage_from, require_read
from kubesteward.model.semantics.pod_templates import schema_has_pod_template
from kubesteward.policy import PolicyConfig, PolicyContext, Score, evaluate, load_rules, parse_policy_config
from kubesteward.policy.engine import PolicyResult
from kubesteward.policy.live import POD_OWNER_KINDS, AuditResult, _dedupe, _pod_maker, _rule_kinds, _scoped


def obj(schema_props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": schema_props}


CONTAINERS = obj({"containers": {"type": "array", "items": {"type": "object"}}})
ROLLOUT_SCHEMA = obj({"spec": obj({"replicas": {"type": "integer"}, "template": obj({"metadata": obj({}),
                                                                                    "spec": CONTAINERS})})})


def crd(schema: dict[str, Any] | None, *, versions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "rollouts.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"kind": "Rollout", "plural": "rollouts"},
                     "versions": versions or [{"name": "v1", "served": True, "storage": True,
                                               "schema": {"openAPIV3Schema": schema}}]}}


def test_a_crd_schema_with_a_pod_template_under_spec_makes_pods() -> None:
    assert schema_has_pod_template(ROLLOUT_SCHEMA)
    nested = obj({"spec": obj({"workload": obj({"runner": obj({"template": obj({"spec": CONTAINERS})})})})})
    assert schema_has_pod_template(nested)
    # A template without containers, one only in status, or one the schema leaves open: no pods known.
    assert not schema_has_pod_template(obj({"spec": obj({"template": obj({"spec": obj({"image": {}})})})}))
    assert not schema_has_pod_template(obj({"status": obj({"template": obj({"spec": CONTAINERS})})}))
    assert not schema_has_pod_template(obj({"spec": obj({"template": {"x-kubernetes-preserve-unknown-fields": True}})}))
    assert not schema_has_pod_template(None)
    too_deep = CONTAINERS
    for level in range(6):
        too_deep = obj({f"l{level}": too_deep} if level else {"template": obj({"spec": too_deep})})
    assert not schema_has_pod_template(obj({"spec": too_deep}))


def test_the_crd_version_listed_is_a_served_one_with_the_template_the_stored_one_first() -> None:
    rt = _pod_maker(crd(ROLLOUT_SCHEMA))
    assert rt is not None and (rt.api_version, rt.kind, rt.plural, rt.namespaced) == (
        "example.com/v1", "Rollout", "rollouts", True)
    versions = [
        {"name": "v1alpha1", "served": True, "storage": False, "schema": {"openAPIV3Schema": ROLLOUT_SCHEMA}},
        {"name": "v1beta1", "served": False, "storage": False, "schema": {"openAPIV3Schema": ROLLOUT_SCHEMA}},
        {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": ROLLOUT_SCHEMA}},
    ]
    chosen = _pod_maker(crd(None, versions=versions))
    assert chosen is not None and chosen.version == "v1"
    only_alpha = [versions[0], {**versions[2], "schema": {"openAPIV3Schema": obj({"spec": obj({})})}}]
    chosen = _pod_maker(crd(None, versions=only_alpha))
    assert chosen is not None and chosen.version == "v1alpha1"
    assert _pod_maker(crd(obj({"spec": obj({"size": {"type": "integer"}})}))) is None
    # Knative's Service makes pods, but objects of a kind named like the built-in are never searched: not listed
    knative = crd(ROLLOUT_SCHEMA)
    knative["spec"]["names"] = {"kind": "Service", "plural": "services"}
    assert _pod_maker(knative) is None
    assert _pod_maker({"kind": "CustomResourceDefinition", "spec": "nonsense"}) is None


def test_every_kind_a_rule_reads_can_be_listed_and_each_is_asked_once() -> None:
    load_rules()
    config = PolicyConfig(profile="all")
    kinds = _dedupe([*_rule_kinds(config), *POD_OWNER_KINDS, "Namespace", "Deployment"], [])
    names = [rt.kind for rt in kinds]
    assert len(names) == len(set(names))
    assert {"Pod", "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet", "Job",
            "CronJob", "Namespace"} <= set(names)
    assert "PodTemplate" not in names


def deployment(name: str, ns: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {},
                         "annotations": {"ignore.kubesteward.io/KS890": ""}},
            "spec": {"template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}


def judged(config: PolicyConfig, objects: list[dict[str, Any]]) -> list[str]:
    """The objects KS890 (an ignore annotation without a reason: on every object here) was reported on."""
    result = evaluate(PolicyContext(objects, config.settings), config)
    return sorted(str(f.object) for f in result.findings if f.code == "KS890")


def test_a_namespace_judges_its_objects_only_even_an_exempt_one_asked_for_by_name() -> None:
    load_rules()
    base = parse_policy_config(None, "defaults", only=["KS890"])
    objects = [deployment("a", "shop"), deployment("b", "other"), deployment("c", "kube-system"),
               {**deployment("d", ""), "kind": "ClusterRole"}]
    assert judged(_scoped(base, None, None), objects) == ["ClusterRole/d", "Deployment/other/b", "Deployment/shop/a"]
    assert judged(_scoped(base, "shop", None), objects) == ["Deployment/shop/a"]
    assert judged(_scoped(base, "kube-system", None), objects) == ["Deployment/kube-system/c"]
    # The configuration's own scopes still apply inside the namespace.
    excluding = parse_policy_config({"exclude": {"names": ["a"]}}, "cfg", only=["KS890"])
    assert judged(_scoped(excluding, "shop", None), objects) == []


def test_a_selector_judges_the_objects_carrying_its_labels() -> None:
    from kubesteward.model.semantics.selectors import parse_selector

    load_rules()
    base = parse_policy_config(None, "defaults", only=["KS890"])
    objects = [deployment("a", "shop", {"team": "pay"}), deployment("b", "shop", {"team": "web"}),
               deployment("c", "other", {"team": "pay"})]
    assert judged(_scoped(base, None, parse_selector("team=pay")), objects) == [
        "Deployment/other/c", "Deployment/shop/a"]
    assert judged(_scoped(base, "shop", parse_selector("team in (pay)")), objects) == ["Deployment/shop/a"]


def test_namespaces_rank_worst_first() -> None:
    result = PolicyResult(scores={"good": Score(10, 0), "bad": Score(10, 7), "tie-b": Score(4, 2),
                                  "tie-a": Score(10, 5)})
    audit = AuditResult("ctx", result, coverage_from([], {"Pod"}, None), (), 0)
    assert [ns for ns, _ in audit.ranking] == ["bad", "tie-a", "tie-b", "good"]
    assert [s.percent for _, s in audit.ranking] == [30, 50, 50, 100]


def test_full_object_coverage_names_gaps_and_an_identity_that_read_nothing_is_refused() -> None:
    skipped = [Skipped("RoleBinding", "forbidden: rolebindings is forbidden"),
               Skipped("CustomResourceDefinition", "forbidden: customresourcedefinitions is forbidden"),
               Skipped("Pod", "cluster-wide list forbidden; loaded namespace 'shop' only", namespaces=("shop",))]
    coverage = coverage_from(skipped, {"Pod", "Deployment"}, None)
    assert not coverage.complete
    assert coverage.summary() == (
        "RoleBinding (forbidden), CustomResourceDefinition (forbidden), Pod (only in 'shop')")
    require_read(skipped, {"Pod"}, None, "ctx")  # something namespaced was read: partial, not refused
    with pytest.raises(Forbidden, match="may read nothing in namespace 'shop'") as info:
        require_read(skipped[:2], {"Namespace", "ClusterRole"}, "shop", "ctx")
    assert info.value.exit_code == 5
