"""Where the watch state lives: resolve what the user gave into a SQLAlchemy URL.

Accepted: nothing (``$KUBESTEWARD_STATE_URL``, else a SQLite file under
``$XDG_STATE_HOME``), a plain filesystem path, ``sqlite:///path``,
``postgresql://…`` / ``postgres://…`` (mapped to the psycopg 3 driver) and
``postgresql+psycopg://…``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from kubesteward.errors import StateError

ENV_VAR = "KUBESTEWARD_STATE_URL"
_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


@dataclass(frozen=True)
class StateLocation:
    url: URL  # what SQLAlchemy connects to (driver explicit)
    display: str  # what the user typed, password masked: safe in logs and error lines
    sqlite_path: Path | None  # the database file, when SQLite

    @property
    def is_sqlite(self) -> bool:
        return self.sqlite_path is not None


def default_sqlite_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "kubesteward" / "watch.db"


def mask(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def resolve(raw: str | None) -> StateLocation:
    """Turn the ``--state`` value (or its defaults) into a location; StateError for what we cannot use."""
    text = (raw if raw is not None else os.environ.get(ENV_VAR, "")).strip()
    if not text:
        return _sqlite(default_sqlite_path())
    if "://" not in text:
        return _sqlite(Path(text))
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        # The raw text may hold a password: show only the scheme.
        raise StateError(f"bad state store URL ({text.split('://', 1)[0]}://…): cannot parse it") from None
    if url.drivername == "sqlite":
        if not url.database or url.database == ":memory:":
            # The point of the store is to outlive the process (and to be shared with `silence`).
            raise StateError("in-memory SQLite cannot hold watch state: give a file, e.g. sqlite:////var/lib/ks.db")
        return _sqlite(Path(url.database))
    if url.drivername in _POSTGRES_SCHEMES:
        shown = mask(url.set(drivername="postgresql" if url.drivername == "postgres" else url.drivername))
        return StateLocation(url=url.set(drivername="postgresql+psycopg"), display=shown, sqlite_path=None)
    raise StateError(
        f"unsupported state store URL scheme {url.drivername!r}: use a file path, sqlite:///PATH or postgresql://…"
    )


def _sqlite(path: Path) -> StateLocation:
    absolute = path.expanduser().absolute()
    return StateLocation(
        url=URL.create("sqlite", database=str(absolute)), display=f"sqlite:///{absolute}", sqlite_path=absolute
    )
