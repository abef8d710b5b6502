"""The line of a field of an object read from a file, found when asked.

Loading records each object's file, document and first line (:class:`~kubesteward.model.origin.Origin`);
the lines of fields cost a second parse, so they are looked up only for the objects a finding is about: the
document is composed again (YAML nodes carry their marks) and its positions kept, once per document.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubesteward.model.origin import Origin, Step

_Loader = yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader
_STEP = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")


@dataclass(frozen=True, slots=True)
class Position:
    """1-based line and column. ``exact`` is False when the field is absent and this is its nearest
    ancestor present (a missing ``resources`` points at its container)."""

    line: int
    column: int
    exact: bool


def parse_field(path: str | Sequence[Step]) -> tuple[Step, ...]:
    """``spec.template.spec.containers[0].resources`` as steps; ``metadata.annotations[example.com/x]``
    for keys holding dots. A sequence of steps is taken as it is."""
    if not isinstance(path, str):
        return tuple(path)
    steps: list[Step] = []
    for match in _STEP.finditer(path):
        key, bracket = match.groups()
        if key is not None:
            steps.append(key)
        else:
            inner = bracket.strip("\"'")
            steps.append(int(inner) if inner.isdigit() else inner)
    return tuple(steps)


_Positions = dict[tuple[Step, ...], tuple[int, int]]


class LineFinder:
    """Lines of fields of objects loaded from files. Rendered objects (helm, kustomize) have none: the
    tool's output is no file the user has."""

    def __init__(self, texts: dict[str, str] | None = None) -> None:
        self._texts = dict(texts or {})  # stdin's text; files are read again when first asked
        self._lines: dict[str, list[str] | None] = {}
        self._documents: dict[tuple[str, int], _Positions | None] = {}

    def line(self, origin: Origin, path: str | Sequence[Step] = ()) -> int | None:
        """The line of ``path`` in the object (its nearest present ancestor when absent), or None."""
        found = self.position(origin, path)
        return found.line if found is not None else None

    def position(self, origin: Origin, path: str | Sequence[Step] = ()) -> Position | None:
        """Line and column of ``path`` inside the object ``origin`` locates; None when unknown
        (rendered objects, a file changed or gone since it was read)."""
        if origin.rendered_by:
            return None
        positions = self._positions(origin)
        if positions is None:
            return Position(origin.line, 1, not path) if origin.line else None
        steps = (*origin.within, *parse_field(path))
        for end in range(len(steps), len(origin.within) - 1, -1):
            found = positions.get(steps[:end])
            if found is not None:
                return Position(found[0], found[1], end == len(steps))
        return None

    def _positions(self, origin: Origin) -> _Positions | None:
        key = (origin.file, origin.document)
        if key not in self._documents:
            self._documents[key] = self._compose(origin)
        return self._documents[key]

    def _compose(self, origin: Origin) -> _Positions | None:
        lines = self._file_lines(origin.file)
        if lines is None:
            return None
        first, last = origin.span
        try:
            if first:  # only this document's lines; its marks count from its first line
                node = next(yaml.compose_all("".join(lines[first - 1:last]), Loader=_Loader), None)
            else:  # JSON (one document), or a span unknown
                node = _nth("".join(lines), origin.document)
        except (yaml.YAMLError, RecursionError):
            return None
        if node is None:
            return None
        positions: _Positions = {}
        _walk(node, (), max(first - 1, 0), positions)
        return positions

    def _file_lines(self, file: str) -> list[str] | None:
        if file not in self._lines:
            text = self._texts.get(file)
            if text is None:
                try:
                    text = Path(file).read_text(encoding="utf-8-sig")
                except (OSError, UnicodeDecodeError):
                    text = None
            self._lines[file] = text.splitlines(keepends=True) if text is not None else None
        return self._lines[file]


def _nth(text: str, index: int) -> yaml.Node | None:
    for number, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
        if number == index:
            return node
    return None


def _walk(node: yaml.Node, at: tuple[Step, ...], offset: int, positions: _Positions) -> None:
    positions[at] = (node.start_mark.line + 1 + offset, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                step = (*at, key.value)
                _walk(value, step, offset, positions)
                # A field's line is its key's: where an editor should go, also for block values below it.
                positions[step] = (key.start_mark.line + 1 + offset, key.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*at, index), offset, positions)
