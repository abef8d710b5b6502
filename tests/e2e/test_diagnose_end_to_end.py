"""diagnose end to end on the real control plane: the demo shop's incidents,
a snapshot round trip, and a namespace-only user getting partial results."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.checks.engine import run_checks
from kubesteward.cluster import KubeClient, load_config, resources
from kubesteward.diagnosis import diagnose_cluster
from kubesteward.errors import NotFound
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.files import load_files
from kubesteward.model.load import load_cluster
from kubesteward.model.snapshot import snapshot_document
from kubesteward.sandbox.demo import DEMO_NAMESPACE, apply_demo, wait_for_demo
from tests.support.wait import eventually


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubesteward", *args], capture_output=True, text=True, timeout=120)


async def _gone(client: KubeClient) -> bool:
    try:
        await client.get(resources.NAMESPACE, DEMO_NAMESPACE)
    except NotFound:
        return True
    return False


@pytest.fixture(scope="module")
async def demo(sandbox_kubeconfig: Path) -> AsyncIterator[Path]:
    """The demo shop, applied once for this module and removed afterwards."""
    async with KubeClient(load_config(str(sandbox_kubeconfig))) as client:
        # A previous run's namespace (or another module's demo) may still be there or terminating:
        # applying into it would half-fail.
        try:
            await client.delete(resources.NAMESPACE, DEMO_NAMESPACE)
        except NotFound:
            pass
        await eventually(lambda: _gone(client), bool, timeout=120, what="old demo namespace to go")
        await apply_demo(sandbox_kubeconfig)
        assert await wait_for_demo(sandbox_kubeconfig, timeout=120), "demo faults did not show up"
        try:
            yield sandbox_kubeconfig
        finally:
            for rt, name in ((resources.NAMESPACE, DEMO_NAMESPACE), (resources.NODE, "kwok-flaky-0")):
                try:
                    await client.delete(rt, name)
                except NotFound:
                    pass


def incident_with_root(cluster: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for incident in cluster["incidents"]:
        keys = [incident["root"], incident["cause"]["object"]] + [s["object"] for s in incident["symptoms"]]
        if any(k["kind"] == kind and k["name"] == name for k in keys[:2]):
            return incident
    raise AssertionError(f"no incident rooted at {kind}/{name}: {[i['title'] for i in cluster['incidents']]}")


def objects_in(incident: dict[str, Any]) -> set[tuple[str, str]]:
    items = [incident["cause"], *incident["symptoms"]]
    return {(i["object"]["kind"], i["object"]["name"]) for i in items}


async def test_demo_incidents_group_symptoms_under_root_causes(demo: Path) -> None:
    result = cli("diagnose", "--kubeconfig", str(demo), "-n", DEMO_NAMESPACE, "-o", "json", "--fail-on", "error")
    assert result.returncode == 1, result.stderr  # errors found, --fail-on error
    document = json.loads(result.stdout)
    assert document["apiVersion"] == "kubesteward.io/v1" and document["kind"] == "DiagnosisReport"
    (cluster,) = document["clusters"]

    # A NotReady node is the root of its pods' problems.
    node = incident_with_root(cluster, "Node", "kwok-flaky-0")
    assert node["cause"]["object"]["kind"] == "Node" and node["severity"] == "error"
    assert node["blastRadius"]["pods"] >= 2  # the two legacy-billing pods pinned to it

    # OOMKilled pods explain their Deployment, its empty Service, the Ingress in front and the blocked PDB.
    checkout = incident_with_root(cluster, "Deployment", "checkout")
    assert checkout["cause"]["evidence"].get("reason") == "OOMKilled" or any(
        s["evidence"].get("reason") == "OOMKilled" for s in checkout["symptoms"]
    )
    members = objects_in(checkout)
    assert ("Service", "checkout") in members and ("Ingress", "shop") in members
    assert sum(1 for kind, name in members if kind == "Pod" and name.startswith("checkout-")) == 3
    assert checkout["blastRadius"] == {"pods": 3, "services": 1}

    # A missing StorageClass explains the Pending PVC, its pod and the StatefulSet.
    storage = incident_with_root(cluster, "PersistentVolumeClaim", "data-orders-db-0")
    assert {("StatefulSet", "orders-db"), ("Pod", "orders-db-0")} <= objects_in(storage)
    assert storage["cause"]["evidence"].get("storage_class") == "fast-ssd"

    # Healthy neighbours stay silent.
    flagged = {(f["object"]["kind"], f["object"]["name"]) for f in cluster["findings"]}
    for healthy in [("Deployment", "web"), ("Service", "web"), ("PodDisruptionBudget", "web"),
                    ("NetworkPolicy", "default-deny"), ("Job", "db-migrate")]:
        assert healthy not in flagged
    assert not any(kind == "Pod" and (name.startswith("web-") or name.startswith("db-migrate")) for kind, name in flagged)

    # Incidents are ordered: errors first, then by blast radius.
    order = [(i["severity"], i["blastRadius"]["pods"] + i["blastRadius"]["services"]) for i in cluster["incidents"]]
    rank = {"error": 3, "warning": 2, "info": 1}
    assert order == sorted(order, key=lambda o: (-rank[o[0]], -o[1]))

    # Every finding belongs to exactly one incident.
    in_incidents = [id_ for i in cluster["incidents"] for id_ in [i["id"]] * (1 + len(i["symptoms"]))]
    assert len(in_incidents) == len(cluster["findings"])
    assert all(f["incident"] for f in cluster["findings"])


async def test_demo_human_sarif_and_markdown_views(demo: Path) -> None:
    table = cli("diagnose", "--kubeconfig", str(demo), "-n", DEMO_NAMESPACE)
    assert table.returncode == 0, table.stderr
    assert "kwok-flaky-0" in table.stdout and "fix:" in table.stdout
    sarif = json.loads(cli("diagnose", "--kubeconfig", str(demo), "-n", DEMO_NAMESPACE, "-o", "sarif").stdout)
    run = sarif["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert rule_ids == {r["ruleId"] for r in run["results"]} and rule_ids
    assert {r["level"] for r in run["results"]} <= {"error", "warning", "note"}
    markdown = cli("diagnose", "--kubeconfig", str(demo), "-n", DEMO_NAMESPACE, "-o", "markdown").stdout
    assert markdown.startswith("# kubesteward diagnosis") and "**Root cause**" in markdown
    ignored = json.loads(cli("diagnose", "--kubeconfig", str(demo), "-n", DEMO_NAMESPACE, "-o", "json",
                             "--ignore", "KS5*").stdout)["clusters"][0]
    assert not any(f["code"].startswith("KS5") for f in ignored["findings"]) and ignored["summary"]["suppressed"] >= 1


async def test_diagnosis_lists_events_only_where_its_analyzers_ask(demo: Path, kube: KubeClient) -> None:
    """diagnose_cluster loads every kind but Events, evaluates, then lists the events of the
    namespaces asked about: the same findings, with the same events as evidence, as a model
    loaded with every event."""
    diagnosis = await diagnose_cluster(kube)
    listed = {s.namespace for s in diagnosis.model.sources if s.kind == "Event"}
    # The demo's namespace, and default for the NotReady node's events; not a namespace nobody asked about.
    assert {DEMO_NAMESPACE, "default"} <= listed and "kube-node-lease" not in listed
    assert {e.metadata.namespace for e in diagnosis.model.events} <= listed
    assert diagnosis.model.partial["Event"] == listed

    whole = run_checks(await load_cluster(kube))

    def demo_findings(findings: list[Any]) -> list[tuple[str, Any]]:
        return [(f.code, f.object) for f in findings if f.object.namespace == DEMO_NAMESPACE]

    assert demo_findings(diagnosis.report.findings) == demo_findings(whole.findings)
    # The missing StorageClass: the PV controller's own words are the claim's evidence in both.
    claim = ObjectKey("PersistentVolumeClaim", DEMO_NAMESPACE, "data-orders-db-0")
    said = [f.evidence.get("events") for f in diagnosis.report.findings if f.object == claim]
    assert said and said == [f.evidence.get("events") for f in whole.findings if f.object == claim]
    assert any(line.startswith("ProvisioningFailed:") for line in said[0])


async def test_snapshot_round_trip_gives_the_same_findings(demo: Path, kube: KubeClient, tmp_path: Path) -> None:
    model = await load_cluster(kube)
    live = run_checks(model)
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(snapshot_document(model)))
    offline, _ignored = load_files([path])
    replay = run_checks(offline)
    assert [(f.code, f.object, f.message, f.evidence) for f in replay.findings] == [
        (f.code, f.object, f.message, f.evidence) for f in live.findings
    ]
    assert [(i.id, i.title) for i in replay.incidents] == [(i.id, i.title) for i in live.incidents]
    # Secret values never reach a snapshot (the demo secret's username is "shop", base64 c2hvcA==).
    text = path.read_text()
    assert "shop-db-credentials" in text and "c2hvcA==" not in text

    # The CLI does the same through files.
    snap = tmp_path / "cli-snapshot.yaml"
    assert cli("snapshot", "--kubeconfig", str(demo), "-A", "-o", str(snap)).returncode == 0
    assert "c2hvcA==" not in snap.read_text()
    replayed = json.loads(cli("diagnose", "--from-file", str(snap), "-o", "json").stdout)["clusters"][0]
    assert {f["code"] for f in replayed["findings"]} >= {"KS501", "KS401"}


async def test_namespace_only_user_gets_partial_results(kube: KubeClient, namespace: str, sandbox_kubeconfig: Path,
                                                        tmp_path: Path) -> None:
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer", "namespace": namespace}})
    await kube.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "read-all", "namespace": namespace},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
    })
    await kube.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "viewer", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-all"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
    })
    await kube.create({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "broken", "namespace": namespace,
                                                         "labels": {"kubesteward.io/fault": "crashloop-error"}},
        "spec": {"containers": [{"name": "app", "image": "registry.local/app:1"}]},
    })
    pod_rt = resources.POD
    await eventually(lambda: kube.get(pod_rt, "broken", namespace),
                     lambda p: any(cs.get("restartCount", 0) > 0 for cs in p.get("status", {}).get("containerStatuses", [])),
                     what="the crash loop", timeout=90)
    response = await kube.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/viewer/token",
        content=b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}',
        headers={"Content-Type": "application/json"},
    )
    config = yaml.safe_load(sandbox_kubeconfig.read_text())
    config["users"][0]["user"] = {"token": response.json()["status"]["token"]}
    config["contexts"][0]["context"]["namespace"] = namespace  # kubectl's default namespace for this user
    path = tmp_path / "viewer"
    path.write_text(yaml.safe_dump(config))

    result = cli("diagnose", "--kubeconfig", str(path), "-A", "-o", "json")
    assert result.returncode == 0, result.stderr
    (cluster,) = json.loads(result.stdout)["clusters"]
    assert any(f["object"]["name"] == "broken" for f in cluster["findings"])
    skipped = {s["kind"]: s for s in cluster["skipped"]}
    assert "Node" in skipped and "forbidden" in skipped["Node"]["reason"]
    assert skipped["Pod"]["namespaces"] == [namespace]  # listed in the one namespace it may read
    assert any("Node" in c["missing"] for c in cluster["skippedChecks"])
    table = cli("diagnose", "--kubeconfig", str(path), "-A")
    assert table.returncode == 0
    assert "skipped Node" in table.stdout and "skipped checks" in table.stdout

    # May list namespaces, so pods are listed namespace by namespace: refused
    # in all but one, the loader falls back exactly as for a cluster-wide refusal.
    reader = f"kubesteward-test-{namespace}-namespaces"
    await kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": reader},
                       "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}]})
    try:
        await kube.create({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": reader},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": reader},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        })
        viewer = KubeClient(load_config(str(path)))
        try:
            model = await eventually(lambda: load_cluster(viewer), lambda m: "Namespace" in m.loaded,
                                     what="the namespace list to be allowed")
        finally:
            await viewer.aclose()
        assert {p.metadata.namespace for p in model.pods} == {namespace}
        assert model.partial["Pod"] == {namespace}
        assert any(p.metadata.name == "broken" for p in model.pods)
    finally:
        for rt in (resources.by_name("clusterrolebindings"), resources.by_name("clusterroles")):
            assert rt is not None
            with contextlib.suppress(NotFound):
                await kube.delete(rt, reader)


async def test_sharded_load_matches_one_cluster_wide_list(demo: Path, kube: KubeClient) -> None:
    """Pods and Events listed namespace by namespace give the same model and findings as one LIST per kind."""
    sharded = await load_cluster(kube)
    whole = await load_cluster(kube, shard=frozenset())
    # Namespaces of earlier tests may still be terminating: their objects go away between the two loads.
    active = {n.metadata.name for m in (sharded, whole) for n in m.namespaces if n.status.phase == "Active"}
    terminating = {n.metadata.name for m in (sharded, whole) for n in m.namespaces} - active
    assert DEMO_NAMESPACE in active

    def keys(model: Any, attr: str) -> list[tuple[str, str]]:
        return sorted(
            (o.metadata.namespace, o.metadata.name) for o in getattr(model, attr) if o.metadata.namespace not in terminating
        )

    for attr in ("pods", "events", "deployments", "nodes"):
        assert keys(sharded, attr) == keys(whole, attr), attr
    pod_sources = {s.namespace for s in sharded.sources if s.kind == "Pod"}
    assert pod_sources == {n.metadata.name for n in sharded.namespaces}  # one LIST per namespace
    assert [s.namespace for s in whole.sources if s.kind == "Pod"] == [None]

    def findings(model: Any) -> list[tuple[str, Any]]:
        return [(f.code, f.object) for f in run_checks(model).findings if f.object.namespace not in terminating]

    assert findings(sharded) == findings(whole)
