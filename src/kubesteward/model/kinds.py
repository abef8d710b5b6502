"""Which kinds the model holds, where they live in the API, and their slim struct."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubesteward.cluster import resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.model import objects as o


@dataclass(frozen=True)
class KindSpec:
    kind: str
    resource: ResourceType
    struct: type[Any]


def _spec(api_version: str, kind: str, struct: type[Any]) -> KindSpec:
    rt = resources.builtin(api_version, kind)
    assert rt is not None, kind
    return KindSpec(kind, rt, struct)


MODEL_KINDS: tuple[KindSpec, ...] = (
    _spec("v1", "Pod", o.Pod),
    _spec("v1", "Node", o.Node),
    _spec("v1", "Namespace", o.Namespace),
    _spec("apps/v1", "Deployment", o.Deployment),
    _spec("apps/v1", "ReplicaSet", o.ReplicaSet),
    _spec("apps/v1", "StatefulSet", o.StatefulSet),
    _spec("apps/v1", "DaemonSet", o.DaemonSet),
    _spec("batch/v1", "Job", o.Job),
    _spec("batch/v1", "CronJob", o.CronJob),
    _spec("v1", "Service", o.Service),
    _spec("discovery.k8s.io/v1", "EndpointSlice", o.EndpointSlice),
    _spec("networking.k8s.io/v1", "Ingress", o.Ingress),
    _spec("networking.k8s.io/v1", "IngressClass", o.IngressClass),
    _spec("networking.k8s.io/v1", "NetworkPolicy", o.NetworkPolicy),
    _spec("v1", "PersistentVolumeClaim", o.PersistentVolumeClaim),
    _spec("v1", "PersistentVolume", o.PersistentVolume),
    _spec("storage.k8s.io/v1", "StorageClass", o.StorageClass),
    _spec("autoscaling/v2", "HorizontalPodAutoscaler", o.HorizontalPodAutoscaler),
    _spec("policy/v1", "PodDisruptionBudget", o.PodDisruptionBudget),
    _spec("v1", "ServiceAccount", o.ServiceAccount),
    _spec("v1", "ConfigMap", o.ConfigMap),
    _spec("v1", "Secret", o.Secret),
    _spec("v1", "Event", o.Event),
)

BY_KIND: dict[str, KindSpec] = {spec.kind: spec for spec in MODEL_KINDS}


# Low-cardinality strings repeated on every object (namespaces, node names,
# condition types and statuses) are shared instead of kept once per object.
_SHARED: dict[str, str] = {}
_DEFAULT_TOLERATIONS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})


def _shared(value: str) -> str:
    return _SHARED.setdefault(value, value)


def _compact_pod(pod: o.Pod) -> None:
    volumes = pod.spec.volumes
    if volumes:
        # The service-account token volume every pod gets only names kube-root-ca.crt,
        # which no check reads; it is a sixth of a slim pod's memory.
        kept = [v for v in volumes if not (v.projected is not None and v.name.startswith("kube-api-access-"))]
        pod.spec.volumes = kept or None
    tolerations = pod.spec.tolerations
    if tolerations:
        # Admission adds these two to every pod; they never explain a scheduling failure.
        kept_tolerations = [t for t in tolerations if t.key not in _DEFAULT_TOLERATIONS or t.effect != "NoExecute"]
        pod.spec.tolerations = kept_tolerations or None
    for cond in pod.status.conditions or ():
        cond.type = _shared(cond.type)
        cond.status = _shared(cond.status)
    pod.metadata.namespace = _shared(pod.metadata.namespace)
    pod.spec.nodeName = _shared(pod.spec.nodeName)


def strip_values(obj: Any) -> Any:
    """Prepare a decoded object for the model: ConfigMaps and Secrets keep key
    names only (values never stay in the model); pods are compacted."""
    if isinstance(obj, o.Pod):
        _compact_pod(obj)
    elif isinstance(obj, o.Event):
        obj.metadata.namespace = _shared(obj.metadata.namespace)
        obj.involvedObject.namespace = _shared(obj.involvedObject.namespace)
    elif isinstance(obj, o.Secret):
        keys = set(obj.keys or ()) | set(obj.data or ()) | set(obj.stringData or ())
        obj.keys, obj.data, obj.stringData = sorted(keys), None, None
    elif isinstance(obj, o.ConfigMap):
        keys = set(obj.keys or ()) | set(obj.data or ()) | set(obj.binaryData or ())
        obj.keys, obj.data, obj.binaryData = sorted(keys), None, None
    return obj
