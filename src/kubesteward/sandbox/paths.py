"""Where the sandbox keeps its binaries and its clusters' state."""

from __future__ import annotations

import os
from pathlib import Path

from kubesteward.gotools.cache import cache_root, file_lock

__all__ = ["cache_root", "file_lock", "state_root"]


def state_root() -> Path:
    """Per-cluster runtime state (certs, kubeconfig, pids, logs)."""
    explicit = os.environ.get("KUBESTEWARD_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubesteward"
