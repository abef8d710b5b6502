"""The security rules (KS720–KS753): for every rule a workload it reports and one it accepts, through
the engine; the Pod Security Standards' subtleties (pod- and container-level precedence, init and
ephemeral containers, Windows and user-namespace pods, the target version); profiles selecting
exactly the PSS controls; and secret values that never reach a finding."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from kubesteward.model.full import FullObjects
from kubesteward.policy import PolicyConfig, PolicyContext, evaluate, load_rules
from kubesteward.policy.rules.security import secret_like
from tests.support.pods import (
    NS,
    Obj,
    as_kind,
    compliant_container,
    compliant_deployment,
    container,
    findings,
    judge_change,
    pod_spec,
    settings,
)

BASELINE = [f"KS7{n}" for n in range(20, 32)]
RESTRICTED = [f"KS7{n}" for n in range(40, 48)]
PRODUCTION = ["KS750", "KS751", "KS752", "KS753"]
CODES = BASELINE + RESTRICTED + PRODUCTION


@dataclass(frozen=True)
class Case:
    code: str
    change: Callable[[Obj], Any]  # changes the compliant Deployment; may return more objects to judge with it
    found: int = 1
    target: str = "1.32"
    says: str = ""


def sc(obj: Obj, index: int = 0) -> Obj:
    """The securityContext of container ``index``."""
    found: Obj = container(obj, index).setdefault("securityContext", {})
    return found


def psc(obj: Obj) -> Obj:
    """The pod's securityContext."""
    found: Obj = pod_spec(obj).setdefault("securityContext", {})
    return found


def init(**security: Any) -> Callable[[Obj], None]:
    """Add a compliant init container, its securityContext updated with ``security``."""
    def change(obj: Obj) -> None:
        extra = compliant_container("init")
        extra["securityContext"].update(security)
        pod_spec(obj)["initContainers"] = [extra]
    return change


def ephemeral(**fields: Any) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        debug = {k: v for k, v in compliant_container("debug").items() if k not in ("resources", "livenessProbe",
                                                                                      "readinessProbe", "startupProbe")}
        debug.update(fields)
        pod_spec(obj)["ephemeralContainers"] = [debug]
    return change


def windows(obj: Obj) -> None:
    pod_spec(obj)["os"] = {"name": "windows"}


def user_namespace(obj: Obj) -> None:
    pod_spec(obj)["hostUsers"] = False


def volume(**source: Any) -> Callable[[Obj], None]:
    return lambda obj: pod_spec(obj)["volumes"].append({"name": "data", **source})


def service_account(name: str, *, automount: bool | None = None) -> Obj:
    account: Obj = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": NS}}
    if automount is not None:
        account["automountServiceAccountToken"] = automount
    return account


def env(name: str, **entry: Any) -> Callable[[Obj], None]:
    return lambda obj: container(obj).__setitem__("env", [{"name": name, **entry}])


def probe_host(host: str) -> Callable[[Obj], None]:
    return lambda obj: container(obj)["livenessProbe"]["httpGet"].update(host=host)


def no_token_settings(obj: Obj) -> None:
    pod_spec(obj).pop("automountServiceAccountToken")


REPORTED = {
    "privileged": Case("KS720", lambda d: sc(d).update(privileged=True), says="container app is privileged"),
    "privileged init container": Case("KS720", init(privileged=True), says="container init"),
    "privileged ephemeral container": Case("KS720", ephemeral(securityContext={"privileged": True})),
    "hostNetwork": Case("KS721", lambda d: pod_spec(d).update(hostNetwork=True), says="hostNetwork"),
    "hostPID and hostIPC": Case("KS721", lambda d: pod_spec(d).update(hostPID=True, hostIPC=True), 2),
    "NET_ADMIN": Case("KS722", lambda d: sc(d)["capabilities"].update(add=["NET_ADMIN"]), says="adds NET_ADMIN"),
    "ALL added": Case("KS722", lambda d: sc(d)["capabilities"].update(add=["ALL", "CHOWN"]), says="adds ALL"),
    "hostPath": Case("KS723", volume(hostPath={"path": "/var/run/docker.sock"}), says="/var/run/docker.sock"),
    "hostPort": Case("KS724", lambda d: container(d)["ports"][0].update(hostPort=8080), says="host port 8080"),
    "hostPort of an ephemeral container": Case("KS724", ephemeral(ports=[{"containerPort": 1, "hostPort": 9}])),
    "pod AppArmor Unconfined": Case("KS725", lambda d: psc(d).update(appArmorProfile={"type": "Unconfined"})),
    "container AppArmor Unconfined": Case("KS725", lambda d: sc(d).update(appArmorProfile={"type": "Unconfined"})),
    "AppArmor annotation unconfined": Case("KS725", lambda d: d["spec"]["template"]["metadata"].update(
        annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}), says="unconfined"),
    "SELinux user and role": Case("KS726", lambda d: psc(d).update(seLinuxOptions={"user": "system_u", "role": "sysadm_r"}),
                                  says="the pod sets SELinux user system_u, role sysadm_r"),
    "SELinux spc_t in a container": Case("KS726", lambda d: sc(d).update(seLinuxOptions={"type": "spc_t"})),
    "container_engine_t before 1.31": Case("KS726", lambda d: sc(d).update(seLinuxOptions={"type": "container_engine_t"}),
                                           target="1.30"),
    "/proc Unmasked": Case("KS727", lambda d: sc(d).update(procMount="Unmasked")),
    "/proc Unmasked in a user namespace before 1.35": Case("KS727", lambda d: (sc(d).update(procMount="Unmasked"),
                                                                               user_namespace(d)), target="1.34"),
    "pod seccomp Unconfined, even where containers override it": Case(
        "KS728", lambda d: (psc(d).update(seccompProfile={"type": "Unconfined"}),
                            sc(d).update(seccompProfile={"type": "RuntimeDefault"})), says="the pod"),
    "container seccomp Unconfined": Case("KS728", lambda d: sc(d).update(seccompProfile={"type": "Unconfined"})),
    "unsafe sysctl": Case("KS729", lambda d: psc(d).update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
                          says="kernel.msgmax"),
    "tcp_rmem before 1.32": Case("KS729", lambda d: psc(d).update(sysctls=[{"name": "net.ipv4.tcp_rmem", "value": "1"}]),
                                 target="1.31"),
    "HostProcess pod": Case("KS730", lambda d: psc(d).update(windowsOptions={"hostProcess": True})),
    "HostProcess container": Case("KS730", lambda d: sc(d).update(windowsOptions={"hostProcess": True})),
    "probe host from 1.34": Case("KS731", probe_host("169.254.169.254"), target="1.34", says="169.254.169.254"),
    "lifecycle host": Case("KS731", lambda d: container(d).update(
        lifecycle={"preStop": {"httpGet": {"host": "10.0.0.1", "port": 80}}}), target="1.35", says="lifecycle.preStop"),
    "escalation unset": Case("KS740", lambda d: sc(d).pop("allowPrivilegeEscalation")),
    "escalation true in an init container": Case("KS740", init(allowPrivilegeEscalation=True), says="container init"),
    "runAsNonRoot set nowhere": Case("KS741", lambda d: psc(d).pop("runAsNonRoot"), says="may run as root"),
    "pod true, container false": Case("KS741", lambda d: sc(d).update(runAsNonRoot=False),
                                      says="container app sets runAsNonRoot: false"),
    "pod false, every container true": Case("KS741", lambda d: (psc(d).update(runAsNonRoot=False),
                                                                sc(d).update(runAsNonRoot=True)), says="the pod sets"),
    "pod unset, one container of two true": Case("KS741", lambda d: (psc(d).pop("runAsNonRoot"), init(runAsNonRoot=True)(d)),
                                                 says="container app may run as root"),
    "pod false and container unset: reported once": Case("KS741", lambda d: psc(d).update(runAsNonRoot=False)),
    "pod runAsUser 0": Case("KS742", lambda d: psc(d).update(runAsUser=0), says="the pod sets runAsUser: 0"),
    "pod runAsUser 0 overridden by the container": Case("KS742", lambda d: (psc(d).update(runAsUser=0),
                                                                           sc(d).update(runAsUser=1000))),
    "container runAsUser 0 beside pod 10001": Case("KS742", lambda d: sc(d).update(runAsUser=0), says="container app"),
    "drop not ALL": Case("KS743", lambda d: sc(d).update(capabilities={"drop": ["NET_RAW"]})),
    "no capabilities at all": Case("KS743", lambda d: sc(d).pop("capabilities")),
    "CHOWN added": Case("KS744", lambda d: sc(d)["capabilities"].update(add=["CHOWN", "NET_BIND_SERVICE"]),
                        says="adds CHOWN (restricted"),
    "seccomp set nowhere": Case("KS745", lambda d: psc(d).pop("seccompProfile")),
    "seccomp of one container, not the other": Case("KS745", lambda d: (psc(d).pop("seccompProfile"), init()(d),
                                                                       sc(d).update(seccompProfile={"type": "Localhost"})),
                                                    says="container init"),
    "nfs volume": Case("KS746", volume(nfs={"server": "nfs", "path": "/"}), says="type nfs"),
    "gitRepo volume": Case("KS746", volume(gitRepo={"repository": "https://example.com/r.git"})),
    "/proc Unmasked in a user namespace from 1.35": Case("KS747", lambda d: (sc(d).update(procMount="Unmasked"),
                                                                             user_namespace(d)), target="1.35"),
    "writable root": Case("KS750", lambda d: sc(d).update(readOnlyRootFilesystem=False)),
    "writable root of an init container": Case("KS750", init(readOnlyRootFilesystem=False), says="container init"),
    "default ServiceAccount": Case("KS751", lambda d: (pod_spec(d).pop("serviceAccountName"), no_token_settings(d))),
    "default ServiceAccount by name, token asked for": Case(
        "KS751", lambda d: pod_spec(d).update(serviceAccountName="default", automountServiceAccountToken=True)),
    "token mounted by default": Case("KS752", no_token_settings, says="ServiceAccount web"),
    "token mounted, the ServiceAccount says nothing": Case("KS752", lambda d: (no_token_settings(d), [service_account("web")])),
    "password in env": Case("KS753", env("DB_PASSWORD", value="hunter2"), says="DB_PASSWORD"),
    "api key in env": Case("KS753", env("stripe-api-key", value="sk_live_1")),
}

ACCEPTED = {
    "privileged false": Case("KS720", lambda d: sc(d).update(privileged=False), 0),
    "host namespaces false": Case("KS721", lambda d: pod_spec(d).update(hostNetwork=False, hostPID=False), 0),
    "baseline capability NET_BIND_SERVICE": Case("KS722", lambda d: sc(d)["capabilities"].update(add=["NET_BIND_SERVICE"]), 0),
    "baseline capability CHOWN is restricted's": Case("KS722", lambda d: sc(d)["capabilities"].update(add=["CHOWN"]), 0),
    "emptyDir and configMap": Case("KS723", lambda d: None, 0),
    "hostPort 0": Case("KS724", lambda d: container(d)["ports"][0].update(hostPort=0), 0),
    "AppArmor RuntimeDefault and Localhost": Case("KS725", lambda d: (
        psc(d).update(appArmorProfile={"type": "RuntimeDefault"}),
        sc(d).update(appArmorProfile={"type": "Localhost", "localhostProfile": "p"}),
        d["spec"]["template"]["metadata"].update(
            annotations={"container.apparmor.security.beta.kubernetes.io/app": "localhost/p"})), 0),
    "SELinux level only": Case("KS726", lambda d: psc(d).update(seLinuxOptions={"level": "s0:c123,c456"}), 0),
    "container_engine_t from 1.31": Case("KS726", lambda d: sc(d).update(seLinuxOptions={"type": "container_engine_t"}),
                                         0, target="1.31"),
    "/proc Default": Case("KS727", lambda d: sc(d).update(procMount="Default"), 0),
    "/proc Unmasked in a user namespace is restricted's from 1.35": Case(
        "KS727", lambda d: (sc(d).update(procMount="Unmasked"), user_namespace(d)), 0, target="1.35"),
    "seccomp Localhost": Case("KS728", lambda d: sc(d).update(seccompProfile={"type": "Localhost", "localhostProfile": "p"}), 0),
    "seccomp unset is restricted's": Case("KS728", lambda d: psc(d).pop("seccompProfile"), 0),
    "tcp_rmem from 1.32": Case("KS729", lambda d: psc(d).update(sysctls=[{"name": "net.ipv4.tcp_rmem", "value": "1"}]), 0),
    "safe sysctls": Case("KS729", lambda d: psc(d).update(sysctls=[{"name": "net.ipv4.ip_local_port_range", "value": "1 2"},
                                                                   {"name": "kernel.shm_rmid_forced", "value": "1"}]), 0),
    "hostProcess false": Case("KS730", lambda d: psc(d).update(windowsOptions={"hostProcess": False}), 0),
    "probe host before 1.34": Case("KS731", probe_host("169.254.169.254"), 0, target="1.33"),
    "probe without host": Case("KS731", lambda d: None, 0, target="1.35"),
    "escalation false": Case("KS740", lambda d: None, 0),
    "escalation unset on Windows": Case("KS740", lambda d: (sc(d).pop("allowPrivilegeEscalation"), windows(d)), 0),
    "pod true, container unset": Case("KS741", lambda d: None, 0),
    "pod unset, every container true (init too)": Case("KS741", lambda d: (
        psc(d).pop("runAsNonRoot"), sc(d).update(runAsNonRoot=True), init(runAsNonRoot=True)(d)), 0),
    "user namespace from 1.35": Case("KS741", lambda d: (psc(d).pop("runAsNonRoot"), user_namespace(d)), 0, target="1.35"),
    "non-root UIDs": Case("KS742", lambda d: sc(d).update(runAsUser=1000), 0),
    "runAsUser 0 in a user namespace from 1.35": Case("KS742", lambda d: (psc(d).update(runAsUser=0), user_namespace(d)),
                                                      0, target="1.35"),
    "drop ALL": Case("KS743", lambda d: None, 0),
    "no drop on Windows": Case("KS743", lambda d: (sc(d).pop("capabilities"), windows(d)), 0),
    "NET_BIND_SERVICE added": Case("KS744", lambda d: sc(d)["capabilities"].update(add=["NET_BIND_SERVICE"]), 0),
    "NET_ADMIN is baseline's": Case("KS744", lambda d: sc(d)["capabilities"].update(add=["NET_ADMIN"]), 0),
    "seccomp on every container, not the pod": Case("KS745", lambda d: (
        psc(d).pop("seccompProfile"), sc(d).update(seccompProfile={"type": "RuntimeDefault"})), 0),
    "pod Unconfined is baseline's": Case("KS745", lambda d: psc(d).update(seccompProfile={"type": "Unconfined"}), 0),
    "no seccomp on Windows": Case("KS745", lambda d: (psc(d).pop("seccompProfile"), windows(d)), 0),
    "restricted volume types": Case("KS746", lambda d: pod_spec(d)["volumes"].extend([
        {"name": "p", "projected": {"sources": []}}, {"name": "c", "csi": {"driver": "x"}},
        {"name": "e", "ephemeral": {}}, {"name": "i", "image": {"reference": "x"}},
        {"name": "pvc", "persistentVolumeClaim": {"claimName": "c"}}, {"name": "s", "secret": {"secretName": "s"}},
        {"name": "d", "downwardAPI": {}}]), 0),
    "hostPath is baseline's": Case("KS746", volume(hostPath={"path": "/"}), 0),
    "/proc Unmasked outside a user namespace is baseline's": Case("KS747", lambda d: sc(d).update(procMount="Unmasked"),
                                                                  0, target="1.35"),
    "read-only root": Case("KS750", lambda d: None, 0),
    "Windows has no read-only root": Case("KS750", lambda d: (sc(d).pop("readOnlyRootFilesystem"), windows(d)), 0),
    "default ServiceAccount without a token": Case("KS751", lambda d: pod_spec(d).pop("serviceAccountName"), 0),
    "default ServiceAccount that mounts no token": Case(
        "KS751", lambda d: (pod_spec(d).pop("serviceAccountName"), no_token_settings(d),
                            [service_account("default", automount=False)]), 0),
    "token asked for": Case("KS752", lambda d: pod_spec(d).update(automountServiceAccountToken=True), 0),
    "the ServiceAccount mounts no token": Case("KS752", lambda d: (no_token_settings(d),
                                                                   [service_account("web", automount=False)]), 0),
    "the default ServiceAccount is KS751's": Case("KS752", lambda d: (pod_spec(d).pop("serviceAccountName"),
                                                                      no_token_settings(d)), 0),
    "password from a Secret": Case("KS753", env("DB_PASSWORD", valueFrom={"secretKeyRef": {"name": "db", "key": "p"}}), 0),
    "where the password is": Case("KS753", env("DB_PASSWORD_FILE", value="/run/secrets/db"), 0),
    "an empty password": Case("KS753", env("DB_PASSWORD", value=""), 0),
    "not a credential": Case("KS753", env("LOG_LEVEL", value="debug"), 0),
}


def judge(case: Case) -> list[Any]:
    return judge_change(compliant_deployment(), case.change, [case.code], settings(target_version=case.target))


@pytest.mark.parametrize("case", REPORTED.values(), ids=REPORTED.keys())
def test_each_rule_reports_what_it_names(case: Case) -> None:
    found = judge(case)
    assert [f.code for f in found] == [case.code] * case.found
    assert case.says in found[0].message


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_each_rule_accepts_what_it_should(case: Case) -> None:
    assert [f.code for f in judge(case)] == []


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
    ("PWD", False), ("KEYCLOAK_REALM", False), ("TOKENIZER_THREADS", False), ("LOG_LEVEL", False), ("", False),
])
def test_which_env_names_hold_credentials(name: str, secret: bool) -> None:
    assert secret_like(name) is secret
