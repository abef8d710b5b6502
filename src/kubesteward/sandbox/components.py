"""A sandbox's component processes as recorded on disk.

kwokctl starts each component detached and writes its pid to
``<cluster>/pids/<component>.pid``. We keep, next to that:

- ``components.json``: how to start each component again (command line,
  working directory, environment), taken from kwokctl's saved configuration
  at creation, so a dead component can be restarted with nothing alive to
  copy from;
- ``processes.json``: the pid *and start time* of the process we consider
  each component's, so a recycled pid is never mistaken for it;
- ``paused.json``: components deliberately kept down until a time (chaos
  tests), which the supervisor leaves alone;
- ``health.json``: the supervisor's view of each component (state, restarts,
  last exit), which ``sandbox status`` reads.

Every read-modify-write of the pid records happens under ``record.lock``, so
the supervisor, ``up`` and ``crash`` never start the same component twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from kubesteward.sandbox.paths import file_lock

# kwokctl names its processes (and pid files) after these; also the order to start them in.
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
    "metrics-server",
)


@dataclass(frozen=True)
class Spec:
    """How to start one component: exactly what kwokctl ran."""

    command: tuple[str, ...]
    cwd: str
    env: dict[str, str]


@dataclass(frozen=True)
class Layout:
    """Where one sandbox keeps what, and which processes are its own."""

    name: str
    state_dir: Path

    @property
    def cluster_dir(self) -> Path:
        return self.state_dir / "kwok" / "clusters" / self.name

    @property
    def logs_dir(self) -> Path:
        return self.cluster_dir / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.cluster_dir / "etcd"

    @property
    def kwokctl_config(self) -> Path:
        return self.cluster_dir / "kwok.yaml"

    @property
    def specs_path(self) -> Path:
        return self.state_dir / "components.json"

    @property
    def record_path(self) -> Path:
        return self.state_dir / "processes.json"

    @property
    def pauses_path(self) -> Path:
        return self.state_dir / "paused.json"

    @property
    def health_path(self) -> Path:
        return self.state_dir / "health.json"

    @property
    def supervisor_pid_path(self) -> Path:
        return self.state_dir / "supervisor.pid"

    @property
    def supervisor_lock_path(self) -> Path:
        return self.state_dir / "supervisor.lock"

    @property
    def supervisor_log(self) -> Path:
        return self.state_dir / "supervisor.log"

    def pidfile(self, component: str) -> Path:
        return self.cluster_dir / "pids" / f"{component}.pid"

    def log(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    # -- identity ----------------------------------------------------------

    def marker(self) -> str:
        # Every component we start is given files inside this directory on
        # its command line; nothing else on the machine is.
        return str(self.cluster_dir) + os.sep

    def is_ours(self, proc: psutil.Process) -> bool:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real != os.getuid():
                return False
            marker = self.marker()
            return any(marker in arg for arg in proc.cmdline()[1:])
        except (psutil.Error, OSError):
            return False

    # -- specs -------------------------------------------------------------

    def read_specs(self) -> dict[str, Spec]:
        try:
            data = json.loads(self.specs_path.read_text())
            return {
                str(name): Spec(tuple(str(a) for a in s["command"]), str(s["cwd"]), {str(k): str(v) for k, v in s["env"].items()})
                for name, s in data.items()
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}

    def write_specs(self, specs: Mapping[str, Spec]) -> None:
        data = {name: {"command": list(s.command), "cwd": s.cwd, "env": s.env} for name, s in specs.items()}
        # The environment may hold the user's secrets: readable by them only.
        _write_json(self.specs_path, data, mode=0o600)

    def specs_from_kwokctl(self, base_env: Mapping[str, str]) -> dict[str, Spec]:
        """The components kwokctl saved in its configuration, with the environment it gave them
        (its own, ``base_env``, plus each component's extra variables)."""
        entries = self.kwokctl_configuration().get("components") or []
        specs = {}
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("name") not in COMPONENTS or not entry.get("binary"):
                continue
            env = dict(base_env)
            env.update({str(e["name"]): str(e.get("value", "")) for e in entry.get("envs") or []})
            command = (str(entry["binary"]), *(str(a) for a in entry.get("args") or []))
            specs[str(entry["name"])] = Spec(command, str(entry.get("workDir") or self.cluster_dir), env)
        return specs

    def kwokctl_configuration(self) -> dict[str, Any]:
        """kwokctl's saved KwokctlConfiguration (its file also holds our Stages), or {}."""
        try:
            for document in yaml.safe_load_all(self.kwokctl_config.read_text()):
                if isinstance(document, dict) and document.get("kind") == "KwokctlConfiguration":
                    return document
        except (OSError, yaml.YAMLError):
            pass
        return {}

    # -- pid records -------------------------------------------------------

    @contextmanager
    def record_lock(self) -> Iterator[None]:
        with file_lock(self.state_dir / "record.lock"):
            yield

    def read_record(self) -> dict[str, tuple[int, float]]:
        try:
            data = json.loads(self.record_path.read_text())
            return {str(c): (int(e["pid"]), float(e["create_time"])) for c, e in data.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}

    def live(self) -> dict[str, psutil.Process]:
        """Each recorded component whose process still runs: pid, start time and command line all match."""
        alive = {}
        for component, (pid, create_time) in self.read_record().items():
            try:
                proc = psutil.Process(pid)
                same_start = abs(proc.create_time() - create_time) < 0.5
            except psutil.Error:
                continue
            if same_start and self.is_ours(proc):
                alive[component] = proc
        return alive

    def record_from_pidfiles(self) -> None:
        """Record the processes kwokctl says it started, confirmed by their command line."""
        record = {}
        for component in COMPONENTS:
            try:
                proc = psutil.Process(int(self.pidfile(component).read_text().strip()))
                if self.is_ours(proc):
                    record[component] = {"pid": proc.pid, "create_time": proc.create_time()}
            except (OSError, ValueError, psutil.Error):
                continue
        _write_json(self.record_path, record)

    def set_process(self, component: str, pid: int, create_time: float) -> None:
        """Make ``pid`` the component's, in our record and kwokctl's pid file. Hold ``record_lock``."""
        record = {c: {"pid": p, "create_time": t} for c, (p, t) in self.read_record().items()}
        record[component] = {"pid": pid, "create_time": create_time}
        _write_json(self.record_path, record)
        self.pidfile(component).parent.mkdir(parents=True, exist_ok=True)
        self.pidfile(component).write_text(f"{pid}\n")

    def start(self, component: str, spec: Spec) -> subprocess.Popen[bytes]:
        """Start ``component`` detached, its output appended to its log, and record it. Hold ``record_lock``."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        proc = spawn_detached(list(spec.command), self.log(component), cwd=spec.cwd, env=spec.env)
        try:
            create_time = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            create_time = time.time()  # already gone: the record will not match, so it reads as dead
        self.set_process(component, proc.pid, create_time)
        return proc

    # -- pauses and health -------------------------------------------------

    def pauses(self) -> dict[str, float]:
        """Components kept down on purpose, with the wall-clock time until which they are."""
        try:
            data = json.loads(self.pauses_path.read_text())
            return {str(c): float(t) for c, t in data.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def pause(self, component: str, until: float) -> None:
        """Keep the supervisor off ``component`` until ``until`` (``time.time()``). Hold ``record_lock``."""
        pauses = {c: t for c, t in self.pauses().items() if t > time.time()}
        pauses[component] = until
        _write_json(self.pauses_path, pauses)

    def clear_pauses(self) -> None:
        """Hold ``record_lock``."""
        self.pauses_path.unlink(missing_ok=True)

    def read_health(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.health_path.read_text())
            return {str(c): dict(h) for c, h in data.get("components", {}).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def write_health(self, components: Mapping[str, Mapping[str, Any]]) -> None:
        _write_json(self.health_path, {"supervisor": os.getpid(), "updated": time.time(), "components": components})

    def health_writer(self) -> int | None:
        """The pid of the supervisor that wrote ``health.json``."""
        try:
            return int(json.loads(self.health_path.read_text())["supervisor"])
        except (OSError, ValueError, TypeError, KeyError):
            return None


def last_line(path: Path, limit: int = 300) -> str | None:
    """The last non-empty line of a log (read from its end), for "why did it exit"."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 8192))
            tail = handle.read().decode(errors="replace")
    except OSError:
        return None
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else None


def _write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    """Atomically: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    tmp.replace(path)


def terminate(
    procs: list[psutil.Process], still_ours: Callable[[psutil.Process], bool], *, grace: float
) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; identity re-checked (``still_ours``) before each
    signal, so a pid reused by another process is never signalled."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        targets = [p for p in procs if still_ours(p)]
        if not targets:
            return
        for proc in targets:
            try:
                proc.send_signal(sig)
            except psutil.Error:
                pass
        # Not our children, so we cannot wait(); and without a reaping init
        # they linger as zombies, which count as gone.
        end = time.monotonic() + wait
        while time.monotonic() < end and any(still_ours(p) for p in targets):
            time.sleep(0.05)


def spawn_detached(
    command: list[str], log: Path, *, cwd: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a session of its own, its output appended to ``log``: a Ctrl-C in the
    terminal that ran `up` must not reach the control plane (kwokctl starts its processes so too)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
