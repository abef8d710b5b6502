"""The one normalisation every drift mode applies: what is expected to differ between two copies of an
object (two namespaces, two clusters, a manifest and the live object) taken out before comparing.

Pure functions over manifests as plain data (:meth:`kubesteward.model.full.FullObject.manifest`), so the
same rules serve every mode. Three groups of rules:

- **Bookkeeping** the API server writes on every object: ``metadata.namespace``, ``uid``,
  ``resourceVersion``, ``generation``, ``creationTimestamp`` (also the ``null`` one in pod templates),
  ``managedFields``, ``selfLink``, ``deletionTimestamp``, the owner references' ``uid``, the
  last-applied annotation, ``deployment.kubernetes.io/revision``, the PVC binding annotations, the
  ``kubernetes.io/metadata.name`` label, and ``status``.
- **Cluster-assigned** fields: a Service's ``clusterIP``/``clusterIPs`` (kept when ``None``: headless
  is a choice), ``healthCheckNodePort`` and, unless asked to keep them, its ports' ``nodePort`` (on a
  live object one cannot tell an assigned port from a chosen one); a ServiceAccount's ``secrets``; a
  PVC's ``volumeName``; a generated ``metadata.name`` (``generateName`` is compared instead).
- **The object's own namespace** where it is referred to: a RoleBinding subject's ``namespace`` when it is
  the binding's (so a copy of a namespace binds the same subjects).
- **User rules** (:class:`IgnoreRule`): a JSON pointer (``/spec/replicas``) or a path glob
  (``spec.template.spec.containers[*].image``), optionally for one kind only (``Deployment:/spec/replicas``).

Fields that are ``null`` are dropped (the API treats them as absent), and so are ``annotations`` and
``labels`` left empty (an object whose only annotation was the last-applied one has none to compare).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubesteward.errors import UsageError
from kubesteward.redaction import LAST_APPLIED

_METADATA_FIELDS = (
    "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
    "deletionTimestamp", "deletionGracePeriodSeconds",
)
_ANNOTATIONS = frozenset({
    LAST_APPLIED,
    "deployment.kubernetes.io/revision",
    # Written by the PV controller and the scheduler when a claim binds.
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.kubernetes.io/selected-node",
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
})
_LABELS = frozenset({"kubernetes.io/metadata.name"})
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
# Made in every namespace by the API server's root-CA publisher.
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


@dataclass(frozen=True)
class IgnoreRule:
    """A field left out of every comparison: ``path`` segments (``*`` or a glob matches any key or list
    index), for objects of ``kind`` (``Kind`` or ``Kind.group``; None: every kind)."""

    path: tuple[str, ...]
    kind: str | None = None
    text: str = ""

    def applies_to(self, manifest: Mapping[str, Any]) -> bool:
        if self.kind is None:
            return True
        kind = str(manifest.get("kind") or "")
        group = str(manifest.get("apiVersion") or "").rpartition("/")[0]
        return self.kind in (kind, f"{kind}.{group}")


_KIND_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9]*(?:\.[a-z0-9.-]+)?):(?=[/A-Za-z])")
_GLOB_SEGMENT = re.compile(r"""\[(?:"([^"]*)"|'([^']*)'|([^\]]*))\]|([^.\[\]]+)""")


def parse_ignore(text: str) -> IgnoreRule:
    """An ``--ignore`` rule: ``[Kind:]/json/pointer`` or ``[Kind:]dotted.path[*].glob``; a bad one is a
    :class:`~kubesteward.errors.UsageError` naming it."""
    rest, kind = text.strip(), None
    prefix = _KIND_PREFIX.match(rest)
    if prefix:
        kind, rest = prefix.group(1), rest[prefix.end():]
    path = _pointer_segments(rest) if rest.startswith("/") else _glob_segments(rest)
    if not path or any(segment == "" for segment in path):
        raise UsageError(
            f"--ignore {text!r}: give a JSON pointer (/spec/replicas) or a path "
            f"(spec.template.spec.containers[*].image), optionally after Kind: (Deployment:/spec/replicas)"
        )
    return IgnoreRule(path=path, kind=kind, text=text)


def parse_ignores(texts: Iterable[str]) -> tuple[IgnoreRule, ...]:
    return tuple(parse_ignore(text) for text in texts)


def _pointer_segments(pointer: str) -> tuple[str, ...]:
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def _glob_segments(path: str) -> tuple[str, ...]:
    segments: list[str] = []
    position = 0
    for match in _GLOB_SEGMENT.finditer(path):
        if path[position:match.start()] not in ("", ".") or (position == 0 and match.start() > 0):
            return ()  # text the grammar does not cover: refused by the caller
        segments.append(next(group for group in match.groups() if group is not None))
        position = match.end()
    return tuple(segments) if position == len(path) and not path.endswith(":") else ()


def pointer(path: Sequence[str | int]) -> str:
    """``path`` as a JSON pointer (RFC 6901)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def excluded(manifest: Mapping[str, Any]) -> bool:
    """True for objects no comparison should hold: made by a controller (a ReplicaSet, a CronJob's Job,
    a pod), a ServiceAccount's token Secret, and the root-CA ConfigMap of every namespace."""
    metadata = manifest.get("metadata")
    meta = metadata if isinstance(metadata, Mapping) else {}
    owners = meta.get("ownerReferences")
    if isinstance(owners, list) and any(isinstance(o, Mapping) and o.get("controller") for o in owners):
        return True
    kind = manifest.get("kind")
    if kind == "Secret" and manifest.get("type") == SERVICE_ACCOUNT_TOKEN:
        return True
    return kind == "ConfigMap" and meta.get("name") == ROOT_CA_CONFIGMAP


def normalise(
    manifest: Mapping[str, Any], ignore: Sequence[IgnoreRule] = (), *, keep_node_ports: bool = False,
) -> dict[str, Any]:
    """A copy of ``manifest`` without what is expected to differ (the module's rules) and without the
    fields ``ignore`` names. ``keep_node_ports``: compare Service node ports (when the desired side
    chose them); otherwise they are taken for cluster-assigned."""
    out: dict[str, Any] = _copy_without_nulls(manifest)  # a copy of the caller's data, changed in place below
    out.pop("status", None)
    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        _normalise_metadata(metadata)
    kind = out.get("kind")
    spec = out.get("spec")
    if kind == "Service" and isinstance(spec, dict):
        _normalise_service(spec, keep_node_ports)
    elif kind == "ServiceAccount":
        out.pop("secrets", None)
    elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
        spec.pop("volumeName", None)
    elif kind == "RoleBinding":
        _relative_subjects(out.get("subjects"), str(manifest.get("metadata", {}).get("namespace") or ""))
    _drop_template_timestamps(out)
    for rule in ignore:
        if rule.applies_to(manifest):
            _remove(out, rule.path)
    return out


def _normalise_metadata(metadata: dict[str, Any]) -> None:
    for field in _METADATA_FIELDS:
        metadata.pop(field, None)
    generate_name = metadata.get("generateName")
    if isinstance(generate_name, str) and str(metadata.get("name") or "").startswith(generate_name):
        metadata.pop("name", None)
    for field, dropped in (("annotations", _ANNOTATIONS), ("labels", _LABELS)):
        values = metadata.get(field)
        if isinstance(values, dict):
            for key in dropped:
                values.pop(key, None)
            if not values:
                del metadata[field]
    owners = metadata.get("ownerReferences")
    if isinstance(owners, list):
        for owner in owners:
            if isinstance(owner, dict):
                owner.pop("uid", None)


def _normalise_service(spec: dict[str, Any], keep_node_ports: bool) -> None:
    if spec.get("clusterIP") != "None":
        spec.pop("clusterIP", None)
    if spec.get("clusterIPs") != ["None"]:
        spec.pop("clusterIPs", None)
    spec.pop("healthCheckNodePort", None)
    ports = spec.get("ports")
    if not keep_node_ports and isinstance(ports, list):
        for port in ports:
            if isinstance(port, dict):
                port.pop("nodePort", None)


def _relative_subjects(subjects: Any, namespace: str) -> None:
    # A binding's subject in the binding's own namespace is the same subject in a copy of the namespace.
    if isinstance(subjects, list) and namespace:
        for subject in subjects:
            if isinstance(subject, dict) and subject.get("namespace") == namespace:
                del subject["namespace"]


def _drop_template_timestamps(node: Any) -> None:
    # Pod templates (of workloads, a CronJob's job template, custom resources) carry
    # ``metadata.creationTimestamp: null`` from their Go type, present on one side only.
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key == "metadata" and isinstance(value, dict):
                value.pop("creationTimestamp", None)
                if not value:
                    del node[key]
            _drop_template_timestamps(value)
    elif isinstance(node, list):
        for item in node:
            _drop_template_timestamps(item)


def _remove(node: Any, path: Sequence[str]) -> None:
    if not path:
        return
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        keys = [key for key in node if fnmatch.fnmatchcase(str(key), head)] if _is_glob(head) else [head]
        for key in keys:
            if key not in node:
                continue
            if rest:
                _remove(node[key], rest)
            else:
                del node[key]
    elif isinstance(node, list):
        if _is_glob(head):
            indexes = [i for i in range(len(node)) if fnmatch.fnmatchcase(str(i), head)]
        else:
            indexes = [int(head)] if head.isdigit() and int(head) < len(node) else []
        for index in reversed(indexes):
            if rest:
                _remove(node[index], rest)
            else:
                del node[index]


def _is_glob(segment: str) -> bool:
    return any(char in segment for char in "*?[")


def _copy_without_nulls(node: Any) -> Any:
    """A copy of ``node`` (plain data) without ``null`` fields (an empty map, such as ``emptyDir: {}``,
    means something: kept)."""
    if isinstance(node, (str, int, float, bool)):  # most nodes: leaves, told apart before the slower ABC check
        return node
    if isinstance(node, (dict, Mapping)):
        return {key: _copy_without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_copy_without_nulls(item) for item in node]
    return node
