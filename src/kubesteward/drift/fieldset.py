"""The fields a manifest sets, and any object cut down to them: what desired-vs-live drift compares.

A manifest says what it wants of the fields it names; every other field (defaults, a webhook's sidecar,
another controller's labels) belongs to someone else. :func:`project` keeps, of an object, only the paths
the manifest holds. List items are matched as server-side apply merges them: by their merge key (``name``
for containers, env, volumes and ports that have one; ``mountPath``; ``containerPort``; ``port``), so an
injected container is not drift and a reordered list is not either; lists without one are matched by
position, and items beyond the manifest's are kept, since such a list is replaced whole.

Pure functions over plain data.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

# Merge keys in the order tried: the first one every item of the manifest's list carries, each once.
MERGE_KEYS = ("name", "mountPath", "containerPort", "port")


def project(source: Any, shape: Any) -> Any:
    """``source`` cut down to the paths ``shape`` (a manifest, or part of one) holds."""
    if isinstance(shape, Mapping):
        if not isinstance(source, Mapping):
            return source
        # A field the manifest sets to null asks for nothing (apply treats it as absent).
        return {key: project(source[key], sub) for key, sub in shape.items() if key in source and sub is not None}
    if isinstance(shape, list) and isinstance(source, list):
        key = merge_key(shape)
        if key is not None:
            by_key = {item.get(key): item for item in source if isinstance(item, Mapping)}
            return [project(by_key[item[key]], item) for item in shape if item[key] in by_key]
        if shape and all(isinstance(item, Mapping) for item in shape):
            return [project(item, sub) for item, sub in zip(source, shape, strict=False)] + source[len(shape):]
    return source


def merge_key(items: list[Any]) -> str | None:
    """The key that identifies each item of ``items`` (a manifest's list), or None (matched by position)."""
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for key in MERGE_KEYS:
        values = [item.get(key) for item in items]
        if all(value is not None for value in values) and len(set(map(repr, values))) == len(values):
            return key
    return None


def without_path(shape: Mapping[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``shape`` without the field at ``path`` (mappings only), e.g. ``("spec", "replicas")``."""
    copied = dict(shape)
    head, rest = path[0], path[1:]
    if head in copied:
        if not rest:
            del copied[head]
        elif isinstance(copied[head], Mapping):
            copied[head] = without_path(copied[head], rest)
    return copied


def secret_shape(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret's manifest as the API server stores it: ``stringData`` is written into ``data`` (base64),
    so its keys are compared where they live; other kinds are returned as they are."""
    shape = dict(manifest)
    if manifest.get("kind") != "Secret" or not isinstance(manifest.get("stringData"), Mapping):
        return shape
    data = dict(shape.get("data") or {})
    for key, value in shape.pop("stringData").items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    shape["data"] = data
    return shape
