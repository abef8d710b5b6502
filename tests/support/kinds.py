"""Built-in resource types for tests, by apiVersion and kind (a typo fails at import, not mid-test)."""

from __future__ import annotations

from kubesteward.cluster import resources
from kubesteward.cluster.resources import ResourceType


def builtin(api_version: str, kind: str) -> ResourceType:
    found = resources.builtin(api_version, kind)
    assert found is not None, kind
    return found
