"""``sync`` then ``drift`` on the real API server, through the CLI as users run them.

(a) A freshly synced application shows **zero** drift although the API server defaulted what the manifests left
unset, the real HPA controller scaled the Deployment away from the manifest's replicas (metrics-server reading
KWOK's simulated usage), and kubesteward's own mutating admission webhook added fields to it.
(b) ``sync --git`` from a local repository records each commit in the audit trail (``history``), the second
sync applies the second commit's value, and ``drift --git`` at the first commit reports exactly that field.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import yaml

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.sandbox.faults import USAGE_CPU_ANNOTATION
from kubesteward.webhook.admission import MUTATED_ANNOTATION as MUTATED
from kubesteward.webhook.install import uninstall
from tests.support.cli import cli
from tests.support.git_repo import commit_files
from tests.support.wait import eventually
from tests.support.webhook import install, start_server

SECRET_VALUE = "zd-" + uuid.uuid4().hex  # unique per run: found only if it leaked from this run
TOLERATE_KWOK = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
MAX_REPLICAS = 3


def resource(api_version: str, kind: str) -> ResourceType:
    rt = resources.builtin(api_version, kind)
    assert rt is not None, kind
    return rt


DEPLOYMENTS, CONFIGMAPS = resource("apps/v1", "Deployment"), resource("v1", "ConfigMap")


def shop(namespace: str) -> list[dict[str, Any]]:
    """A Deployment leaving every default unset (strategy, history, probes' timings, pull policy, security
    context...) but its CPU request, which the HPA's utilisation needs; its Service, ConfigMap, Secret and HPA.
    Each pod uses 9x its request (KWOK's simulated usage), so the HPA scales to its maximum."""
    labels = {"app": "web"}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": namespace},
         "data": {"mode": "blue"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret", "namespace": namespace},
         "stringData": {"password": SECRET_VALUE}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
         "spec": {
             "replicas": 1, "selector": {"matchLabels": labels},
             "template": {
                 "metadata": {"labels": labels, "annotations": {USAGE_CPU_ANNOTATION: "900m"}},
                 "spec": {"tolerations": TOLERATE_KWOK, "containers": [{
                     "name": "web", "image": "registry.example.com/shop/web:1.0",
                     "resources": {"requests": {"cpu": "100m"}},
                     "envFrom": [{"configMapRef": {"name": "web-config"}}],
                 }]},
             },
         }},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "web", "namespace": namespace},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                  "minReplicas": 1, "maxReplicas": MAX_REPLICAS,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}},
    ]


def assert_no_secret(text: str) -> None:
    assert SECRET_VALUE not in text and base64.b64encode(SECRET_VALUE.encode()).decode() not in text


async def test_a_synced_app_has_zero_drift_despite_defaults_its_hpa_and_a_mutating_webhook(
    kube: KubeClient, namespace: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    deploy = tmp_path / "shop"
    deploy.mkdir()
    (deploy / "app.yaml").write_text(yaml.safe_dump_all(shop(namespace)))
    state = tmp_path / "state.db"
    cluster = ("--kubeconfig", str(sandbox_kubeconfig))

    # kubesteward's own webhook in mutation mode, for this namespace: it adds a seccomp profile, no privilege
    # escalation and default limits where a pod template lacks them, and says so in an annotation.
    served = start_server(tmp_path / "tls")
    names: list[str] = []
    try:
        install(sandbox_kubeconfig, served, namespace, names, "--no-validate")
        probe = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "probe", "namespace": namespace},
                 "spec": {"selector": {"matchLabels": {"app": "probe"}}, "template": {
                     "metadata": {"labels": {"app": "probe"}},
                     "spec": {"containers": [{"name": "app", "image": "registry.example.com/probe:1"}]}}}}

        async def dry_run() -> dict[str, Any]:
            answer: dict[str, Any] = await kube.apply(probe, dry_run=True, force=True)
            return answer

        await eventually(dry_run, lambda obj: MUTATED in (obj["metadata"].get("annotations") or {}),
                         timeout=30, interval=0.3, what="the mutating webhook to be called")

        synced = cli("sync", "-f", str(deploy), "-n", namespace, "--state", str(state), "--timeout", "120",
                     "-o", "json", *cluster, timeout=240)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert_no_secret(synced.stdout + synced.stderr)
        plan = json.loads(synced.stdout)
        assert plan["ok"] and plan["app"] == "shop"
        assert sorted((a["kind"], a["action"]) for a in plan["actions"]) == [
            ("ConfigMap", "create"), ("Deployment", "create"), ("HorizontalPodAutoscaler", "create"),
            ("Secret", "create"), ("Service", "create")]

        live = await kube.get(DEPLOYMENTS, "web", namespace)
        pod = live["spec"]["template"]["spec"]
        # The webhook's additions, really there: none of them is in the manifest.
        assert MUTATED in live["metadata"]["annotations"]
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
        # The API server's defaults, as real.
        assert live["spec"]["revisionHistoryLimit"] == 10 and live["spec"]["strategy"]["type"] == "RollingUpdate"
        assert pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"

        # The real HPA controller scales it (metrics-server reads KWOK's simulated usage), away from the
        # manifest's one replica.
        scaled = await eventually(lambda: kube.get(DEPLOYMENTS, "web", namespace),
                                  lambda obj: obj["spec"]["replicas"] == MAX_REPLICAS,
                                  timeout=180, interval=2, what="the HPA to scale the Deployment")
        managers = {entry["manager"] for entry in scaled["metadata"]["managedFields"]}
        assert "kube-controller-manager" in managers  # the HPA controller's write, not ours

        drift = cli("drift", "-f", str(deploy), "-n", namespace, "-o", "json", *cluster, timeout=120)
        assert drift.returncode == 0, drift.stdout + drift.stderr
        document = json.loads(drift.stdout)
        assert document["inSync"] and document["right"]["coverage"]["complete"]
        assert document["counts"] == {"in-sync": 5, "drifted": 0, "missing": 0, "extra": 0, "error": 0}
        table = cli("drift", "-f", str(deploy), "-n", namespace, *cluster, timeout=120)
        assert table.returncode == 0, table.stdout + table.stderr
        assert "5 objects: 5 in sync, 0 drifted, 0 missing" in table.stdout
        assert_no_secret(drift.stdout + drift.stderr + table.stdout + table.stderr)

        # Synced again, the manifests unchanged: the autoscaler keeps its replicas, and no conflict.
        again = cli("sync", "-f", str(deploy), "-n", namespace, "--state", str(state), "--timeout", "120",
                    "-o", "json", *cluster, timeout=240)
        assert again.returncode == 0, again.stdout + again.stderr
        assert {a["action"] for a in json.loads(again.stdout)["actions"]} == {"unchanged"}
        assert (await kube.get(DEPLOYMENTS, "web", namespace))["spec"]["replicas"] == MAX_REPLICAS
    finally:
        for name in names:
            await uninstall(kube, name)
        served.stop()


def entries(state: Path, app: str) -> list[dict[str, Any]]:
    listed = cli("history", "--app", app, "--state", str(state), "-o", "json")
    assert listed.returncode == 0, listed.stderr
    found: list[dict[str, Any]] = json.loads(listed.stdout)
    return found


async def test_sync_from_git_records_each_commit_and_drift_at_the_first_reports_the_one_field(
    kube: KubeClient, namespace: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    repo = tmp_path / "repo"
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
                "data": {"mode": "blue", "level": "info"}}
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": namespace},
             "data": {"a": "1"}}
    first = commit_files(repo, {"deploy/app.yaml": yaml.safe_dump_all([settings, other]),
                                "README": "not a manifest, outside --path\n"}, "first")
    state = tmp_path / "state.db"
    source = ("--git", str(repo), "--ref", "main", "--path", "deploy")
    cluster = ("--kubeconfig", str(sandbox_kubeconfig))

    synced = cli("sync", *source, "-n", namespace, "--state", str(state), "-o", "json", *cluster, timeout=120)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert json.loads(synced.stdout)["revision"] == first
    trail = entries(state, "deploy")  # the app is named after --path
    assert {(e["name"], e["action"], e["revision"], e["outcome"]) for e in trail} == {
        ("settings", "create", first, "ok"), ("other", "create", first, "ok")}
    assert all(e["source"] == f"git:{repo}@main:deploy ({first[:12]})" and not e["dryRun"] for e in trail)
    assert all(e["context"] and e["actor"] for e in trail)

    # A second commit changes one value; the next sync of the same branch applies it and records that commit.
    second = commit_files(
        repo, {"deploy/app.yaml": yaml.safe_dump_all([{**settings, "data": {"mode": "green", "level": "info"}}, other])},
        "second")
    assert second != first
    synced = cli("sync", *source, "-n", namespace, "--state", str(state), "-o", "json", *cluster, timeout=120)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    live = await kube.get(CONFIGMAPS, "settings", namespace)
    assert live["data"] == {"mode": "green", "level": "info"}
    trail = entries(state, "deploy")
    newest = [e for e in trail if e["revision"] == second]
    assert {(e["name"], e["action"]) for e in newest} == {("settings", "update"), ("other", "unchanged")}
    assert trail[: len(newest)] == newest  # newest first
    assert "/data/mode" in next(e["detail"] for e in newest if e["name"] == "settings")
    table = cli("history", "--app", "deploy", "--state", str(state), "--limit", "1")
    assert table.returncode == 0 and second[:12] in table.stdout and first[:12] not in table.stdout

    # The first commit against the cluster: exactly the one field the second commit changed.
    drift = cli("drift", "--git", str(repo), "--ref", first, "--path", "deploy", "-n", namespace, "-o", "json",
                *cluster, timeout=120)
    assert drift.returncode == 1, drift.stdout + drift.stderr
    document = json.loads(drift.stdout)
    assert document["revision"] == first
    assert document["left"]["source"] == f"git:{repo}@{first}:deploy ({first[:12]})"
    changed = [(o["name"], c["path"], c["old"], c["new"]) for o in document["objects"] for c in o.get("changes", [])]
    assert changed == [("settings", "/data/mode", "blue", "green")]
    assert document["counts"] == {"in-sync": 1, "drifted": 1, "missing": 0, "extra": 0, "error": 0}
    at_head = cli("drift", *source, "-n", namespace, *cluster, timeout=120)
    assert at_head.returncode == 0, at_head.stdout + at_head.stderr
