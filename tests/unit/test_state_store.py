"""The watch state store on a real SQLite file and a real PostgreSQL server (tests/support/postgres.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from kubesteward.errors import StateError, UsageError
from kubesteward.notifications.silences import Matcher, Silence
from kubesteward.notifications.types import Alert, Notification
from kubesteward.redaction import register
from kubesteward.state import AlertRecord, AuditEntry, GroupRecord, StateStore
from kubesteward.state.url import resolve
from tests.support.postgres import fresh_database

T0 = dt.datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store location per test on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "state" / "watch.db")  # the directory does not exist yet: open() creates it
        return
    with fresh_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    opened = StateStore.open(state_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def raw(state_url: str) -> Iterator[Engine]:
    """A separate plain connection to the same database, to look behind the API or to break things."""
    engine = create_engine(resolve(state_url).url)
    try:
        yield engine
    finally:
        engine.dispose()


def alert_record(fingerprint: str, state: str = "firing", context: str = "prod", when: dt.datetime = T0) -> AlertRecord:
    return AlertRecord(fingerprint, context, state, {"fingerprint": fingerprint, "n": [1, 2], "s": "é"}, when)


def notification(group: str, sequence: int, created: dt.datetime = T0) -> Notification:
    alert = Alert(
        fingerprint=f"fp-{group}",
        status="firing",
        labels={"alertname": "KS101", "severity": "error", "namespace": "shop"},
        annotations={"summary": "crash looping"},
        starts_at=created - dt.timedelta(minutes=5),
        pods=2,
    )
    return Notification(group, {"namespace": "shop"}, "firing", (alert,), sequence, created)


def silence(*matchers: str, starts: dt.datetime = T0, hours: float = 2, sid: str = "") -> Silence:
    return Silence(
        id=sid,
        matchers=tuple(Matcher.parse(m) for m in matchers),
        starts_at=starts,
        ends_at=starts + dt.timedelta(hours=hours),
        created_by="alice",
        comment="maintenance",
    )


# ---------------------------------------------------------------------------------------------- schema


def test_open_creates_the_schema_once_and_reopens_with_the_data(state_url: str, raw: Engine) -> None:
    with StateStore.open(state_url) as first:
        first.commit(alerts=[alert_record("a")])
    with StateStore.open(state_url) as second:  # schema already there: no error, data kept
        assert set(second.load_alerts()) == {"a"}
    with raw.connect() as conn:
        assert conn.execute(text("SELECT version FROM ks_schema_version")).scalars().all() == [1]


def test_processes_opening_a_fresh_database_at_once_create_the_schema_once(state_url: str, raw: Engine) -> None:
    def open_and_close(_: int) -> None:
        StateStore.open(state_url).close()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(open_and_close, range(6)))  # re-raises the first StateError, if any
    with raw.connect() as conn:
        assert conn.execute(text("SELECT version FROM ks_schema_version")).scalars().all() == [1]


def test_a_newer_schema_is_refused_with_one_line(state_url: str, raw: Engine) -> None:
    StateStore.open(state_url).close()
    with raw.begin() as conn:
        conn.execute(text("UPDATE ks_schema_version SET version = 99"))
    with pytest.raises(StateError) as caught:
        StateStore.open(state_url)
    assert "schema version 99" in str(caught.value) and "upgrade kubesteward" in str(caught.value)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------------------------------- alerts, groups


def test_alerts_and_groups_round_trip_exactly_and_upsert_and_delete(store: StateStore) -> None:
    # A non-UTC input comes back as the same instant in UTC, to the microsecond.
    plus_two = dt.timezone(dt.timedelta(hours=2))
    local = dt.datetime(2026, 3, 4, 7, 6, 7, 999999, tzinfo=plus_two)
    store.commit(
        alerts=[alert_record("a", "pending", when=local), alert_record("b"), alert_record("c", context="staging")],
        groups=[GroupRecord("g1", {"sequence": 1, "hash": "x"}, T0)],
    )
    loaded = store.load_alerts()
    assert set(loaded) == {"a", "b", "c"}
    assert loaded["a"] == alert_record("a", "pending", when=local)
    assert loaded["a"].updated_at.tzinfo == dt.UTC and loaded["a"].updated_at == local
    assert set(store.load_alerts("staging")) == {"c"}
    assert store.load_groups() == {"g1": GroupRecord("g1", {"sequence": 1, "hash": "x"}, T0)}

    store.commit(
        alerts=[alert_record("a", "firing", when=at(60))],
        deleted_alerts=["b", "never-existed"],
        groups=[GroupRecord("g1", {"sequence": 2}, at(60)), GroupRecord("g2", {}, at(61))],
    )
    loaded = store.load_alerts()
    assert set(loaded) == {"a", "c"}
    assert loaded["a"].state == "firing" and loaded["a"].updated_at == at(60)
    groups = store.load_groups()
    assert groups["g1"] == GroupRecord("g1", {"sequence": 2}, at(60)) and set(groups) == {"g1", "g2"}


def test_naive_datetimes_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.commit(alerts=[alert_record("a", when=dt.datetime(2026, 1, 1))])
    assert store.load_alerts() == {}


def test_a_failing_commit_writes_nothing(store: StateStore, raw: Engine) -> None:
    store.commit(alerts=[alert_record("keep", "pending"), alert_record("doomed")], groups=[GroupRecord("g", {"v": 1}, T0)])
    # Break the last step of the transaction: the outbox insert fails after the alert and group writes ran.
    with raw.begin() as conn:
        conn.execute(text("ALTER TABLE ks_outbox RENAME TO ks_outbox_away"))
    with pytest.raises(StateError) as caught:
        store.commit(
            alerts=[alert_record("keep", "firing"), alert_record("new")],
            deleted_alerts=["doomed"],
            groups=[GroupRecord("g", {"v": 2}, at(1))],
            notifications=[("webhook", notification("g", 1))],
        )
    message = str(caught.value)
    assert message.startswith("state store ") and "commit failed" in message and "\n" not in message
    with raw.begin() as conn:
        conn.execute(text("ALTER TABLE ks_outbox_away RENAME TO ks_outbox"))
    alerts = store.load_alerts()
    assert set(alerts) == {"keep", "doomed"} and alerts["keep"].state == "pending"
    assert store.load_groups()["g"].data == {"v": 1}
    assert store.outbox_stats() == {}


# ---------------------------------------------------------------------------------------------- outbox


def test_the_outbox_skips_a_notification_it_already_has_per_sink(store: StateStore) -> None:
    first = notification("g", 1)
    assert store.commit(notifications=[("webhook", first), ("webhook", first), ("slack", first)]) == 2
    # After a crash the lifecycle re-sends the same notification (same group and sequence, so same key).
    replay = notification("g", 1, created=at(30))
    assert replay.idempotency_key == first.idempotency_key
    assert store.commit(alerts=[alert_record("a")], notifications=[("webhook", replay)]) == 0
    assert set(store.load_alerts()) == {"a"}  # the rest of that commit still happened
    assert store.commit(notifications=[("webhook", notification("g", 2))]) == 1
    assert store.outbox_stats() == {
        "slack": {"pending": 1, "delivered": 0, "failed_attempts": 0},
        "webhook": {"pending": 2, "delivered": 0, "failed_attempts": 0},
    }
    (item, _) = store.due("webhook", at(3600))
    assert item.notification == first  # parsed back, equal field by field (datetimes included)
    assert item.created_at == T0 and item.next_attempt_at == T0 and item.attempts == 0


def test_due_is_in_enqueue_order_and_honours_next_attempt_at(store: StateStore) -> None:
    n1, n2, n3 = notification("a", 1, at(2)), notification("b", 1, at(0)), notification("c", 1, at(1))
    store.commit(notifications=[("hook", n1), ("hook", n2), ("hook", n3), ("other", notification("d", 1, at(0)))])
    assert [i.notification.group_key for i in store.due("hook", at(10))] == ["a", "b", "c"]
    assert [i.notification.group_key for i in store.due("hook", at(10), limit=2)] == ["a", "b"]
    # Inclusive at the microsecond: due exactly at T0, not one microsecond before.
    assert [i.notification.group_key for i in store.due("hook", T0)] == ["b"]
    assert store.due("hook", T0 - dt.timedelta(microseconds=1)) == []
    assert store.next_due_at("hook") == T0
    assert store.next_due_at("nobody") is None

    b = store.due("hook", T0)[0]
    store.mark_failed(b.id, "HTTP 503 from receiver", next_attempt_at=at(3600))
    assert [i.notification.group_key for i in store.due("hook", at(10))] == ["a", "c"]
    assert store.next_due_at("hook") == at(1)
    (retried,) = [i for i in store.due("hook", at(3600)) if i.id == b.id]
    assert retried.attempts == 1 and retried.last_error == "HTTP 503 from receiver"
    assert retried.next_attempt_at == at(3600)


def test_failures_deliveries_stats_and_pruning(store: StateStore) -> None:
    store.commit(notifications=[("hook", notification(g, 1)) for g in ("a", "b", "c")])
    a, b, c = store.due("hook", at(1))
    store.mark_failed(a.id, "timeout", at(5))
    store.mark_failed(a.id, "refused", at(20))
    store.mark_delivered(a.id, at(21))
    store.mark_delivered(b.id, at(100))
    assert store.outbox_stats() == {"hook": {"pending": 1, "delivered": 2, "failed_attempts": 2}}
    assert [i.id for i in store.due("hook", at(1000))] == [c.id]
    assert store.next_due_at("hook") == T0

    # A delivered row still blocks a re-enqueue of the same notification until it is pruned.
    assert store.commit(notifications=[("hook", notification("a", 1))]) == 0
    assert store.prune_delivered(before=at(100)) == 1  # strictly before: b (delivered at 100) stays
    assert store.prune_delivered(before=at(100)) == 0
    assert store.outbox_stats() == {"hook": {"pending": 1, "delivered": 1, "failed_attempts": 0}}
    assert store.commit(notifications=[("hook", notification("a", 1))]) == 1
    assert store.prune_delivered(before=at(10_000)) == 1  # b; pending rows are never pruned
    assert store.outbox_stats()["hook"] == {"pending": 2, "delivered": 0, "failed_attempts": 0}


# ---------------------------------------------------------------------------------------------- silences


def test_silences_add_list_and_expire(store: StateStore) -> None:
    now = at(60)
    active = store.add_silence(silence("namespace=shop", 'alertname=~"KS1.*"'))
    assert len(active.id) == 8 and int(active.id, 16) >= 0
    pending = store.add_silence(silence("kind=Node", starts=at(3600), sid="maint-1"))
    assert pending.id == "maint-1"
    assert store.silences(now) == [active, pending]  # by start time; round trip exact
    assert active.matchers[1] == Matcher("alertname", "=~", "KS1.*")

    assert store.expire_silence(active.id, now) is True
    assert store.expire_silence(active.id, at(61)) is False  # already over
    assert store.expire_silence("nope", now) is False
    assert store.silences(now) == [pending]
    (expired, _) = store.silences(now, include_expired=True)
    assert expired.id == active.id and expired.ends_at == now and expired.starts_at == T0

    # Expiring a silence that has not started: it ends (and starts) now, like Alertmanager.
    assert store.expire_silence("maint-1", now) is True
    assert store.silences(now) == []
    ended = {s.id: s for s in store.silences(now, include_expired=True)}["maint-1"]
    assert ended.starts_at == now and ended.ends_at == now


def test_a_silence_that_would_mute_everything_is_refused(store: StateStore) -> None:
    with pytest.raises(UsageError, match="empty string"):
        store.add_silence(silence("namespace!=shop"))
    assert store.silences(T0, include_expired=True) == []


# ---------------------------------------------------------------------------------------------- sharing


def test_two_stores_on_one_database_see_each_others_writes(state_url: str) -> None:
    with StateStore.open(state_url) as daemon, StateStore.open(state_url) as cli:
        daemon.commit(alerts=[alert_record("a")], notifications=[("hook", notification("g", 1))])
        added = cli.add_silence(silence("namespace=shop"))
        assert set(cli.load_alerts()) == {"a"}
        assert daemon.silences(at(1)) == [added]
        assert cli.commit(notifications=[("hook", notification("g", 1))]) == 0  # dedup across stores too

        # Concurrent writers from threads (the daemon runs the store through asyncio.to_thread).
        def write(index: int) -> int:
            target = daemon if index % 2 else cli
            return target.commit(
                alerts=[alert_record(f"t{index}")], notifications=[("hook", notification(f"t{index}", 1))]
            )

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert sum(pool.map(write, range(24))) == 24
        assert len(daemon.load_alerts()) == 25 and cli.outbox_stats()["hook"]["pending"] == 25


def test_another_process_sees_the_writes(state_url: str) -> None:
    with StateStore.open(state_url) as store:
        script = textwrap.dedent(
            """
            import datetime as dt, sys
            from kubesteward.notifications.silences import Matcher, Silence
            from kubesteward.state import StateStore
            now = dt.datetime.now(dt.UTC)
            with StateStore.open(sys.argv[1]) as other:
                s = Silence("", (Matcher.parse("name=web"),), now, now + dt.timedelta(hours=1), "bob", "")
                print(other.add_silence(s).id)
            """
        )
        done = subprocess.run([sys.executable, "-c", script, state_url], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert [s.id for s in store.silences(dt.datetime.now(dt.UTC))] == [done.stdout.strip()]


# ---------------------------------------------------------------------------------------------- errors, URLs


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_postgresql_is_one_line_without_the_password() -> None:
    url = f"postgresql://watch:hunter2@127.0.0.1:{_free_port()}/kubesteward"
    with pytest.raises(StateError) as caught:
        StateStore.open(url)
    message = str(caught.value)
    assert message.startswith("state store postgresql://watch:***@127.0.0.1:") and "/kubesteward unreachable: " in message
    assert "refused" in message.lower()
    assert "hunter2" not in message and "\n" not in message
    assert caught.value.exit_code == 13


def test_postgresql_url_forms_and_masking(postgres_url: str) -> None:
    with fresh_database(postgres_url) as url:
        password = resolve(url).url.password
        assert password
        explicit = url.replace("postgresql://", "postgresql+psycopg://", 1)
        with StateStore.open(url) as plain, StateStore.open(explicit) as driver:
            assert str(password) not in plain.url and ":***@" in plain.url and plain.url.startswith("postgresql://")
            assert driver.url.startswith("postgresql+psycopg://")
            plain.commit(alerts=[alert_record("a")])
            assert set(driver.load_alerts()) == {"a"}


def test_wrong_postgresql_password_is_not_called_unreachable(postgres_url: str) -> None:
    url = resolve(postgres_url).url.set(password="not-the-password").render_as_string(hide_password=False)
    with pytest.raises(StateError) as caught:
        StateStore.open(url)
    message = str(caught.value)
    assert "cannot be opened: " in message and "authentication failed" in message
    assert "not-the-password" not in message


def test_unwritable_sqlite_path_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError) as caught:
        StateStore.open(str(blocker / "state" / "watch.db"))
    assert str(caught.value) == f"state store sqlite:///{blocker}/state/watch.db unwritable: {blocker} is not a directory"


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "watch.db"
    garbage.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(StateError) as caught:
        StateStore.open(f"sqlite:///{garbage}")
    assert str(caught.value) == f"state store sqlite:///{garbage} cannot be opened: file is not a database"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://u:pw@127.0.0.1/x", "unsupported state store URL scheme 'mysql'"),
        ("sqlite://", "in-memory SQLite"),
        ("postgresql://u:pw@127.0.0.1:notaport/x", "bad state store URL (postgresql://…)"),
    ],
)
def test_bad_urls_are_state_errors(url: str, needle: str) -> None:
    with pytest.raises(StateError) as caught:
        StateStore.open(url)
    assert needle in str(caught.value) and "pw" not in str(caught.value)


def test_where_the_state_lives_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBESTEWARD_STATE_URL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert resolve(None).sqlite_path == tmp_path / "xdg" / "kubesteward" / "watch.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve(None).sqlite_path == tmp_path / "home" / ".local" / "state" / "kubesteward" / "watch.db"
    monkeypatch.setenv("KUBESTEWARD_STATE_URL", f"sqlite:///{tmp_path}/env.db")
    assert resolve(None).sqlite_path == tmp_path / "env.db"
    assert resolve(str(tmp_path / "explicit.db")).display == f"sqlite:///{tmp_path}/explicit.db"  # argument wins
    monkeypatch.chdir(tmp_path)
    assert resolve("relative.db").sqlite_path == tmp_path / "relative.db"
    assert resolve("postgres://u:pw@db:5432/ks").url.drivername == "postgresql+psycopg"

    with StateStore.open() as store:  # nothing given: the environment decides
        assert store.url == f"sqlite:///{tmp_path}/env.db"
    assert (tmp_path / "env.db").is_file()


def test_sqlite_runs_in_wal_mode_so_readers_do_not_block_the_daemon(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "watch.db"
    StateStore.open(str(path)).close()
    with sqlite3.connect(path) as conn:  # WAL is a property of the file: it persists after close
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# ---------------------------------------------------------------------------------------------- audit trail


def audit_entry(name: str, when: dt.datetime = T0, *, app: str = "shop", **changes: Any) -> AuditEntry:
    entry = AuditEntry(
        at=when, actor="alice@prod", context="prod", app=app, action="update", kind="Deployment", group="apps",
        namespace="shop", name=name, source="git:/srv/repo@main:deploy (0123abc)", revision="0123abc" + "0" * 33,
        dry_run=False, outcome="ok", detail="image web:1.2 -> web:1.3",
    )
    return dataclasses.replace(entry, **changes)


def test_audit_entries_round_trip_newest_first_by_app_and_limited(store: StateStore) -> None:
    assert store.audit_entries() == []
    plus_two = dt.timezone(dt.timedelta(hours=2))
    first = audit_entry("web", dt.datetime(2026, 3, 4, 7, 6, 7, 999999, tzinfo=plus_two))  # T0 + 0.876543 s in UTC
    cluster_scoped = audit_entry("ops", at(5), app="platform", kind="Namespace", group="", namespace="",
                                 action="create", dry_run=True, revision="", source="deploy/platform")
    store.record_audit([first, cluster_scoped])
    # One instant, two entries: the one recorded last comes first, as it happened last.
    store.record_audit([audit_entry("a", at(10)), audit_entry("b", at(10), action="prune", outcome="failed")])
    store.record_audit([])  # nothing to record: no transaction, no error

    everything = store.audit_entries()
    assert [e.name for e in everything] == ["b", "a", "ops", "web"]
    assert everything[3] == first and everything[3].at.tzinfo == dt.UTC  # same instant, to the microsecond
    assert everything[2] == cluster_scoped and everything[2].dry_run is True and everything[3].dry_run is False
    assert everything[0].action == "prune" and everything[0].outcome == "failed"
    assert [e.name for e in store.audit_entries(app="shop")] == ["b", "a", "web"]
    assert [e.name for e in store.audit_entries(app="platform")] == ["ops"]
    assert store.audit_entries(app="nothing") == []
    assert [e.name for e in store.audit_entries(limit=2)] == ["b", "a"]
    assert [e.name for e in store.audit_entries(app="shop", limit=1)] == ["b"]
    with pytest.raises(ValueError, match="at least 1"):
        store.audit_entries(limit=0)


def test_audit_detail_and_source_are_scrubbed_and_one_line(store: StateStore, raw: Engine) -> None:
    token = "Zk9q-registered-token-7731"
    register(token)
    store.record_audit([
        audit_entry(
            "web",
            detail=f"apply refused:\n  token {token}\n  Authorization: Bearer abcdefghijklmnop0123456789",
            source="git:https://bot:hunter2-pass@git.example/repo@main:deploy (0123abc)",
        )
    ])
    [entry] = store.audit_entries()
    assert entry.detail == "apply refused: token *** Authorization: Bearer ***"
    assert entry.source == "git:https://bot:***@git.example/repo@main:deploy (0123abc)"
    with raw.connect() as conn:  # nothing of either in the database itself, in any column
        dumped = " ".join(str(v) for row in conn.execute(text("SELECT * FROM ks_audit")).all() for v in row)
    assert token not in dumped and "hunter2-pass" not in dumped and "abcdefghijklmnop" not in dumped


def test_an_audit_batch_with_a_bad_entry_records_none_of_it(store: StateStore) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.record_audit([audit_entry("good"), audit_entry("bad", dt.datetime(2026, 1, 1))])
    assert store.audit_entries() == []


def test_a_database_made_before_the_audit_trail_gets_it_and_keeps_its_data(state_url: str, raw: Engine) -> None:
    with StateStore.open(state_url) as before:
        before.commit(alerts=[alert_record("a")], notifications=[("hook", notification("g", 1))])
        kept = before.add_silence(silence("namespace=shop"))
    with raw.begin() as conn:  # what version 1 created: every table but ks_audit
        conn.execute(text("DROP TABLE ks_audit"))
    with raw.connect() as conn:
        assert "ks_audit" not in inspect(conn).get_table_names()

    with StateStore.open(state_url) as after:
        assert set(after.load_alerts()) == {"a"}
        assert after.silences(T0) == [kept] and after.outbox_stats()["hook"]["pending"] == 1
        after.record_audit([audit_entry("web")])
        assert [e.name for e in after.audit_entries()] == ["web"]
    with raw.connect() as conn:
        # Additive: the version stays, so an older kubesteward sharing the database still opens it.
        assert conn.execute(text("SELECT version FROM ks_schema_version")).scalars().all() == [1]
        assert {"ks_audit_app_at", "ks_audit_at"} <= {i["name"] for i in inspect(conn).get_indexes("ks_audit")}


def test_audit_entry_names_its_object_as_kubectl_does() -> None:
    assert audit_entry("web").object == "Deployment.apps/shop/web"
    assert audit_entry("ops", kind="Namespace", group="", namespace="").object == "Namespace/ops"
    assert audit_entry("cfg", kind="ConfigMap", group="").object == "ConfigMap/shop/cfg"
    document = audit_entry("web", dt.datetime(2026, 3, 4, 7, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))).document()
    assert document["at"] == "2026-03-04T05:06:07Z" and document["dryRun"] is False and document["group"] == "apps"
