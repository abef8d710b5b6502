"""``kubesteward sync --self-heal`` end to end: the CLI as a process, a real ``kubectl edit``, a local Git repository.

The sync runs with ``--interval 2s``; ``kubectl edit`` (``KUBE_EDITOR``: a sed script) changes a ConfigMap's
value; ``drift -f`` reports exactly that field; self-heal puts it back within its interval, drift is zero
again, the process stops cleanly on SIGTERM and the audit trail holds the ``self-heal`` entry with the commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.cluster import KubeClient, resources
from kubesteward.drift.ownership import PART_OF_LABEL, ApplySet
from kubesteward.drift.reconcile import sync
from kubesteward.drift.self_heal import HealTick, heal_once, self_heal
from kubesteward.drift.source import DesiredSource
from tests.support.cli import CLEAN_ENV, cli, kubectl
from tests.support.git_repo import commit_files, git

INTERVAL = 2.0
SLACK = 6.0  # a tick's drift and sync on a shared 2-core machine, and the poll below
PASSWORD = "s3cret-value-never-shown"


def manifests(namespace: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
         "data": {"color": "blue", "size": "3"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": namespace},
         "stringData": {"password": PASSWORD}},
    ]


@pytest.fixture
def repo(tmp_path: Path, namespace: str) -> Path:
    repo = tmp_path / "repo"
    commit_files(repo, {"deploy/app.yaml": yaml.safe_dump_all(manifests(namespace))})
    return repo


@pytest.fixture
def healer(
    sandbox_kubeconfig: Path, namespace: str, repo: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """``sync --self-heal`` running; its stderr in a file (read while it runs)."""
    stderr = tmp_path / "stderr"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubesteward", "sync", "--kubeconfig", str(sandbox_kubeconfig), "--git", str(repo),
             "--ref", "main", "--path", "deploy", "-n", namespace, "--app", "shop", "--state", state_url(tmp_path),
             "--self-heal", "--interval", f"{INTERVAL:g}s"],
            stdout=subprocess.DEVNULL, stderr=err, text=True, env=CLEAN_ENV,
        )
    try:
        wait_for(lambda: "self-healing app shop" in stderr.read_text() or process.poll() is not None, 60,
                 "the first sync")
        assert process.poll() is None, stderr.read_text()
        yield process, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def state_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def wait_for(ok: Any, timeout: float, what: str) -> float:
    """Poll ``ok()`` every 0.1 s; the time.monotonic() it became true."""
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)
    return time.monotonic()


def live_color(kubeconfig: Path, namespace: str) -> str:
    return kubectl(kubeconfig, "-n", namespace, "get", "configmap", "settings", "-o", "jsonpath={.data.color}")


def kubectl_edit(kubeconfig: Path, namespace: str, editor: Path) -> None:
    """``kubectl edit`` as a person runs it, the editor being a sed script."""
    from kubesteward.sandbox import build

    result = subprocess.run(
        [str(build.binary_path("kubectl")), "--kubeconfig", str(kubeconfig), "-n", namespace, "edit",
         "configmap", "settings"],
        env={**os.environ, "KUBE_EDITOR": str(editor)}, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


def drift(kubeconfig: Path, namespace: str, repo: Path) -> subprocess.CompletedProcess[str]:
    return cli("drift", "--kubeconfig", str(kubeconfig), "--git", str(repo), "--ref", "main", "--path", "deploy",
               "-n", namespace, "-o", "json")


def test_self_heal_reverts_a_kubectl_edit_within_its_interval_and_stops_on_sigterm(
    kube: KubeClient, sandbox_kubeconfig: Path, namespace: str, repo: Path, tmp_path: Path,
    healer: tuple[subprocess.Popen[str], Path],
) -> None:
    process, stderr = healer
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: blue/color: red/' \"$1\"\n")
    editor.chmod(0o755)
    assert live_color(sandbox_kubeconfig, namespace) == "blue"

    # Held still (SIGSTOP) so that drift sees the edit before self-heal reverts it.
    process.send_signal(signal.SIGSTOP)
    try:
        kubectl_edit(sandbox_kubeconfig, namespace, editor)
        assert live_color(sandbox_kubeconfig, namespace) == "red"
        found = drift(sandbox_kubeconfig, namespace, repo)
    finally:
        process.send_signal(signal.SIGCONT)
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    changed = {(o["kind"], o["name"]): [c["path"] for c in o.get("changes", [])]
               for o in report["objects"] if o["status"] != "in-sync"}
    assert changed == {("ConfigMap", "settings"): ["/data/color"]}
    resumed = time.monotonic()
    healed = wait_for(lambda: live_color(sandbox_kubeconfig, namespace) == "blue", INTERVAL + SLACK, "the revert")
    assert healed - resumed <= INTERVAL + SLACK

    # Again, running: from the edit to the revert within the interval (plus slack).
    edited = time.monotonic()
    kubectl_edit(sandbox_kubeconfig, namespace, editor)
    healed = wait_for(lambda: live_color(sandbox_kubeconfig, namespace) == "blue", INTERVAL + SLACK, "the revert")
    assert healed - edited <= INTERVAL + SLACK

    again = drift(sandbox_kubeconfig, namespace, repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["counts"]["drifted"] == 0

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    err = stderr.read_text()
    assert "Traceback" not in err and "self-heal stopped" in err
    reverted = [line for line in err.splitlines() if "self-heal: reverted" in line]
    assert len(reverted) == 2 and all(f"ConfigMap/{namespace}/settings: /data/color" in line for line in reverted)
    assert PASSWORD not in err

    history = cli("history", "--app", "shop", "--state", state_url(tmp_path), "-o", "json")
    assert history.returncode == 0, history.stderr
    entries = json.loads(history.stdout)
    entries = entries["entries"] if isinstance(entries, dict) else entries
    heals = [e for e in entries if e["action"] == "self-heal"]
    assert len(heals) == 2, entries
    commit = git(repo, "rev-parse", "HEAD")
    for entry in heals:
        assert (entry["kind"], entry["namespace"], entry["name"]) == ("ConfigMap", namespace, "settings")
        assert entry["revision"] == commit and entry["outcome"] == "ok" and not entry["dryRun"]
        assert "/data/color" in entry["detail"]
    assert PASSWORD not in history.stdout


async def test_self_heal_takes_back_fields_but_not_another_apps_object(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    shared = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": namespace},
              "data": {"owner": "a"}}
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(yaml.safe_dump(shared))
    second.write_text(yaml.safe_dump({**shared, "data": {"owner": "b"}}))
    await sync(kube, DesiredSource(paths=(first,)), app="a", namespace=namespace)

    tick = await heal_once(kube, DesiredSource(paths=(second,)), app="b", namespace=namespace)
    [revert] = tick.reverts
    assert tick.failed and not revert.done and revert.action is not None and revert.action.verb == "conflict"
    live = await kube.get(resources.CONFIGMAP, "shared", namespace)
    assert live["data"] == {"owner": "a"} and live["metadata"]["labels"][PART_OF_LABEL] == ApplySet("a", namespace).id

    # Asked to (sync --force-conflicts --self-heal), it moves the object into its own set.
    moved = await heal_once(kube, DesiredSource(paths=(second,)), app="b", namespace=namespace, adopt=True)
    assert not moved.failed and [r.describe() for r in moved.reverts] == [f"ConfigMap/{namespace}/shared: /data/owner"]
    live = await kube.get(resources.CONFIGMAP, "shared", namespace)
    assert live["data"] == {"owner": "b"} and live["metadata"]["labels"][PART_OF_LABEL] == ApplySet("b", namespace).id


async def test_the_loop_backs_off_while_ticks_fail_and_returns_to_its_interval(
    kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    source = tmp_path / "later.yaml"  # absent at first: every tick fails
    ticks: list[HealTick] = []
    stop = asyncio.Event()

    def seen(tick: HealTick) -> None:
        ticks.append(tick)
        if len(ticks) == 5:
            source.write_text(yaml.safe_dump(manifests(namespace)[0]))  # readable: the next tick syncs it
        if len(ticks) == 7:
            stop.set()

    await asyncio.wait_for(self_heal(kube, DesiredSource(paths=(source,)), app="later", namespace=namespace,
                                     interval=0.05, stop=stop, on_tick=seen), timeout=30)
    assert [tick.failed for tick in ticks] == [True] * 5 + [False, False]
    assert [round(tick.next_in, 3) for tick in ticks] == [0.1, 0.2, 0.4, 0.5, 0.5, 0.05, 0.05]
    assert "later.yaml" in ticks[0].error and "\n" not in ticks[0].error
    assert [revert.describe() for revert in ticks[5].reverts] == [f"ConfigMap/{namespace}/settings: re-created"]
    assert ticks[6].reverts == ()  # in sync: nothing to do
