"""The root help names what exists: every registered command, and nothing that is only planned."""

from __future__ import annotations

import re

import pytest
import typer

from kubesteward.cli.main import LAZY_COMMANDS, app
from tests.support.cli import run_in_process


def test_the_root_help_names_exactly_the_registered_commands(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the description and each command on one line
    code, out, _ = run_in_process(capsys, "--help")
    assert code == 0
    registered = set(typer.main.get_command(app).list_commands(None))
    assert set(LAZY_COMMANDS) | {"exit-codes"} <= registered

    panel = out[out.index("─ Commands ") :]
    assert set(re.findall(r"^│ (\S+) {2,}", panel, re.MULTILINE)) == registered

    (description,) = [line.strip() for line in out.splitlines() if line.strip().startswith("Kubernetes operations")]
    named = {name.strip() for name in description.partition(":")[2].rstrip(".").split(",")}
    assert named == registered, f"not commands: {sorted(named - registered)}; left out: {sorted(registered - named)}"
