"""``kubesteward sync`` on the real API server: objects created with the ApplySet's label and parent, a second
sync that changes nothing, a dry run that writes nothing, a field another manager owns as a conflict (exit 7)
that --force-conflicts takes, prune of exactly what left the manifests (never another app's object nor an
unlabelled one), an empty manifest set refused unless --allow-empty, a workload that cannot become healthy
failing the sync (exit 1), namespaces and CRDs applied before what needs them, and a sync cut short whose
record still lets the next one prune. No Secret value in any output.
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.cluster import KubeClient, RetryPolicy, resources
from kubesteward.drift.ownership import ID_LABEL, KINDS_ANNOTATION, PART_OF_LABEL, TOOLING_ANNOTATION, ApplySet
from kubesteward.drift.reconcile import sync
from kubesteward.drift.source import DesiredSource
from kubesteward.errors import ServerError
from kubesteward.state.store import StateStore
from tests.support.cli import cli, kubectl
from tests.support.kinds import builtin, exists, widget_crd
from tests.support.proxy import FaultProxy, client_via

SECRET_VALUE = "s3cr3t-" + uuid.uuid4().hex  # unique per run: found only if it leaked from this run


CONFIGMAPS, SECRETS = builtin("v1", "ConfigMap"), builtin("v1", "Secret")
DEPLOYMENTS, SERVICES = builtin("apps/v1", "Deployment"), builtin("v1", "Service")


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def deployment(name: str, namespace: str, *, fault: str | None = None) -> dict[str, Any]:
    labels = {"app": name}
    template_labels = {**labels, "kubesteward.io/fault": fault} if fault else labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": template_labels},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}}


def app_files(directory: Path, namespace: str) -> Path:
    """An application in one file per object."""
    directory.mkdir(parents=True, exist_ok=True)
    objects = {
        "config": configmap("web-config", namespace, mode="blue"),
        "secret": {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret", "namespace": namespace},
                   "stringData": {"password": SECRET_VALUE}},
        "web": deployment("web", namespace),
        "service": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
                    "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}},
    }
    for name, obj in objects.items():
        (directory / f"{name}.yaml").write_text(yaml.safe_dump(obj))
    return directory


class Sync:
    """The CLI against the test cluster, every run's output kept to look for a Secret value in the end."""

    def __init__(self, kubeconfig: Path, tmp_path: Path) -> None:
        self.base = ["--kubeconfig", str(kubeconfig), "--state", str(tmp_path / "state.db")]
        self.outputs: list[str] = []

    def __call__(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = cli("sync", *args, *self.base, timeout=120)
        self.outputs += [result.stdout, result.stderr]
        assert result.returncode == expect, (result.returncode, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    def json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self(*args, "-o", "json", expect=expect).stdout)
        return document

    def history(self, app: str) -> str:
        result = cli("history", "--app", app, "-o", "json", "--state", self.base[3])
        assert result.returncode == 0, result.stderr
        self.outputs.append(result.stdout)
        return result.stdout

    def assert_no_secret(self) -> None:
        text = "\n".join(self.outputs)
        assert SECRET_VALUE not in text
        assert base64.b64encode(SECRET_VALUE.encode()).decode() not in text


@pytest.fixture
def run_sync(sandbox_kubeconfig: Path, tmp_path: Path) -> Sync:
    return Sync(sandbox_kubeconfig, tmp_path)


def verbs(document: dict[str, Any]) -> dict[str, str]:
    return {f"{a['kind']}/{a['name']}": a["action"] for a in document["actions"]}


async def test_sync_creates_labelled_members_then_changes_nothing(
    kube: KubeClient, namespace: str, tmp_path: Path, run_sync: Sync,
) -> None:
    deploy = app_files(tmp_path / "deploy", namespace)
    applyset = ApplySet("deploy", namespace)

    plan = run_sync.json("-f", str(deploy), "-n", namespace, "--dry-run")
    assert plan["dryRun"] and verbs(plan) == {
        "ConfigMap/web-config": "create", "Secret/web-secret": "create", "Deployment/web": "create",
        "Service/web": "create",
    }
    for rt, name in ((CONFIGMAPS, "web-config"), (SECRETS, "web-secret"), (DEPLOYMENTS, "web"), (SERVICES, "web"),
                     (CONFIGMAPS, applyset.parent_name)):
        assert not await exists(kube, rt, name, namespace), f"the dry run wrote {name}"

    first = run_sync.json("-f", str(deploy), "-n", namespace)
    assert first["ok"] and first["app"] == "deploy" and first["applySet"] == applyset.id
    assert verbs(first) == {k: "create" for k in verbs(plan)}
    # The order: configuration before the workload that reads it, the workload before its Service.
    assert [a["kind"] for a in first["actions"]].index("Deployment") > [a["kind"] for a in first["actions"]].index("ConfigMap")
    assert [a["kind"] for a in first["actions"]][-1] == "Service"
    assert [(w["name"], w["healthy"]) for w in first["waits"]] == [("web", True)]
    for rt, name in ((CONFIGMAPS, "web-config"), (SECRETS, "web-secret"), (DEPLOYMENTS, "web"), (SERVICES, "web")):
        live = await kube.get(rt, name, namespace)
        assert live["metadata"]["labels"][PART_OF_LABEL] == applyset.id
        assert any(entry["manager"] == "kubesteward" and entry["operation"] == "Apply"
                   for entry in live["metadata"]["managedFields"])
    parent = await kube.get(CONFIGMAPS, applyset.parent_name, namespace)
    assert parent["metadata"]["labels"] == {ID_LABEL: applyset.id}
    notes = parent["metadata"]["annotations"]
    assert notes[KINDS_ANNOTATION] == "ConfigMap,Deployment.apps,Secret,Service"
    assert notes[TOOLING_ANNOTATION].startswith("kubesteward/")

    again = run_sync("-f", str(deploy), "-n", namespace)
    assert "4 objects: 0 created, 0 updated, 4 unchanged, 0 pruned" in again.stdout, again.stdout
    trail = json.loads(run_sync.history("deploy"))
    assert {(e["action"], e["dryRun"]) for e in trail} == {("create", True), ("create", False), ("unchanged", False)}
    assert all(e["actor"] and e["context"] and e["source"] == str(deploy) for e in trail)

    # A changed value is an update naming the field, never its value.
    (deploy / "config.yaml").write_text(yaml.safe_dump(configmap("web-config", namespace, mode="green")))
    updated = run_sync.json("-f", str(deploy), "-n", namespace)
    changed = next(a for a in updated["actions"] if a["name"] == "web-config")
    assert (changed["action"], changed["detail"]) == ("update", "changed /data/mode")
    assert (await kube.get(CONFIGMAPS, "web-config", namespace))["data"] == {"mode": "green"}
    # Every other way out: YAML, the history table, -vv's request log, the audit trail's database file.
    run_sync("-f", str(deploy), "-n", namespace, "-o", "yaml")
    verbose = cli("-vv", "sync", "-f", str(deploy), "-n", namespace, *run_sync.base, timeout=120)
    table = cli("history", "--state", run_sync.base[3])
    assert verbose.returncode == 0 and table.returncode == 0, verbose.stderr + table.stderr
    assert "PATCH" in verbose.stderr  # the request log is there, and the Secret's apply in it
    run_sync.outputs += [verbose.stdout, verbose.stderr, table.stdout, Path(run_sync.base[3]).read_bytes().decode(
        errors="replace")]
    run_sync.assert_no_secret()


async def test_a_field_another_manager_owns_is_a_conflict_until_forced(
    kube: KubeClient, namespace: str, tmp_path: Path, run_sync: Sync, sandbox_kubeconfig: Path,
) -> None:
    deploy = app_files(tmp_path / "web", namespace)
    run_sync("-f", str(deploy), "-n", namespace, "--no-wait")
    # As `kubectl edit` would, under a field manager of its own (a Secret's value too).
    kubectl(sandbox_kubeconfig, "patch", "configmap", "web-config", "-n", namespace, "--field-manager", "hotfix",
            "-p", '{"data":{"mode":"red"}}')
    kubectl(sandbox_kubeconfig, "patch", "secret", "web-secret", "-n", namespace, "--field-manager", "hotfix",
            "-p", json.dumps({"stringData": {"password": "other-" + SECRET_VALUE}}))

    refused = run_sync("-f", str(deploy), "-n", namespace, "--no-wait", expect=7)
    lines = {line.split()[1]: line for line in refused.stdout.splitlines() if line.startswith("  ")}
    assert lines[f"ConfigMap/{namespace}/web-config"].split()[0] == "conflict"
    assert '"hotfix"' in lines[f"ConfigMap/{namespace}/web-config"] and ".data.mode" in lines[
        f"ConfigMap/{namespace}/web-config"]
    # stringData is write-only: the API server tracks no owner of its fields, so the value is simply put back.
    assert lines[f"Secret/{namespace}/web-secret"].split()[0] == "updated"
    assert "changed /data/password" in lines[f"Secret/{namespace}/web-secret"]
    assert lines[f"Deployment.apps/{namespace}/web"].split()[0] == "unchanged"  # the others went on
    assert "fields owned by hotfix" in refused.stderr and "--force-conflicts" in refused.stderr
    assert (await kube.get(CONFIGMAPS, "web-config", namespace))["data"] == {"mode": "red"}
    document = run_sync.json("-f", str(deploy), "-n", namespace, "--no-wait", expect=7)
    conflict = next(a for a in document["actions"] if a["name"] == "web-config")
    assert conflict["managers"] == ["hotfix"] and not document["ok"]

    forced = run_sync.json("-f", str(deploy), "-n", namespace, "--no-wait", "--force-conflicts")
    assert verbs(forced)["ConfigMap/web-config"] == "update"
    assert (await kube.get(CONFIGMAPS, "web-config", namespace))["data"] == {"mode": "blue"}
    live = await kube.get(CONFIGMAPS, "web-config", namespace)
    assert [e["manager"] for e in live["metadata"]["managedFields"] if "f:mode" in json.dumps(e.get("fieldsV1"))] == [
        "kubesteward"]

    # Another app declaring the same object: a conflict too (taken silently, the two would take it in turns).
    intruder = tmp_path / "intruder"
    intruder.mkdir()
    (intruder / "config.yaml").write_text(yaml.safe_dump(configmap("web-config", namespace, mode="blue")))
    taken = run_sync("-f", str(intruder), "-n", namespace, expect=7)
    assert f"ConfigMap/{namespace}/web-config (a member of another app's set" in taken.stdout
    assert ApplySet("web", namespace).id in taken.stdout and "1 objects of another app's set" in taken.stderr
    assert (await kube.get(CONFIGMAPS, "web-config", namespace))["metadata"]["labels"][PART_OF_LABEL] == ApplySet(
        "web", namespace).id
    moved = run_sync.json("-f", str(intruder), "-n", namespace, "--force-conflicts")
    assert verbs(moved) == {"ConfigMap/web-config": "update"}
    assert (await kube.get(CONFIGMAPS, "web-config", namespace))["metadata"]["labels"][PART_OF_LABEL] == ApplySet(
        "intruder", namespace).id
    run_sync.assert_no_secret()


async def test_prune_deletes_exactly_what_left_the_manifests(
    kube: KubeClient, namespace: str, tmp_path: Path, run_sync: Sync,
) -> None:
    deploy = app_files(tmp_path / "shop", namespace)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.yaml").write_text(yaml.safe_dump(configmap("other-config", namespace, a="1")))
    run_sync("-f", str(deploy), "-n", namespace, "--no-wait")
    run_sync("-f", str(other), "-n", namespace, "--no-wait")  # another app's set, same kind, same namespace
    await kube.apply(configmap("by-hand", namespace, a="1"), field_manager="kubectl")  # no set's member

    (deploy / "config.yaml").unlink()
    kept = run_sync.json("-f", str(deploy), "-n", namespace, "--no-wait")  # no --prune: nothing deleted
    assert "prune" not in verbs(kept).values() and await exists(kube, CONFIGMAPS, "web-config", namespace)

    plan = run_sync.json("-f", str(deploy), "-n", namespace, "--no-wait", "--prune", "--dry-run")
    assert [name for name, verb in verbs(plan).items() if verb == "prune"] == ["ConfigMap/web-config"]
    assert await exists(kube, CONFIGMAPS, "web-config", namespace)  # the plan deleted nothing
    over = run_sync("-f", str(deploy), "-n", namespace, "--no-wait", "--prune", "--max-prune", "0", expect=2)
    assert "refusing to prune 1 object of app shop, more than --max-prune 0 allows" in over.stderr, over.stderr
    assert await exists(kube, CONFIGMAPS, "web-config", namespace)  # over its budget: nothing deleted

    pruned = run_sync.json("-f", str(deploy), "-n", namespace, "--no-wait", "--prune")
    assert [name for name, verb in verbs(pruned).items() if verb == "prune"] == ["ConfigMap/web-config"]
    assert not await exists(kube, CONFIGMAPS, "web-config", namespace)
    for name in ("other-config", "by-hand", ApplySet("shop", namespace).parent_name, ApplySet("other", namespace).parent_name):
        assert await exists(kube, CONFIGMAPS, name, namespace), name
    for rt, name in ((SECRETS, "web-secret"), (DEPLOYMENTS, "web"), (SERVICES, "web")):
        assert await exists(kube, rt, name, namespace), name
    trail = json.loads(run_sync.history("shop"))
    assert [(e["name"], e["dryRun"]) for e in trail if e["action"] == "prune"] == [
        ("web-config", False), ("web-config", True)]


async def test_an_empty_manifest_set_is_pruned_only_when_allowed(
    kube: KubeClient, namespace: str, tmp_path: Path, run_sync: Sync,
) -> None:
    deploy = app_files(tmp_path / "cart", namespace)
    run_sync("-f", str(deploy), "-n", namespace, "--no-wait")
    for file in deploy.iterdir():
        file.unlink()

    refused = run_sync("-f", str(deploy), "-n", namespace, "--prune", expect=2)
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "--allow-empty" in lines[0], refused.stderr
    for rt, name in ((CONFIGMAPS, "web-config"), (SECRETS, "web-secret"), (DEPLOYMENTS, "web"), (SERVICES, "web")):
        assert await exists(kube, rt, name, namespace), f"the refused prune deleted {name}"

    emptied = run_sync.json("-f", str(deploy), "-n", namespace, "--prune", "--allow-empty")
    assert sorted(verbs(emptied).items()) == [
        ("ConfigMap/web-config", "prune"), ("Deployment/web", "prune"), ("Secret/web-secret", "prune"),
        ("Service/web", "prune")]
    # The reverse of the apply order: the Service before its workload, the workload before its configuration.
    assert [a["kind"] for a in emptied["actions"]][:2] == ["Service", "Deployment"]
    for rt, name in ((CONFIGMAPS, "web-config"), (SECRETS, "web-secret"), (SERVICES, "web")):
        assert not await exists(kube, rt, name, namespace), name
    assert await exists(kube, CONFIGMAPS, ApplySet("cart", namespace).parent_name, namespace)
    run_sync.assert_no_secret()


async def test_a_workload_that_cannot_become_healthy_fails_the_sync(
    namespace: str, tmp_path: Path, run_sync: Sync,
) -> None:
    deploy = tmp_path / "broken"
    deploy.mkdir()
    # KWOK plays the kubelet: this label makes the pod's image pull fail (docs/sandbox.md).
    (deploy / "web.yaml").write_text(yaml.safe_dump(deployment("broken", namespace, fault="image-pull")))
    (deploy / "fine.yaml").write_text(yaml.safe_dump(deployment("fine", namespace)))

    result = run_sync("-f", str(deploy), "-n", namespace, "--timeout", "15", expect=1)
    unhealthy = [line for line in result.stdout.splitlines() if "unhealthy" in line]
    assert len(unhealthy) == 1 and f"Deployment.apps/{namespace}/broken" in unhealthy[0], result.stdout
    assert "ImagePullBackOff" in unhealthy[0] and "not healthy after 15s" in unhealthy[0]
    assert any("healthy" in line and "/fine" in line and "unhealthy" not in line for line in result.stdout.splitlines())
    assert "1 not healthy" in result.stdout

    skipped = run_sync.json("-f", str(deploy), "-n", namespace, "--no-wait")  # applied; nothing waited for
    assert skipped["ok"] and skipped["waits"] == []


async def test_crds_and_namespaces_come_first_and_a_bad_object_is_its_own_error(
    kube: KubeClient, tmp_path: Path, run_sync: Sync, sandbox_kubeconfig: Path,
) -> None:
    group = f"t{uuid.uuid4().hex[:8]}.sync.kubesteward.io"
    home, absent = f"t-{uuid.uuid4().hex[:8]}", f"absent-{uuid.uuid4().hex[:8]}"
    deploy = tmp_path / "widgets"
    deploy.mkdir()
    # One file, in the order that cannot work: the custom resource first, its namespace and CRD last.
    (deploy / "all.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": home},
         "spec": {"size": 3}},
        configmap("stray", absent, a="1"),  # a namespace nobody creates
        {"apiVersion": "nowhere.kubesteward.io/v1", "kind": "Gadget", "metadata": {"name": "g", "namespace": home}},
        configmap("settings", home, a="1"),
        widget_crd(group),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": home}},
    ]))
    try:
        plan = run_sync.json("-f", str(deploy), "-n", home, "--dry-run", expect=1)
        assert verbs(plan) == {"Namespace/" + home: "create", "CustomResourceDefinition/" + f"widgets.{group}": "create",
                               "Widget/w": "create", "ConfigMap/settings": "create", "ConfigMap/stray": "error",
                               "Gadget/g": "error"}
        assert not await exists(kube, resources.NAMESPACE, home, "")

        applied = run_sync.json("-f", str(deploy), "-n", home, expect=1)
        assert [a["kind"] for a in applied["actions"]][:2] == ["Namespace", "CustomResourceDefinition"]
        assert verbs(applied) == {**verbs(plan)}  # the plan was the run
        errors = {a["kind"]: a["detail"] for a in applied["actions"] if a["action"] == "error"}
        assert errors["ConfigMap"] == f"namespace {absent} does not exist (the manifests do not create it)"
        assert "Gadget" in errors["Gadget"] and "nowhere.kubesteward.io/v1" in errors["Gadget"]
        widget = await kube.get(await kube.resolve(f"{group}/v1", "Widget"), "w", home)
        assert widget["spec"] == {"size": 3} and PART_OF_LABEL in widget["metadata"]["labels"]
        parent = await kube.get(CONFIGMAPS, ApplySet("widgets", home).parent_name, home)
        assert parent["metadata"]["annotations"][KINDS_ANNOTATION] == (
            f"ConfigMap,CustomResourceDefinition.apiextensions.k8s.io,Gadget.nowhere.kubesteward.io,Namespace,"
            f"Widget.{group}")
        assert parent["metadata"]["annotations"]["applyset.kubernetes.io/additional-namespaces"] == absent
    finally:
        kubectl(sandbox_kubeconfig, "delete", "namespace", home, "--ignore-not-found", "--wait=false")
        kubectl(sandbox_kubeconfig, "delete", "crd", f"widgets.{group}", "--ignore-not-found", "--wait=false")


async def test_a_sync_cut_short_still_prunes_what_it_applied(
    kube: KubeClient, namespace: str, tmp_path: Path, proxy: FaultProxy,
) -> None:
    deploy = tmp_path / "cut"
    deploy.mkdir()
    (deploy / "config.yaml").write_text(yaml.safe_dump(configmap("a", namespace, k="1")))
    source = DesiredSource(paths=(deploy,))
    await sync(kube, source, app="cut", namespace=namespace, wait=False)

    # The next sync adds a Secret and a Service, and dies at the Service (the API server answers 500 to it):
    # the Secret is applied, the parent was never rewritten at the end.
    (deploy / "more.yaml").write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": namespace},
         "stringData": {"k": SECRET_VALUE}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": namespace},
         "spec": {"ports": [{"port": 80}]}},
    ]))
    proxy.fail(500, match=lambda method, path: method == "PATCH" and "/services/svc" in path)
    with StateStore.open(str(tmp_path / "state.db")) as store:
        async with client_via(proxy, RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, total=2.0)) as cut:
            with pytest.raises(ServerError):
                await sync(cut, source, app="cut", namespace=namespace, wait=False, audit=store)
        # What it wrote before it stopped is in the audit trail, and so is where it stopped.
        trail = {(entry.kind, entry.name): entry for entry in store.audit_entries(app="cut")}
    assert (trail[("ConfigMap", "a")].action, trail[("Secret", "s")].action) == ("unchanged", "create")
    stopped = trail[("ConfigMap", ApplySet("cut", namespace).parent_name)]
    assert (stopped.action, stopped.outcome) == ("error", "failed")
    assert stopped.detail.startswith("sync cut short after 2 actions:") and "500" in stopped.detail
    assert ("Service", "svc") not in trail
    secret = await kube.get(SECRETS, "s", namespace)
    assert secret["metadata"]["labels"][PART_OF_LABEL] == ApplySet("cut", namespace).id
    assert not await exists(kube, SERVICES, "svc", namespace)

    # Its files removed again: the Secret's kind was recorded before anything was applied, so prune finds it.
    (deploy / "more.yaml").unlink()
    result = await sync(kube, source, app="cut", namespace=namespace, wait=False, prune=True)
    assert [(a.kind, a.name, a.verb) for a in result.actions] == [("ConfigMap", "a", "unchanged"), ("Secret", "s", "prune")]
    assert not await exists(kube, SECRETS, "s", namespace)
    parent = await kube.get(CONFIGMAPS, ApplySet("cut", namespace).parent_name, namespace)
    assert parent["metadata"]["annotations"][KINDS_ANNOTATION] == "ConfigMap"  # the record shrinks to what is held
