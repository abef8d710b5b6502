"""Policy rules on pod security (codes and prose in ``findings/catalogue/policy_security.py``).

The Pod Security Standards' controls are judged as Pod Security Admission judges them (its
``check_*.go``), for the target version (``policy.settings.targetVersion``): every container list
(init and ephemeral containers included), forbidden values at either level reported wherever they
are set, required values read as the kubelet applies them (a container's own, else the pod's). Where
restricted tightens a baseline control (capabilities, seccomp, volumes, /proc), the two codes split
the cases so one setting is reported once. What the standards' levels and allow-lists are lives in
:mod:`kubesteward.model.semantics.pod_security`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from kubesteward.findings.catalogue.policy_security import (
    KS720,
    KS721,
    KS722,
    KS723,
    KS724,
    KS725,
    KS726,
    KS727,
    KS728,
    KS729,
    KS730,
    KS731,
    KS740,
    KS741,
    KS742,
    KS743,
    KS744,
    KS745,
    KS746,
    KS747,
    KS750,
    KS751,
    KS752,
    KS753,
)
from kubesteward.model.semantics.api_versions import Version, parse_version
from kubesteward.model.semantics.pod_security import (
    APPARMOR_ALLOWED,
    APPARMOR_ANNOTATION,
    BASELINE_CAPABILITIES,
    PROBE_HOST_SINCE,
    RESTRICTED_CAPABILITIES,
    RESTRICTED_VOLUME_TYPES,
    SECCOMP_ALLOWED,
    USER_NAMESPACE_RELAXATION_SINCE,
    capabilities,
    container_context,
    effective,
    in_user_namespace,
    is_windows,
    mapping,
    pod_context,
    safe_sysctls,
    selinux_types,
    volume_type,
)
from kubesteward.model.semantics.pod_templates import ContainerRef, PodTemplate
from kubesteward.policy.context import PolicyContext, meta
from kubesteward.policy.registry import Violation, pod_rule
from kubesteward.redaction import REDACTED, digest

_NEWEST: Version = (99, 99)  # an unparseable target (checked where it is read) judges by the newest lists


def _target(ctx: PolicyContext) -> Version:
    try:
        return parse_version(ctx.settings.target_version)
    except ValueError:
        return _NEWEST


def _every_container(template: PodTemplate) -> Iterator[ContainerRef]:
    """The containers the standards judge: init, regular and ephemeral."""
    return template.containers(init=True, ephemeral=True)


def _pod_field(template: PodTemplate, *names: str | int) -> tuple[str | int, ...]:
    return template.field("securityContext", *names)


def _container_field(ref: ContainerRef, *names: str | int) -> tuple[str | int, ...]:
    return ref.field("securityContext", *names)


# -- baseline -------------------------------------------------------------------------------------


@pod_rule(KS720, pss="baseline")
def privileged(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in _every_container(template):
        if container_context(ref).get("privileged") is True:
            yield Violation(f"container {ref.name} is privileged", _container_field(ref, "privileged"),
                            {"container": ref.name})


@pod_rule(KS721, pss="baseline")
def host_namespaces(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for name in ("hostNetwork", "hostPID", "hostIPC"):
        if template.spec.get(name) is True:
            yield Violation(f"the pod sets {name}: true", template.field(name), {"setting": name})


@pod_rule(KS722, pss="baseline")
def capabilities_beyond_baseline(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in _every_container(template):
        extra = [c for c in capabilities(ref, "add") if c not in BASELINE_CAPABILITIES]
        if extra:
            yield Violation(f"container {ref.name} adds {', '.join(extra)}", _container_field(ref, "capabilities", "add"),
                            {"container": ref.name, "capabilities": extra})


@pod_rule(KS723, pss="baseline")
def host_path_volumes(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for index, volume in _volumes(template):
        if volume.get("hostPath") is not None:
            path = mapping(volume.get("hostPath")).get("path")
            yield Violation(f"volume {volume.get('name')} is the node's directory {path}",
                            template.field("volumes", index, "hostPath"),
                            {"volume": str(volume.get("name")), "path": str(path)})


def _volumes(template: PodTemplate) -> Iterator[tuple[int, Mapping[str, Any]]]:
    volumes = template.spec.get("volumes")
    for index, volume in enumerate(volumes if isinstance(volumes, list) else []):
        if isinstance(volume, Mapping):
            yield index, volume


@pod_rule(KS724, pss="baseline")
def host_ports(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in _every_container(template):
        ports = ref.container.get("ports")
        for index, port in enumerate(ports if isinstance(ports, list) else []):
            host_port = mapping(port).get("hostPort")
            if host_port not in (None, 0):
                yield Violation(f"container {ref.name} binds host port {host_port}", ref.field("ports", index, "hostPort"),
                                {"container": ref.name, "host_port": host_port})


def _profiles_outside(template: PodTemplate, setting: str, allowed: frozenset[str], what: str) -> Iterator[Violation]:
    """A profile setting (``seccompProfile``, ``appArmorProfile``) whose type is set, at either level,
    to one ``allowed`` does not hold: forbidden wherever it is set, as admission judges it."""
    kind = mapping(pod_context(template).get(setting)).get("type")
    if kind is not None and kind not in allowed:
        yield Violation(f"the pod sets {what} profile {kind}", _pod_field(template, setting, "type"), {"profile": str(kind)})
    for ref in _every_container(template):
        kind = mapping(container_context(ref).get(setting)).get("type")
        if kind is not None and kind not in allowed:
            yield Violation(f"container {ref.name} sets {what} profile {kind}", _container_field(ref, setting, "type"),
                            {"container": ref.name, "profile": str(kind)})


@pod_rule(KS725, pss="baseline")
def apparmor_overridden(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    yield from _profiles_outside(template, "appArmorProfile", APPARMOR_ALLOWED, "AppArmor")
    for key, value in template.annotations.items():
        if key.startswith(APPARMOR_ANNOTATION) and value and value != "runtime/default" and not value.startswith("localhost/"):
            yield Violation(f"annotation {key} sets AppArmor profile {value}", (*template.metadata_path, "annotations", key),
                            {"container": key[len(APPARMOR_ANNOTATION):], "profile": value})


@pod_rule(KS726, pss="baseline")
def selinux_options(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    allowed = selinux_types(_target(ctx))
    where: list[tuple[str, Mapping[str, Any], tuple[str | int, ...], str | None]] = [
        ("the pod", mapping(pod_context(template).get("seLinuxOptions")), _pod_field(template, "seLinuxOptions"), None)
    ]
    where += [(f"container {ref.name}", mapping(container_context(ref).get("seLinuxOptions")),
               _container_field(ref, "seLinuxOptions"), ref.name) for ref in _every_container(template)]
    for who, options, path, container in where:
        bad = [f"{key} {options[key]}" for key in ("user", "role") if options.get(key)]
        kind = options.get("type")
        if kind and kind not in allowed:
            bad.append(f"type {kind}")
        if bad:
            evidence: dict[str, Any] = {"options": bad}
            if container:
                evidence["container"] = container
            yield Violation(f"{who} sets SELinux {', '.join(bad)}", path, evidence)


def _unmasked(template: PodTemplate) -> Iterator[Violation]:
    for ref in _every_container(template):
        mount = container_context(ref).get("procMount")
        if mount is not None and mount != "Default":
            yield Violation(f"container {ref.name} mounts /proc {mount}", _container_field(ref, "procMount"),
                            {"container": ref.name, "proc_mount": str(mount)})


def _user_namespace_relaxed(template: PodTemplate, ctx: PolicyContext) -> bool:
    return in_user_namespace(template) and _target(ctx) >= USER_NAMESPACE_RELAXATION_SINCE


@pod_rule(KS727, pss="baseline")
def proc_mount(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if not _user_namespace_relaxed(template, ctx):
        yield from _unmasked(template)


@pod_rule(KS728, pss="baseline")
def seccomp_unconfined(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    return _profiles_outside(template, "seccompProfile", SECCOMP_ALLOWED, "seccomp")


@pod_rule(KS729, pss="baseline")
def unsafe_sysctls(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    safe = safe_sysctls(_target(ctx))
    sysctls = pod_context(template).get("sysctls")
    for index, sysctl in enumerate(sysctls if isinstance(sysctls, list) else []):
        name = str(mapping(sysctl).get("name") or "")
        if name not in safe:
            yield Violation(f"the pod sets the unsafe sysctl {name}", _pod_field(template, "sysctls", index, "name"),
                            {"sysctl": name})


@pod_rule(KS730, pss="baseline")
def windows_host_process(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if mapping(pod_context(template).get("windowsOptions")).get("hostProcess") is True:
        yield Violation("the pod runs as a Windows HostProcess", _pod_field(template, "windowsOptions", "hostProcess"))
    for ref in _every_container(template):
        if mapping(container_context(ref).get("windowsOptions")).get("hostProcess") is True:
            yield Violation(f"container {ref.name} runs as a Windows HostProcess",
                            _container_field(ref, "windowsOptions", "hostProcess"), {"container": ref.name})


@pod_rule(KS731, pss="baseline")
def probe_host(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if _target(ctx) < PROBE_HOST_SINCE:
        return
    for ref in _every_container(template):
        handlers: list[tuple[tuple[str, ...], Any]] = [
            ((probe,), ref.container.get(probe)) for probe in ("livenessProbe", "readinessProbe", "startupProbe")
        ]
        lifecycle = mapping(ref.container.get("lifecycle"))
        handlers += [(("lifecycle", hook), lifecycle.get(hook)) for hook in ("postStart", "preStop")]
        for path, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = mapping(mapping(handler).get(action)).get("host")
                if host:
                    yield Violation(f"container {ref.name}'s {'.'.join(path)} targets host {host}",
                                    ref.field(*path, action, "host"), {"container": ref.name, "host": str(host)})


# -- restricted -----------------------------------------------------------------------------------


@pod_rule(KS740, pss="restricted")
def privilege_escalation(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if is_windows(template):
        return
    for ref in _every_container(template):
        if container_context(ref).get("allowPrivilegeEscalation") is not False:
            yield Violation(f"container {ref.name} does not set allowPrivilegeEscalation: false",
                            _container_field(ref, "allowPrivilegeEscalation"), {"container": ref.name})


@pod_rule(KS741, pss="restricted")
def run_as_non_root(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if _user_namespace_relaxed(template, ctx):
        return
    if pod_context(template).get("runAsNonRoot") is False:
        yield Violation("the pod sets runAsNonRoot: false", _pod_field(template, "runAsNonRoot"), {"level": "pod"})
    for ref in _every_container(template):
        value, source = effective(template, ref, "runAsNonRoot")
        if value is True or (value is False and source == "pod"):  # the pod's false is reported once, above
            continue
        if source == "container":
            message = f"container {ref.name} sets runAsNonRoot: false"
        else:
            message = f"container {ref.name} may run as root: neither it nor the pod sets runAsNonRoot: true"
        yield Violation(message, _container_field(ref, "runAsNonRoot"), {"container": ref.name})


@pod_rule(KS742, pss="restricted")
def run_as_root_user(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if _user_namespace_relaxed(template, ctx):
        return
    if pod_context(template).get("runAsUser") == 0:
        yield Violation("the pod sets runAsUser: 0", _pod_field(template, "runAsUser"), {"level": "pod"})
    for ref in _every_container(template):
        if container_context(ref).get("runAsUser") == 0:
            yield Violation(f"container {ref.name} sets runAsUser: 0", _container_field(ref, "runAsUser"),
                            {"container": ref.name})


@pod_rule(KS743, pss="restricted")
def capabilities_not_dropped(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if is_windows(template):
        return
    for ref in _every_container(template):
        if "ALL" not in capabilities(ref, "drop"):
            yield Violation(f"container {ref.name} does not drop ALL capabilities",
                            _container_field(ref, "capabilities", "drop"), {"container": ref.name})


@pod_rule(KS744, pss="restricted")
def capabilities_beyond_restricted(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if is_windows(template):
        return
    for ref in _every_container(template):
        # those outside the baseline set are KS722's
        extra = [c for c in capabilities(ref, "add") if c in BASELINE_CAPABILITIES and c not in RESTRICTED_CAPABILITIES]
        if extra:
            yield Violation(f"container {ref.name} adds {', '.join(extra)} (restricted allows only NET_BIND_SERVICE)",
                            _container_field(ref, "capabilities", "add"), {"container": ref.name, "capabilities": extra})


@pod_rule(KS745, pss="restricted")
def seccomp_missing(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if is_windows(template):
        return
    for ref in _every_container(template):
        value, _ = effective(template, ref, "seccompProfile")
        if mapping(value).get("type") is None:  # an explicit Unconfined is KS728's
            yield Violation(f"container {ref.name} has no seccomp profile (neither it nor the pod sets one)",
                            _container_field(ref, "seccompProfile"), {"container": ref.name})


@pod_rule(KS746, pss="restricted")
def restricted_volume_types(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for index, volume in _volumes(template):
        kind = volume_type(volume)
        if kind not in RESTRICTED_VOLUME_TYPES and kind != "hostPath":  # hostPath is KS723's
            yield Violation(f"volume {volume.get('name')} is of type {kind}", template.field("volumes", index),
                            {"volume": str(volume.get("name")), "volume_type": kind})


@pod_rule(KS747, pss="restricted")
def proc_mount_user_namespace(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if _user_namespace_relaxed(template, ctx):  # elsewhere KS727 reports it
        yield from _unmasked(template)


# -- production hardening -------------------------------------------------------------------------


@pod_rule(KS750)
def writable_root_filesystem(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if is_windows(template):
        return
    for ref in template.containers(init=True, ephemeral=False):
        if container_context(ref).get("readOnlyRootFilesystem") is not True:
            yield Violation(f"container {ref.name} can write to its root filesystem",
                            _container_field(ref, "readOnlyRootFilesystem"), {"container": ref.name})


def _service_account(template: PodTemplate) -> str:
    name = template.spec.get("serviceAccountName") or template.spec.get("serviceAccount")
    return str(name) if name else "default"


def _token_mount(template: PodTemplate, ctx: PolicyContext) -> bool | None:
    """Whether the pod mounts its ServiceAccount's token: True or False when the pod or its
    ServiceAccount (if the set holds it) says so (the pod's choice wins), None when mounted by default."""
    own = template.spec.get("automountServiceAccountToken")
    if isinstance(own, bool):
        return own
    account = ctx.get("ServiceAccount", str(meta(template.owner).get("namespace") or ""), _service_account(template))
    value = account.get("automountServiceAccountToken") if account is not None else None
    return value if isinstance(value, bool) else None


@pod_rule(KS751, reads=["ServiceAccount"])
def default_service_account(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    if _service_account(template) == "default" and _token_mount(template, ctx) is not False:
        yield Violation("the pod runs as the default ServiceAccount and mounts its token",
                        template.field("serviceAccountName"), {"serviceaccount": "default"})


@pod_rule(KS752, reads=["ServiceAccount"])
def token_mounted_by_default(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    account = _service_account(template)
    if account != "default" and _token_mount(template, ctx) is None:
        yield Violation(f"the pod mounts ServiceAccount {account}'s token without asking for it",
                        template.field("automountServiceAccountToken"), {"serviceaccount": account})


# Words of an env var's name that say it holds a credential, alone or as an adjacent pair.
_SECRET_WORDS = frozenset({"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY"})
_SECRET_PAIRS = frozenset({("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY"), ("CLIENT", "SECRET")})
# Last words of names that hold where a credential is, which one, or a setting about it, not the credential.
_NOT_SECRET_LAST = frozenset({
    "FILE", "PATH", "DIR", "URL", "URI", "ENDPOINT", "HOST", "PORT", "NAME", "ID", "REF", "USER", "USERNAME",
    "TTL", "EXPIRY", "EXPIRES", "LIFETIME", "TIMEOUT", "LENGTH", "ENABLED", "REQUIRED", "HEADER", "TYPE",
    "ISSUER", "AUDIENCE",
})
_EMPTY = {"", f"{REDACTED} {digest('')}"}  # an empty value, as written and as redacted


def secret_like(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential."""
    words = tuple(word for word in re.split(r"[^A-Z0-9]+", name.upper()) if word)
    if not words or words[-1] in _NOT_SECRET_LAST:
        return False
    return any(word in _SECRET_WORDS for word in words) or any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))


@pod_rule(KS753)
def secret_in_env(template: PodTemplate, ctx: PolicyContext) -> Iterator[Violation]:
    for ref in _every_container(template):
        env = ref.container.get("env")
        for index, entry in enumerate(env if isinstance(env, list) else []):
            entry = mapping(entry)
            name, value = str(entry.get("name") or ""), entry.get("value")
            # the value itself never goes into a message or evidence
            if value is not None and str(value) not in _EMPTY and secret_like(name):
                yield Violation(f"container {ref.name} sets {name} from a literal value, not a Secret",
                                ref.field("env", index, "value"), {"container": ref.name, "variable": name})
