"""Load the same cluster model offline: ``kubectl get -o json|yaml`` output, a
multi-document YAML, a directory of such files, or a kubesteward snapshot;
with :func:`load_manifests`, every object whole beside it (:mod:`kubesteward.model.full`).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import yaml

from kubesteward.errors import InputError
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel, Skipped, key_of, parse_time
from kubesteward.model.full import FullObjects
from kubesteward.model.kinds import BY_KIND, strip_values

SNAPSHOT_KEY = "kubesteward"  # top-level key of our snapshot List: {snapshotTime, context, skipped}
_SUFFIXES = (".json", ".yaml", ".yml")


MAX_INPUT_BYTES = 1 << 30  # beyond this a "manifest" is not one (or is /dev/zero)
_CHUNK = 1 << 20


def iter_documents(path: Path) -> Iterator[tuple[Path, Any]]:
    """Every parsed document under ``path`` (a file, ``-`` for stdin, or a directory, recursively).

    Whatever the file holds, the answer is documents or one :class:`InputError` naming the file:
    binary or non-UTF-8 content, a document nested deeper than the parser's stack, invalid syntax.
    """
    if str(path) != "-" and path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        if not files:
            raise InputError(f"{path}: no .json/.yaml/.yml files found")
        for file in files:
            yield from iter_documents(file)
        return
    text = read_text_input(path)
    try:
        yield from _parse(path, text)
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a Kubernetes object") from None


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


def _parse(path: Path, text: str) -> Iterator[tuple[Path, Any]]:
    if path.suffix == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            yield path, json.loads(text)
            return
        except json.JSONDecodeError as exc:
            if path.suffix == ".json":
                raise InputError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    try:
        for doc in yaml.load_all(text, Loader=yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
            if doc is not None:
                yield path, doc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{path}{where}: invalid YAML: {problem}") from None


def flatten(doc: Any) -> Iterator[dict[str, Any]]:
    """Objects of a document: a v1 List (or FooList) is unpacked, recursively."""
    if isinstance(doc, list):
        for item in doc:
            yield from flatten(item)
    elif isinstance(doc, dict):
        if isinstance(doc.get("items"), list) and str(doc.get("kind", "List")).endswith("List"):
            for item in doc["items"]:
                yield from flatten(item)
        elif "kind" in doc:
            yield doc


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
    """What files hold: the slim model analyzers read, and every object whole (redacted as it entered)."""

    model: ClusterModel
    objects: FullObjects
    ignored: dict[str, int]  # how many objects of each kind the slim model does not hold


def _name_of(obj: dict[str, Any]) -> Any:
    metadata = obj.get("metadata")
    return metadata.get("name", "?") if isinstance(metadata, dict) else "?"


def load_files(paths: Iterable[Path]) -> tuple[ClusterModel, dict[str, int]]:
    """Load files into one model. Only kinds present in the files count as loaded:
    a check needing a kind the files lack is skipped, never run on "nothing".
    The slim model only (a diagnosis's path); :func:`load_manifests` keeps every field too."""
    read = _read_all(paths)
    return _slim_model(read)


def load_manifests(paths: Iterable[Path]) -> Manifests:
    """Load files as :func:`load_files` does, and keep every object of every kind whole (CRDs' objects
    included) in a :class:`~kubesteward.model.full.FullObjects` beside the slim model."""
    read = _read_all(paths)
    model, ignored = _slim_model(read)
    objects = FullObjects()
    for obj in read.documents:
        origin = read.origins.get(id(obj))
        try:
            objects.add_manifest(obj, origin=origin)
        except TypeError as exc:  # YAML allows keys JSON has no form for (null, true, lists)
            raise InputError(f"{origin}: {obj.get('kind')} {_name_of(obj)!r} cannot be held as JSON: {exc}") from None
        except RecursionError:
            raise InputError(f"{origin}: {obj.get('kind')} {_name_of(obj)!r} is nested too deeply to hold") from None
    return Manifests(model, objects, ignored)


@dataclass(frozen=True)
class _Read:
    documents: list[dict[str, Any]]
    origins: dict[int, str]  # id(object) -> the file it came from
    meta: dict[str, Any]  # a snapshot's own record (SNAPSHOT_KEY), if one was read
    names: list[str]


def _read_all(paths: Iterable[Path]) -> _Read:
    documents: list[dict[str, Any]] = []
    origins: dict[int, str] = {}
    meta: dict[str, Any] = {}
    names = []
    for path in paths:
        names.append(str(path))
        for file, doc in iter_documents(path):
            if isinstance(doc, dict) and isinstance(doc.get(SNAPSHOT_KEY), dict):
                meta = doc[SNAPSHOT_KEY]
            try:
                for obj in flatten(doc):
                    documents.append(obj)
                    origins[id(obj)] = str(file)
            except RecursionError:
                raise InputError(f"{file}: lists nested too deeply to hold Kubernetes objects") from None
    if not documents:
        raise InputError(f"{', '.join(names)}: no Kubernetes objects found")
    return _Read(documents, origins, meta, names)


def _slim_model(read: _Read) -> tuple[ClusterModel, dict[str, int]]:
    meta = read.meta
    now = parse_time(meta.get("snapshotTime")) if meta else None
    model, ignored = model_from_objects(
        read.documents, source=", ".join(read.names), context=str(meta.get("context", "")), now=now,
        origins=read.origins,
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
