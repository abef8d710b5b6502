"""Machine-readable output shared by every command."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import yaml

from kubesteward.errors import UsageError

MACHINE_FORMATS = ("json", "yaml")


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


def emit_machine(data: Any, fmt: str) -> None:
    plain = to_plain(data)
    if fmt == "json":
        print(json.dumps(plain, indent=2, sort_keys=False))
    else:
        print(yaml.safe_dump(plain, sort_keys=False), end="")
