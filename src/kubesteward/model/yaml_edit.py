"""Values added to a YAML document's text, with everything else left as it was written.

``lint --fix`` adds what a manifest lacks (resources, a securityContext field). Loading and dumping the
document again would lose its comments, reorder nothing but requote and reflow everything, and turn a
small fix into a diff of the whole file; here only the lines of the added values change: a key is inserted
after the last line of its mapping, at that mapping's indentation, and a value replaces a null. A flow
collection (``resources: {}``) holding the place is written again in block style, the smallest span
that can hold the addition. The pure-Python loader is used (its marks are character offsets) and only on
the documents being changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kubesteward.model.origin import Step

_NULL_TAG = "tag:yaml.org,2002:null"


class EditError(Exception):
    """The document cannot take the addition as text (it is not where the manifest says, or its shape is
    one this module does not edit): the caller leaves the object unchanged and says why."""


@dataclass(frozen=True)
class Addition:
    """``value`` set at ``path`` (from the document's root) where the document has no value, or null."""

    path: tuple[Step, ...]
    value: Any


def add_values(text: str, additions: Sequence[Addition]) -> str:
    """``text`` (one YAML document) with ``additions`` made, one after the other; an addition whose place
    already holds a value is left out (adding never changes what someone wrote)."""
    crlf = "\r\n" in text  # lines added end as the document's do
    if crlf:
        text = text.replace("\r\n", "\n")
    for addition in additions:
        text = _add(text, addition)
    return text.replace("\n", "\r\n") if crlf else text


def compose(text: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EditError(f"cannot be parsed again: {str(exc).splitlines()[0]}") from None
    if node is None:
        raise EditError("the document is empty")
    return node


def lines_under(node: yaml.Node, key: str) -> Iterator[tuple[int, int]]:
    """First and last line (0-based) of every value, at any depth, of a mapping entry ``name: …, value: …``
    inside a sequence under ``key``: where ``env`` lists hold values (to keep them out of a patch's context)."""
    if isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            if isinstance(name, yaml.ScalarNode) and name.value == key and isinstance(value, yaml.SequenceNode):
                for item in value.value:
                    if isinstance(item, yaml.MappingNode):
                        for field, held in item.value:
                            if isinstance(field, yaml.ScalarNode) and field.value == "value":
                                yield field.start_mark.line, held.end_mark.line
            yield from lines_under(value, key)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from lines_under(item, key)


def _add(text: str, addition: Addition) -> str:
    root = compose(text)
    *parents, key = addition.path
    chain = _chain(root, tuple(parents))
    parent = chain[-1]
    if not isinstance(parent, yaml.MappingNode) or not isinstance(key, str):
        raise EditError(f"{_dotted(tuple(parents))} is not a mapping")
    existing = _entry(parent, key)
    if existing is not None and not _is_null(existing[1]):
        return text  # a value is there: never changed
    flow = next((index for index, node in enumerate(chain) if getattr(node, "flow_style", False)), None)
    if flow is not None:
        # A flow collection is written again whole, in block style, with the value added.
        outer = chain[flow]
        value = yaml.safe_load(text[outer.start_mark.index:outer.end_mark.index])
        _set(value, addition.path[flow:], addition.value)
        return _replace(text, outer.start_mark.index, outer.end_mark.index, value)
    if existing is not None:  # a null: replaced by the value
        name, null = existing
        start = null.start_mark.index if null.value else text.index(":", name.end_mark.index) + 1
        end = null.end_mark.index if null.value else start
        return _replace(text, start, end, addition.value)
    return _append(text, parent, key, addition.value)


def _chain(root: yaml.Node, path: tuple[Step, ...]) -> list[yaml.Node]:
    chain = [root]
    node = root
    for step in path:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            found = _entry(node, step)
            child = found[1] if found else None
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            child = node.value[step]
        if child is None:
            raise EditError(f"{_dotted(path)} is not in the document")
        chain.append(child)
        node = child
    return chain


def _entry(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for name, value in mapping.value:
        if isinstance(name, yaml.ScalarNode) and name.value == key:
            return name, value
    return None


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _set(value: Any, path: Sequence[Step], added: Any) -> None:
    for step in path[:-1]:
        value = value[step]
    if value.get(path[-1]) is None:
        value[path[-1]] = added


def _dump(value: Any, indent: int) -> list[str]:
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=1 << 20)
    return [" " * indent + line for line in text.splitlines()]


def _inline(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _replace(text: str, start: int, end: int, value: Any) -> str:
    """The span ``[start, end)`` holding one value replaced by ``value``: inline when it is a scalar or
    empty, else as a block under its key or after its sequence dash."""
    if not isinstance(value, (dict, list)) or not value:
        return text[:start] + _inline(value) + text[end:]
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    prefix, rest = text[line_start:start], text[end:line_end]
    comment = rest if rest.strip().startswith("#") else ""
    if rest.strip() and not comment:
        raise EditError("a value shares its line with more than a comment")
    head = prefix.rstrip()
    if head.endswith(":"):  # `key: <value>`: the block goes under the key, indented past it
        indent = len(head) - len(head.lstrip(" -"))
        lines = [head + comment, *_dump(value, indent + 2)]
    elif not head.replace("-", "").strip():  # `- <value>` (`- - <value>` in nested lists) or the document's root
        lines = _dump(value, len(prefix))
        lines[0] = prefix + lines[0].lstrip(" ")
        lines[-1] += comment
    else:
        raise EditError("a value in a place this module does not edit")
    return text[:line_start] + "\n".join(lines) + text[line_end:]


def _append(text: str, mapping: yaml.MappingNode, key: str, value: Any) -> str:
    """``key: value`` as the last entry of a block mapping, at its indentation."""
    if not mapping.value:
        raise EditError("an empty block mapping")  # cannot be: an empty mapping is written `{}`
    indent = mapping.value[0][0].start_mark.column
    last = _last_leaf(mapping)
    block = isinstance(last, yaml.ScalarNode) and last.style in ("|", ">")
    line = last.end_mark.line if block and last.end_mark.column == 0 else last.end_mark.line + 1
    lines = text.splitlines(keepends=True)
    if line > len(lines):
        line = len(lines)
    if lines and not lines[line - 1].endswith("\n"):
        lines[line - 1] += "\n"
    lines[line:line] = [entry + "\n" for entry in _dump({key: value}, indent)]
    return "".join(lines)


def _last_leaf(node: yaml.Node) -> yaml.Node:
    """The node whose text ends the collection: its last scalar, or its last flow collection."""
    while not getattr(node, "flow_style", False):
        if isinstance(node, yaml.MappingNode) and node.value:
            node = node.value[-1][1]
        elif isinstance(node, yaml.SequenceNode) and node.value:
            node = node.value[-1]
        else:
            break
    return node


def _dotted(path: tuple[Step, ...]) -> str:
    return ".".join(str(step) for step in path) or "the document's root"
