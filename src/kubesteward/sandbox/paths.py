"""Where the sandbox keeps its binaries and its clusters' state."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Versioned binary cache: ``$KUBESTEWARD_CACHE_DIR`` or ``~/.cache/kubesteward``."""
    explicit = os.environ.get("KUBESTEWARD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubesteward"


def state_root() -> Path:
    """Per-cluster runtime state (certs, kubeconfig, pids, logs)."""
    explicit = os.environ.get("KUBESTEWARD_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubesteward"
