"""The durable memory of ``kubesteward watch``: alerts, notification groups, the outbox, silences; and the
audit trail of ``sync``.

One :class:`StateStore` per process, over SQLite (default, a file) or
PostgreSQL (a URL, for a shared or in-cluster daemon). Synchronous SQLAlchemy
Core on purpose: calls are short and the async callers run them through
``asyncio.to_thread``; the engine's connection pool makes that safe.

The one rule that matters for delivery is in :meth:`StateStore.commit`: state
changes and the notifications they cause are written in ONE transaction, and
an outbox row is unique per (sink, idempotency key). A crash between "decide"
and "send" therefore neither loses a notification nor, after a replay,
enqueues it twice.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    case,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from kubesteward.errors import OutputError, StateError
from kubesteward.notifications.silences import Matcher, Silence
from kubesteward.notifications.types import Notification
from kubesteward.private_files import create_private, private_directory
from kubesteward.redaction import scrub
from kubesteward.state import schema as s
from kubesteward.state.audit import AuditEntry
from kubesteward.state.url import StateLocation, resolve

# Errors from the database layer that become one StateError line. SQLAlchemy wraps driver errors; the raw
# sqlite3 ones can still escape from our connect hook, and OSError covers a disk that fills up or disappears.
_DB_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, sqlite3.Error, OSError)
_WRITE = "kubesteward_write"  # execution option: this transaction will write (SQLite: take the lock up front)
_BUSY_TIMEOUT_S = 30.0  # SQLite: how long a writer waits for another process's transaction
_CONNECT_TIMEOUT_S = 10  # PostgreSQL: fail an unreachable server in bounded time
_SCHEMA_LOCK = 0x6B7365_7374  # PostgreSQL advisory lock id: serializes schema creation across processes
_MAX_ERROR_TEXT = 2000
_OPEN = "open"
# Driver messages that mean "no server there" rather than "the server said no" (auth, missing database).
_UNREACHABLE = re.compile(
    r"refused|timeout|timed out|could not translate host|no route|network is unreachable|server closed", re.IGNORECASE
)


@dataclass(frozen=True)
class AlertRecord:
    """The alert lifecycle's memory of one alert; ``data`` is opaque JSON owned by the lifecycle."""

    fingerprint: str
    context: str
    state: str  # "pending" | "firing" | "resolved"
    data: dict[str, Any]
    updated_at: dt.datetime


@dataclass(frozen=True)
class GroupRecord:
    """One notification group's memory (last sent hash, sequence, timestamps), opaque JSON."""

    group_key: str
    data: dict[str, Any]
    updated_at: dt.datetime


@dataclass(frozen=True)
class OutboxItem:
    id: int
    sink: str
    idempotency_key: str
    notification: Notification
    attempts: int  # failed attempts so far
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    last_error: str | None
    delivered_at: dt.datetime | None


class StateStore:
    """Open with :meth:`open`; close with :meth:`close` (or use it as a context manager)."""

    def __init__(self, engine: Engine, location: StateLocation) -> None:
        self._engine = engine
        self._location = location
        self._postgres = engine.dialect.name == "postgresql"

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, url: str | None = None) -> StateStore:
        """None: ``$KUBESTEWARD_STATE_URL``, else ``$XDG_STATE_HOME/kubesteward/watch.db``. Creates the schema."""
        location = resolve(url)
        if location.sqlite_path is not None:
            directory = location.sqlite_path.parent
            try:
                # Owner-only directory and file, whatever the umask: SQLite would create the file (and
                # its journal files, which copy its mode) readable by everyone.
                private_directory(directory)
                create_private(location.sqlite_path)
            except OutputError as exc:
                # A regular file where a directory should be: name that obstacle, not the symptom.
                blocker = next((p for p in (directory, *directory.parents) if p.exists()), None)
                if blocker is not None and not blocker.is_dir():
                    reason = f"{blocker} is not a directory"
                else:
                    reason = str(exc)
                raise StateError(f"state store {location.display} unwritable: {reason}") from None
            engine = _sqlite_engine(location)
        else:
            engine = create_engine(
                location.url,
                # A long-running daemon outlives server restarts and idle-connection reaping: test before use.
                pool_pre_ping=True,
                connect_args={"connect_timeout": _CONNECT_TIMEOUT_S, "application_name": "kubesteward"},
            )
        store = cls(engine, location)
        try:
            store._ensure_schema()
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def url(self) -> str:
        """Where the state lives, password masked: safe to print."""
        return self._location.display

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_schema(self) -> None:
        with self._transaction(_OPEN, write=True) as conn:
            if self._postgres:
                # Two processes (daemon + CLI) opening a fresh database at once would both CREATE TABLE.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            if inspect(conn).has_table(s.schema_version.name):
                found = conn.execute(select(func.max(s.schema_version.c.version))).scalar()
                if found is not None and found > s.SCHEMA_VERSION:
                    raise StateError(
                        f"state store {self.url} has schema version {found}, newer than this kubesteward "
                        f"understands ({s.SCHEMA_VERSION}): upgrade kubesteward"
                    )
            # Version 1 is the first schema: nothing to migrate yet. Future versions migrate here, by version.
            # Tables added since without a version (additive: ks_audit) are created in an older database here.
            s.metadata.create_all(conn, checkfirst=True)
            if conn.execute(select(func.count()).select_from(s.schema_version)).scalar() == 0:
                conn.execute(s.schema_version.insert().values(version=s.SCHEMA_VERSION))

    @contextmanager
    def _transaction(self, action: str, *, write: bool) -> Iterator[Connection]:
        """One transaction; database errors become one StateError line naming the store and the action."""
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    yield conn
        except _DB_ERRORS as exc:
            reason = self._reason(exc)
            if action == _OPEN:
                action = "unreachable" if self._postgres and _UNREACHABLE.search(reason) else "cannot be opened"
            raise StateError(f"state store {self.url} {action}: {reason}") from exc

    def _reason(self, exc: BaseException) -> str:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        reason = lines[0] if lines else type(cause).__name__
        # psycopg: 'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'.
        reason = re.sub(r'^(connection failed: )?(connection to server at "[^"]*", port \d+ failed: )', "", reason)
        reason = re.sub(r"^FATAL:\s+", "", reason)
        password = self._location.url.password
        if password:
            reason = reason.replace(str(password), "***")
        return reason

    # ------------------------------------------------------------------ alerts and groups

    def load_alerts(self, context: str | None = None) -> dict[str, AlertRecord]:
        query = select(s.alerts)
        if context is not None:
            query = query.where(s.alerts.c.context == context)
        with self._transaction("read failed", write=False) as conn:
            rows = conn.execute(query).all()
        return {
            row.fingerprint: AlertRecord(
                fingerprint=row.fingerprint,
                context=row.context,
                state=row.state,
                data=json.loads(row.data),
                updated_at=s.from_db(row.updated_at),
            )
            for row in rows
        }

    def load_groups(self) -> dict[str, GroupRecord]:
        with self._transaction("read failed", write=False) as conn:
            rows = conn.execute(select(s.groups)).all()
        return {
            row.group_key: GroupRecord(
                group_key=row.group_key, data=json.loads(row.data), updated_at=s.from_db(row.updated_at)
            )
            for row in rows
        }

    def commit(
        self,
        *,
        alerts: Iterable[AlertRecord] = (),
        deleted_alerts: Iterable[str] = (),
        groups: Iterable[GroupRecord] = (),
        notifications: Iterable[tuple[str, Notification]] = (),
    ) -> int:
        """ONE transaction: upsert alerts and groups, delete alerts, enqueue notifications.

        An outbox row whose (sink, idempotency key) exists is skipped, not an error. Returns the number of
        outbox rows actually inserted. A fingerprint both upserted and deleted here ends up deleted. A fresh
        outbox row is due at its notification's ``created_at`` (the lifecycle's clock, not the store's).
        """
        # Serialize everything before the transaction: a bad value fails here, before any lock is held.
        alert_rows = {
            a.fingerprint: {
                "fingerprint": a.fingerprint,
                "context": a.context,
                "state": a.state,
                "data": json.dumps(a.data, sort_keys=True),
                "updated_at": s.to_db(a.updated_at),
            }
            for a in alerts
        }
        group_rows = {
            g.group_key: {
                "group_key": g.group_key,
                "data": json.dumps(g.data, sort_keys=True),
                "updated_at": s.to_db(g.updated_at),
            }
            for g in groups
        }
        deleted = sorted(set(deleted_alerts))
        outbox_rows = [
            {
                "sink": sink,
                "idempotency_key": n.idempotency_key,
                "notification": json.dumps(n.to_json(), sort_keys=True),
                "attempts": 0,
                "created_at": s.to_db(n.created_at),
                "next_attempt_at": s.to_db(n.created_at),
            }
            for sink, n in notifications
        ]
        inserted = 0
        with self._transaction("commit failed", write=True) as conn:
            if alert_rows:
                upsert_alerts = self._upsert(s.alerts, "fingerprint", ("context", "state", "data", "updated_at"))
                conn.execute(upsert_alerts, list(alert_rows.values()))
            if group_rows:
                conn.execute(self._upsert(s.groups, "group_key", ("data", "updated_at")), list(group_rows.values()))
            if deleted:
                conn.execute(delete(s.alerts).where(s.alerts.c.fingerprint.in_(deleted)))
            enqueue = self._insert_ignoring_duplicates()
            for row in outbox_rows:
                # One by one, with RETURNING: a skipped duplicate returns no row. (rowcount is not reliable
                # here: psycopg reports -1 for SQLAlchemy's INSERT … RETURNING of the primary key.)
                inserted += conn.execute(enqueue, row).first() is not None
        return inserted

    def _upsert(self, table: Any, key: str, columns: tuple[str, ...]) -> Any:
        if self._postgres:
            pg = postgresql.insert(table)
            return pg.on_conflict_do_update(index_elements=[key], set_={c: pg.excluded[c] for c in columns})
        lite = sqlite_dialect.insert(table)
        return lite.on_conflict_do_update(index_elements=[key], set_={c: lite.excluded[c] for c in columns})

    def _insert_ignoring_duplicates(self) -> Any:
        keys = ["sink", "idempotency_key"]
        if self._postgres:
            return postgresql.insert(s.outbox).on_conflict_do_nothing(index_elements=keys).returning(s.outbox.c.id)
        return sqlite_dialect.insert(s.outbox).on_conflict_do_nothing(index_elements=keys).returning(s.outbox.c.id)

    # ------------------------------------------------------------------ outbox

    def due(self, sink: str, now: dt.datetime, limit: int = 100) -> list[OutboxItem]:
        """Undelivered rows of ``sink`` whose next attempt is due, oldest first (enqueue order)."""
        o = s.outbox.c
        query = (
            select(s.outbox)
            .where(o.sink == sink, o.delivered_at.is_(None), o.next_attempt_at <= s.to_db(now))
            .order_by(o.id)
            .limit(limit)
        )
        with self._transaction("read failed", write=False) as conn:
            rows = conn.execute(query).all()
        return [_outbox_item(row._mapping) for row in rows]

    def next_due_at(self, sink: str) -> dt.datetime | None:
        o = s.outbox.c
        query = select(func.min(o.next_attempt_at)).where(o.sink == sink, o.delivered_at.is_(None))
        with self._transaction("read failed", write=False) as conn:
            earliest = conn.execute(query).scalar()
        return None if earliest is None else s.from_db(earliest)

    def mark_delivered(self, item_id: int, now: dt.datetime) -> None:
        stamp = s.to_db(now)
        with self._transaction("commit failed", write=True) as conn:
            conn.execute(update(s.outbox).where(s.outbox.c.id == item_id).values(delivered_at=stamp))

    def mark_failed(self, item_id: int, error: str, next_attempt_at: dt.datetime) -> None:
        """One more failed attempt; the row stays for the next try at ``next_attempt_at``."""
        o = s.outbox.c
        values = {
            "attempts": o.attempts + 1,
            "last_error": error[:_MAX_ERROR_TEXT],
            "next_attempt_at": s.to_db(next_attempt_at),
        }
        with self._transaction("commit failed", write=True) as conn:
            conn.execute(update(s.outbox).where(o.id == item_id).values(**values))

    def outbox_stats(self) -> dict[str, dict[str, int]]:
        """sink -> pending rows, delivered rows and failed attempts, over the rows kept (pruning forgets some)."""
        o = s.outbox.c
        undelivered = func.sum(case((o.delivered_at.is_(None), 1), else_=0))
        query = select(o.sink, func.count(), undelivered, func.sum(o.attempts)).group_by(o.sink).order_by(o.sink)
        with self._transaction("read failed", write=False) as conn:
            rows = conn.execute(query).all()
        return {
            sink: {
                "pending": int(pending or 0),
                "delivered": int(total) - int(pending or 0),
                "failed_attempts": int(attempts or 0),
            }
            for sink, total, pending, attempts in rows
        }

    def prune_delivered(self, before: dt.datetime) -> int:
        """Forget rows delivered before ``before`` (kept until then for dedup and audit). Returns how many."""
        o = s.outbox.c
        query = delete(s.outbox).where(o.delivered_at.is_not(None), o.delivered_at < s.to_db(before))
        with self._transaction("commit failed", write=True) as conn:
            return conn.execute(query).rowcount

    # ------------------------------------------------------------------ silences

    def add_silence(self, silence: Silence) -> Silence:
        """Store a (validated) silence; assigns an 8-hex-digit id when ``silence.id`` is empty."""
        silence.validate()
        row = {
            "matchers": json.dumps([m.to_json() for m in silence.matchers]),
            "starts_at": s.to_db(silence.starts_at),
            "ends_at": s.to_db(silence.ends_at),
            "created_by": silence.created_by,
            "comment": silence.comment,
        }
        with self._transaction("commit failed", write=True) as conn:
            silence_id = silence.id
            while not silence_id:
                candidate = uuid.uuid4().hex[:8]
                taken = conn.execute(select(s.silences.c.id).where(s.silences.c.id == candidate)).first()
                silence_id = "" if taken else candidate
            conn.execute(s.silences.insert().values(id=silence_id, **row))
        return Silence(
            id=silence_id,
            matchers=silence.matchers,
            starts_at=s.from_db(row["starts_at"]),
            ends_at=s.from_db(row["ends_at"]),
            created_by=silence.created_by,
            comment=silence.comment,
        )

    def silences(self, now: dt.datetime, *, include_expired: bool = False) -> list[Silence]:
        """Active and pending silences (and expired ones on request), by start time."""
        query = select(s.silences).order_by(s.silences.c.starts_at, s.silences.c.id)
        if not include_expired:
            query = query.where(s.silences.c.ends_at > s.to_db(now))
        with self._transaction("read failed", write=False) as conn:
            rows = conn.execute(query).all()
        return [_silence(row._mapping) for row in rows]

    def expire_silence(self, silence_id: str, now: dt.datetime) -> bool:
        """End a silence now; False when it is unknown or already over."""
        stamp = s.to_db(now)
        table = s.silences
        with self._transaction("commit failed", write=True) as conn:
            row = conn.execute(select(table.c.starts_at, table.c.ends_at).where(table.c.id == silence_id)).first()
            if row is None or row.ends_at <= stamp:
                return False
            # A silence that has not started yet ends before it starts: Alertmanager then sets both to now.
            conn.execute(
                update(table).where(table.c.id == silence_id).values(ends_at=stamp, starts_at=min(row.starts_at, stamp))
            )
        return True

    # ------------------------------------------------------------------ audit trail

    def record_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append ``entries`` in ONE transaction (all or none), in the order given.

        ``detail`` and ``source`` are scrubbed here, the one door into the table: a Git URL's password or a
        token quoted by an API error never reaches the database.
        """
        rows = [
            {
                "at": s.to_db(e.at),
                "actor": e.actor,
                "context": e.context,
                "app": e.app,
                "action": e.action,
                "kind": e.kind,
                "api_group": e.group,
                "namespace": e.namespace,
                "name": e.name,
                "source": scrub(e.source),
                "revision": e.revision,
                "dry_run": e.dry_run,
                "outcome": e.outcome,
                "detail": scrub(" ".join(e.detail.split()))[:_MAX_ERROR_TEXT],
            }
            for e in entries
        ]
        if not rows:
            return
        with self._transaction("commit failed", write=True) as conn:
            conn.execute(s.audit.insert(), rows)

    def audit_entries(self, *, app: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The newest ``limit`` entries (of ``app`` when given), newest first; entries of one instant in the
        reverse of the order they were recorded."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        a = s.audit.c
        query = select(s.audit).order_by(a.at.desc(), a.id.desc()).limit(limit)
        if app is not None:
            query = query.where(a.app == app)
        with self._transaction("read failed", write=False) as conn:
            rows = conn.execute(query).all()
        return [_audit_entry(row._mapping) for row in rows]


def _audit_entry(row: RowMapping) -> AuditEntry:
    return AuditEntry(
        at=s.from_db(row["at"]),
        actor=row["actor"],
        context=row["context"],
        app=row["app"],
        action=row["action"],
        kind=row["kind"],
        group=row["api_group"],
        namespace=row["namespace"],
        name=row["name"],
        source=row["source"],
        revision=row["revision"],
        dry_run=bool(row["dry_run"]),
        outcome=row["outcome"],
        detail=row["detail"],
    )


def _outbox_item(row: RowMapping) -> OutboxItem:
    return OutboxItem(
        id=int(row["id"]),
        sink=row["sink"],
        idempotency_key=row["idempotency_key"],
        notification=Notification.from_json(json.loads(row["notification"])),
        attempts=int(row["attempts"]),
        created_at=s.from_db(row["created_at"]),
        next_attempt_at=s.from_db(row["next_attempt_at"]),
        last_error=row["last_error"],
        delivered_at=s.maybe_from_db(row["delivered_at"]),
    )


def _silence(row: RowMapping) -> Silence:
    return Silence(
        id=row["id"],
        matchers=tuple(Matcher.from_json(m) for m in json.loads(row["matchers"])),
        starts_at=s.from_db(row["starts_at"]),
        ends_at=s.from_db(row["ends_at"]),
        created_by=row["created_by"],
        comment=row["comment"],
    )


def _enable_wal(cursor: Any) -> None:
    """Switch the file to WAL mode. On a fresh file that several processes open at once, the switch
    can meet another one's WAL initialisation and get "database is locked" at once, without the busy
    handler (seen in 1 of 15 runs of six threads): retry it, within the busy timeout."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _sqlite_engine(location: StateLocation) -> Engine:
    engine = create_engine(location.url, connect_args={"timeout": _BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred and comes too late; see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout: writers queue instead of failing. WAL: the CLI can read while the daemon writes.
            cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(cursor)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A deferred transaction that reads then writes cannot wait for another writer (SQLite returns BUSY
        # at once to avoid deadlock); BEGIN IMMEDIATE takes the write lock first, under the busy timeout.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine
