"""Which kinds the model holds, where they live in the API, and their slim struct."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from kubesteward.cluster import resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.model import objects as o
from kubesteward.redaction import LAST_APPLIED, redact_annotations


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

# Kinds listed live only in place of one that could not be listed (forbidden, or
# its API not served), so a cluster serving the preferred kind pays no extra
# LIST: the legacy Endpoints where EndpointSlices are out of reach. Files and
# snapshots hold whichever they hold; analyzers prefer the first when loaded.
STAND_INS: dict[str, KindSpec] = {
    "EndpointSlice": _spec("v1", "Endpoints", o.Endpoints),
}

BY_KIND: dict[str, KindSpec] = {spec.kind: spec for spec in (*MODEL_KINDS, *STAND_INS.values())}

# Field selectors per kind: the LISTs a kind is loaded with (one LIST when absent).
# Events are by far the most numerous objects and only Warning events are
# evidence; the one exception is a claim's latest Normal event, below.
FIELD_SELECTORS: dict[str, tuple[str, ...]] = {
    "Event": ("type!=Normal",),
}

# A claim's Normal events ("waiting for a volume to be created by external
# provisioner X") are the evidence that a stuck claim's provisioner is not
# running. They are listed only where a claim is unbound (``load_cluster``):
# the API server keeps no watch cache of Events, so every Event LIST with a
# field selector reads all the events of its scope from etcd, whatever it
# returns. Listing them everywhere doubled the API server's CPU for a
# diagnosis of 10k pods (2.0 against 0.96 CPU-s, 22k events).
CLAIM_NOTES_SELECTOR = "type=Normal,involvedObject.kind=PersistentVolumeClaim"


# Events' strings repeated across many objects (namespaces, kinds) are shared
# instead of kept once per event. sys.intern is a single C call, and its table
# does not keep a string alive once no object uses it.
_shared = sys.intern


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
    names only (values never stay in the model); annotations that may hold
    secrets are redacted (:func:`kubesteward.redaction.redact_annotations`:
    every object the model holds comes through here); events are compacted.

    Pods stay as decoded. Interning their repeated strings and dropping the
    service-account token volume saved 24 MB at 10k pods, but cost ~0.1
    CPU-s during the load, on the same two cores as the API server serving
    it: a cold `diagnose -A` took 1.70 s with it and 1.46 s without (median
    of 12 interleaved runs; peak RSS 94 MB and 118 MB, the budget is 150).
    """
    if isinstance(obj, o.Event):  # (their metadata holds no annotations)
        _compact_event(obj)
        return obj
    annotations = obj.metadata.annotations
    if annotations and (LAST_APPLIED in annotations or isinstance(obj, o.Secret)):
        redact_annotations(annotations, secret=isinstance(obj, o.Secret))
    if isinstance(obj, o.Secret):
        keys = set(obj.keys or ()) | set(obj.data or ()) | set(obj.stringData or ())
        obj.keys, obj.data, obj.stringData = sorted(keys), None, None
    elif isinstance(obj, o.ConfigMap):
        keys = set(obj.keys or ()) | set(obj.data or ()) | set(obj.binaryData or ())
        obj.keys, obj.data, obj.binaryData = sorted(keys), None, None
    return obj
