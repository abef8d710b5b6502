"""Pod security as the kubelet applies it and the Pod Security Standards judge it.

- A container's effective setting: its own ``securityContext`` field when set, else the pod's
  (``runAsNonRoot``, ``runAsUser``, ``seccompProfile``, ``seLinuxOptions``, ``appArmorProfile``,
  ``windowsOptions`` exist at both levels; ``privileged``, ``allowPrivilegeEscalation``,
  ``capabilities``, ``readOnlyRootFilesystem``, ``procMount`` only on containers).
- The allow-lists of the Pod Security Standards, by the Kubernetes version they apply from (as
  Pod Security Admission's ``check_*.go`` define them, not the published page, which lags).
- Which pods some controls do not apply to: Windows pods (``spec.os.name: windows``) for the
  Linux-only restricted controls, pods in a user namespace (``hostUsers: false``) for the
  run-as-root controls from 1.35.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubesteward.model.semantics.pod_templates import ContainerRef, PodTemplate

Version = tuple[int, int]

# Capabilities baseline lets a container add: Docker's default set (NET_RAW excluded).
BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
# The one capability restricted lets a container add (after dropping ALL).
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
# Volume sources restricted allows (hostPath is baseline's own control).
RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim",
    "projected", "secret",
})
SECCOMP_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ALLOWED = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"  # + container name (deprecated, still judged)

# Safe sysctls (namespaced, isolated from other pods), each from the version it became safe.
_SAFE_SYSCTLS: tuple[tuple[Version, str], ...] = (
    ((1, 0), "kernel.shm_rmid_forced"),
    ((1, 0), "net.ipv4.ip_local_port_range"),
    ((1, 0), "net.ipv4.tcp_syncookies"),
    ((1, 0), "net.ipv4.ping_group_range"),
    ((1, 0), "net.ipv4.ip_unprivileged_port_start"),
    ((1, 27), "net.ipv4.ip_local_reserved_ports"),
    ((1, 29), "net.ipv4.tcp_keepalive_time"),
    ((1, 29), "net.ipv4.tcp_fin_timeout"),
    ((1, 29), "net.ipv4.tcp_keepalive_intvl"),
    ((1, 29), "net.ipv4.tcp_keepalive_probes"),
    ((1, 32), "net.ipv4.tcp_rmem"),
    ((1, 32), "net.ipv4.tcp_wmem"),
)
_SELINUX_TYPES: tuple[tuple[Version, str], ...] = (
    ((1, 0), "container_t"), ((1, 0), "container_init_t"), ((1, 0), "container_kvm_t"),
    ((1, 31), "container_engine_t"),
)
PROBE_HOST_SINCE: Version = (1, 34)  # a probe's or lifecycle hook's `host` is a baseline control from here
USER_NAMESPACE_RELAXATION_SINCE: Version = (1, 35)  # runAsNonRoot/runAsUser/procMount relaxed for hostUsers: false


def safe_sysctls(version: Version) -> frozenset[str]:
    return frozenset(name for since, name in _SAFE_SYSCTLS if version >= since)


def selinux_types(version: Version) -> frozenset[str]:
    """The SELinux types baseline allows (an empty type too: the runtime's default)."""
    return frozenset(name for since, name in _SELINUX_TYPES if version >= since)


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def pod_context(template: PodTemplate) -> Mapping[str, Any]:
    """The pod-level ``securityContext`` (empty when unset)."""
    return mapping(template.spec.get("securityContext"))


def container_context(ref: ContainerRef) -> Mapping[str, Any]:
    return mapping(ref.container.get("securityContext"))


def effective(template: PodTemplate, ref: ContainerRef, name: str) -> tuple[Any, str]:
    """A setting both levels carry, as the kubelet applies it to the container: its own value if set,
    else the pod's; with where it came from (``container``, ``pod``, or ``""`` when neither sets it)."""
    own = container_context(ref).get(name)
    if own is not None:
        return own, "container"
    pods = pod_context(template).get(name)
    return (pods, "pod") if pods is not None else (None, "")


def is_windows(template: PodTemplate) -> bool:
    """A pod declared for Windows nodes (``spec.os.name``): the Linux-only controls do not apply."""
    return mapping(template.spec.get("os")).get("name") == "windows"


def in_user_namespace(template: PodTemplate) -> bool:
    """A pod with its own user namespace (``hostUsers: false``): root in it is not root on the node."""
    return template.spec.get("hostUsers") is False


def capabilities(ref: ContainerRef, which: str) -> list[str]:
    """The container's ``capabilities.add`` or ``.drop`` as strings."""
    value = mapping(container_context(ref).get("capabilities")).get(which)
    return [str(item) for item in value] if isinstance(value, list) else []


def volume_type(volume: Mapping[str, Any]) -> str:
    """The source of a pod volume (``emptyDir``, ``hostPath``...): the key beside its name."""
    sources = [str(key) for key, value in volume.items() if key != "name" and value is not None]
    return sources[0] if len(sources) == 1 else ",".join(sorted(sources)) or "none"
