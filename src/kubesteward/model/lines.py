"""The line of a field of an object read from a file, found when asked.

Loading records each object's file, document and first line (:class:`~kubesteward.model.origin.Origin`);
the lines of fields cost a second parse, so they are looked up only for the objects a finding is about: the
document is composed again (YAML nodes carry their marks) and its positions kept, once per document.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubesteward.model.collector import collector_paused
from kubesteward.model.origin import Origin, Step
from kubesteward.model.yaml_loader import PositionLoader

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
    return _parse_dotted(path)


@functools.lru_cache(maxsize=4096)  # rules name the same few fields for thousands of objects
def _parse_dotted(path: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    for match in _STEP.finditer(path):
        key, bracket = match.groups()
        if key is not None:
            steps.append(key)
        else:
            inner = bracket.strip("\"'")
            steps.append(int(inner) if inner.isascii() and inner.isdigit() else inner)
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
            with collector_paused():  # a node tree is thousands of objects, freed by reference counting
                self._documents[key] = self._compose(origin)
        return self._documents[key]

    def _compose(self, origin: Origin) -> _Positions | None:
        lines = self._file_lines(origin.file)
        if lines is None:
            return None
        first, last = origin.span
        try:
            if first:  # only this document's lines; its marks count from its first line
                node = next(yaml.compose_all("".join(lines[first - 1:last]), Loader=PositionLoader), None)
            else:  # JSON (one document), or a span unknown
                node = _nth("".join(lines), origin.document)
        except (yaml.YAMLError, RecursionError):
            return None
        if node is None:
            return None
        offset = max(first - 1, 0)
        positions: _Positions = {(): (node.start_mark.line + 1 + offset, node.start_mark.column + 1)}
        _walk(node, (), offset, positions)
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
    for number, node in enumerate(yaml.compose_all(text, Loader=PositionLoader)):
        if number == index:
            return node
    return None


def _walk(node: yaml.Node, at: tuple[Step, ...], offset: int, positions: _Positions) -> None:
    if type(node) is yaml.MappingNode:
        for key, value in node.value:
            if type(key) is not yaml.ScalarNode:  # a complex key: no path names it
                continue
            step = (*at, key.value)
            # A field's line is its key's: where an editor should go, also for block values below it.
            mark = key.start_mark
            positions[step] = (mark.line + 1 + offset, mark.column + 1)
            if type(value) is not yaml.ScalarNode:
                _walk(value, step, offset, positions)
    elif type(node) is yaml.SequenceNode:
        for index, item in enumerate(node.value):
            step = (*at, index)
            mark = item.start_mark
            positions[step] = (mark.line + 1 + offset, mark.column + 1)
            if type(item) is not yaml.ScalarNode:
                _walk(item, step, offset, positions)
