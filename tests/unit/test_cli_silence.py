"""``kubesteward silence add|list|expire`` through the real entry point, on a real SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.cli import run_in_process


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables at 80 columns when not on a terminal
    monkeypatch.delenv("KUBESTEWARD_STATE_URL", raising=False)
    return tmp_path / "state" / "watch.db"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_in_process(capsys, *args)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_add_list_expire_list_all(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "silence", "add", "namespace=shop", "alertname=~KS1.*", "--duration", "2h",
                       "--comment", "db migration", "--author", "alice", "--state", str(state))
    assert code == 0
    silence_id = out.strip()
    assert len(silence_id) == 8 and state.is_file()

    code, out, _ = cli(capsys, "silence", "list", "--state", str(state))
    assert code == 0
    row, second = rows_of(out, silence_id)
    assert 'namespace="shop"' in row and "alice" in row and "db migration" in row
    assert 'alertname=~"KS1.*"' in second and "1h59m left" in second  # one matcher per line; time left

    code, _, err = cli(capsys, "silence", "expire", silence_id, "--state", str(state))
    assert code == 0 and f"silence {silence_id} expired" in err

    code, out, err = cli(capsys, "silence", "list", "--state", str(state))
    assert code == 0 and silence_id not in out and "no active silences" in err

    code, out, _ = cli(capsys, "silence", "list", "--all", "--state", str(state))
    assert code == 0
    _, second = rows_of(out, silence_id)
    assert re.search(r"expired \d+s ago", second), second


def rows_of(table: str, silence_id: str) -> tuple[str, str]:
    """The first two lines of a silence's row in the table (matchers stack one per line)."""
    lines = table.splitlines()
    (start,) = [i for i, line in enumerate(lines) if line.startswith(silence_id)]
    return lines[start], lines[start + 1]


def test_add_and_list_as_json_and_yaml(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = dt.datetime.now(dt.UTC)
    code, out, _ = cli(capsys, "silence", "add", "kind=Node", "--until", "2099-01-02T03:04Z", "-o", "json",
                       "--state", str(state))
    assert code == 0
    created = json.loads(out)
    assert created["matchers"] == [{"name": "kind", "op": "=", "value": "Node"}]
    assert created["endsAt"] == "2099-01-02T03:04:00Z" and created["status"] == "active"
    assert dt.datetime.fromisoformat(created["startsAt"]) >= before.replace(microsecond=0)

    code, out, _ = cli(capsys, "silence", "list", "-o", "yaml", "--state", str(state))
    assert code == 0 and [s["id"] for s in yaml.safe_load(out)] == [created["id"]]


def test_defaults_author_from_user_and_store_from_environment(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBESTEWARD_STATE_URL", f"sqlite:///{state}")
    monkeypatch.setenv("LOGNAME", "bob")
    monkeypatch.setenv("USER", "bob")
    code, out, _ = cli(capsys, "silence", "add", "name=web", "-o", "json")
    assert code == 0
    created = json.loads(out)
    assert created["createdBy"] == "bob"
    ends = dt.datetime.fromisoformat(created["endsAt"]) - dt.datetime.fromisoformat(created["startsAt"])
    assert ends == dt.timedelta(hours=1)  # the default duration
    assert state.is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["namspace=shop"], "unknown label 'namspace'"),
        (["namespace"], "bad matcher 'namespace'"),
        (["name=~web("], "bad regular expression"),
        (["name=web", "--duration", "2x"], "bad duration '2x'"),
        (["name=web", "--duration", "1h", "--until", "2099-01-01T00:00Z"], "not both"),
        (["name=web", "--until", "2001-01-01T00:00Z"], "not in the future"),
        (["name=web", "--until", "tomorrow"], "bad --until"),
        (["namespace!=shop"], "mute everything"),
        (["name=web", "-o", "xml"], "unknown output format"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    state: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = cli(capsys, "silence", "add", *args, "--state", str(state))
    assert code == 2 and out == ""
    assert needle in one_error_line(err)
    assert not state.exists()


def test_expire_of_an_unknown_id_exits_6(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "silence", "expire", "deadbeef", "--state", str(state))
    assert code == 6
    assert "no active or pending silence with id 'deadbeef'" in one_error_line(err)


def test_an_unusable_store_exits_13(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = cli(capsys, "silence", "list", "--state", str(blocker / "watch.db"))
    assert code == 13
    assert f"{blocker} is not a directory" in one_error_line(err)
