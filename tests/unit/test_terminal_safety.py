"""Strings from a cluster or a user are printed as text: no escape sequence reaches the terminal, no markup is read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from kubesteward.cli.main import run
from kubesteward.cli.output import escape
from kubesteward.cli.state import STATE
from kubesteward.reporting.markdown import markdown_report
from kubesteward.terminal import neutralise

HOSTILE = "boom \x1b[2J\x1b]0;owned\x07 \x9b31m [red]fake[/] [link=http://evil]x[/link] \u202eevil\u202c\rover\x08"


def test_control_characters_become_visible_escapes() -> None:
    shown = neutralise(HOSTILE)
    assert "\x1b" not in shown and "\x9b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "\u202e" not in shown and "\x08" not in shown
    assert "\\x1b[2J" in shown and "\\x9b" in shown and "\\u202e" in shown
    assert neutralise("a\tb\nc") == "a\tb\nc"
    assert neutralise("a\nb", one_line=True) == "a b"


def test_rich_prints_the_text_exactly_without_reading_markup() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, color_system="truecolor", width=400)
    console.print(f"[bold]message:[/] {escape(HOSTILE)}", highlight=False)
    printed = buffer.getvalue()
    assert "[red]fake[/]" in printed and "[link=http://evil]x[/link]" in printed
    # The only escape sequences are rich's own styles (SGR, ending in "m"): never a clear screen or a title.
    sequences = printed.split("\x1b")[1:]
    assert sequences and all(seq.startswith("[") and "m" in seq[:12] for seq in sequences)
    assert "\x1b[2J" not in printed and "\x1b]" not in printed and "\x9b" not in printed


def crashing_pod(message: str) -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "api", "namespace": "shop", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "api:1"}]},
        "status": {"phase": "Running", "containerStatuses": [{
            "name": "app", "ready": False, "restartCount": 9, "image": "api:1",
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": message}},
            "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "message": message}}}]},
    }


def test_a_markdown_ticket_carries_no_control_character() -> None:
    import datetime as dt

    from kubesteward.checks.engine import run_checks
    from kubesteward.model.files import model_from_objects

    model, _ = model_from_objects([crashing_pod(HOSTILE)], now=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    report = run_checks(model)
    assert report.incidents, "the crashing pod is a finding"
    text = markdown_report([report])
    assert "\x1b" not in text and "\x9b" not in text and "\r" not in text and "\u202e" not in text
    assert "\\x1b[2J" in text


def test_silence_authors_and_comments_are_printed_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(STATE, "_consoles", {})  # consoles made here see a terminal: not for later tests
    monkeypatch.setenv("KUBESTEWARD_STATE_URL", f"{tmp_path}/state.db")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "300")
    for args in (["silence", "add", "namespace=shop", "--comment", HOSTILE, "--author", "mallory\x1b[2J"],
                 ["silence", "list"]):
        with pytest.raises(SystemExit) as exited:
            run(args)
        assert exited.value.code == 0
    listed = capsys.readouterr().out
    assert "\x1b[2J" not in listed and "\x1b]" not in listed and "\x9b" not in listed
    assert "[red]fake[/]" in listed and "mallory\\x1b[2J" in listed
