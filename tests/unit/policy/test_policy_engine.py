"""The policy engine's own behaviour: pod templates found for any kind, profiles, precedence,
suppressions (config and annotation, a reason required), scores, admission's split."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubesteward.errors import InputError, UsageError
from kubesteward.findings import Severity, define, steps
from kubesteward.findings.codes import CODES
from kubesteward.findings.remediation import Step
from kubesteward.model.semantics.pod_templates import dotted, pod_template_of, pointer
from kubesteward.policy import (
    RULES,
    PolicyConfig,
    PolicyContext,
    Violation,
    evaluate,
    evaluate_admission,
    load_rules,
    parse_policy_config,
    pod_rule,
    set_rule,
)
from kubesteward.policy.registry import Rule


def deployment(name: str = "web", ns: str = "shop", *, image: str = "nginx:1.27", annotations: dict[str, str] | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": image}]}}},
    }


# Test-only rules, registered for this module and removed after it (the registry is global).
TEST_POD = "KS898"
TEST_SET = "KS899"
TEST_CODES = (TEST_POD, TEST_SET)


@pytest.fixture(autouse=True)
def test_rules() -> Iterator[None]:
    load_rules()
    pod_code = define(TEST_POD, "test: image is latest", area="policy", severity=Severity.ERROR,
                      explanation="test rule", remediation=steps(Step("Pin the image")))
    set_code = define(TEST_SET, "test: more than one Deployment", area="policy", severity=Severity.WARNING,
                      explanation="test rule", remediation=steps(Step("Merge them")))

    @pod_rule(pod_code, pss="baseline")
    def latest(template: Any, ctx: PolicyContext) -> Iterator[Violation]:
        for ref in template.containers():
            if str(ref.container.get("image", "")).endswith(":latest"):
                yield Violation(f"container {ref.name} runs :latest", ref.field("image"))

    @set_rule(set_code, kinds=["Deployment"], optional=True)
    def many(ctx: PolicyContext) -> Iterator[Violation]:
        found = ctx.of_kind("Deployment")
        if len(found) > 1:
            for obj in found:
                yield Violation("one of several Deployments", subject=obj)

    yield
    for code in (TEST_POD, TEST_SET):
        RULES.pop(code, None)
        CODES.pop(code, None)


def codes(result: Any) -> list[str]:
    return sorted(f.code for f in result.findings if f.code in (TEST_POD, TEST_SET))


def test_pod_templates_are_found_for_builtins_and_crds_at_their_paths() -> None:
    cron = {"kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": {"a": "b"}},
                                                           "spec": {"containers": [{"name": "x"}]}}}}}}
    rollout = {"kind": "Rollout", "apiVersion": "argoproj.io/v1alpha1", "metadata": {"name": "r"},
               "spec": {"strategy": {"canary": {}}, "template": {"spec": {"containers": [{"name": "x"}]}}}}
    knative = {"kind": "Service", "apiVersion": "serving.knative.dev/v1", "metadata": {"name": "k"},
               "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
    service = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s"}, "spec": {"selector": {"a": "b"}}}
    configmap_like = {"kind": "Widget", "spec": {"template": {"spec": {"notContainers": []}}}}

    cron_t = pod_template_of(cron)
    assert cron_t is not None and cron_t.path == ("spec", "jobTemplate", "spec", "template", "spec")
    assert cron_t.labels == {"a": "b"}
    rollout_t = pod_template_of(rollout)
    assert rollout_t is not None and rollout_t.path == ("spec", "template", "spec")
    # Knative's Service is a CRD that makes pods; the core Service never is (not searched).
    assert pod_template_of(knative) is None  # kind "Service" is the built-in's name: never a workload
    assert pod_template_of(service) is None
    assert pod_template_of(configmap_like) is None
    pod = {"kind": "Pod", "metadata": {"name": "p", "labels": {"x": "y"}}, "spec": {"containers": [{"name": "c"}]}}
    pod_t = pod_template_of(pod)
    assert pod_t is not None and pod_t.labels == {"x": "y"} and pod_t.metadata_path == ("metadata",)
    ref = next(pod_t.containers())
    assert dotted(ref.field("image")) == "spec.containers[0].image"
    assert pointer(("metadata", "annotations", "a/b~c")) == "/metadata/annotations/a~1b~0c"


def test_init_and_ephemeral_containers_are_listed_as_asked() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "init"}, {"name": "side", "restartPolicy": "Always"}],
        "containers": [{"name": "main"}], "ephemeralContainers": [{"name": "debug"}]}}
    template = pod_template_of(pod)
    assert template is not None
    assert [r.name for r in template.containers()] == ["init", "side", "main"]
    assert [r.name for r in template.containers(init=False)] == ["main"]
    assert [r.name for r in template.containers(ephemeral=True)][-1] == "debug"
    assert [r.sidecar for r in template.containers()] == [False, True, False]


def test_a_pod_rule_judges_each_workload_once_and_never_what_a_controller_made() -> None:
    owned_rs = {"kind": "ReplicaSet", "apiVersion": "apps/v1",
                "metadata": {"name": "web-1", "namespace": "shop",
                             "ownerReferences": [{"kind": "Rollout", "name": "r", "controller": True}]},
                "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "x:latest"}]}}}}
    ctx = PolicyContext([deployment(image="x:latest"), owned_rs])
    result = evaluate(ctx, PolicyConfig(profile="all", only=TEST_CODES))  # the real rules judge it too
    found = [f for f in result.findings if f.code == TEST_POD]
    assert [str(f.object) for f in found] == ["Deployment/shop/web"]
    assert found[0].evidence["field"] == "spec.template.spec.containers[0].image"
    assert result.located[0].field == ("spec", "template", "spec", "containers", 0, "image")
    assert len(ctx.templates) == 2  # the controlled one still counts as pods that exist


def test_profiles_pick_rules_by_pss_level_and_optional_rules_stay_off_in_production() -> None:
    two = [deployment("a", image="x:latest"), deployment("b")]
    assert codes(evaluate(PolicyContext(two), PolicyConfig(profile="production"))) == [TEST_POD]
    assert codes(evaluate(PolicyContext(two), PolicyConfig(profile="pss-baseline"))) == [TEST_POD]
    assert codes(evaluate(PolicyContext(two), PolicyConfig(profile="pss-restricted"))) == [TEST_POD]
    assert codes(evaluate(PolicyContext(two), PolicyConfig(profile="all"))) == [TEST_POD, TEST_SET, TEST_SET]
    turned_on = parse_policy_config({"rules": {TEST_SET: "on"}}, "cfg")
    assert codes(evaluate(PolicyContext(two), turned_on)) == [TEST_POD, TEST_SET, TEST_SET]
    off = parse_policy_config({"rules": {TEST_POD: False}}, "cfg")  # YAML's bare `off`
    assert codes(evaluate(PolicyContext(two), off)) == []


def test_severity_overrides_and_only_ignore_narrowing() -> None:
    ctx = PolicyContext([deployment(image="x:latest")])
    lowered = parse_policy_config({"rules": {"KS89*": "info"}}, "cfg")
    assert [f.severity for f in evaluate(ctx, lowered).findings if f.code == TEST_POD] == [Severity.INFO]
    ignored = parse_policy_config({}, "cfg", ignore=[TEST_POD])
    assert codes(evaluate(ctx, ignored)) == []
    only = parse_policy_config({}, "cfg", only=["KS89*"])
    # --only narrows the profile's rules; it does not turn on an optional one (KS899)
    assert evaluate(ctx, only).rules == sorted(c for c, r in RULES.items() if c.startswith("KS89") and not r.optional)


def test_include_exclude_and_exempt_namespaces_decide_what_is_judged() -> None:
    objects = [deployment("a", "team-a", image="x:latest"), deployment("b", "legacy", image="x:latest"),
               deployment("c", "kube-system", image="x:latest"),
               deployment("d", "team-b", image="x:latest", labels={"tier": "old"})]
    config = parse_policy_config({
        "include": {"namespaces": ["team-*", "legacy"]},
        "exclude": [{"namespaces": ["legacy"], "codes": ["KS898"]}, {"labels": "tier=old"}],
    }, "cfg")
    result = evaluate(PolicyContext(objects), config)
    assert [str(f.object) for f in result.findings if f.code == TEST_POD] == ["Deployment/team-a/a"]
    assert "kube-system" not in result.scores  # exempt by default


def test_suppression_by_config_and_by_annotation_needs_a_reason_and_is_reported() -> None:
    annotated = deployment("a", image="x:latest", annotations={f"ignore.kubesteward.io/{TEST_POD}": "vendor image"})
    no_reason = deployment("b", image="x:latest", annotations={f"ignore.kubesteward.io/{TEST_POD}": " "})
    by_config = deployment("c", image="x:latest")
    config = parse_policy_config({"suppress": [{"codes": [TEST_POD], "name": "c", "reason": "accepted"}]}, "cfg")
    result = evaluate(PolicyContext([annotated, no_reason, by_config]), config)
    assert [(str(s.finding.object), s.reason, s.by) for s in result.suppressed] == [
        ("Deployment/shop/a", "vendor image", "annotation"), ("Deployment/shop/c", "accepted", "config")]
    reported = sorted((f.code, f.object.name) for f in result.findings)
    assert (TEST_POD, "b") in reported and ("KS890", "b") in reported
    with pytest.raises(InputError, match="needs a reason"):
        parse_policy_config({"suppress": [{"codes": [TEST_POD], "name": "c"}]}, "cfg")


def test_scores_count_checks_and_failures_per_namespace() -> None:
    result = evaluate(PolicyContext([deployment("a", image="x:latest"), deployment("b")]),
                      parse_policy_config({}, "cfg", only=[TEST_POD]))
    score = result.scores["shop"]
    assert (score.checks, score.failed, score.percent) == (2, 1, 50)
    assert result.objects == 2


def test_admission_runs_object_rules_only_and_splits_denials_from_warnings() -> None:
    config = PolicyConfig(profile="all", only=TEST_CODES)  # the real rules judge it too
    verdict = evaluate_admission(deployment(image="x:latest"), config)
    assert not verdict.allowed and [f.code for f in verdict.denials] == [TEST_POD]
    assert all(f.code != TEST_SET for f in verdict.denials + verdict.warnings)
    warned = evaluate_admission(deployment(image="x:latest"),
                                parse_policy_config({"rules": {TEST_POD: "warning"}}, "c", only=TEST_CODES))
    assert warned.allowed and [f.code for f in warned.warnings if f.code == TEST_POD] == [TEST_POD]


@pytest.mark.parametrize(("data", "message"), [
    ({"profile": "strictest"}, "unknown policy profile"),
    ({"rules": {"KS12345": "off"}}, "no finding code matches"),
    ({"rules": {TEST_POD: "loud"}}, "is not error, warning, info, on or off"),
    ({"exclude": [{"colour": "red"}]}, "unknown keys colour"),
    ({"include": {"labels": "a in (b"}}, "labels"),
    ({"settings": {"minReplicas": -1}}, "non-negative integer"),
    ({"settings": {"favouriteColour": "red"}}, "unknown policy setting"),
    ({"surprise": 1}, "unknown keys under policy"),
])
def test_a_malformed_policy_config_is_one_clear_input_error(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_policy_config(data, ".kubesteward.yaml")


def test_command_line_profile_and_codes_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--profile"):
        parse_policy_config({}, "cfg", profile="nope")
    with pytest.raises(UsageError, match="--only"):
        parse_policy_config({}, "cfg", only=["KS0*"])


def test_every_registered_rule_has_its_catalogue_entry_and_a_known_target() -> None:
    rules: dict[str, Rule] = load_rules()
    for code, rule in rules.items():
        assert CODES[code] is rule.code
        assert rule.target in ("pod", "object", "set")
        assert rule.pss in (None, "baseline", "restricted")
        assert code[2] in "78", f"{code}: policy codes are KS7xx and KS8xx"


def test_set_rules_needing_a_kind_that_could_not_be_read_are_skipped_not_guessed() -> None:
    """RBAC let the run read Deployments but not PodDisruptionBudgets: "no budget selects these pods"
    would be a guess, so the rules needing budgets are skipped and say so; the rest still run."""
    replicated = deployment("web")
    replicated["spec"]["replicas"] = 3
    seen = evaluate(PolicyContext([replicated]), PolicyConfig())
    assert "KS802" in {f.code for f in seen.findings}  # files: the set is all there is
    blind = evaluate(PolicyContext([replicated], unread={"PodDisruptionBudget"}), PolicyConfig())
    assert "KS802" not in {f.code for f in blind.findings}
    assert blind.skipped_rules["KS802"] == ("PodDisruptionBudget",)
    assert "KS802" not in blind.rules and "KS700" in blind.rules
    # a rule asking which pods exist needs every pod maker read, not only its own kinds
    no_pods = evaluate(PolicyContext([replicated], unread={"StatefulSet"}), PolicyConfig())
    assert "StatefulSet" in no_pods.skipped_rules["KS809"]
    assert "KS825" not in no_pods.skipped_rules  # RBAC rules ask nothing about pods


def test_pod_rules_looking_up_a_kind_that_could_not_be_read_are_skipped() -> None:
    """A LimitRange could default the requests the run cannot see: KS701 would be a guess."""
    blind = evaluate(PolicyContext([deployment("web")], unread={"LimitRange"}), PolicyConfig())
    assert "KS701" in blind.skipped_rules and "KS701" not in {f.code for f in blind.findings}
    assert "KS710" in blind.rules  # an image rule looks nothing up
