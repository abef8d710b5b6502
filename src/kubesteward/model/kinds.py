"""Which kinds the model lists and how: derived from their one declaration, ``ClusterModel``'s
attributes (:func:`kubesteward.model.cluster.holds`), and how each is listed and made model-ready."""

from __future__ import annotations

import sys
from typing import Any

from kubesteward.model import objects as o
from kubesteward.model.cluster import KINDS, KindSpec
from kubesteward.redaction import LAST_APPLIED, redact_annotations

__all__ = ["BY_KIND", "CLAIM_NOTES_SELECTOR", "FIELD_SELECTORS", "MODEL_KINDS", "STAND_INS", "KindSpec", "strip_values"]

# The kinds a live load lists, in the order the model declares them.
MODEL_KINDS: tuple[KindSpec, ...] = tuple(spec for spec in KINDS if spec.stands_in_for is None)

# Kinds listed live only in place of one that could not be listed (forbidden, or
# its API not served), so a cluster serving the preferred kind pays no extra
# LIST: the legacy Endpoints where EndpointSlices are out of reach. Files and
# snapshots hold whichever they hold; analyzers prefer the first when loaded.
STAND_INS: dict[str, KindSpec] = {spec.stands_in_for: spec for spec in KINDS if spec.stands_in_for is not None}

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
# returns: listing them everywhere would make the API server read every event
# once more per diagnosis (see docs/performance.md).
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

    Pods stay as decoded: interning their repeated strings would save memory
    but costs CPU during the load, on the cores the API server needs to serve
    it, and the memory budget is met without it (docs/performance.md).
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
