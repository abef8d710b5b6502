"""Which kinds the model holds, where they live in the API, and their slim struct."""

from __future__ import annotations

import sys
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

# Field selectors per kind: the LISTs a kind is loaded with (one LIST when absent).
# Events are by far the most numerous objects and only Warning events are
# evidence; the one exception is a PVC's latest Normal event ("waiting for
# a volume to be created by external provisioner X").
FIELD_SELECTORS: dict[str, tuple[str, ...]] = {
    "Event": ("type!=Normal", "type=Normal,involvedObject.kind=PersistentVolumeClaim"),
}


# Low-cardinality strings repeated on every object (namespaces, node names,
# condition types, label values, images, quantities) are shared instead of
# kept once per object. Never timestamps or names: those are unique.
# sys.intern is a single C call (a third of the cost of a dict-backed
# function here, ~250k calls for 10k pods), and its table does not keep a
# string alive once no object uses it.
_shared = sys.intern
_TIMED_POD_CONDITIONS = frozenset({"Ready", "PodScheduled"})


def _compact_pod(pod: o.Pod) -> None:
    volumes = pod.spec.volumes
    if volumes:
        # The service-account token volume every pod gets only names kube-root-ca.crt,
        # which no check reads; it is a sixth of a slim pod's memory.
        kept = [v for v in volumes if not (v.projected is not None and v.name.startswith("kube-api-access-"))]
        pod.spec.volumes = kept or None
    for cond in pod.status.conditions or ():
        cond.type = _shared(cond.type)
        cond.status = _shared(cond.status)
        if cond.type not in _TIMED_POD_CONDITIONS:
            cond.lastTransitionTime = None  # only Ready's and PodScheduled's age is ever asked
    meta = pod.metadata
    meta.namespace = _shared(meta.namespace)
    if meta.labels:
        # Label values repeat across a workload's replicas (app, tier, template hash).
        meta.labels = {key: _shared(value) for key, value in meta.labels.items()}
    for ref in meta.ownerReferences or ():
        ref.kind, ref.apiVersion = _shared(ref.kind), _shared(ref.apiVersion)
    pod.spec.nodeName = _shared(pod.spec.nodeName)
    pod.spec.schedulerName = _shared(pod.spec.schedulerName)
    for container in pod.spec.containers:
        container.name, container.image = _shared(container.name), _shared(container.image)
        for port in container.ports or ():
            port.name = _shared(port.name)
        resources = container.resources
        if resources is not None:
            if resources.requests:
                resources.requests = {k: _shared(v) for k, v in resources.requests.items()}
            if resources.limits:
                resources.limits = {k: _shared(v) for k, v in resources.limits.items()}
    for status in pod.status.containerStatuses or ():
        status.name, status.image = _shared(status.name), _shared(status.image)


def _compact_event(event: o.Event) -> None:
    """Events are the most numerous objects: keep when, how often, what and about whom."""
    event.lastTimestamp = event.last_seen or None
    event.count = event.occurrences
    event.firstTimestamp = event.eventTime = None
    event.series = None
    event.source = None
    event.metadata.namespace = _shared(event.metadata.namespace)
    ref = event.involvedObject
    ref.namespace = _shared(ref.namespace)
    ref.kind = _shared(ref.kind)
    ref.apiVersion = ""


def strip_values(obj: Any) -> Any:
    """Prepare a decoded object for the model: ConfigMaps and Secrets keep key
    names only (values never stay in the model); pods are compacted."""
    if isinstance(obj, o.Pod):
        _compact_pod(obj)
    elif isinstance(obj, o.Event):
        _compact_event(obj)
    elif isinstance(obj, o.Secret):
        keys = set(obj.keys or ()) | set(obj.data or ()) | set(obj.stringData or ())
        obj.keys, obj.data, obj.stringData = sorted(keys), None, None
    elif isinstance(obj, o.ConfigMap):
        keys = set(obj.keys or ()) | set(obj.data or ()) | set(obj.binaryData or ())
        obj.keys, obj.data, obj.binaryData = sorted(keys), None, None
    return obj
