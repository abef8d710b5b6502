"""The knobs rules read (``policy.settings`` in ``.kubesteward.yaml``), with defaults an SRE would pick."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from kubesteward.errors import InputError
from kubesteward.model.semantics.api_versions import parse_version


@dataclass(frozen=True)
class PolicySettings:
    # Registries images may come from (prefixes such as "registry.example.com/" or "ghcr.io/org/");
    # empty: any (the allowed-registries rule then has nothing to enforce).
    allowed_registries: tuple[str, ...] = ()
    # The Kubernetes version the manifests are meant for (deprecated and removed apiVersions).
    target_version: str = "1.32"
    # Fewest replicas a production workload runs.
    min_replicas: int = 2
    # What `--fix` and the mutating webhook put where a container sets no resources.
    default_requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "100m", "memory": "128Mi"})
    default_limits: Mapping[str, str] = field(default_factory=lambda: {"memory": "256Mi"})
    # Namespaces whose objects are not judged (the webhook exempts them at admission too).
    exempt_namespaces: tuple[str, ...] = ("kube-system", "kube-public", "kube-node-lease")

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> PolicySettings:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InputError(f"{where}: policy.settings must be a mapping")
        names = {f.name: f for f in fields(cls)}
        camel = {_camel(name): name for name in names}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = camel.get(str(key), str(key) if str(key) in names else None)
            if name is None:
                raise InputError(f"{where}: unknown policy setting {key!r} (known: {', '.join(sorted(camel))})")
            values[name] = _coerce(name, value, getattr(cls(), name), where)
        if "target_version" in values:
            try:
                parse_version(values["target_version"])
            except ValueError as exc:
                raise InputError(f"{where}: policy setting targetVersion: {exc}") from None
        return cls(**values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _coerce(name: str, value: Any, default: Any, where: str) -> Any:
    if isinstance(default, tuple):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise InputError(f"{where}: policy setting {_camel(name)} must be a list")
        return tuple(str(item).strip() for item in items if str(item).strip())
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InputError(f"{where}: policy setting {_camel(name)} must be true or false")
        return value
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InputError(f"{where}: policy setting {_camel(name)} must be a non-negative integer")
        return value
    if isinstance(default, Mapping):
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: policy setting {_camel(name)} must be a mapping")
        return {str(k): str(v) for k, v in value.items()}
    return str(value)
