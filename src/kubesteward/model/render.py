"""Inputs as the objects they stand for: kustomizations and Helm charts rendered by the real tools.

``load_inputs(paths)`` is what ``lint`` (and ``drift``) read: each path, and each directory under a
directory path, is

- a **kustomization** (``kustomization.yaml``/``.yml``/``Kustomization`` in it): ``kustomize build DIR``;
- a **Helm chart** (``Chart.yaml`` in it): ``helm template RELEASE DIR -f VALUES… --namespace NS``;
- otherwise **plain files**, read as :mod:`kubesteward.model.files` reads them (a chart's or a kustomization's
  files are never read as plain manifests: its templates are no YAML, its patches no objects).

Every object keeps its origin (:class:`~kubesteward.model.origin.Origin`): a plain file's document and line;
for helm, the template that made it (``# Source:`` in helm's output); for kustomize, the resource file it came
from (kustomize's own origin annotations, asked for through a wrapper kustomization and removed again), or
the kustomization file. A tool's failure is one :class:`InputError` line naming the path and the tool's first
error line; a tool that is missing and cannot be built is a :class:`~kubesteward.gotools.build.BuildError`.
"""

from __future__ import annotations

import bisect
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from kubesteward.errors import InputError
from kubesteward.gotools.build import BuildError, Progress
from kubesteward.gotools.tools import Tool, ensure_tool
from kubesteward.model.files import MANIFEST_SUFFIXES, Manifests, Reader, flatten_at, parse_documents
from kubesteward.model.origin import Origin

log = logging.getLogger("kubesteward.render")

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
TOOL_TIMEOUT = 300.0  # seconds for one render; a chart or kustomization taking longer is stuck, not big
_SOURCE = re.compile(r"^# Source: (.+?)\s*$", re.MULTILINE)


class InputKind(Enum):
    FILES = "files"
    KUSTOMIZATION = "kustomize"
    CHART = "helm"


@dataclass(frozen=True)
class RenderOptions:
    """How charts are rendered (kustomizations take none: everything is in the kustomization)."""

    values: tuple[Path, ...] = ()  # helm -f, in order (later files win)
    set_values: tuple[str, ...] = ()  # helm --set key=value
    release: str = "release"  # helm's release name (it names most objects)
    namespace: str | None = None  # helm --namespace (the release's namespace)
    kube_version: str | None = None  # helm --kube-version: Capabilities.KubeVersion templates test
    progress: Progress | None = None  # a build's progress, when a tool must be built first


def kind_of(path: Path) -> InputKind:
    """What a path is: a kustomization or chart directory, or plain files (a file, ``-``, a directory)."""
    if str(path) == "-" or not path.is_dir():
        return InputKind.FILES
    if any((path / name).is_file() for name in KUSTOMIZATION_FILES):
        return InputKind.KUSTOMIZATION
    if (path / CHART_FILE).is_file():
        return InputKind.CHART
    return InputKind.FILES


def load_inputs(paths: Iterable[Path], options: RenderOptions | None = None) -> Manifests:
    """Every object of ``paths`` (rendered where they are charts or kustomizations), whole, each with its
    origin, and the slim model beside them; :class:`InputError` when they hold none."""
    return read_inputs(paths, options).manifests()


def read_inputs(paths: Iterable[Path], options: RenderOptions | None = None, *, allow_empty: bool = False) -> Reader:
    """What :func:`load_inputs` reads, before it is redacted: ``Reader.documents`` holds the objects as
    written (Secret values included), for what must send them to an API server (drift's dry run, sync).
    ``allow_empty``: a directory holding no manifests is no objects, not an error (sync: every object removed)."""
    options = options or RenderOptions()
    reader = Reader()
    for path in paths:
        reader.names.append(str(path))
        for unit, kind in _units(path, allow_empty):
            if kind is InputKind.FILES:
                reader.read_file(unit)
            else:
                for obj, origin in render(unit, kind, options):
                    reader.add(obj, origin)
    return reader


def _units(path: Path, allow_empty: bool = False) -> list[tuple[Path, InputKind]]:
    """``path`` split into what is read plainly (files) and what is rendered (directories), in path order."""
    kind = kind_of(path)
    if kind is not InputKind.FILES or str(path) == "-" or not path.is_dir():
        return [(path, kind)]
    units: list[tuple[Path, InputKind]] = []
    for root, dirs, files in os.walk(path):
        here = Path(root)
        rendered = [d for d in dirs if kind_of(here / d) is not InputKind.FILES]
        units += [(here / d, kind_of(here / d)) for d in rendered]
        dirs[:] = sorted(d for d in dirs if d not in rendered)  # a chart's templates are no manifests
        units += [(here / f, InputKind.FILES) for f in files if Path(f).suffix in MANIFEST_SUFFIXES]
    if not units and not allow_empty:
        raise InputError(f"{path}: no .json/.yaml/.yml files, kustomizations or charts found")
    return sorted(units, key=lambda unit: str(unit[0]))


def render(path: Path, kind: InputKind, options: RenderOptions) -> list[tuple[dict[str, Any], Origin]]:
    """The objects a kustomization or chart directory renders to, each with its origin."""
    if kind is InputKind.KUSTOMIZATION:
        return _kustomize(path, options)
    if kind is InputKind.CHART:
        return _helm(path, options)
    raise ValueError(f"{path}: plain files are read, not rendered")


def _tool(name: str, path: Path, options: RenderOptions) -> Tool:
    try:
        tool = ensure_tool(name, options.progress or (lambda _msg: None))
    except BuildError as exc:
        raise BuildError(f"{path}: {name} is needed to render it and cannot be built: {_first_line(str(exc))}") from None
    if log.isEnabledFor(logging.INFO):  # describing a binary from PATH asks it its version: only for -v
        log.info("rendering %s with %s", path, tool.describe())
    return tool


def _run(tool: Tool, args: list[str], path: Path, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            [str(tool.path), *args], capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False, cwd=cwd
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"{path}: {tool.name} did not finish within {TOOL_TIMEOUT:.0f}s") from None
    except OSError as exc:
        raise BuildError(f"{path}: cannot run {tool.name} ({tool.path}): {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise InputError(f"{path}: {tool.name} failed: {_tool_error(done.stderr) or f'exit {done.returncode}'}")
    return done.stdout


def _tool_error(stderr: str) -> str:
    """The tool's first error line, without its ``Error:`` prefix (helm and kustomize both print one)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = next((line for line in lines if line.startswith("Error:")), lines[0] if lines else "")
    return chosen.removeprefix("Error:").strip()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _parse_output(path: Path, tool: str, text: str) -> Iterator[tuple[dict[str, Any], int, Any]]:
    """Objects of a tool's output with the 0-based line of the document each came in."""
    try:
        for document in parse_documents(Path(f"{path} ({tool} output)"), text):
            start = document.span[0] - 1
            for _within, obj in flatten_at(document.data, ()):
                yield obj, start, document
    except InputError as exc:
        raise InputError(f"{path}: {tool} rendered something that is not YAML: {exc}") from None


def _helm(path: Path, options: RenderOptions) -> list[tuple[dict[str, Any], Origin]]:
    helm = _tool("helm", path, options)
    args = ["template", options.release, str(path), "--include-crds"]
    for values in options.values:
        if not values.is_file():
            raise InputError(f"{values}: no such values file")
        args += ["--values", str(values)]
    for assignment in options.set_values:
        args += ["--set", assignment]
    if options.namespace:
        args += ["--namespace", options.namespace]
    if options.kube_version:
        args += ["--kube-version", options.kube_version]
    text = _run(helm, args, path)
    # helm heads each document with "# Source: CHART/templates/FILE"; the chart's name, not its directory's.
    sources = [(text.count("\n", 0, match.start()), match.group(1)) for match in _SOURCE.finditer(text)]
    starts = [line for line, _source in sources]
    out = []
    for obj, start, document in _parse_output(path, "helm", text):
        at = bisect.bisect_right(starts, start) - 1
        template = sources[at][1] if at >= 0 else ""
        file = path.joinpath(*template.split("/")[1:]) if "/" in template else path / CHART_FILE
        out.append((obj, Origin(str(file), document.index, rendered_by="helm", source=str(path))))
    return out


def _kustomize(path: Path, options: RenderOptions) -> list[tuple[dict[str, Any], Origin]]:
    kustomize = _tool("kustomize", path, options)
    kustomization = next(path / name for name in KUSTOMIZATION_FILES if (path / name).is_file())
    keep_annotation = _asks_for_origins(kustomization)
    # A wrapper kustomization asking for origin annotations: each object then says which file it came from.
    wrapper = Path(tempfile.mkdtemp(prefix="kubesteward-kustomize-"))
    try:
        target = os.path.relpath(path.resolve(), wrapper)
        (wrapper / "kustomization.yaml").write_text(
            yaml.safe_dump({"resources": [target], "buildMetadata": ["originAnnotations"]})
        )
        text = _run(kustomize, ["build", str(wrapper)], path)
    finally:
        shutil.rmtree(wrapper, ignore_errors=True)
    out = []
    for obj, _start, document in _parse_output(path, "kustomize", text):
        source = _origin_annotation(obj, remove=not keep_annotation)
        file = _resolve(wrapper, source, path) if source else str(kustomization)
        out.append((obj, Origin(file, document.index, rendered_by="kustomize", source=str(path))))
    return out


def _asks_for_origins(kustomization: Path) -> bool:
    """Whether the user's kustomization itself asks for origin annotations (then they are kept)."""
    try:
        data = yaml.safe_load(kustomization.read_text())
    except (OSError, yaml.YAMLError):
        return False
    metadata = data.get("buildMetadata") if isinstance(data, dict) else None
    return isinstance(metadata, list) and "originAnnotations" in metadata


def _origin_annotation(obj: dict[str, Any], *, remove: bool) -> str | None:
    """The file kustomize says the object came from (``path:`` of its origin annotation)."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
        return None
    raw = annotations.pop(ORIGIN_ANNOTATION) if remove else annotations[ORIGIN_ANNOTATION]
    if remove and not annotations:
        obj["metadata"].pop("annotations")
    try:
        origin = yaml.safe_load(raw) if isinstance(raw, str) else None
    except yaml.YAMLError:
        return None
    if not isinstance(origin, dict) or origin.get("repo"):  # a remote resource has no file here
        return None
    found = origin.get("path")
    return found if isinstance(found, str) else None


def _resolve(wrapper: Path, source: str, given: Path) -> str:
    """A path relative to the wrapper as the user would write it: relative to the working directory when
    the directory was given relative, else absolute."""
    absolute = os.path.normpath(wrapper / source)
    return absolute if given.is_absolute() else os.path.relpath(absolute)
