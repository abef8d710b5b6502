"""``watch --drift-from`` end to end: real API server, real ``kubectl`` changes, a real webhook receiver.

The watch compares its namespace with manifests on disk (or in a local Git repository) every second;
a ConfigMap changed with ``kubectl`` raises KS902 at the receiver and applying the manifests again
resolves it. Secret values never reach the receiver, and a check that cannot read its manifests
resolves nothing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from kubesteward.alerts.lifecycle import AlertPolicy
from kubesteward.alerts.sinks import build_sinks
from kubesteward.cluster import KubeClient, load_config
from kubesteward.drift.reconcile import sync
from kubesteward.drift.source import DesiredSource
from kubesteward.state.store import StateStore
from kubesteward.watch.cluster import WatchSettings
from kubesteward.watch.drift import DriftSettings
from kubesteward.watch.service import WatchService
from tests.conftest import FAST_RETRY
from tests.support.cli import cli, kubectl
from tests.support.git_repo import commit_files
from tests.support.receiver import Receiver
from tests.support.wait import eventually

Obj = dict[str, Any]
PASSWORD = "s3cret-value-never-shown"
CHANGED_PASSWORD = "other-value-never-shown"


def manifests(namespace: str) -> list[Obj]:
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
         "data": {"color": "blue", "size": "3"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": namespace},
         "stringData": {"password": PASSWORD}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "app", "image": "registry.example.com/web:1"}]}}}},
    ]


def drift_alerts(hook: Receiver, namespace: str) -> list[tuple[str, str, str]]:
    """(status, kind/name, description) of every KS902 alert the receiver accepted for ``namespace``."""
    out = []
    for request in hook.requests:
        if request.ok:
            for alert in request.json()["alerts"]:
                labels = alert["labels"]
                if labels["alertname"] == "KS902" and labels["namespace"] == namespace:
                    out.append((alert["status"], f"{labels['kind']}/{labels['name']}",
                                alert["annotations"]["description"]))
    return out


async def wait_alerts(hook: Receiver, namespace: str, count: int, what: str) -> list[tuple[str, str, str]]:
    async def probe() -> list[tuple[str, str, str]]:
        return drift_alerts(hook, namespace)

    return await eventually(probe, lambda got: len(got) >= count, timeout=30, interval=0.2, what=what)


async def test_a_kubectl_change_raises_ks902_and_applying_the_manifests_resolves_it(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    source = tmp_path / "app.yaml"
    source.write_text(yaml.safe_dump_all(manifests(namespace)))
    kubectl(sandbox_kubeconfig, "apply", "--server-side", "-f", str(source))
    store = StateStore.open(f"sqlite:///{tmp_path / 'watch.db'}")
    client = KubeClient(load_config(str(sandbox_kubeconfig)), retry=FAST_RETRY)
    with Receiver() as hook:
        service = WatchService(
            [client], store, build_sinks([f"webhook={hook.url}/hook"]),
            policy=AlertPolicy(default_threshold=0.0, thresholds={}, group_wait=0.0, group_interval=0.5),
            watch=WatchSettings(resync=5.0), namespace=namespace, tick=0.2, silence_refresh=0.5,
            retry_backoff=(0.2, 2.0), drift=DriftSettings(DesiredSource(paths=(source,)), interval=1.0),
        )
        stop = asyncio.Event()
        await service.start()
        task = asyncio.create_task(service.run(stop, started=True))
        try:
            # Freshly applied: in sync, so nothing is raised (defaulted fields are not drift).
            await asyncio.sleep(2.5)
            assert service.drift_health[client.context].state == "ok"
            assert service.drift_health[client.context].compared == 3
            assert drift_alerts(hook, namespace) == []

            kubectl(sandbox_kubeconfig, "-n", namespace, "patch", "configmap", "settings", "--type", "merge",
                    "-p", '{"data": {"color": "red"}}')
            kubectl(sandbox_kubeconfig, "-n", namespace, "patch", "secret", "creds", "--type", "merge",
                    "-p", yaml.safe_dump({"stringData": {"password": CHANGED_PASSWORD}}))
            fired = await wait_alerts(hook, namespace, 2, "two KS902 firing alerts")
            assert sorted(fired) == [
                ("firing", "ConfigMap/settings", f"ConfigMap/{namespace}/settings: differs from {source}: "
                 "/data/color changed"),
                ("firing", "Secret/creds", f"Secret/{namespace}/creds: differs from {source}: /data/password changed"),
            ]

            # The manifests become unreadable: the check fails, shows in the health, and resolves nothing.
            good = source.read_text()
            source.write_text(good + "  bad: [\n")
            await eventually(lambda: _health(service, client.context), lambda s: s == "failed", timeout=10,
                             what="the drift check to fail")
            assert not service.ready()
            await asyncio.sleep(2.5)
            assert [status for status, _, _ in drift_alerts(hook, namespace)] == ["firing", "firing"]

            source.write_text(good)
            kubectl(sandbox_kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", str(source))
            done = await wait_alerts(hook, namespace, 4, "both alerts resolved")
            assert sorted((status, name) for status, name, _ in done[2:]) == [
                ("resolved", "ConfigMap/settings"), ("resolved", "Secret/creds")]
            assert service.drift_health[client.context].state == "ok"
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=20)
            for sink in service.deliverer.sinks:
                await sink.aclose()
            await client.aclose()
            store.close()
        bodies = b"".join(request.body for request in hook.requests)
        assert PASSWORD.encode() not in bodies and CHANGED_PASSWORD.encode() not in bodies


async def _health(service: WatchService, context: str) -> str:
    return service.drift_health[context].state


async def test_cli_watch_once_compares_a_git_branch_and_a_bad_ref_exits_11(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    commit = commit_files(repo, {"deploy/app.yaml": yaml.safe_dump_all(manifests(namespace))})[:7]
    kubectl(sandbox_kubeconfig, "apply", "--server-side", "-f", str(repo / "deploy"))
    kubectl(sandbox_kubeconfig, "-n", namespace, "scale", "deployment", "web", "--replicas", "2")
    with Receiver() as hook:
        args = ["watch", "--kubeconfig", str(sandbox_kubeconfig), "-n", namespace, "--once", "--state",
                f"sqlite:///{tmp_path / 'watch.db'}", "--default-threshold", "0s", "--group-wait", "0s",
                "--metrics-addr", "off", "--sink", f"webhook={hook.url}/hook", "--drift-git", str(repo),
                "--drift-ref", "main", "--drift-path", "deploy"]
        result = await asyncio.to_thread(cli, *args)
        assert result.returncode == 0, result.stderr
        [(status, name, description)] = drift_alerts(hook, namespace)
        assert (status, name) == ("firing", "Deployment/web")
        assert description.endswith("/spec/replicas changed") and commit in description, description

        bad = await asyncio.to_thread(cli, *[a if a != "main" else "no-such-branch" for a in args])
        assert bad.returncode == 11, bad.stderr
        lines = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "drift check failed" in lines[0] and "Traceback" not in bad.stderr
        assert len(drift_alerts(hook, namespace)) == 1  # nothing resolved by a check that could not look


async def test_an_object_the_app_still_owns_after_it_left_the_manifests_alerts_until_pruned(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    source = tmp_path / "shop.yaml"  # the application's default name: "shop", as sync and drift derive it
    settings, *_ = manifests(namespace)
    leftover = {**settings, "metadata": {"name": "leftover", "namespace": namespace}}
    source.write_text(yaml.safe_dump_all([settings, leftover]))
    await sync(kube, DesiredSource(paths=(source,)), app="shop", namespace=namespace)
    source.write_text(yaml.safe_dump_all([settings]))
    with Receiver() as hook:
        args = ["watch", "--kubeconfig", str(sandbox_kubeconfig), "-n", namespace, "--once", "--state",
                f"sqlite:///{tmp_path / 'watch.db'}", "--default-threshold", "0s", "--group-wait", "0s",
                "--group-interval", "0s", "--metrics-addr", "off", "--sink", f"webhook={hook.url}/hook",
                "--drift-from", str(source)]
        first = await asyncio.to_thread(cli, *args)
        assert first.returncode == 0, first.stderr
        assert drift_alerts(hook, namespace) == [
            ("firing", "ConfigMap/leftover", f"ConfigMap/{namespace}/leftover: still in the cluster: owned by app "
             "shop, no longer in the manifests (sync --prune deletes it)")]

        pruned = await sync(kube, DesiredSource(paths=(source,)), app="shop", namespace=namespace, prune=True)
        assert [a.name for a in pruned.actions if a.verb == "prune"] == ["leftover"]
        second = await asyncio.to_thread(cli, *args)
        assert second.returncode == 0, second.stderr
        assert [(status, name) for status, name, _ in drift_alerts(hook, namespace)] == [
            ("firing", "ConfigMap/leftover"), ("resolved", "ConfigMap/leftover")]
