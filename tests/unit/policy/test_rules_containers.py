"""The container rules (KS700–KS713): for every rule a workload it reports and one it accepts,
judged through the engine (registration, profiles, configuration), plus image references."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from kubesteward.model.semantics.images import ImageRef, from_allowed_registry, parse_image
from kubesteward.policy import PolicyConfig, PolicyContext, evaluate, evaluate_admission, load_rules
from tests.support.pods import (
    DIGEST,
    NS,
    REGISTRY,
    Case,
    Obj,
    as_kind,
    compliant_deployment,
    container,
    findings,
    pod_spec,
    settings,
)

CODES = [f"KS7{n:02d}" for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13)]


def limit_range(ns: str = NS, **item: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": ns},
            "spec": {"limits": [{"type": "Container", **item}]}}


def resources(obj: Obj, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> None:
    container(obj)["resources"] = {key: value for key, value in (("requests", requests), ("limits", limits)) if value is not None}


def image(value: str, policy: str | None = None) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        container(obj)["image"] = value
        if policy is None:
            container(obj).pop("imagePullPolicy", None)
        else:
            container(obj)["imagePullPolicy"] = policy
    return change


def drop(*keys: str) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        for key in keys:
            container(obj).pop(key)
    return change


def add_init(extra: dict[str, Any]) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        init = {"name": "init", "image": f"{REGISTRY}/tools:1@{DIGEST}",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi", "cpu": "50m"}}}
        pod_spec(obj)["initContainers"] = [{**init, **extra}]
    return change


def same_probe(liveness_threshold: int | None = None) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        c = container(obj)
        c["livenessProbe"] = {"httpGet": {"path": "/ready", "port": 8080}}
        if liveness_threshold is not None:
            c["livenessProbe"]["failureThreshold"] = liveness_threshold
    return change


REPORTED = {
    "cpu request": Case("KS700", lambda d: resources(d, {"memory": "128Mi"}, {"memory": "256Mi"}), says="no cpu request"),
    "cpu request of an init container": Case("KS700", add_init({"resources": {"limits": {"memory": "1Mi"}}})),
    "memory request": Case("KS701", lambda d: resources(d, {"cpu": "1"}, {"cpu": "1"})),
    "memory request, LimitRange of another namespace": Case(
        "KS701", lambda d: (resources(d, {"cpu": "1"}), [limit_range("other", defaultRequest={"memory": "1Gi"})])),
    "memory limit": Case("KS702", lambda d: resources(d, {"cpu": "1", "memory": "1Gi"}, {"cpu": "1"}), says="no memory limit"),
    "memory limit, the pod level sets only requests": Case(
        "KS702", lambda d: (resources(d, {"cpu": "1"}), pod_spec(d).update(resources={"requests": {"memory": "1Gi"}}))),
    "memory limit, LimitRange defaults only requests": Case(
        "KS702", lambda d: (resources(d, {"cpu": "1"}), [limit_range(defaultRequest={"memory": "1Gi"})])),
    "cpu limit (optional)": Case("KS703", lambda d: resources(d, {"cpu": "1", "memory": "1Gi"}, {"memory": "1Gi"})),
    "request above limit": Case("KS704", lambda d: resources(d, {"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1000Mi"}),
                                says="requests 1Gi memory, above its limit 1000Mi"),
    "cpu request above limit in millicores": Case("KS704", lambda d: resources(d, {"cpu": "1500m"}, {"cpu": "1", "memory": "1Gi"})),
    "pod-level request above pod-level limit": Case("KS704", lambda d: pod_spec(d).update(
        resources={"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}), says="the pod requests 2Gi memory"),
    "liveness probe": Case("KS705", drop("livenessProbe", "startupProbe")),
    "liveness probe of a native sidecar": Case("KS705", add_init({"restartPolicy": "Always"})),
    "readiness probe": Case("KS706", drop("readinessProbe")),
    "readiness probe of a bare Pod that restarts": Case("KS706", drop("readinessProbe"), kind="Pod"),
    "startup probe (optional)": Case("KS707", drop("startupProbe")),
    "liveness as readiness": Case("KS708", same_probe(), says="gives up after 30s (readiness: 30s)"),
    "liveness as readiness, giving up sooner": Case("KS708", lambda d: (same_probe(2)(d),
                                                                        container(d)["readinessProbe"].update(failureThreshold=5))),
    "no tag": Case("KS710", image("nginx"), says="with no tag"),
    "latest": Case("KS710", image("nginx:latest"), says="with the tag latest"),
    "registry port is not a tag": Case("KS710", image("localhost:5000/app")),
    "floating image of an init container": Case("KS710", add_init({"image": "busybox"})),
    "tag without digest (optional)": Case("KS711", image(f"{REGISTRY}/team/app:1.4.2")),
    "registry not allowed": Case("KS712", image(f"ghcr.io/team/app:1@{DIGEST}"), says="from ghcr.io"),
    "registry prefix is whole components": Case("KS712", image(f"{REGISTRY}.evil.io/app:1@{DIGEST}")),
    "path prefix is whole components": Case("KS712", image(f"ghcr.io/organisation/app:1@{DIGEST}"),
                                            settings={"allowed_registries": ("ghcr.io/org",)}),
    "official image outside the allowed Hub path": Case("KS712", image(f"nginx:1.27@{DIGEST}"),
                                                        settings={"allowed_registries": ("docker.io/team/",)}),
    "pull policy Never": Case("KS713", image(f"{REGISTRY}/team/app:1.4.2", "Never"), says="Never"),
    "IfNotPresent on latest": Case("KS713", image(f"{REGISTRY}/team/app:latest", "IfNotPresent"), says="IfNotPresent"),
}

ACCEPTED = {
    "cpu limit alone (the request defaults to it)": Case("KS700", lambda d: resources(d, {"memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"}), 0),
    "cpu request from a LimitRange default": Case("KS700", lambda d: (resources(d, {"memory": "1Gi"}, {"memory": "1Gi"}),
                                                                      [limit_range(default={"cpu": "1"})]), 0),
    "memory request from a LimitRange": Case("KS701", lambda d: (resources(d, {"cpu": "1"}),
                                                                 [limit_range(defaultRequest={"memory": "1Gi"})]), 0),
    "memory limit alone": Case("KS701", lambda d: resources(d, {"cpu": "1"}, {"memory": "1Gi"}), 0),
    "pod-level requests and limits cover the containers": Case(
        "KS701", lambda d: (resources(d, {"cpu": "1"}), pod_spec(d).update(resources={"limits": {"memory": "1Gi"}})), 0),
    "pod-level memory limit": Case("KS702", lambda d: (resources(d, {"cpu": "1", "memory": "1Gi"}),
                                                       pod_spec(d).update(resources={"limits": {"memory": "2Gi"}})), 0),
    "memory limit from a LimitRange": Case("KS702", lambda d: (resources(d, {"cpu": "1", "memory": "1Gi"}),
                                                               [limit_range(default={"memory": "1Gi"})]), 0),
    "ephemeral containers cannot set resources": Case(
        "KS702", lambda d: pod_spec(d).update(ephemeralContainers=[{"name": "debug", "image": f"busybox:1@{DIGEST}"}]), 0),
    "cpu limit set": Case("KS703", lambda d: None, 0),
    "request below limit in other units": Case("KS704", lambda d: resources(d, {"cpu": "1", "memory": "1000Mi"},
                                                                           {"cpu": "1", "memory": "1Gi"}), 0),
    "request equal to limit": Case("KS704", lambda d: resources(d, {"cpu": "500m", "memory": "1Gi"}, {"cpu": "0.5", "memory": "1Gi"}), 0),
    "Job runs to completion": Case("KS705", drop("livenessProbe", "readinessProbe", "startupProbe"), 0, kind="Job"),
    "plain init container needs no probe": Case("KS705", add_init({}), 0),
    "CronJob runs to completion": Case("KS706", drop("readinessProbe"), 0, kind="CronJob"),
    "bare Pod that runs once": Case("KS706", lambda d: (drop("readinessProbe")(d), pod_spec(d).update(restartPolicy="Never")),
                                    0, kind="Pod"),
    "no liveness probe, so no startup probe needed": Case("KS707", drop("livenessProbe", "startupProbe"), 0),
    "liveness gives up later than readiness": Case("KS708", same_probe(6), 0),
    "liveness on another check": Case("KS708", lambda d: None, 0),
    "version tag": Case("KS710", image("nginx:1.27"), 0),
    "digest only": Case("KS710", image(f"nginx@{DIGEST}"), 0),
    "registry port and tag": Case("KS710", image("localhost:5000/app:1.0"), 0),
    "pinned by digest": Case("KS711", lambda d: None, 0),
    "floating image is KS710's, not also KS711's": Case("KS711", image("nginx"), 0),
    "no allowed registries configured": Case("KS712", image("ghcr.io/team/app:1"), 0, settings={"allowed_registries": ()}),
    "allowed registry given with a slash": Case("KS712", image(f"ghcr.io/org/app:1@{DIGEST}"),
                                                0, settings={"allowed_registries": ("ghcr.io/org/",)}),
    "Docker Hub alias allows official images": Case("KS712", image(f"nginx:1.27@{DIGEST}"), 0,
                                                    settings={"allowed_registries": ("index.docker.io",)}),
    "IfNotPresent on a version": Case("KS713", lambda d: None, 0),
    "Always on latest": Case("KS713", image("nginx:latest", "Always"), 0),
    "default pull policy on latest": Case("KS713", image("nginx"), 0),
}


@pytest.mark.parametrize("case", [*REPORTED.values(), *ACCEPTED.values()], ids=[*REPORTED, *ACCEPTED])
def test_each_rule_reports_what_it_names_and_accepts_the_rest(case: Case) -> None:
    case.check()


def test_every_container_rule_has_a_case_each_way_and_the_compliant_workload_passes_all() -> None:
    rules = {code for code in load_rules() if code.startswith("KS7") and int(code[2:]) < 720}
    assert rules == set(CODES)
    assert {c.code for c in REPORTED.values()} == rules == {c.code for c in ACCEPTED.values()}
    assert findings([compliant_deployment()], CODES) == []
    for kind in ("Pod", "Job", "CronJob"):
        assert findings([as_kind(kind)], CODES) == [], kind


def test_rules_that_read_limit_ranges_say_so_so_audit_lists_them() -> None:
    rules = load_rules()
    assert {code for code in CODES if rules[code].kinds} == {"KS700", "KS701", "KS702", "KS703"}
    assert all(rules[code].kinds == {"LimitRange"} for code in ("KS700", "KS701", "KS702", "KS703"))
    assert {kind for rule in rules.values() if rule.target == "pod" for kind in rule.kinds} >= {"LimitRange", "ServiceAccount"}


def test_findings_point_at_the_container_field_and_fill_its_steps() -> None:
    obj = compliant_deployment()
    add_init({"image": "busybox"})(obj)
    [found] = findings([obj], ["KS710"])
    assert found.evidence == {"container": "init", "image": "busybox", "field": "spec.template.spec.initContainers[0].image"}
    assert "container init" in found.remediation.first.text
    resources(obj, {"cpu": "1"}, {"cpu": "1"})
    [memory] = findings([obj], ["KS702"])
    assert memory.remediation.steps[1].command == f"kubectl top pod -n {NS} --containers"


def test_optional_rules_stay_off_in_production_and_can_be_turned_on() -> None:
    obj = compliant_deployment()
    resources(obj, {"cpu": "1", "memory": "1Gi"}, {"memory": "1Gi"})
    container(obj).pop("startupProbe")
    image(f"{REGISTRY}/team/app:1.4.2")(obj)
    optional = ["KS703", "KS707", "KS711"]
    assert findings([obj], optional, profile="production") == []
    assert sorted(f.code for f in findings([obj], optional, profile="all")) == optional
    config = PolicyConfig(rule_states={"KS703": "on"}, settings=settings())
    assert [f.code for f in evaluate(PolicyContext([obj]), config).findings if f.code in optional] == ["KS703"]


def test_a_pod_without_limits_is_denied_at_admission_with_the_rules_messages() -> None:
    pod = as_kind("Pod")
    container(pod).pop("resources")
    config = PolicyConfig(only=("KS7*",), settings=settings())  # the other families judge it too
    verdict = evaluate_admission(pod, config)
    assert not verdict.allowed
    denied = {f.code: f.message for f in verdict.denials}
    assert denied == {"KS701": "container app has no memory request", "KS702": "container app has no memory limit"}
    assert [f.code for f in verdict.warnings] == ["KS700"]
    assert evaluate_admission(as_kind("Pod"), config).allowed


def test_crd_and_cronjob_templates_are_judged_and_controlled_pods_only_once() -> None:
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "namespace": NS},
               "spec": {"strategy": {"canary": {}}, "template": copy.deepcopy(compliant_deployment()["spec"]["template"])}}
    rollout["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx"
    cron = as_kind("CronJob", name="nightly")
    image("nginx:latest")(cron)
    owned = as_kind("Pod", name="r-abc")
    owned["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "r-1", "controller": True}]
    image("nginx")(owned)
    found = findings([rollout, cron, owned], ["KS710"])
    assert sorted((str(f.object), f.evidence["field"]) for f in found) == [
        (f"CronJob/{NS}/nightly", "spec.jobTemplate.spec.template.spec.containers[0].image"),
        (f"Rollout/{NS}/r", "spec.template.spec.containers[0].image"),
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("nginx", ImageRef("docker.io", "library/nginx", None, None)),
    ("nginx:1.27", ImageRef("docker.io", "library/nginx", "1.27", None)),
    ("team/app:v2", ImageRef("docker.io", "team/app", "v2", None)),
    ("index.docker.io/nginx", ImageRef("docker.io", "library/nginx", None, None)),
    ("localhost:5000/app", ImageRef("localhost:5000", "app", None, None)),
    ("Registry.Example.com:443/a/b/c:1@sha256:00", ImageRef("registry.example.com:443", "a/b/c", "1", "sha256:00")),
    ("ghcr.io/org/app@sha256:11", ImageRef("ghcr.io", "org/app", None, "sha256:11")),
    ("localhost/app:dev", ImageRef("localhost", "app", "dev", None)),
])
def test_image_references_parse_as_the_runtime_resolves_them(text: str, expected: ImageRef) -> None:
    assert parse_image(text) == expected


def test_floating_references_and_the_default_pull_policy() -> None:
    assert parse_image("nginx").floating and parse_image("nginx:latest").floating
    assert not parse_image("nginx:latest@sha256:00").floating and not parse_image("nginx:1").floating
    assert parse_image("nginx").default_pull_policy() == "Always"
    assert parse_image("nginx@sha256:00").default_pull_policy() == "IfNotPresent"
    assert parse_image("nginx:latest@sha256:00").default_pull_policy() == "Always"


@pytest.mark.parametrize(("text", "allowed", "ok"), [
    ("registry.example.com/app:1", ["registry.example.com"], True),
    ("registry.example.com/app:1", ["registry.example.com/"], True),
    ("registry.example.com.evil.io/app:1", ["registry.example.com"], False),
    ("ghcr.io/org/app:1", ["ghcr.io/org"], True),
    ("ghcr.io/organisation/app:1", ["ghcr.io/org/"], False),
    ("nginx:1", ["docker.io"], True),
    ("nginx:1", ["docker.io/library/"], True),
    ("nginx:1", ["quay.io", "docker.io/team"], False),
    ("REGISTRY.example.com/app", ["registry.example.com"], True),
    ("app", [""], False),
])
def test_allowed_registries_match_whole_components(text: str, allowed: list[str], ok: bool) -> None:
    assert from_allowed_registry(parse_image(text), allowed) is ok
