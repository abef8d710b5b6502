"""Offline snapshots: the loaded model written as a ``v1 List`` that
``kubesteward diagnose --from-file`` (and ``kubectl``) can read back.

Only the slim fields are kept, so a snapshot is small and diagnosing it
gives exactly the findings of the live run. Secrets carry key names only:
their values are dropped by the loader before anything can be written.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from kubesteward.model.cluster import KINDS, ClusterModel
from kubesteward.model.files import SNAPSHOT_KEY


def snapshot_document(model: ClusterModel) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for spec in KINDS:
        api_version = spec.resource.api_version
        for obj in model.objects(spec.kind):
            body = msgspec.to_builtins(obj)
            if spec.kind == "Secret":
                body.pop("data", None)
                body.pop("stringData", None)
            items.append({"apiVersion": api_version, "kind": spec.kind, **body})
    return {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {},
        SNAPSHOT_KEY: {
            "snapshotTime": model.now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "context": model.context,
            "loadedKinds": sorted(model.loaded),
            "partial": {k: sorted(v) for k, v in model.partial.items()},
            "skipped": [
                {"kind": s.kind, "reason": s.reason, "namespaces": list(s.namespaces), "unread": s.unread}
                for s in model.skipped
            ],
        },
        "items": items,
    }
