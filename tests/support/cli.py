"""The CLI as a user runs it: a new process, a clean environment, one clear line per failure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from kubesteward.errors import EXIT_CODES

CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent-home", "KUBECONFIG": "/nonexistent/config"}


def cli(*args: str, timeout: float = 60, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubesteward", *args], capture_output=True, text=True, timeout=timeout,
        env={**CLEAN_ENV, **(env or {})},
    )


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """The sandbox's own kubectl (``apply`` writes the last-applied annotation, as in production)."""
    from kubesteward.sandbox import build

    result = subprocess.run([str(build.binary_path("kubectl")), "--kubeconfig", str(kubeconfig), *args],
                            input=stdin, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_one_clear_line(result: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    assert code in EXIT_CODES


def variant(
    base: Path, tmp_path: Path, *, server: str | None = None, user: dict[str, Any] | None = None,
    namespace: str | None = None, name: str = "kubeconfig",
) -> Path:
    """A copy of the kubeconfig at ``base`` with another server, user or default namespace."""
    data = yaml.safe_load(base.read_text())
    if server is not None:
        data["clusters"][0]["cluster"]["server"] = server
    if user is not None:
        data["users"][0]["user"] = user
    if namespace is not None:
        data["contexts"][0]["context"]["namespace"] = namespace
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def run_in_process(capsys: Any, *args: str) -> tuple[int, str, str]:
    """The CLI's entry point called in this process (fast; for inputs found bad before any request):
    its exit code, stdout and stderr (``capsys``: pytest's capture fixture)."""
    import pytest

    from kubesteward.cli.main import run

    with pytest.raises(SystemExit) as exited:
        run(list(args))
    captured = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), captured.out, captured.err
