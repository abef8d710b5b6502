"""Local Git repositories for the tests that read manifests from Git (the real ``git`` binary)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

_IDENTITY = ("-c", "user.name=test", "-c", "user.email=test@example.invalid")


def git(repo: Path, *args: str) -> str:
    """``git -C repo ARGS``, its stdout stripped; a failure fails the test."""
    return subprocess.run(["git", "-C", str(repo), *_IDENTITY, *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def commit_files(repo: Path, files: Mapping[str, str], message: str = "manifests") -> str:
    """Write ``files`` (path in the repository -> text) and commit them on ``main`` (the repository made
    when absent); the new commit's sha."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")
