"""The safe fixes: what `lint --fix` writes to files and the mutating webhook patches at admission.

Pure functions over one manifest, for any kind with a pod template (CRDs included). A fix only ever
*adds* a value where the manifest sets none, so applying the fixes twice is applying them once, and
a value someone chose is never changed. Only what cannot stop a workload from running is fixed:

- resources: the profile's default requests (``policy.settings.defaultRequests``) for a resource that
  has neither a request nor a limit (with a limit, the API server makes the request equal to it), and
  its default limits (``defaultLimits``) where the container sets none, unless the limit would fall
  below the request (the API server would reject the object);
- ``allowPrivilegeEscalation: false`` on every container that is not privileged and adds no
  ``SYS_ADMIN`` (the API server rejects the pair);
- the pod's ``seccompProfile: RuntimeDefault`` where neither the pod nor a seccomp annotation sets one.

Not fixed, because a wrong guess stops the workload: ``runAsNonRoot``/``runAsUser`` (an image built to
run as root no longer starts), dropping every capability, a read-only root filesystem, probes. Pods
for Windows get no security-context fixes (the API server forbids those fields there).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubesteward.model.semantics.pod_templates import ContainerRef, PodTemplate, pod_template_of, pointer, unpointer
from kubesteward.model.semantics.quantity import parse_quantity
from kubesteward.policy.settings import PolicySettings

Path = tuple[str | int, ...]
_SECCOMP_ANNOTATIONS = ("seccomp.security.alpha.kubernetes.io/", "container.seccomp.security.alpha.kubernetes.io/")


@dataclass(frozen=True)
class Fix:
    """Set ``value`` at ``path`` (from the object's root) where the manifest has nothing there."""

    path: Path
    value: Any
    reason: str  # what was missing, for people: "container app: no memory limit"


def safe_fixes(manifest: Mapping[str, Any], settings: PolicySettings | None = None) -> list[Fix]:
    """Every safe fix of ``manifest`` (none for an object without a pod template)."""
    template = pod_template_of(manifest)
    if template is None:
        return []
    settings = settings or PolicySettings()
    fixes: list[Fix] = []
    windows = _get(template.spec, "os", "name") == "windows"
    for container in template.containers():
        fixes.extend(_resource_fixes(container, settings))
        if not windows:
            fixes.extend(_escalation_fix(container))
    if not windows:
        fixes.extend(_seccomp_fix(template))
    return fixes


def json_patch(manifest: Mapping[str, Any], fixes: Sequence[Fix]) -> list[dict[str, Any]]:
    """The fewest JSON Patch (RFC 6902) ``add`` operations making ``fixes`` on ``manifest``: one per
    missing branch (a container without ``resources`` gets the whole mapping in one operation);
    a fix whose place already holds a value is left out. Paths are JSON Pointers (``~1`` for ``/``)."""
    tree: dict[str | int, Any] = {}
    for fix in fixes:
        node = tree
        for key in fix.path[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(fix.path[-1], _Leaf(fix.value))
    operations: list[dict[str, Any]] = []
    _emit(manifest, tree, (), operations)
    return operations


def apply_fixes(manifest: Mapping[str, Any], fixes: Sequence[Fix]) -> dict[str, Any]:
    """A copy of ``manifest`` with ``fixes`` made (what the API server's JSON Patch gives)."""
    fixed: dict[str, Any] = copy.deepcopy(dict(manifest))
    for operation in json_patch(fixed, fixes):
        *parents, last = unpointer(operation["path"])
        node: Any = fixed
        for key in parents:
            node = node[key]
        node[last] = copy.deepcopy(operation["value"])
    return fixed


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _emit(node: Any, additions: Mapping[str | int, Any], prefix: Path, out: list[dict[str, Any]]) -> None:
    for key, wanted in additions.items():
        child = _child(node, key)
        path = (*prefix, key)
        if isinstance(wanted, _Leaf):
            if child is None:
                out.append({"op": "add", "path": pointer(path), "value": wanted.value})
        elif isinstance(child, (Mapping, list)):
            _emit(child, wanted, path, out)
        elif child is None and not isinstance(key, int):  # absent (or null): the branch is added whole
            out.append({"op": "add", "path": pointer(path), "value": _materialise(wanted)})


def _child(node: Any, key: str | int) -> Any:
    if isinstance(key, int):
        return node[key] if isinstance(node, list) and 0 <= key < len(node) else None
    return node.get(key) if isinstance(node, Mapping) else None


def _materialise(tree: Mapping[str | int, Any]) -> dict[str, Any]:
    return {str(k): (v.value if isinstance(v, _Leaf) else _materialise(v)) for k, v in tree.items()}


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _resource_fixes(container: ContainerRef, settings: PolicySettings) -> list[Fix]:
    resources = container.container.get("resources")
    requests = _mapping(_get(resources, "requests"))
    limits = _mapping(_get(resources, "limits"))
    fixes = []
    effective: dict[str, Any] = {}
    for name, default in settings.default_requests.items():
        if requests.get(name) is not None or limits.get(name) is not None:
            effective[name] = requests.get(name) if requests.get(name) is not None else limits.get(name)
            continue
        effective[name] = default
        fixes.append(Fix(container.field("resources", "requests", name), default,
                         f"container {container.name}: no {name} request"))
    for name, default in settings.default_limits.items():
        if limits.get(name) is not None:
            continue
        request = parse_quantity(effective.get(name, requests.get(name)))
        limit = parse_quantity(default)
        if request is not None and limit is not None and limit < request:
            continue  # below the request: invalid, and not ours to lower the request
        fixes.append(Fix(container.field("resources", "limits", name), default,
                         f"container {container.name}: no {name} limit"))
    return fixes


def _escalation_fix(container: ContainerRef) -> list[Fix]:
    context = container.container.get("securityContext")
    if _get(context, "allowPrivilegeEscalation") is not None or _get(context, "privileged") is True:
        return []
    added = _get(context, "capabilities", "add")
    if isinstance(added, list) and any(str(cap).upper().removeprefix("CAP_") == "SYS_ADMIN" for cap in added):
        return []
    return [Fix(container.field("securityContext", "allowPrivilegeEscalation"), False,
                f"container {container.name}: privilege escalation allowed")]


def _seccomp_fix(template: PodTemplate) -> list[Fix]:
    if _get(template.spec, "securityContext", "seccompProfile") is not None:
        return []
    if any(key.startswith(_SECCOMP_ANNOTATIONS) for key in template.annotations):
        return []  # the API server requires annotation and field to agree: leave both to their author
    return [Fix(template.field("securityContext", "seccompProfile"), {"type": "RuntimeDefault"},
                "no seccomp profile")]
