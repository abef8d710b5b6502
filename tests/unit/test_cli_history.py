"""``kubesteward history`` through the real entry point, over a real SQLite store written by the library."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from kubesteward.state import AuditEntry, StateStore
from tests.support.cli import run_in_process

T0 = dt.datetime(2026, 12, 3, 9, 0, 0, tzinfo=dt.UTC)
FIRST = "0123456789abcdef0123456789abcdef01234567"
SECOND = "fedcba9876543210fedcba9876543210fedcba98"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables at 80 columns when not on a terminal
    monkeypatch.delenv("KUBESTEWARD_STATE_URL", raising=False)
    return tmp_path / "state" / "watch.db"


def entry(name: str, minutes: int, *, app: str = "shop", revision: str = FIRST, **changes: object) -> AuditEntry:
    values: dict[str, object] = {
        "at": T0 + dt.timedelta(minutes=minutes), "actor": "alice", "context": "prod", "app": app,
        "action": "update", "kind": "Deployment", "group": "apps", "namespace": "shop", "name": name,
        "source": f"git:/srv/repo@main:deploy ({revision[:12]})", "revision": revision, "dry_run": False,
        "outcome": "ok", "detail": "",
    }
    values.update(changes)
    return AuditEntry(**values)  # type: ignore[arg-type]


@pytest.fixture
def recorded(state: Path) -> Path:
    with StateStore.open(str(state)) as store:
        store.record_audit([
            entry("web", 0, action="create"),
            entry("ops", 1, app="platform", kind="Namespace", group="", namespace="", revision="", source="ops/"),
            entry("old", 2, action="prune", kind="ConfigMap", group="", dry_run=True),
            entry("web", 3, revision=SECOND, action="self-heal", detail="reverted spec.replicas"),
            entry("api", 4, revision=SECOND, action="conflict", outcome="failed",
                  detail="spec.replicas owned by [bold]kubectl-edit[/]\x1b[31m"),
        ])
    return state


def rows(out: str) -> list[str]:
    return [line for line in out.splitlines()[1:] if line.strip()]


def test_the_table_is_newest_first_with_short_revisions(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_in_process(capsys, "history", "--state", str(recorded))
    assert code == 0
    header, *_ = out.splitlines()
    assert header.split() == ["TIME", "(UTC)", "APP", "CONTEXT", "ACTION", "OBJECT", "REVISION", "OUTCOME", "DETAIL"]
    api, web, old, ops, first = rows(out)
    assert api.split()[:8] == ["2026-12-03", "09:04:00", "shop", "prod", "conflict", "Deployment.apps/shop/api",
                               SECOND[:12], "failed"]
    # Cluster strings are shown, never interpreted: rich markup stays text, the escape sequence is made visible.
    assert "[bold]kubectl-edit[/]" in api and "\x1b" not in out and "\\x1b[31m" in api
    assert "self-heal" in web and "reverted spec.replicas" in web
    assert "prune (dry run)" in old and "ConfigMap/shop/old" in old
    assert ops.split()[2:7] == ["platform", "prod", "update", "Namespace/ops", "-"]  # files: no revision
    assert first.split()[4:7] == ["create", "Deployment.apps/shop/web", FIRST[:12]]
    assert FIRST not in out  # only the short form in the table


def test_app_and_limit_choose_the_entries(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_in_process(capsys, "history", "--app", "shop", "--limit", "2", "--state", str(recorded))
    assert code == 0
    assert [row.split()[5] for row in rows(out)] == ["Deployment.apps/shop/api", "Deployment.apps/shop/web"]
    code, out, _ = run_in_process(capsys, "history", "--app", "platform", "--state", str(recorded))
    assert code == 0 and [row.split()[5] for row in rows(out)] == ["Namespace/ops"]


def test_json_and_yaml_hold_every_field_and_the_full_revision(
    recorded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_in_process(capsys, "history", "-o", "json", "--state", str(recorded))
    assert code == 0
    documents = json.loads(out)
    assert [d["name"] for d in documents] == ["api", "web", "old", "ops", "web"]
    assert documents[1] == {
        "at": "2026-12-03T09:03:00Z", "actor": "alice", "context": "prod", "app": "shop", "action": "self-heal",
        "kind": "Deployment", "group": "apps", "namespace": "shop", "name": "web",
        "source": "git:/srv/repo@main:deploy (fedcba987654)", "revision": SECOND, "dryRun": False, "outcome": "ok",
        "detail": "reverted spec.replicas",
    }
    assert documents[2]["dryRun"] is True
    code, out, _ = run_in_process(capsys, "history", "-o", "yaml", "--app", "platform", "--state", str(recorded))
    assert code == 0 and [d["name"] for d in yaml.safe_load(out)] == ["ops"]


def test_an_empty_trail_says_so_and_exits_0(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_in_process(capsys, "history", "--state", str(state))
    assert code == 0 and out == "" and "no entry in the audit trail" in err
    code, out, err = run_in_process(capsys, "history", "--app", "shop", "--state", str(state))
    assert code == 0 and out == "" and "no entry in the audit trail for app shop" in err
    code, out, _ = run_in_process(capsys, "history", "-o", "json", "--state", str(state))
    assert code == 0 and json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--limit", "0"], "at least 1"), (["-o", "markdown"], "unknown output format"), (["--limit", "x"], "--limit")],
)
def test_bad_options_exit_2_with_one_line(
    state: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run_in_process(capsys, "history", *args, "--state", str(state))
    assert code == 2 and out == "" and needle in err and "Traceback" not in err


def test_an_unusable_store_is_one_line_exit_13(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("not a directory")
    code, out, err = run_in_process(capsys, "history", "--state", str(tmp_path / "file" / "watch.db"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 13 and out == "" and len(lines) == 1 and lines[0].startswith("error: ")


def test_piped_rows_are_whole_lines_whatever_their_length(
    state: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COLUMNS")  # a pipe: rich would assume 80 columns and fold every column
    detail = "conflict (409): Apply failed with 1 conflict: conflict with \"kubectl-patch\" using v1: .data.a"
    with StateStore.open(str(state)) as store:
        store.record_audit([entry("a-deployment-with-a-long-name", 0, action="conflict", detail=detail)])
    code, out, _ = run_in_process(capsys, "history", "--state", str(state))
    assert code == 0
    (row,) = rows(out)
    assert "Deployment.apps/shop/a-deployment-with-a-long-name" in row and row.rstrip().endswith(detail)
