"""Which apiVersions of which kinds Kubernetes deprecated and stopped serving, and what replaces them.

From the Deprecated API Migration Guide (kubernetes.io/docs/reference/using-api/deprecation-guide/)
for the removals, and from the API server's own deprecation warnings (``X is deprecated in v1.D+,
unavailable in v1.R+``) for when each was deprecated. A version is *deprecated* from ``deprecated``
on and *removed* (no longer served: applying it fails) from ``removed`` on; ``removed`` None: still
served, with no removal scheduled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Version = tuple[int, int]


_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?")


def parse_version(text: str) -> Version:
    """``1.32``, ``v1.32.1`` or ``1.32.0-rc.1`` as (1, 32); ValueError for anything else."""
    found = _VERSION.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a Kubernetes version (expected MAJOR.MINOR, e.g. 1.32)")
    return int(found.group(1)), int(found.group(2))


@dataclass(frozen=True)
class Deprecation:
    api_version: str
    kind: str
    deprecated: Version
    removed: Version | None
    replacement: str  # the apiVersion (and kind, where it changes) to move to, or what to do instead

    def state(self, target: Version) -> str | None:
        """``removed``, ``deprecated`` or None (fine) for a cluster at ``target``."""
        if self.removed is not None and target >= self.removed:
            return "removed"
        return "deprecated" if target >= self.deprecated else None


def _table(*rows: tuple[str, str, str, str | None, str]) -> dict[tuple[str, str], Deprecation]:
    table: dict[tuple[str, str], Deprecation] = {}
    for api_version, kinds, deprecated, removed, replacement in rows:
        for kind in kinds.split():
            table[(api_version, kind)] = Deprecation(
                api_version, kind, parse_version(deprecated), parse_version(removed) if removed else None, replacement,
            )
    return table


DEPRECATIONS: dict[tuple[str, str], Deprecation] = _table(
    # removed in 1.16
    ("extensions/v1beta1", "Deployment DaemonSet ReplicaSet", "1.9", "1.16", "apps/v1"),
    ("apps/v1beta1", "Deployment StatefulSet ReplicaSet", "1.9", "1.16", "apps/v1"),
    ("apps/v1beta2", "Deployment StatefulSet DaemonSet ReplicaSet", "1.9", "1.16", "apps/v1"),
    ("extensions/v1beta1", "NetworkPolicy", "1.9", "1.16", "networking.k8s.io/v1"),
    ("extensions/v1beta1", "PodSecurityPolicy", "1.11", "1.16", "Pod Security Admission (PodSecurityPolicy is gone since 1.25)"),
    # removed in 1.22
    ("extensions/v1beta1", "Ingress", "1.14", "1.22", "networking.k8s.io/v1"),
    ("networking.k8s.io/v1beta1", "Ingress IngressClass", "1.19", "1.22", "networking.k8s.io/v1"),
    ("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration ValidatingWebhookConfiguration",
     "1.16", "1.22", "admissionregistration.k8s.io/v1"),
    ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition", "1.16", "1.22", "apiextensions.k8s.io/v1"),
    ("apiregistration.k8s.io/v1beta1", "APIService", "1.19", "1.22", "apiregistration.k8s.io/v1"),
    ("authentication.k8s.io/v1beta1", "TokenReview", "1.19", "1.22", "authentication.k8s.io/v1"),
    ("authorization.k8s.io/v1beta1",
     "LocalSubjectAccessReview SelfSubjectAccessReview SubjectAccessReview SelfSubjectRulesReview",
     "1.19", "1.22", "authorization.k8s.io/v1"),
    ("certificates.k8s.io/v1beta1", "CertificateSigningRequest", "1.19", "1.22", "certificates.k8s.io/v1"),
    ("coordination.k8s.io/v1beta1", "Lease", "1.19", "1.22", "coordination.k8s.io/v1"),
    ("rbac.authorization.k8s.io/v1beta1", "ClusterRole ClusterRoleBinding Role RoleBinding",
     "1.17", "1.22", "rbac.authorization.k8s.io/v1"),
    ("scheduling.k8s.io/v1beta1", "PriorityClass", "1.14", "1.22", "scheduling.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIDriver CSINode StorageClass VolumeAttachment", "1.19", "1.22", "storage.k8s.io/v1"),
    # removed in 1.25
    ("batch/v1beta1", "CronJob", "1.21", "1.25", "batch/v1"),
    ("discovery.k8s.io/v1beta1", "EndpointSlice", "1.21", "1.25", "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "Event", "1.22", "1.25", "events.k8s.io/v1"),
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.22", "1.25", "autoscaling/v2"),
    ("policy/v1beta1", "PodDisruptionBudget", "1.21", "1.25", "policy/v1 (where an empty selector selects every pod)"),
    ("policy/v1beta1", "PodSecurityPolicy", "1.21", "1.25", "Pod Security Admission or a policy webhook"),
    ("node.k8s.io/v1beta1", "RuntimeClass", "1.22", "1.25", "node.k8s.io/v1"),
    # removed in 1.26, 1.27, 1.29, 1.32
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.23", "1.26", "autoscaling/v2"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema PriorityLevelConfiguration", "1.23", "1.26",
     "flowcontrol.apiserver.k8s.io/v1"),
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity", "1.24", "1.27", "storage.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema PriorityLevelConfiguration", "1.26", "1.29",
     "flowcontrol.apiserver.k8s.io/v1"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema PriorityLevelConfiguration", "1.29", "1.32",
     "flowcontrol.apiserver.k8s.io/v1"),
    # deprecated, still served
    ("v1", "ComponentStatus", "1.19", None, "the API server's /livez and /readyz, and each component's health endpoint"),
    ("v1", "Endpoints", "1.33", None, "discovery.k8s.io/v1 EndpointSlice"),
)

def deprecation(api_version: str, kind: str) -> Deprecation | None:
    return DEPRECATIONS.get((api_version, kind))


def format_version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"
