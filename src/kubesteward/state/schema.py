"""Tables of the watch state, shared by SQLite and PostgreSQL.

Portable on purpose: timestamps are fixed-width UTC ISO strings and JSON is
text. Fixed width (always microseconds, always ``Z``) makes string order equal
time order on both engines and round-trips a Python datetime exactly, which
``timestamptz`` (microseconds, but a session time zone) and SQLite's datetime
(no type at all) would each do differently. Table names carry a ``ks_`` prefix
so the store can share a PostgreSQL database with other applications.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

SCHEMA_VERSION = 1
# len("2026-01-02T03:04:05.000000Z"). Byte order ("C") on PostgreSQL: a linguistic collation of the database
# would compare these strings correctly too (same format everywhere), but more slowly and less obviously.
TIMESTAMP = String(27).with_variant(String(27, collation="C"), "postgresql")

metadata = MetaData()

schema_version = Table(
    "ks_schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)

alerts = Table(
    "ks_alerts",
    metadata,
    Column("fingerprint", String(128), primary_key=True),
    Column("context", String(253), nullable=False, index=True),
    Column("state", String(16), nullable=False),
    Column("data", Text, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
)

groups = Table(
    "ks_groups",
    metadata,
    Column("group_key", String(512), primary_key=True),
    Column("data", Text, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
)

outbox = Table(
    "ks_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sink", String(128), nullable=False),
    Column("idempotency_key", String(128), nullable=False),
    Column("notification", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("next_attempt_at", TIMESTAMP, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", TIMESTAMP, nullable=True),
    # The dedup rule of the outbox: one row per notification per sink, ever (until pruned).
    UniqueConstraint("sink", "idempotency_key", name="ks_outbox_sink_key"),
    # due(): undelivered rows of one sink by next attempt.
    Index("ks_outbox_due", "sink", "delivered_at", "next_attempt_at"),
)

silences = Table(
    "ks_silences",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", TIMESTAMP, nullable=False),
    Column("ends_at", TIMESTAMP, nullable=False, index=True),
    Column("created_by", String(256), nullable=False),
    Column("comment", Text, nullable=False),
)


# The audit trail of writes (sync, self-heal): appended, never updated. Added after version 1 without a new
# version: a table is additive, create_all adds it to an older database, and an older kubesteward sharing the
# database (a watch daemon not yet upgraded) keeps working beside it, which a version bump would refuse.
audit = Table(
    "ks_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", TIMESTAMP, nullable=False),
    Column("actor", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("app", String(253), nullable=False),
    Column("action", String(32), nullable=False),
    Column("kind", String(253), nullable=False),
    Column("api_group", String(253), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("name", String(253), nullable=False),
    Column("source", Text, nullable=False),
    Column("revision", String(64), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False),
    # history --app: one app's entries, newest first.
    Index("ks_audit_app_at", "app", "at"),
    Index("ks_audit_at", "at"),
)


def to_db(value: dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive datetime is a bug in the caller: guessing its zone would corrupt ordering silently.
        raise ValueError(f"naive datetime {value.isoformat()} given to the state store; use timezone-aware UTC")
    # isoformat pads the year to 4 digits (strftime's %Y does not on glibc) and always writes microseconds.
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def from_db(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.removesuffix("Z")).replace(tzinfo=dt.UTC)


def maybe_to_db(value: dt.datetime | None) -> str | None:
    return None if value is None else to_db(value)


def maybe_from_db(value: str | None) -> dt.datetime | None:
    return None if value is None else from_db(value)
