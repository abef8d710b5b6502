"""Where built binaries are cached, and the lock that keeps concurrent builds and starts apart."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_root() -> Path:
    """Versioned binary cache: ``$KUBESTEWARD_CACHE_DIR`` or ``~/.cache/kubesteward``."""
    explicit = os.environ.get("KUBESTEWARD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubesteward"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


BUILD_LOCK = "build.lock"  # under cache_root(): one build at a time, whichever binaries it makes
