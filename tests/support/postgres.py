"""A REAL PostgreSQL server for the state-store tests (no mocks, no fakes).

``postgres_url`` (session scope) starts one server from the Debian packages
(``/usr/lib/postgresql/<ver>/bin``) in a fresh temp dir: TCP on 127.0.0.1 at a
free port, its unix socket in the temp dir, fsync off (test data is
throwaway), password auth so password masking is tested for real. It yields a
``postgresql://`` URL and removes everything at teardown.
``KUBESTEWARD_TEST_POSTGRES_URL`` replaces it with a server of your own.

``fresh_database(url)`` gives each test its own empty database on that server.

initdb refuses to run as root, so as root the server runs as the ``postgres``
user the Debian package creates (or an unprivileged user created here).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ENV_VAR = "KUBESTEWARD_TEST_POSTGRES_URL"
USER, PASSWORD = "kstest", "s3cret-pw"
_FALLBACK_OS_USER = "kubesteward-pg"


def server_binaries() -> Path:
    """The newest installed server's bin directory, or a failed test saying how to get one."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
        if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        pytest.fail(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
            "`apt-get install postgresql` (.ci/run does), or set KUBESTEWARD_TEST_POSTGRES_URL",
            pytrace=False,
        )
    return candidates[-1].parent


def _os_user() -> str | None:
    """Who runs the server: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _FALLBACK_OS_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _FALLBACK_OS_USER],
        check=True, capture_output=True,
    )
    return _FALLBACK_OS_USER


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(cmd: list[str], user: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    full = ["runuser", "-u", user, "--", *cmd] if user else cmd
    return subprocess.run(full, cwd=cwd, capture_output=True, text=True, timeout=120)


@contextmanager
def running_server() -> Iterator[str]:
    """Start a throwaway server; yield its URL (database ``postgres``); stop it and remove its files."""
    bin_dir = server_binaries()
    user = _os_user()
    # /tmp rather than $TMPDIR: the server user must be able to traverse every parent directory.
    root = Path(tempfile.mkdtemp(prefix="ks-pg-", dir="/tmp" if user else None))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    (root / "pwfile").write_text(PASSWORD + "\n")
    if user:
        entry = pwd.getpwnam(user)
        for path in (root, sockets, root / "pwfile"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    init = _run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={root / 'pwfile'}",
         "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C"],
        user, root,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}", pytrace=False)
    pg_ctl = str(bin_dir / "pg_ctl")
    started = False
    try:
        for _ in range(3):  # the free port may be taken between the probe and the bind
            port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=60 -c shared_buffers=16MB"
            )
            start = _run([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"], user, root)
            if start.returncode == 0:
                started = True
                break
        if not started:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else start.stderr
            pytest.fail(f"PostgreSQL did not start: {tail.strip()}", pytrace=False)
        yield f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            stop = _run([pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"], user, root)
            if stop.returncode != 0:  # last resort: immediate shutdown of the postmaster of this data dir
                _run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], user, root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        yield explicit
        return
    with running_server() as url:
        yield url


def _admin_conninfo(url: str) -> str:
    parsed = make_url(url)
    return psycopg.conninfo.make_conninfo(
        host=parsed.host or "", port=parsed.port or 5432, user=parsed.username or "",
        password=parsed.password or "", dbname=parsed.database or "postgres",
    )


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new empty database on the server of ``url``; dropped (even with open connections) afterwards."""
    name = f"ks_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin_conninfo(url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
