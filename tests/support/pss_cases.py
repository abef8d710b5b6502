"""The security rules' cases: for every rule (KS720–KS753) workloads it reports and workloads it
accepts, each a change to the compliant Deployment of :mod:`tests.support.pods`. The unit tests judge
them with the rules; the end-to-end test has the real API server's Pod Security Admission judge the
PSS ones too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.pods import NS, Case, Obj, compliant_container, container, pod_spec

BASELINE = [f"KS7{n}" for n in range(20, 32)]
RESTRICTED = [f"KS7{n}" for n in range(40, 48)]
PRODUCTION = ["KS750", "KS751", "KS752", "KS753"]
CODES = BASELINE + RESTRICTED + PRODUCTION


def sc(obj: Obj, index: int = 0) -> Obj:
    """The securityContext of container ``index``."""
    found: Obj = container(obj, index).setdefault("securityContext", {})
    return found


def psc(obj: Obj) -> Obj:
    """The pod's securityContext."""
    found: Obj = pod_spec(obj).setdefault("securityContext", {})
    return found


def init(**security: Any) -> Callable[[Obj], None]:
    """Add a compliant init container (no probes: only sidecars may have them), its securityContext
    updated with ``security``."""
    def change(obj: Obj) -> None:
        extra = {k: v for k, v in compliant_container("init").items() if not k.endswith("Probe")}
        extra["securityContext"].update(security)
        pod_spec(obj)["initContainers"] = [extra]
    return change


def ephemeral(**fields: Any) -> Callable[[Obj], None]:
    """Add an ephemeral (debug) container: what `kubectl debug` adds to a running pod."""
    def change(obj: Obj) -> None:
        debug = {k: v for k, v in compliant_container("debug").items()
                 if k not in ("resources", "ports") and not k.endswith("Probe")}
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
    # (privileged with allowPrivilegeEscalation false is invalid: privileged is escalation)
    "privileged": Case("KS720", lambda d: sc(d).update(privileged=True, allowPrivilegeEscalation=True),
                       says="container app is privileged"),
    "privileged init container": Case("KS720", init(privileged=True, allowPrivilegeEscalation=True), says="container init"),
    "privileged ephemeral container": Case("KS720", ephemeral(securityContext={"privileged": True})),
    "hostNetwork": Case("KS721", lambda d: pod_spec(d).update(hostNetwork=True), says="hostNetwork"),
    "hostPID and hostIPC": Case("KS721", lambda d: pod_spec(d).update(hostPID=True, hostIPC=True), 2),
    "NET_ADMIN": Case("KS722", lambda d: sc(d)["capabilities"].update(add=["NET_ADMIN"]), says="adds NET_ADMIN"),
    "ALL added": Case("KS722", lambda d: sc(d)["capabilities"].update(add=["ALL", "CHOWN"]), says="adds ALL"),
    "hostPath": Case("KS723", volume(hostPath={"path": "/var/run/docker.sock"}), says="/var/run/docker.sock"),
    "hostPort": Case("KS724", lambda d: container(d)["ports"][0].update(hostPort=8080), says="host port 8080"),
    "hostPort of an init container": Case("KS724", lambda d: (init()(d), pod_spec(d)["initContainers"][0].update(
        ports=[{"containerPort": 1, "hostPort": 9}]))),
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
    # (a HostProcess pod must use the host's network)
    "HostProcess pod": Case("KS730", lambda d: (psc(d).update(windowsOptions={"hostProcess": True}),
                                                pod_spec(d).update(hostNetwork=True))),
    "HostProcess container": Case("KS730", lambda d: (sc(d).update(windowsOptions={"hostProcess": True}),
                                                      pod_spec(d).update(hostNetwork=True))),
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
                                                                       sc(d).update(seccompProfile={"type": "Localhost", "localhostProfile": "p.json"})),
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
        {"name": "e", "ephemeral": {"volumeClaimTemplate": {"spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}, {"name": "i", "image": {"reference": "x"}},
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
