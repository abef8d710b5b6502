"""Where an object keeps the pods it makes: its pod template, found the same way for every kind.

Built-in workloads keep it at known paths (a Pod's ``spec``, a Deployment's ``spec.template.spec``,
a CronJob's ``spec.jobTemplate.spec.template.spec``); anything else that makes pods (an Argo
Rollout, a Knative Service, an operator's CRD) is found by shape: a ``template`` whose ``spec``
holds a list of containers, under the object's ``spec``. So policy checks CRD workloads, and
counts them as pod owners, without knowing them.

Works on full objects as plain data (:meth:`kubesteward.model.full.FullObject.manifest`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# kind -> path of the pod spec, for the kinds whose place is known (the rest are found by shape)
KNOWN_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Kinds that never hold a pod template, however their spec looks (no search in them).
_NOT_WORKLOADS = frozenset({
    "Service", "ConfigMap", "Secret", "Namespace", "Node", "Event", "Endpoints", "EndpointSlice",
    "PersistentVolume", "PersistentVolumeClaim", "ServiceAccount", "Role", "ClusterRole", "RoleBinding",
    "ClusterRoleBinding", "NetworkPolicy", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget",
    "CustomResourceDefinition", "StorageClass", "LimitRange", "ResourceQuota", "PriorityClass",
})
_SEARCH_DEPTH = 4  # how deep under `spec` a CRD's pod template is looked for
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class ContainerRef:
    """One container of a pod template, with where it sits in its object."""

    container: Mapping[str, Any]
    list_name: str  # containers, initContainers or ephemeralContainers
    index: int
    path: tuple[str | int, ...]  # from the object's root

    @property
    def name(self) -> str:
        return str(self.container.get("name") or f"#{self.index}")

    @property
    def init(self) -> bool:
        return self.list_name == "initContainers"

    @property
    def sidecar(self) -> bool:
        """A native sidecar: an init container that keeps running (restartPolicy Always)."""
        return self.init and self.container.get("restartPolicy") == "Always"

    def field(self, *names: str | int) -> tuple[str | int, ...]:
        return (*self.path, *names)


@dataclass(frozen=True)
class PodTemplate:
    """The pods an object makes (for a Pod, the pod itself)."""

    owner: Mapping[str, Any]  # the whole object
    path: tuple[str | int, ...]  # of the pod spec, from the object's root
    spec: Mapping[str, Any]
    labels: Mapping[str, str]  # the pods' labels
    annotations: Mapping[str, str]

    @property
    def kind(self) -> str:
        return str(self.owner.get("kind", ""))

    def containers(self, *, init: bool = True, ephemeral: bool = False) -> Iterator[ContainerRef]:
        """Every container, init containers first (``init``: include them; ``ephemeral``: debug containers too)."""
        for list_name in CONTAINER_LISTS:
            if (list_name == "initContainers" and not init) or (list_name == "ephemeralContainers" and not ephemeral):
                continue
            items = self.spec.get(list_name)
            if not isinstance(items, list):
                continue
            for index, container in enumerate(items):
                if isinstance(container, Mapping):
                    yield ContainerRef(container, list_name, index, (*self.path, list_name, index))

    def field(self, *names: str | int) -> tuple[str | int, ...]:
        return (*self.path, *names)

    @property
    def metadata_path(self) -> tuple[str | int, ...]:
        """Where the pods' metadata sits (a Pod's own, or the template's)."""
        return ("metadata",) if self.path == ("spec",) else (*self.path[:-1], "metadata")


def pod_template_of(obj: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of ``obj``, or None for an object that makes no pods."""
    kind = str(obj.get("kind", ""))
    if not may_make_pods(kind):
        return None
    known = KNOWN_PATHS.get(kind)
    if known is not None:
        return _template_at(obj, known)
    spec = obj.get("spec")
    return _search(obj, spec, ("spec",), _SEARCH_DEPTH) if isinstance(spec, Mapping) else None


def _template_at(obj: Mapping[str, Any], path: tuple[str, ...]) -> PodTemplate | None:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping):
        return None
    meta_node: Any = obj if path == ("spec",) else _at(obj, path[:-1])
    meta = meta_node.get("metadata") if isinstance(meta_node, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    return PodTemplate(obj, path, node, _strings(meta.get("labels")), _strings(meta.get("annotations")))


def _search(obj: Mapping[str, Any], node: Mapping[str, Any], path: tuple[str, ...], depth: int) -> PodTemplate | None:
    template = node.get("template")
    if isinstance(template, Mapping) and _is_pod_spec(template.get("spec")):
        return _template_at(obj, (*path, "template", "spec"))
    if depth == 0:
        return None
    for key, child in node.items():
        if isinstance(child, Mapping) and key not in ("metadata", "status", "selector"):
            found = _search(obj, child, (*path, str(key)), depth - 1)
            if found is not None:
                return found
    return None


def _is_pod_spec(node: Any) -> bool:
    if not isinstance(node, Mapping):
        return False
    containers = node.get("containers")
    return isinstance(containers, list) and bool(containers) and all(isinstance(c, Mapping) for c in containers)


def _at(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = obj
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def may_make_pods(kind: str) -> bool:
    """Whether objects of ``kind`` are searched for a pod template at all (a custom resource named like
    a built-in that never holds one, Knative's ``Service``, is not: it would be taken for the built-in)."""
    return kind not in _NOT_WORKLOADS


def schema_has_pod_template(schema: Any) -> bool:
    """Whether a CRD version's ``openAPIV3Schema`` gives its objects a pod template: a ``template``
    whose ``spec`` has ``containers``, under ``spec``, as deep as :func:`pod_template_of` looks in
    objects. A template the schema leaves open (``x-kubernetes-preserve-unknown-fields``) cannot tell."""
    spec = _properties(schema).get("spec")
    return isinstance(spec, Mapping) and _schema_search(spec, _SEARCH_DEPTH)


def _properties(node: Any) -> Mapping[str, Any]:
    found = node.get("properties") if isinstance(node, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _schema_search(node: Mapping[str, Any], depth: int) -> bool:
    fields = _properties(node)
    template_spec = _properties(fields.get("template")).get("spec")
    if "containers" in _properties(template_spec):
        return True
    return depth > 0 and any(
        isinstance(child, Mapping) and key not in ("metadata", "status", "selector") and _schema_search(child, depth - 1)
        for key, child in fields.items()
    )


def controlled(obj: Mapping[str, Any]) -> bool:
    """Whether a controller owns ``obj`` (a Deployment's ReplicaSet, a Job's pod, a Rollout's
    ReplicaSet): its pods are then judged on the controller's template, once."""
    meta = obj.get("metadata")
    refs = meta.get("ownerReferences") if isinstance(meta, Mapping) else None
    return isinstance(refs, list) and any(isinstance(r, Mapping) and r.get("controller") is True for r in refs)


def dotted(path: tuple[str | int, ...]) -> str:
    """``spec.template.spec.containers[0].image``: a field path as people write it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def pointer(path: tuple[str | int, ...]) -> str:
    """The JSON Pointer (RFC 6901) of a field path: ``/spec/template/metadata/annotations/a~1b``."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def unpointer(path: str) -> tuple[str | int, ...]:
    """The field path of a JSON Pointer (:func:`pointer`'s inverse; a numeric step is an index)."""
    steps: list[str | int] = []
    for raw in path.split("/")[1:]:
        text = raw.replace("~1", "/").replace("~0", "~")
        steps.append(int(text) if text.isdigit() else text)
    return tuple(steps)
