"""API resource types: where each kind lives in the REST API.

Built-in kinds are known statically, so a scan needs no discovery round trip;
anything else (CRDs, unusual groups) is resolved through API discovery.
``BUILTIN`` is the one place a built-in's group, version, plural and scope are
written: the kinds the model holds refer to it (``model.cluster.holds``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self, namespace: str | None = None) -> str:
        """``/api/v1/pods`` or ``/apis/apps/v1/namespaces/ns/deployments``."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            return f"{root}/namespaces/{namespace}/{self.plural}"
        return f"{root}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        if self.namespaced and not namespace:
            raise ValueError(f"{self.kind} {name!r} is namespaced; a namespace is required")
        return f"{self.collection_path(namespace)}/{name}"


def _rt(api_version: str, kind: str, plural: str, namespaced: bool = True) -> ResourceType:
    group, _, version = api_version.rpartition("/")
    return ResourceType(group=group, version=version, kind=kind, plural=plural, namespaced=namespaced)


BUILTIN: tuple[ResourceType, ...] = (
    _rt("v1", "Pod", "pods"),
    _rt("v1", "Node", "nodes", namespaced=False),
    _rt("v1", "Namespace", "namespaces", namespaced=False),
    _rt("v1", "Service", "services"),
    _rt("v1", "Endpoints", "endpoints"),
    _rt("v1", "Event", "events"),
    _rt("v1", "ConfigMap", "configmaps"),
    _rt("v1", "Secret", "secrets"),
    _rt("v1", "ServiceAccount", "serviceaccounts"),
    _rt("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    _rt("v1", "PersistentVolume", "persistentvolumes", namespaced=False),
    _rt("v1", "ResourceQuota", "resourcequotas"),
    _rt("v1", "LimitRange", "limitranges"),
    _rt("apps/v1", "Deployment", "deployments"),
    _rt("apps/v1", "ReplicaSet", "replicasets"),
    _rt("v1", "ReplicationController", "replicationcontrollers"),
    _rt("apps/v1", "StatefulSet", "statefulsets"),
    _rt("apps/v1", "DaemonSet", "daemonsets"),
    _rt("batch/v1", "Job", "jobs"),
    _rt("batch/v1", "CronJob", "cronjobs"),
    _rt("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
    _rt("networking.k8s.io/v1", "Ingress", "ingresses"),
    _rt("networking.k8s.io/v1", "IngressClass", "ingressclasses", namespaced=False),
    _rt("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    _rt("storage.k8s.io/v1", "StorageClass", "storageclasses", namespaced=False),
    _rt("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
    _rt("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    _rt("rbac.authorization.k8s.io/v1", "Role", "roles"),
    _rt("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    _rt("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    _rt("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _rt("coordination.k8s.io/v1", "Lease", "leases"),
    _rt("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False),
    _rt("metrics.k8s.io/v1beta1", "PodMetrics", "pods"),
    _rt("metrics.k8s.io/v1beta1", "NodeMetrics", "nodes", namespaced=False),
)

_BY_API_KIND: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in BUILTIN}
_BY_NAME: dict[str, ResourceType] = {}
for _r in BUILTIN:
    if _r.group == "metrics.k8s.io":
        continue
    _BY_NAME.setdefault(_r.kind.lower(), _r)
    _BY_NAME.setdefault(_r.plural, _r)

POD = _BY_API_KIND[("v1", "Pod")]
NODE = _BY_API_KIND[("v1", "Node")]
NAMESPACE = _BY_API_KIND[("v1", "Namespace")]
CONFIGMAP = _BY_API_KIND[("v1", "ConfigMap")]
EVENT = _BY_API_KIND[("v1", "Event")]


def builtin(api_version: str, kind: str) -> ResourceType | None:
    return _BY_API_KIND.get((api_version, kind))


def by_name(name: str) -> ResourceType | None:
    """Look up a built-in by kind, lowercase kind or plural (``deployment``, ``deployments``)."""
    return _BY_NAME.get(name.lower())
