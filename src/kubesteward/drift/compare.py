"""Field-by-field comparison of two normalised manifests (:func:`kubesteward.drift.normalise.normalise`),
and the unified diff of one object pair.

Pure functions. A Secret's ``data`` and ``stringData`` values are compared and shown as their digest
only (objects read through :mod:`kubesteward.model.full` already hold nothing else; a value that is not
a digest yet is made one here, so no path prints a value).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from kubesteward.drift.fieldset import merge_key
from kubesteward.drift.normalise import pointer
from kubesteward.redaction import REDACTED, digest

ChangeKind = Literal["added", "removed", "changed"]
_SECRET_FIELDS = ("data", "stringData")


@dataclass(frozen=True)
class Change:
    """One field that differs: ``added`` on the right only, ``removed`` from the left only, or ``changed``.
    ``old``/``new`` are None for the side that lacks the field; a Secret's values are digests."""

    path: str  # JSON pointer, e.g. /spec/template/spec/containers/0/image
    kind: ChangeKind
    old: Any = None
    new: Any = None
    secret: bool = False  # a Secret value: old/new are digests

    def describe(self) -> str:
        """One line, e.g. ``/spec/replicas: 2 -> 3`` or ``/data/password: changed (sha256:… -> sha256:…)``."""
        if self.secret:
            return f"{self.path}: {self.kind} ({_side(self.old)} -> {_side(self.new)})"
        if self.kind == "added":
            return f"{self.path}: added {_short(self.new)}"
        if self.kind == "removed":
            return f"{self.path}: removed {_short(self.old)}"
        return f"{self.path}: {_short(self.old)} -> {_short(self.new)}"

    def document(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "change": self.kind}
        if self.kind != "added":
            out["old"] = self.old
        if self.kind != "removed":
            out["new"] = self.new
        if self.secret:
            out["secret"] = True
        return out


def _side(value: Any) -> str:
    return "absent" if value is None else str(value)


def _short(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    text = text.removesuffix("...").strip()
    return text if len(text) <= 120 else text[:117] + "..."


def secret_safe(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` with a Secret's values as ``sha256:…`` digests only (whatever form they came in)."""
    out = dict(manifest)
    if manifest.get("kind") != "Secret":
        return out
    for field in _SECRET_FIELDS:
        values = manifest.get(field)
        if isinstance(values, Mapping):
            out[field] = {str(key): value_digest(value) for key, value in values.items()}
    return out


def value_digest(value: Any) -> str:
    """A Secret value as its digest: the one :func:`~kubesteward.redaction.redact_manifest` recorded, or
    one made now."""
    text = str(value)
    if text.startswith(REDACTED + " sha256:"):
        return text.removeprefix(REDACTED + " ")
    return digest(text)


def compare(left: Mapping[str, Any], right: Mapping[str, Any]) -> list[Change]:
    """What differs from ``left`` to ``right`` (both normalised), in document order: maps key by key, lists
    of items with a merge key (``name``, ``mountPath``, ``containerPort``, ``port``) item by item as
    server-side apply matches them, other lists index by index (a list of other length adds or removes
    its tail)."""
    secret = left.get("kind") == "Secret" or right.get("kind") == "Secret"
    changes: list[Change] = []
    _walk(secret_safe(left) if secret else left, secret_safe(right) if secret else right, [], changes, secret)
    return changes


def _walk(old: Any, new: Any, path: list[str | int], out: list[Change], secret: bool) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in [*old, *(k for k in new if k not in old)]:
            here = [*path, key]
            if key not in new:
                out.append(_change(here, "removed", old[key], None, secret))
            elif key not in old:
                out.append(_change(here, "added", None, new[key], secret))
            else:
                _walk(old[key], new[key], here, out, secret)
        return
    if isinstance(old, list) and isinstance(new, list):
        key = _shared_merge_key(old, new)
        if key is not None:
            _walk_keyed(old, new, key, path, out, secret)
            return
        for index in range(max(len(old), len(new))):
            here = [*path, index]
            if index >= len(new):
                out.append(_change(here, "removed", old[index], None, secret))
            elif index >= len(old):
                out.append(_change(here, "added", None, new[index], secret))
            else:
                _walk(old[index], new[index], here, out, secret)
        return
    if old != new:
        out.append(_change(path, "changed", old, new, secret))


def _shared_merge_key(old: list[Any], new: list[Any]) -> str | None:
    """The merge key both lists' items carry (containers by ``name``, ports by ``containerPort``...), or None."""
    if not old or not new:
        return None
    key = merge_key(old)
    return key if key is not None and merge_key(new) == key else None


def _walk_keyed(old: list[Any], new: list[Any], key: str, path: list[str | int], out: list[Change], secret: bool) -> None:
    # Items matched as server-side apply merges them: an item inserted or moved is one change (or none),
    # not a change at every index after it. Paths carry the left index (the right one for an added item).
    new_at = {repr(item[key]): index for index, item in enumerate(new)}
    matched: set[int] = set()
    for index, item in enumerate(old):
        other = new_at.get(repr(item[key]))
        if other is None:
            out.append(_change([*path, index], "removed", item, None, secret))
        else:
            matched.add(other)
            _walk(item, new[other], [*path, index], out, secret)
    for index, item in enumerate(new):
        if index not in matched:
            out.append(_change([*path, index], "added", None, item, secret))


def _change(path: Sequence[str | int], kind: ChangeKind, old: Any, new: Any, secret: bool) -> Change:
    is_value = secret and len(path) >= 1 and path[0] in _SECRET_FIELDS
    if is_value and len(path) == 1:
        # A whole data map added or removed: its keys and their digests, never the values.
        old = {k: value_digest(v) for k, v in old.items()} if isinstance(old, Mapping) else old
        new = {k: value_digest(v) for k, v in new.items()} if isinstance(new, Mapping) else new
    return Change(path=pointer(path), kind=kind, old=old, new=new, secret=is_value and len(path) == 2)


def render_yaml(manifest: Mapping[str, Any]) -> str:
    """A normalised manifest as YAML, keys sorted (so two sides diff line by line), Secret values as digests."""
    return yaml.safe_dump(secret_safe(manifest), sort_keys=True, default_flow_style=False, width=1 << 20)


def unified_diff(
    left: Mapping[str, Any] | None, right: Mapping[str, Any] | None, left_label: str, right_label: str,
    *, context: int = 3,
) -> list[str]:
    """The unified diff (lines without newlines) of two normalised manifests' YAML; None: the side lacks
    the object (the diff adds or removes it whole)."""
    old = render_yaml(left).splitlines() if left is not None else []
    new = render_yaml(right).splitlines() if right is not None else []
    return list(difflib.unified_diff(old, new, left_label, right_label, n=context, lineterm=""))
