"""The security rules (KS720–KS753): for every rule a workload it reports and one it accepts, through
the engine (the cases: ``tests/support/pss_cases.py``); the Pod Security Standards' subtleties (pod-
and container-level precedence, init and ephemeral containers, Windows and user-namespace pods, the
target version); profiles selecting exactly the PSS controls; and secret values that never reach a
finding."""

from __future__ import annotations

import copy
import json

import pytest

from kubesteward.model.full import FullObjects
from kubesteward.policy import PolicyConfig, PolicyContext, evaluate, load_rules
from kubesteward.policy.rules.security import secret_like
from tests.support.pods import NS, Case, as_kind, compliant_deployment, findings, pod_spec, settings
from tests.support.pss_cases import (
    ACCEPTED,
    BASELINE,
    CODES,
    REPORTED,
    RESTRICTED,
    env,
    init,
    psc,
    sc,
    windows,
)


@pytest.mark.parametrize("case", [*REPORTED.values(), *ACCEPTED.values()], ids=[*REPORTED, *ACCEPTED])
def test_each_rule_reports_what_it_names_and_accepts_the_rest(case: Case) -> None:
    case.check()


def test_every_security_rule_has_a_case_each_way_and_the_compliant_workload_passes_all() -> None:
    rules = {code for code in load_rules() if code.startswith("KS7") and int(code[2:]) >= 720}
    assert rules == set(CODES)
    assert {c.code for c in REPORTED.values()} == rules == {c.code for c in ACCEPTED.values()}
    for target in ("1.25", "1.32", "1.35"):
        assert findings([compliant_deployment()], CODES, policy_settings=settings(target_version=target)) == []
    for kind in ("Pod", "Job", "CronJob"):
        assert findings([as_kind(kind)], CODES) == [], kind


def test_profiles_select_exactly_the_pss_controls() -> None:
    ran = {profile: {code for code in evaluate(PolicyContext([]), PolicyConfig(profile=profile)).rules if code in CODES}
           for profile in ("pss-baseline", "pss-restricted", "production", "all")}
    assert ran["pss-baseline"] == set(BASELINE)
    assert ran["pss-restricted"] == set(BASELINE + RESTRICTED)
    assert ran["production"] == ran["all"] == set(CODES)
    rules = load_rules()
    assert {c for c in CODES if rules[c].pss == "baseline"} == set(BASELINE)
    assert {c for c in CODES if rules[c].pss == "restricted"} == set(RESTRICTED)


def test_a_bare_pod_fails_restricted_on_each_linux_control_and_windows_is_exempt_from_them() -> None:
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": NS},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}
    found = findings([bare], CODES, profile="pss-restricted")
    assert sorted(f.code for f in found) == ["KS740", "KS741", "KS743", "KS745"]
    assert findings([bare], CODES, profile="pss-baseline") == []
    on_windows = copy.deepcopy(bare)
    windows(on_windows)
    # runAsNonRoot applies to Windows too (ContainerAdministrator); the Linux-only controls do not
    assert [f.code for f in findings([on_windows], CODES, profile="pss-restricted")] == ["KS741"]


def test_one_setting_is_reported_once_across_baseline_and_restricted() -> None:
    obj = compliant_deployment()
    sc(obj)["capabilities"]["add"] = ["SYS_ADMIN", "CHOWN"]
    psc(obj)["seccompProfile"] = {"type": "Unconfined"}
    pod_spec(obj)["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
    found = findings([obj], CODES, profile="pss-restricted")
    assert sorted((f.code, f.message) for f in found) == [
        ("KS722", "container app adds SYS_ADMIN"),
        ("KS723", "volume h is the node's directory /"),
        ("KS728", "the pod sets seccomp profile Unconfined"),
        ("KS744", "container app adds CHOWN (restricted allows only NET_BIND_SERVICE)"),
    ]


def test_findings_point_at_the_field_that_breaks_the_control() -> None:
    obj = compliant_deployment()
    init(privileged=True)(obj)
    psc(obj)["runAsUser"] = 0
    found = {f.code: f.evidence["field"] for f in findings([obj], ["KS720", "KS742"])}
    assert found == {"KS720": "spec.template.spec.initContainers[0].securityContext.privileged",
                     "KS742": "spec.template.spec.securityContext.runAsUser"}


def test_crd_and_cronjob_templates_are_judged_and_controlled_pods_only_once() -> None:
    rollout = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r", "namespace": NS},
               "spec": {"template": copy.deepcopy(compliant_deployment()["spec"]["template"])}}
    rollout["spec"]["template"]["spec"]["hostPID"] = True
    cron = as_kind("CronJob", name="nightly")
    sc(cron)["privileged"] = True
    owned = as_kind("Pod", name="nightly-1-abc")
    owned["metadata"]["ownerReferences"] = [{"kind": "Job", "name": "nightly-1", "controller": True}]
    sc(owned)["privileged"] = True
    found = findings([rollout, cron, owned], ["KS720", "KS721"])
    assert sorted((f.code, str(f.object), f.evidence["field"]) for f in found) == [
        ("KS720", f"CronJob/{NS}/nightly", "spec.jobTemplate.spec.template.spec.containers[0].securityContext.privileged"),
        ("KS721", f"Rollout/{NS}/r", "spec.template.spec.hostPID"),
    ]


def test_a_secret_value_never_reaches_a_finding_and_is_found_once_redacted() -> None:
    obj = compliant_deployment()
    env("API_TOKEN", value="s3cr3t-value")(obj)
    store = FullObjects()
    store.add_manifest(obj)  # how files and clusters enter: env values redacted
    config = PolicyConfig(only=("KS753",), settings=settings())
    [found] = evaluate(PolicyContext.of(store, config.settings), config).findings
    assert found.message == "container app sets API_TOKEN from a literal value, not a Secret"
    shown = json.dumps([found.message, dict(found.evidence), found.remediation.text])
    assert "s3cr3t" not in shown
    [raw] = findings([obj], ["KS753"])  # handed over unredacted (a library caller): still only the name
    assert "s3cr3t" not in json.dumps([raw.message, dict(raw.evidence)])
    emptied = compliant_deployment()
    env("API_TOKEN", value="")(emptied)
    store = FullObjects()
    store.add_manifest(emptied)
    assert evaluate(PolicyContext.of(store, config.settings), config).findings == []


@pytest.mark.parametrize(("name", "secret"), [
    ("PASSWORD", True), ("DB_PASSWORD", True), ("db-passwd", True), ("GITHUB_TOKEN", True), ("CLIENT_SECRET", True),
    ("AWS_SECRET_ACCESS_KEY", True), ("STRIPE_API_KEY", True), ("APIKEY", True), ("SSH_PRIVATE_KEY", True),
    ("GOOGLE_APPLICATION_CREDENTIALS_JSON", True),
    ("PASSWORD_FILE", False), ("TOKEN_URL", False), ("SECRET_NAME", False), ("AWS_ACCESS_KEY_ID", False),
    ("TOKEN_TTL", False), ("PASSWORD_MIN_LENGTH", False), ("VAULT_TOKEN_PATH", False), ("OIDC_CLIENT_SECRET_REF", False),
    ("PWD", False), ("KEYCLOAK_REALM", False), ("TOKENIZER_THREADS", False), ("LOG_LEVEL", False), ("", False),
])
def test_which_env_names_hold_credentials(name: str, secret: bool) -> None:
    assert secret_like(name) is secret
