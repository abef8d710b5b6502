"""``lint``'s library face: the policy rules over manifests in files, each finding with its file and line.

>>> checked = lint_files([Path("manifests/")], parse_policy_config(None, "defaults"))   # doctest: +SKIP
>>> for item in checked.result.located:
...     print(checked.where(item), item.finding.code, item.finding.message)

Objects are read whole by :func:`kubesteward.model.render.load_inputs` (redacted as they enter: no
Secret value or env value is held) and judged together, so cross-object rules (a Service selecting no
pod template) see the whole set. Objects of kinds no rule names (CRDs) are still judged by the rules
about any object and, when they hold a pod template, by every pod rule. Lines are found only for the
findings' objects (:class:`~kubesteward.model.lines.LineFinder`), so a clean run parses nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubesteward.model.collector import collector_paused
from kubesteward.model.files import Manifests
from kubesteward.model.full import FullKey, admit
from kubesteward.model.origin import Origin
from kubesteward.model.render import RenderOptions, load_inputs
from kubesteward.policy.config import PolicyConfig
from kubesteward.policy.context import PolicyContext
from kubesteward.policy.engine import Located, PolicyResult, evaluate


@dataclass(frozen=True)
class Where:
    """A finding's place: the object's origin, the object's first line and the finding's field's line
    (the nearest enclosing field present when the field itself is absent); 0 when unknown."""

    origin: Origin
    object_line: int
    line: int


@dataclass
class FileLint:
    """What :func:`lint_files` found, with what it read."""

    result: PolicyResult
    manifests: Manifests
    context: PolicyContext
    _keys: dict[int, FullKey] = field(default_factory=dict, repr=False)

    def key(self, manifest: Mapping[str, Any]) -> FullKey:
        known = self._keys.get(id(manifest))
        return known if known is not None else admit(manifest).key

    def origin(self, manifest: Mapping[str, Any]) -> Origin | None:
        return self.manifests.origin(self.key(manifest))

    def where(self, item: Located) -> Where | None:
        """The file and lines of ``item`` (None for an object that came from no file)."""
        origin = self.origin(item.subject)
        if origin is None:
            return None
        lines = self.manifests.lines
        start = origin.line or lines.line(origin) or 0
        return Where(origin, start, (lines.line(origin, item.field) or start) if item.field else start)

    def kinds(self) -> dict[str, int]:
        """How many objects of each kind were read (``group/Kind``, core kinds bare)."""
        found: dict[str, int] = {}
        for obj in self.manifests.objects:
            name = f"{obj.group}/{obj.kind}" if obj.group else obj.kind
            found[name] = found.get(name, 0) + 1
        return dict(sorted(found.items()))


def judge_manifests(manifests: Manifests, config: PolicyConfig | None = None) -> FileLint:
    """The rules over what files held (plain or rendered)."""
    config = config or PolicyConfig()
    objects = []
    keys: dict[int, FullKey] = {}
    with collector_paused():  # every object decoded again, and the findings: nothing of it in cycles
        for obj in manifests.objects:
            manifest = obj.manifest()
            keys[id(manifest)] = obj.key
            objects.append(manifest)
        context = PolicyContext(objects, config.settings)
        result = evaluate(context, config)
    return FileLint(result, manifests, context, keys)


def lint_files(
    paths: Iterable[Path], config: PolicyConfig | None = None, render: RenderOptions | None = None
) -> FileLint:
    """The rules over the objects of ``paths`` (files, directories recursively, ``-`` for stdin; kustomizations
    and Helm charts rendered by the real tools, charts with ``render``'s values: :mod:`kubesteward.model.render`)."""
    return judge_manifests(load_inputs(paths, render), config)
