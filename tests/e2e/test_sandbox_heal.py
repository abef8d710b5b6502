"""The sandbox heals and never collides, against real control planes (no fakes).

- a component that dies is restarted by the sandbox's supervisor, with a growing backoff,
  and ``sandbox status`` says so per component (never "stopped" while anything runs);
- an API server outage long enough for kube-controller-manager and kube-scheduler to lose
  their leader leases (and exit) is survived: they come back and pods get scheduled again;
- ``sandbox up`` heals a half-dead (or wholly dead) sandbox and keeps its data, refuses to
  touch one it cannot heal, and wipes only with ``--recreate``;
- ``Sandbox.crash`` (the chaos tests' tool) is not fought by the supervisor;
- two sandboxes started at the same moment get different ports.

These tests run their own small sandboxes (one simulated node, names ``t6-*``), so the
shared test cluster is never frozen or killed; each is torn down in ``finally``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from kubesteward.sandbox import build, ports, supervise
from kubesteward.sandbox.cluster import Sandbox, SandboxError
from kubesteward.sandbox.components import COMPONENTS

T = TypeVar("T")
Obj = dict[str, Any]
LEADERS = ("kube-controller-manager", "kube-scheduler")
# The port option each component listens on (etcd has two).
LISTENS = {
    "etcd": ("etcdPort", "etcdPeerPort"),
    "kube-apiserver": ("kubeApiserverPort",),
    "kube-controller-manager": ("kubeControllerManagerPort",),
    "kube-scheduler": ("kubeSchedulerPort",),
    "kwok-controller": ("kwokControllerPort",),
}


def unique(what: str) -> str:
    return f"t6-{what}-{uuid.uuid4().hex[:6]}"


def remove(sandbox: Sandbox) -> None:
    """``down``, and the lock file it leaves beside the state (names here are used once)."""
    sandbox.down()
    (sandbox.state_dir.parent / f".{sandbox.name}.lock").unlink(missing_ok=True)


def eventually(what: str, probe: Callable[[], T], ok: Callable[[T], bool], timeout: float) -> T:
    """Probe until ``ok``; fail with the last observation (a failed probe counts as not yet)."""
    end = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
            if ok(last):
                return last
        except (AssertionError, LookupError, TypeError, ValueError, OSError, psutil.Error) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {str(last)[:3000]}")
        time.sleep(0.5)


def cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubesteward", "sandbox", *args], capture_output=True, text=True, timeout=timeout
    )


def status_json(name: str) -> Obj:
    result = cli("status", "--name", name, "-o", "json", timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    data: Obj = json.loads(result.stdout)
    # The exit code says the same as the document: 0 only when running.
    assert result.returncode == (0 if data["state"] == "running" else 1), (result.returncode, data["state"])
    return data


class Kubectl:
    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.cmd = [str(build.binary_path("kubectl")), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache_dir)]

    def run(self, *args: str, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*self.cmd, *args], input=input_text, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def get(self, *args: str) -> Obj:
        result: Obj = json.loads(self.run("get", *args, "-o", "json").stdout)
        return result


def gone(pid: int) -> bool:
    """The process has exited (or is a zombie). Not "no longer looks like ours": a dying
    process loses its command line first."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def kill(sandbox: Sandbox, components: tuple[str, ...], supervisor: bool = True) -> dict[str, int]:
    """SIGKILL the supervisor (first, so it restarts nothing) and ``components``; wait until they are gone."""
    status = sandbox.status()
    if supervisor:
        assert status.supervisor is not None
        proc = psutil.Process(status.supervisor)
        proc.kill()
        eventually("the supervisor to exit", lambda: supervise.is_supervisor(sandbox.layout, proc), lambda s: not s, 10)
    killed = {c: status.pids[c] for c in components}
    for pid in killed.values():
        psutil.Process(pid).kill()
    eventually(f"{', '.join(components)} to exit", lambda: [p for p in killed.values() if not gone(p)],
               lambda alive: not alive, 10)
    return killed


def assert_schedules(kubectl: Kubectl) -> None:
    """A new Deployment gets its pod from the controller-manager, a node from the scheduler, and runs."""
    ns = unique("ns")
    kubectl.run("create", "namespace", ns)
    kubectl.run("create", "deployment", "web", "-n", ns, "--image=registry.example.com/web:1", "--replicas=1")
    pod = eventually(
        "the Deployment's pod to be scheduled and running",
        lambda: kubectl.get("pods", "-n", ns, "-l", "app=web")["items"][0],
        lambda p: bool(p["spec"].get("nodeName")) and p["status"].get("phase") == "Running",
        timeout=90,
    )
    scheduled = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled and scheduled[0]["status"] == "True"
    kubectl.run("delete", "namespace", ns, "--wait=false", check=False)


def leases_held(kubectl: Kubectl, status: Obj) -> None:
    """Wait until the running controller-manager and scheduler processes themselves hold their
    leases (acquired after they started, renewed just now): only a leader loses its lease."""
    for component in LEADERS:
        started = psutil.Process(status["components"][component]["pid"]).create_time()

        def fresh(lease: Obj, started: float = started) -> bool:
            acquired = datetime.fromisoformat(lease["spec"]["acquireTime"]).timestamp()
            renewed = datetime.fromisoformat(lease["spec"]["renewTime"]).timestamp()
            # psutil's start times are precise to about a second.
            return acquired >= started - 2 and time.time() - renewed < 10

        eventually(f"{component} to hold its lease", lambda c=component: kubectl.get("lease", c, "-n", "kube-system"),
                   fresh, 90)


def wait_running(sandbox: Sandbox, timeout: float = 120) -> Obj:
    return eventually(f"sandbox {sandbox.name} running", lambda: status_json(sandbox.name),
                      lambda s: s["state"] == "running", timeout)


@pytest.fixture(scope="module")
def healing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Kubectl]]:
    """One small sandbox that the tests below break and heal in turn."""
    sandbox = Sandbox(name=unique("heal"), nodes=1)
    try:
        sandbox.up(progress=lambda m: print(f"[{sandbox.name}] {m}", file=sys.stderr, flush=True), timeout=300)
        yield sandbox, Kubectl(sandbox.kubeconfig, tmp_path_factory.mktemp("kube-cache"))
    finally:
        remove(sandbox)


def test_a_dead_component_is_restarted_with_backoff_and_reported(healing: tuple[Sandbox, Kubectl]) -> None:
    sandbox, kubectl = healing
    before = wait_running(sandbox)
    layout = sandbox.layout
    port = before["ports"]["kubeSchedulerPort"]
    # Kill the scheduler and take its port, so that every restart fails at once (a real
    # crash loop: "address already in use"). The pause (Sandbox.crash's) keeps the
    # supervisor off it until we hold the port.
    with layout.record_lock():
        layout.pause("kube-scheduler", time.time() + 2)
        victim = layout.live()["kube-scheduler"]
        victim.kill()
    eventually("the scheduler to exit", lambda: gone(victim.pid), bool, 10)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Its last threads may still be closing its sockets after its pid turned zombie.
        eventually(f"port {port} to be free", lambda: blocker.bind(("127.0.0.1", port)) is None, bool, 10)
        blocker.listen()
        delays: list[float] = []

        def probe() -> Obj:
            status = status_json(sandbox.name)
            wait = status["components"]["kube-scheduler"]["next_restart_in"]
            if wait is not None:
                delays.append(wait)
            return status

        status = eventually(
            "kube-scheduler crash-looping with a backoff of 4 s or more",
            probe,
            lambda s: s["components"]["kube-scheduler"]["state"] == "crash-looping" and max(delays, default=0) >= 4,
            timeout=120,
        )
        scheduler = status["components"]["kube-scheduler"]
        assert status["state"] == "degraded"
        assert scheduler["pid"] is None
        assert scheduler["last_exit"] == "exit 1"
        assert "address already in use" in scheduler["last_error"]
        assert scheduler["restarts"] >= before["components"]["kube-scheduler"]["restarts"] + 4
        assert max(delays) <= supervise.BACKOFF[-1]
        others = {c: s["state"] for c, s in status["components"].items() if c != "kube-scheduler"}
        assert set(others.values()) == {"running"}, others
        table = cli("status", "--name", sandbox.name)
        assert table.returncode == 1
        assert "degraded" in table.stdout and "crash-looping" in table.stdout
        assert "address already in use" in table.stdout
    finally:
        blocker.close()
    # With its port free again it comes back by itself (within the backoff cap) and schedules.
    status = wait_running(sandbox, timeout=supervise.BACKOFF[-1] + 60)
    assert status["components"]["kube-scheduler"]["pid"] not in (None, victim.pid)
    assert_schedules(kubectl)


def test_crash_is_not_fought_by_the_supervisor(healing: tuple[Sandbox, Kubectl]) -> None:
    sandbox, _kubectl = healing
    before = wait_running(sandbox)
    old_pid = before["components"]["kube-scheduler"]["pid"]
    failure: list[BaseException] = []

    def crash() -> None:
        try:
            sandbox.crash("kube-scheduler", downtime=4.0)
        except BaseException as exc:  # re-raised below, in the test's thread
            failure.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=crash)
    thread.start()
    came_back = None
    while thread.is_alive() or came_back is None:
        pid = getattr(sandbox.layout.live().get("kube-scheduler"), "pid", None)
        if pid not in (None, old_pid) and came_back is None:
            came_back = time.monotonic()
        if time.monotonic() - started > 120:
            break
        time.sleep(0.05)
    thread.join(timeout=60)
    assert not failure, failure
    assert came_back is not None
    # Down for the whole downtime: the supervisor waited for the pause instead of racing crash().
    assert came_back - started >= 4.0
    status = wait_running(sandbox)
    assert status["components"]["kube-scheduler"]["restarts"] == before["components"]["kube-scheduler"]["restarts"] + 1


def test_an_api_server_outage_is_survived(healing: tuple[Sandbox, Kubectl]) -> None:
    sandbox, kubectl = healing
    before = wait_running(sandbox)
    leases_held(kubectl, before)
    old = {c: before["components"][c]["pid"] for c in LEADERS}
    old_holder = kubectl.get("lease", "kube-scheduler", "-n", "kube-system")["spec"]["holderIdentity"]
    api = psutil.Process(before["components"]["kube-apiserver"]["pid"])
    api.suspend()  # SIGSTOP: an API server that hangs, the worst kind of outage
    try:
        frozen = time.monotonic()
        # What the issue saw: both lose their leader lease and exit.
        eventually("kube-controller-manager and kube-scheduler to lose their leases and exit",
                   lambda: [c for c, pid in old.items() if not gone(pid)], lambda alive: not alive, 60)
        # Meanwhile status tells the truth: restarted, API server suspended, sandbox degraded.
        status = eventually(
            "status to show both restarted by the supervisor",
            lambda: status_json(sandbox.name),
            lambda s: all(s["components"][c]["restarts"] > before["components"][c]["restarts"] for c in LEADERS),
            60,
        )
        assert status["state"] == "degraded"
        assert status["components"]["kube-apiserver"]["state"] == "suspended"
        assert status["components"]["kube-apiserver"]["pid"] == api.pid
        assert status["components"]["etcd"]["state"] == "running"
        time.sleep(max(0.0, 20.0 - (time.monotonic() - frozen)))
    finally:
        api.resume()
    status = wait_running(sandbox, timeout=120)
    assert {c["state"] for c in status["components"].values()} == {"running"}
    for component, pid in old.items():
        assert status["components"][component]["pid"] != pid
    assert status["components"]["kube-apiserver"]["pid"] == api.pid  # frozen, never restarted
    eventually("a new kube-scheduler to hold the lease",
               lambda: kubectl.get("lease", "kube-scheduler", "-n", "kube-system")["spec"].get("holderIdentity"),
               lambda holder: holder not in (None, "", old_holder), 90)
    assert_schedules(kubectl)


def test_up_heals_a_half_dead_sandbox_and_keeps_its_data(healing: tuple[Sandbox, Kubectl]) -> None:
    sandbox, kubectl = healing
    wait_running(sandbox)
    kubectl.run("create", "configmap", "kept-half", "-n", "default", "--from-literal=kept=yes")
    victims = ("kube-controller-manager", "kube-scheduler", "kwok-controller")
    survivors = {c: p for c, p in sandbox.status().pids.items() if c not in victims}
    killed = kill(sandbox, victims)

    status = status_json(sandbox.name)
    assert status["state"] == "degraded"  # not "stopped": etcd and the API server still run
    assert status["supervisor"] is None
    assert {c: status["components"][c]["state"] for c in victims} == dict.fromkeys(victims, "stopped")
    assert {c: status["components"][c]["pid"] for c in survivors} == survivors
    table = cli("status", "--name", sandbox.name)
    assert table.returncode == 1 and "degraded" in table.stdout and "stopped" not in table.stdout.splitlines()[0]

    result = cli("up", "--name", sandbox.name, "--nodes", "1")
    assert result.returncode == 0, result.stderr
    status = status_json(sandbox.name)
    assert status["state"] == "running"
    assert status["supervisor"] is not None
    assert {c: status["components"][c]["pid"] for c in survivors} == survivors  # left alone
    for component, pid in killed.items():
        assert status["components"][component]["pid"] not in (None, pid)
    assert kubectl.get("configmap", "kept-half", "-n", "default")["data"] == {"kept": "yes"}
    assert_schedules(kubectl)


def test_up_restarts_a_sandbox_whose_every_process_died(healing: tuple[Sandbox, Kubectl]) -> None:
    sandbox, kubectl = healing
    wait_running(sandbox)
    kubectl.run("create", "configmap", "kept-all", "-n", "default", "--from-literal=kept=yes")
    killed = kill(sandbox, COMPONENTS)  # a reboot, as far as the sandbox can tell

    status = status_json(sandbox.name)
    assert status["state"] == "stopped"  # now true: nothing of it runs
    assert {c["state"] for c in status["components"].values()} == {"stopped"}

    result = cli("up", "--name", sandbox.name, "--nodes", "1")
    assert result.returncode == 0, result.stderr
    status = status_json(sandbox.name)
    assert status["state"] == "running"
    for component, pid in killed.items():
        assert status["components"][component]["pid"] not in (None, pid)
    assert kubectl.get("configmap", "kept-all", "-n", "default")["data"] == {"kept": "yes"}


def test_an_unhealable_sandbox_is_refused_and_recreate_wipes_it(healing: tuple[Sandbox, Kubectl]) -> None:
    sandbox, kubectl = healing
    wait_running(sandbox)
    kubectl.run("create", "configmap", "doomed", "-n", "default", "--from-literal=kept=no")
    kill(sandbox, COMPONENTS)
    shutil.rmtree(sandbox.layout.etcd_data)

    result = cli("up", "--name", sandbox.name, "--nodes", "1")
    assert result.returncode == 12, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "etcd data is gone" in lines[0] and "--recreate" in lines[0]
    # The refusal started nothing and removed nothing.
    assert status_json(sandbox.name)["state"] == "stopped"
    assert sandbox.kubeconfig.is_file()

    result = cli("up", "--name", sandbox.name, "--nodes", "1", "--recreate")
    assert result.returncode == 0, result.stderr
    assert status_json(sandbox.name)["state"] == "running"
    missing = kubectl.run("get", "configmap", "doomed", "-n", "default", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr  # a new, empty cluster


def test_concurrent_ups_of_different_names_get_distinct_ports() -> None:
    sandboxes = [Sandbox(name=unique(f"ports-{side}"), nodes=1, metrics=False) for side in "ab"]
    barrier = threading.Barrier(len(sandboxes))
    failures: dict[str, BaseException] = {}

    def up(sandbox: Sandbox) -> None:
        barrier.wait()
        try:
            sandbox.up(timeout=300)
        except BaseException as exc:  # reported below, in the test's thread
            failures[sandbox.name] = exc

    threads = [threading.Thread(target=up, args=(s,)) for s in sandboxes]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=400)
        assert not failures, failures
        statuses = [s.status() for s in sandboxes]
        for sandbox, status in zip(sandboxes, statuses, strict=True):
            assert status.running, status
            assert set(status.ports) == set(ports.PORT_OPTIONS)
            assert status.server == f"https://127.0.0.1:{status.ports['kubeApiserverPort']}"
            # Each component really listens on the ports recorded for it.
            for component, options in LISTENS.items():
                listening = {c.laddr.port for c in psutil.Process(status.pids[component]).net_connections("tcp")
                             if c.status == psutil.CONN_LISTEN}
                assert {status.ports[o] for o in options} <= listening, (sandbox.name, component, listening)
        first, second = (set(s.ports.values()) for s in statuses)
        assert len(first) == len(second) == len(ports.PORT_OPTIONS)
        assert not first & second, (statuses[0].ports, statuses[1].ports)
    finally:
        for thread in threads:
            thread.join(timeout=400)
        for sandbox in sandboxes:
            remove(sandbox)


def test_a_sandbox_whose_first_start_failed_is_started_afresh() -> None:
    name = unique("failed")
    # A flag kube-scheduler does not know: it exits at every start, so the first up times out.
    broken = Sandbox(name=name, nodes=1, metrics=False, extra_args={"kube-scheduler": {"no-such-flag": "x"}})
    fixed = Sandbox(name=name, nodes=1, metrics=False)
    try:
        with pytest.raises(SandboxError) as failed:
            broken.up(timeout=45)
        assert "kube-scheduler leader" in str(failed.value) and "\n" not in str(failed.value)
        assert broken.layout.kwokctl_config.is_file()  # kwokctl did make a cluster
        # up stopped everything it had started, supervisor included.
        assert not [p for p in psutil.process_iter()
                    if broken.layout.is_ours(p) or supervise.is_supervisor(broken.layout, p)]
        assert status_json(name)["state"] == "stopped"
        # Nobody ever used it: the next up starts afresh (with its own flags) instead of healing it.
        status = fixed.up(timeout=300)
        assert status.running
        assert {c.state for c in status.components.values()} == {"running"}
        assert not any("no-such-flag" in arg for arg in fixed.layout.read_specs()["kube-scheduler"].command)
    finally:
        remove(fixed)
