"""Files and directories kubesteward writes: readable by their owner only, and one clear error when they
cannot be written.

A snapshot, the watch state database and the JSONL alert log describe a cluster's weak spots; other users of
the machine have no business reading them, whatever the umask says.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import TextIO

from kubesteward.errors import OutputError
from kubesteward.redaction import scrub

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def private_directory(path: Path) -> Path:
    """``path`` and any missing parents created owner-only (existing directories are left as they are)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
            os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode passes through the umask
    except OSError as exc:
        raise OutputError(f"cannot create directory {path}: {_reason(exc)}") from None
    return path


def write_private(path: Path, text: str, *, scrubbed: bool = True) -> None:
    """Write ``text`` (scrubbed of credentials) to ``path``, created or truncated owner-only.

    Written to a temporary file beside it and renamed into place, so an interrupted write
    never leaves half a file under the name. ``scrubbed=False`` writes key material as it is:
    it is the secret the file exists to hold, and masking anything in it would corrupt it.
    """
    check_writable(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(scrub(text) if scrubbed else text)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {_reason(exc)}") from None


def open_private_append(path: Path) -> TextIO:
    """``path`` opened for appending, created owner-only (an existing file is made owner-only too)."""
    check_writable(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, "a", encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot open {path} for writing: {_reason(exc)}") from None


def create_private(path: Path) -> None:
    """Make sure ``path`` exists owner-only before a library (SQLite) opens it with the umask's mode."""
    check_writable(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot create {path}: {_reason(exc)}") from None


def check_writable(path: Path) -> None:
    """One line saying why ``path`` cannot be a file we write, before anything is written."""
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a directory")
    parent = path.parent
    if not parent.exists():
        raise OutputError(f"cannot write {path}: directory {parent} does not exist")
    if not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a directory")


def _reason(exc: OSError) -> str:
    if exc.errno is not None and exc.errno in errno.errorcode:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__
