"""The sandbox's supervisor: ``python -m kubesteward.sandbox.supervise --state-dir DIR NAME``.

One small detached process per sandbox, started by ``up`` and stopped by
``down`` (before it stops the components, so nothing is restarted behind
its back). Every second, or at once when one of its own children exits, it
looks at each component and restarts a dead one with its recorded command
line: at once the first time, then after 1, 2, 4 ... 30 s while it keeps
dying; a component that stayed up for a minute starts again from no delay.
Why this is needed: kube-controller-manager and kube-scheduler *exit* when
they lose their leader lease (an API server unreachable for ~10 s is
enough), and nothing else in a kwokctl binary cluster starts them again.

It writes each component's state to ``health.json`` and each restart to its
log (``supervisor.log``). Components paused by ``Sandbox.crash`` are left
alone until their pause ends. It never stops a component itself.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from kubesteward.sandbox.components import COMPONENTS, Layout, Spec, last_line, spawn_detached, terminate

MODULE = "kubesteward.sandbox.supervise"
INTERVAL = 1.0
BACKOFF = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # delay before the nth restart in a row; the last is the cap
STABLE_AFTER = 60.0  # seconds of uptime after which a death is a first failure again
CRASH_LOOP_AFTER = 3  # deaths in a row from which a component is reported crash-looping


@dataclass
class _Watch:
    """What the supervisor knows of one component."""

    restarts: int = 0  # restarts by any supervisor of this sandbox
    failures: int = 0  # deaths in a row, each within STABLE_AFTER of its start
    started: float | None = None  # monotonic time of our last start
    next_attempt: float | None = None  # monotonic time of the next restart, while dead
    last_exit: str | None = None  # "exit 1", "signal SIGKILL", or "unknown" (not our child)
    last_error: str | None = None  # the last line of its log when it died
    last_restart: float | None = None  # wall-clock time
    child: subprocess.Popen[bytes] | None = None
    was_alive: bool = True
    deliberate: bool = False  # it is down because of a pause, not a failure


class Supervisor:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.specs: dict[str, Spec] = {}
        self.specs_mtime = 0.0
        self.watches: dict[str, _Watch] = {}
        self._reload_specs()
        # Restart counts survive a restart of the supervisor itself.
        for component, health in layout.read_health().items():
            if component in self.watches:
                self.watches[component].restarts = int(health.get("restarts") or 0)
        self.stopping = False
        self._last_health: dict[str, Any] | None = None

    def _reload_specs(self) -> None:
        """Pick up components.json when it changes (``up`` writes it for a sandbox made before it existed)."""
        try:
            mtime = self.layout.specs_path.stat().st_mtime
        except OSError:
            return
        if mtime == self.specs_mtime:
            return
        self.specs_mtime = mtime
        self.specs = self.layout.read_specs()
        self.watches = {c: self.watches.get(c, _Watch()) for c in COMPONENTS if c in self.specs}

    def log(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)

    def step(self) -> float:
        """One look at every component; returns how long to wait before the next."""
        self._reload_specs()
        now = time.monotonic()
        with self.layout.record_lock():
            alive = self.layout.live()
            pauses = self.layout.pauses()
            for component, watch in self.watches.items():
                self._check(component, watch, component in alive, pauses.get(component, 0.0), now)
        self._write_health(alive, pauses)
        waits = [w.next_attempt - time.monotonic() for w in self.watches.values() if w.next_attempt is not None]
        waits += [until - time.time() for until in pauses.values() if until > time.time()]
        return max(0.05, min([INTERVAL, *waits]))

    def _check(self, component: str, watch: _Watch, alive: bool, paused_until: float, now: float) -> None:
        if alive:
            if watch.started is not None and now - watch.started >= STABLE_AFTER:
                watch.failures = 0
            watch.was_alive, watch.next_attempt = True, None
            return
        exited = None
        if watch.child is not None and watch.child.poll() is not None:
            # Our own child: its exit status is ours to read (and it must be reaped).
            code = watch.child.returncode
            exited = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
            watch.child = None
        if paused_until > time.time():
            # Killed on purpose (Sandbox.crash): not a failure, and not to be restarted before the pause ends.
            watch.was_alive, watch.next_attempt, watch.deliberate = False, None, True
            return
        if watch.next_attempt is None:
            if watch.deliberate:
                delay = 0.0  # the pause is over: at once, and its failures in a row stay as they were
                watch.deliberate = False
            else:
                if watch.was_alive:  # it just died (or was found dead when the supervisor started)
                    # Not our child: its status went to kwokctl or `up`.
                    watch.last_exit = exited or "unknown"
                    watch.last_error = last_line(self.layout.log(component))
                    stable = watch.started is None or now - watch.started >= STABLE_AFTER
                    watch.failures = 1 if stable else watch.failures + 1
                delay = BACKOFF[min(max(watch.failures - 1, 0), len(BACKOFF) - 1)]
                if delay:
                    self.log(f"{component} died ({watch.last_exit}) {watch.failures} times in a row; "
                             f"restarting in {delay:.0f}s")
            watch.was_alive = False
            watch.next_attempt = now + delay
        if now >= watch.next_attempt:
            self._restart(component, watch)

    def _restart(self, component: str, watch: _Watch) -> None:
        try:
            watch.child = self.layout.start(component, self.specs[component])
        except OSError as exc:
            # e.g. its binary was removed: count it as a failed start and back off.
            watch.last_error = f"cannot start: {exc}"
            watch.failures += 1
            watch.next_attempt = time.monotonic() + BACKOFF[min(watch.failures - 1, len(BACKOFF) - 1)]
            self.log(f"{component}: {watch.last_error}")
            return
        watch.restarts += 1
        watch.started = time.monotonic()
        watch.last_restart = time.time()
        watch.next_attempt = None
        watch.was_alive = True
        details = [f"restart #{watch.restarts}"]
        if watch.failures:
            details.append(f"{watch.failures} failures in a row")
        if watch.last_exit:
            details.append(f"last exit {watch.last_exit}")
        if watch.last_error:
            details.append(f"last log line: {watch.last_error}")
        self.log(f"restarted {component} as pid {watch.child.pid} ({'; '.join(details)})")

    def _write_health(self, alive: dict[str, psutil.Process], pauses: dict[str, float]) -> None:
        health: dict[str, Any] = {}
        for component, watch in self.watches.items():
            if component in alive:
                state = "running"
            elif pauses.get(component, 0.0) > time.time():
                state = "paused"
            elif watch.failures >= CRASH_LOOP_AFTER:
                state = "crash-looping"
            else:
                state = "restarting"
            health[component] = {
                "state": state,
                "pid": alive[component].pid if component in alive else None,
                "restarts": watch.restarts,
                "last_exit": watch.last_exit,
                "last_error": watch.last_error,
                "last_restart": watch.last_restart,
                "next_restart_in": (
                    round(max(0.0, watch.next_attempt - time.monotonic()), 1) if watch.next_attempt is not None else None
                ),
            }
        if health != self._last_health:
            try:
                self.layout.write_health(health)
            except OSError:
                return  # the state directory is being removed by `down`
            self._last_health = health

    def run(self) -> int:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno())

        def on_stop(_sig: int, _frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        # A child's exit wakes the loop at once instead of at the next tick.
        signal.signal(signal.SIGCHLD, lambda _s, _f: None)
        self.log(f"supervising {', '.join(self.watches)} of sandbox {self.layout.name} (pid {os.getpid()})")
        while not self.stopping:
            if not self.layout.specs_path.is_file():
                self.log("the sandbox's state is gone; exiting")
                return 0
            try:
                wait = self.step()
            except OSError as exc:  # e.g. a full disk: keep supervising, say why a pass failed
                self.log(f"error: {exc}")
                wait = INTERVAL
            if self.stopping:
                break
            select.select([wake_r], [], [], wait)
            try:
                while wake_r.recv(64):
                    pass
            except BlockingIOError:
                pass
        self.log("stopped (components left as they are)")
        return 0


def command(layout: Layout) -> list[str]:
    # The state directory on the command line is how we recognise our supervisor (see is_supervisor).
    return [sys.executable, "-m", MODULE, "--state-dir", str(layout.state_dir), layout.name]


def is_supervisor(layout: Layout, proc: psutil.Process) -> bool:
    try:
        if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real != os.getuid():
            return False
        args = proc.cmdline()
    except (psutil.Error, OSError):
        return False
    return MODULE in args and "--state-dir" in args and str(layout.state_dir) in args and layout.name in args


def running(layout: Layout) -> psutil.Process | None:
    """The sandbox's supervisor process when it runs: the recorded pid, start time and command line match."""
    try:
        entry = json.loads(layout.supervisor_pid_path.read_text())
        proc = psutil.Process(int(entry["pid"]))
        if abs(proc.create_time() - float(entry["create_time"])) >= 0.5:
            return None
    except (OSError, ValueError, TypeError, KeyError, psutil.Error):
        return None
    return proc if is_supervisor(layout, proc) else None


def lock_held(layout: Layout) -> bool:
    """Whether some supervisor holds this sandbox's lock: the last word on "is one running",
    whatever the pid file says. (Probing takes the lock for an instant; a supervisor that
    starts meanwhile waits for it.)"""
    try:
        with open(layout.supervisor_lock_path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        pass
    return False


def start(layout: Layout) -> subprocess.Popen[bytes]:
    """Start the supervisor (the caller made sure none runs) and record it."""
    child = spawn_detached(command(layout), layout.supervisor_log)
    try:
        create_time = psutil.Process(child.pid).create_time()
    except psutil.Error:
        return child  # already gone: the caller reports how it ended
    tmp = layout.supervisor_pid_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": child.pid, "create_time": create_time}) + "\n")
    tmp.replace(layout.supervisor_pid_path)
    return child


def stop(layout: Layout, grace: float = 10.0) -> None:
    """Stop the supervisor and wait until it is gone (SIGKILL after ``grace``)."""
    targets = [p for p in psutil.process_iter() if is_supervisor(layout, p)]
    terminate(targets, lambda proc: is_supervisor(layout, proc), grace=grace)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("name")
    args = parser.parse_args(argv)
    layout = Layout(args.name, args.state_dir)
    # One supervisor per sandbox: a second one (a race of two `up`s) waits briefly, then leaves.
    lock = open(layout.supervisor_lock_path, "a")  # noqa: SIM115 - held for the process's lifetime
    end = time.monotonic() + 5.0
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > end:
                print("another supervisor runs for this sandbox; exiting", flush=True)
                return 0
            time.sleep(0.1)
    return Supervisor(layout).run()


if __name__ == "__main__":
    sys.exit(main())
