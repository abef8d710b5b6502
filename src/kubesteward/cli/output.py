"""Machine-readable output shared by every command."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import yaml

from kubesteward.errors import UsageError
from kubesteward.terminal import markup_safe

MACHINE_FORMATS = ("json", "yaml")
# How a severity looks in the human views, by its label (no import of findings at every start).
SEVERITY_COLOURS = {"error": "red", "warning": "yellow", "info": "cyan"}
SEVERITY_ICONS = {"error": "✖", "warning": "▲", "info": "ℹ"}


def escape(text: str, *, one_line: bool = False) -> str:
    """``text`` printable as is through rich: control characters shown as escapes, markup escaped
    (:func:`kubesteward.terminal.markup_safe`). Every string from a cluster or a user goes through it."""
    return markup_safe(text, one_line=one_line)


def check_format(fmt: str, allowed: tuple[str, ...] = ("table", *MACHINE_FORMATS)) -> str:
    if fmt not in allowed:
        raise UsageError(f"unknown output format {fmt!r}; choose one of: {', '.join(allowed)}")
    return fmt


def to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def pretty_json(document: Any) -> str:
    """Indented JSON, key order kept. msgspec's encoder is C; ``json.dumps``
    with ``indent`` falls back to pure Python, slow on a big report."""
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode()


def emit_machine(data: Any, fmt: str) -> None:
    plain = to_plain(data)
    if fmt == "json":
        print(pretty_json(plain))
    else:
        print(yaml.safe_dump(plain, sort_keys=False), end="")
