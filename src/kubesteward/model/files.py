"""Load the same cluster model offline: ``kubectl get -o json|yaml`` output, a
multi-document YAML, a directory of such files, or a kubesteward snapshot;
with :func:`load_manifests`, every object whole beside it (:mod:`kubesteward.model.full`), each with its
:class:`~kubesteward.model.origin.Origin` (file, document, first line) and a
:class:`~kubesteward.model.lines.LineFinder` for the lines of its fields.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import yaml

from kubesteward.errors import InputError
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel, Skipped, key_of, parse_time
from kubesteward.model.collector import collector_paused
from kubesteward.model.full import FullKey, FullObjects
from kubesteward.model.kinds import BY_KIND, strip_values
from kubesteward.model.lines import LineFinder
from kubesteward.model.origin import Origin, Step
from kubesteward.model.yaml_loader import MAP_TAG, SEQ_TAG, STR_TAG, ManifestLoader

SNAPSHOT_KEY = "kubesteward"  # top-level key of our snapshot List: {snapshotTime, context, skipped}
MANIFEST_SUFFIXES = (".json", ".yaml", ".yml")


MAX_INPUT_BYTES = 1 << 30  # beyond this a "manifest" is not one (or is /dev/zero)
_CHUNK = 1 << 20


def iterparse_documents(path: Path) -> Iterator[tuple[Path, Any]]:
    """Every parsed document under ``path`` (a file, ``-`` for stdin, or a directory, recursively).

    Whatever the file holds, the answer is documents or one :class:`InputError` naming the file:
    binary or non-UTF-8 content, a document nested deeper than the parser's stack, invalid syntax.
    """
    for file in input_files(path):
        for document in parse_documents(file, read_text_input(file)):
            yield file, document.data


def input_files(path: Path) -> list[Path]:
    """``path`` itself, or the .json/.yaml/.yml files under a directory (recursively, sorted)."""
    if str(path) != "-" and path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"{path}: no .json/.yaml/.yml files found")
        return files
    return [path]


def read_text_input(path: Path) -> str:
    """The UTF-8 text of ``path`` (``-``: stdin); :class:`InputError` for what is not a text file."""
    try:
        if str(path) == "-":
            raw = _read_limited(sys.stdin.buffer, path)
        else:
            if not path.exists():
                raise InputError(f"{path}: no such file or directory")
            with open(path, "rb") as handle:
                raw = _read_limited(handle, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None


def _read_limited(handle: BinaryIO, path: Path) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := handle.read(_CHUNK):
        if b"\0" in chunk:
            raise InputError(f"{path}: a binary file, not JSON or YAML")
        size += len(chunk)
        if size > MAX_INPUT_BYTES:
            raise InputError(f"{path}: larger than {MAX_INPUT_BYTES >> 20} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Document:
    """One parsed document of a file, and where its lines are."""

    index: int  # in the file, empty documents counted (as the YAML parser counts them)
    data: Any
    node: yaml.Node | None  # the YAML node tree, while the document is being read; None for JSON

    @property
    def span(self) -> tuple[int, int]:
        if self.node is None:
            return (0, 0)
        end = self.node.end_mark  # where the next token starts: column 0 of the line after a block's end
        return (self.node.start_mark.line + 1, end.line if end.column == 0 else end.line + 1)

    def line_of(self, within: tuple[Step, ...]) -> int:
        """The first line of the value at ``within`` (0 for JSON: found lazily, by the LineFinder)."""
        node = self.node
        for step in within:
            if isinstance(node, yaml.SequenceNode) and isinstance(step, int):
                node = node.value[step]
            elif isinstance(node, yaml.MappingNode):
                node = next((v for k, v in node.value if k.value == step), None)
            else:
                node = None
            if node is None:
                return 0
        return node.start_mark.line + 1 if node is not None else 0




def parse_documents(path: Path, text: str) -> Iterator[Document]:
    try:
        yield from _parse(path, text)
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a Kubernetes object") from None


def _parse(path: Path, text: str) -> Iterator[Document]:
    if path.suffix == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            yield Document(0, json.loads(text), None)
            return
        except json.JSONDecodeError as exc:
            if path.suffix == ".json":
                raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    # Node by node rather than yaml.load_all: the same parse, and each document's lines come with it.
    loader = ManifestLoader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            doc = _construct(loader, node) if node is not None else None
            if doc is not None:
                yield Document(index, doc, node)
            index += 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}{where}: invalid YAML: {problem}") from None
    finally:
        loader.dispose()


_MERGE = "tag:yaml.org,2002:merge"
_SCALARS = {f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float")}


def _construct(loader: ManifestLoader, root: yaml.Node) -> Any:
    """What ``SafeConstructor.construct_document`` makes of ``root``, built directly for the plain mappings,
    sequences and strings manifests are made of (its generator per collection is most of a load's time);
    anything else (merge keys, timestamps, binary, unknown tags, unhashable keys) is left to it."""
    built: dict[int, Any] = {}  # an alias is the object its anchor made, as SafeConstructor shares it

    def build(node: yaml.Node) -> Any:
        known = built.get(id(node))
        if known is not None:
            return known
        tag = node.tag
        if tag == STR_TAG and type(node) is yaml.ScalarNode:
            return node.value
        if tag == MAP_TAG and type(node) is yaml.MappingNode:
            mapping: dict[Any, Any] = {}
            built[id(node)] = mapping
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    return fallback(node)
                try:
                    mapping[build(key_node)] = build(value_node)
                except TypeError:  # an unhashable key: SafeConstructor says so, as a YAML error
                    return fallback(node)
            return mapping
        if tag == SEQ_TAG and type(node) is yaml.SequenceNode:
            sequence: list[Any] = []
            built[id(node)] = sequence
            sequence.extend(build(item) for item in node.value)
            return sequence
        if tag in _SCALARS and type(node) is yaml.ScalarNode:
            return loader.yaml_constructors[tag](loader, node)
        return fallback(node)

    def fallback(node: yaml.Node) -> Any:
        value = loader.construct_object(node, deep=True)
        built[id(node)] = value
        return value

    try:
        return build(root)
    finally:
        loader.constructed_objects = {}
        loader.recursive_objects = {}


def flatten(doc: Any) -> Iterator[dict[str, Any]]:
    """Objects of a document: a v1 List (or FooList) is unpacked, recursively."""
    for _within, obj in flatten_at(doc, ()):
        yield obj


def flatten_at(doc: Any, within: tuple[Step, ...]) -> Iterator[tuple[tuple[Step, ...], dict[str, Any]]]:
    """:func:`flatten`, each object with its path inside the document (``("items", 3)``)."""
    if isinstance(doc, list):
        for index, item in enumerate(doc):
            yield from flatten_at(item, (*within, index))
    elif isinstance(doc, dict):
        if isinstance(doc.get("items"), list) and str(doc.get("kind", "List")).endswith("List"):
            for index, item in enumerate(doc["items"]):
                yield from flatten_at(item, (*within, "items", index))
        elif "kind" in doc:
            yield within, doc


def model_from_objects(
    objects: Iterable[dict[str, Any]],
    *,
    source: str = "memory",
    context: str = "",
    now: dt.datetime | None = None,
    origins: dict[int, str] | None = None,
) -> tuple[ClusterModel, dict[str, int]]:
    """Build a model from plain objects; returns it and the count of objects of kinds it does not model.

    ``origins`` maps ``id(obj)`` to the file it came from (kept for SARIF locations).
    """
    model = ClusterModel(context=context, source=source, now=now or dt.datetime.now(dt.UTC))
    ignored: dict[str, int] = {}
    for obj in objects:
        kind = str(obj.get("kind", ""))
        spec = BY_KIND.get(kind)
        if spec is None:
            ignored[kind] = ignored.get(kind, 0) + 1
            continue
        try:
            item = msgspec.convert(obj, spec.struct, strict=False)
        except msgspec.ValidationError as exc:
            raise InputError(f"{source}: {kind} {_name_of(obj)!r} does not look like a valid object: {exc}") from None
        getattr(model, KIND_ATTRS[kind]).append(strip_values(item))
        model.loaded.add(kind)
        if origins is not None and id(obj) in origins:
            model.origins[key_of(item)] = origins[id(obj)]
    return model, ignored


@dataclass(frozen=True)
class Manifests:
    """What files hold: the slim model analyzers read, and every object whole (redacted as it entered),
    each with its origin (``objects.origins``, ``objects.duplicates``); ``lines`` finds the line of any field."""

    model: ClusterModel
    objects: FullObjects
    ignored: dict[str, int]  # how many objects of each kind the slim model does not hold
    lines: LineFinder = field(default_factory=LineFinder)

    def origin(self, key: FullKey) -> Origin | None:
        return self.objects.origins.get(key)


def _name_of(obj: dict[str, Any]) -> Any:
    metadata = obj.get("metadata")
    return metadata.get("name", "?") if isinstance(metadata, dict) else "?"


def load_files(paths: Iterable[Path]) -> tuple[ClusterModel, dict[str, int]]:
    """Load files into one model. Only kinds present in the files count as loaded:
    a check needing a kind the files lack is skipped, never run on "nothing".
    The slim model only (a diagnosis's path); :func:`load_manifests` keeps every field too."""
    reader = Reader()
    for path in paths:
        reader.read_path(path)
    return reader.slim_model()


def load_manifests(paths: Iterable[Path]) -> Manifests:
    """Load files as :func:`load_files` does, and keep every object of every kind whole (CRDs' objects
    included) in a :class:`~kubesteward.model.full.FullObjects` beside the slim model, with its origin.

    Kustomizations and Helm charts are rendered by ``model.render.load_inputs``, which reads the rest here."""
    reader = Reader()
    for path in paths:
        reader.read_path(path)
    return reader.manifests()


class Reader:
    """Gathers the objects of several inputs (files, and what renderers made) for one model."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.origins: dict[int, Origin] = {}  # id(object) -> where it came from
        self.meta: dict[str, Any] = {}  # a snapshot's own record (SNAPSHOT_KEY), if one was read
        self.names: list[str] = []
        self.texts: dict[str, str] = {}  # stdin's text, for line look-ups after it is gone

    def read_path(self, path: Path) -> None:
        """Every object of a file, ``-`` (stdin) or a directory of files."""
        self.names.append(str(path))
        for file in input_files(path):
            self.read_file(file)

    def read_file(self, file: Path) -> None:
        """Every object of one file (or ``-``, stdin)."""
        text = read_text_input(file)
        if str(file) == "-":
            self.texts["-"] = text
        with collector_paused():
            self._read_text(file, text)

    def _read_text(self, file: Path, text: str) -> None:
        for document in parse_documents(file, text):
            doc = document.data
            if isinstance(doc, dict) and isinstance(doc.get(SNAPSHOT_KEY), dict):
                self.meta = doc[SNAPSHOT_KEY]
            try:
                for within, obj in flatten_at(doc, ()):
                    self.add(obj, Origin(str(file), document.index, within, document.line_of(within), document.span))
            except RecursionError:
                raise InputError(f"{file}: lists nested too deeply to hold Kubernetes objects") from None

    def add(self, obj: dict[str, Any], origin: Origin) -> None:
        """One object from elsewhere (a renderer's output), with where it came from."""
        self.documents.append(obj)
        self.origins[id(obj)] = origin

    def slim_model(self) -> tuple[ClusterModel, dict[str, int]]:
        if not self.documents:
            raise InputError(f"{', '.join(self.names)}: no Kubernetes objects found")
        meta = self.meta
        now = parse_time(meta.get("snapshotTime")) if meta else None
        model, ignored = model_from_objects(
            self.documents, source=", ".join(self.names), context=str(meta.get("context", "")), now=now,
            origins={ident: origin.file for ident, origin in self.origins.items()},
        )
        if meta:
            # A snapshot records which kinds were listed, so an empty kind is "none exist", not "unknown",
            # and what could not be listed, so the same checks are skipped offline as live.
            model.loaded.update(meta.get("loadedKinds", []))
            model.partial.update({k: set(v) for k, v in (meta.get("partial") or {}).items()})
            model.skipped.extend(
                Skipped(s["kind"], s["reason"], tuple(s.get("namespaces", ())), bool(s.get("unread", True)))
                for s in meta.get("skipped", [])
            )
        return model, ignored

    def manifests(self) -> Manifests:
        with collector_paused():
            return self._manifests()

    def _manifests(self) -> Manifests:
        model, ignored = self.slim_model()
        objects = FullObjects()
        for obj in self.documents:
            origin = self.origins.get(id(obj))
            where = origin.file if origin is not None else "input"
            try:
                objects.add_manifest(obj, origin=origin)
            except TypeError as exc:  # YAML allows keys JSON has no form for (null, true, lists)
                raise InputError(
                    f"{where}: {obj.get('kind')} {_name_of(obj)!r} cannot be held as JSON: {exc}"
                ) from None
            except RecursionError:
                raise InputError(f"{where}: {obj.get('kind')} {_name_of(obj)!r} is nested too deeply to hold") from None
        return Manifests(model, objects, ignored, LineFinder(self.texts))
