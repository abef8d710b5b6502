"""Incident grouping, suppression and the offline loader: pure logic on hand-built models."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesteward.checks import base
from kubesteward.checks.base import analyzer
from kubesteward.checks.engine import load_analyzers, run_checks
from kubesteward.checks.settings import CheckSettings
from kubesteward.errors import InputError
from kubesteward.findings import CODES, Code, Finding, Severity, Step, define, finding, steps
from kubesteward.findings.incidents import build_incidents
from kubesteward.model.cluster import ClusterModel, ObjectKey, key_of
from kubesteward.model.files import load_files, model_from_objects
from kubesteward.model.snapshot import snapshot_document

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def meta(name: str, ns: str = "shop", uid: str = "", owner: tuple[str, str, str] | None = None, **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": ns, "uid": uid or f"uid-{name}", **extra}
    if owner:
        m["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": owner[2], "controller": True, "apiVersion": "apps/v1"}]
    return m


def cluster_objects() -> list[dict[str, Any]]:
    return [
        {"kind": "Node", "metadata": {"name": "n1", "uid": "uid-n1"}},
        {"kind": "Deployment", "metadata": meta("web")},
        {"kind": "ReplicaSet", "metadata": meta("web-1", owner=("Deployment", "web", "uid-web"))},
        *[
            {"kind": "Pod", "metadata": meta(f"web-1-{i}", owner=("ReplicaSet", "web-1", "uid-web-1"), labels={"app": "web"}),
             "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}}
            for i in range(3)
        ],
        {"kind": "Service", "metadata": meta("web", uid="uid-svc-web"), "spec": {"selector": {"app": "web"}}},
        {"kind": "Pod", "metadata": meta("lonely", annotations={"kubesteward.io/ignore": "KT902"}), "spec": {"containers": [{"name": "c"}]}},
        {"kind": "Secret", "metadata": meta("creds"), "data": {"password": "c2VjcmV0"}},
    ]


@pytest.fixture
def test_codes() -> Iterator[dict[str, Code]]:
    """Codes and analyzers that exist only for this test (removed afterwards)."""
    # The real analyzers registered first: modules register on import, once, so a snapshot taken before
    # that would, when restored, leave later tests without them.
    load_analyzers()
    before_codes, before_analyzers = dict(CODES), dict(base.ANALYZERS)
    codes = {
        "node": define("KT901", "Node down", area="test", severity=Severity.ERROR, explanation="x", remediation=steps(Step("fix node")), rank=10),
        "pod": define("KT902", "Pod broken", area="test", severity=Severity.ERROR, explanation="x", remediation=steps(Step("fix pod")), rank=30),
        "deploy": define("KT903", "Deployment unavailable", area="test", severity=Severity.WARNING, explanation="x", remediation=steps(Step("r")), rank=55),
        "svc": define("KT904", "Service empty", area="test", severity=Severity.WARNING, explanation="x", remediation=steps(Step("r")), rank=60),
    }

    @analyzer(codes=codes.values(), requires=["Pod", "Node"])
    def synthetic(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
        for pod in model.pods:
            cause = ObjectKey("Node", "", pod.spec.nodeName) if pod.spec.nodeName else None
            yield finding(codes["pod"], key_of(pod), "pod broken", cause=cause)
        for node in model.nodes:
            yield finding(codes["node"], key_of(node), "node down", related=[key_of(p) for p in model.pods_on_node(node.metadata.name)])
        for dep in model.deployments:
            yield finding(codes["deploy"], key_of(dep), "unavailable", related=[key_of(p) for p in model.pods_of(dep)])
        for svc in model.services:
            pods = model.service_pods(svc)
            yield finding(codes["svc"], key_of(svc), "no endpoints", cause=model.root_key(pods[0]), related=[key_of(p) for p in pods])

    yield codes
    CODES.clear()
    CODES.update(before_codes)
    base.ANALYZERS.clear()
    base.ANALYZERS.update(before_analyzers)


def test_model_indexes_owner_chain_and_selectors() -> None:
    model, ignored = model_from_objects(cluster_objects() + [{"kind": "Widget", "metadata": {"name": "w"}}], now=NOW)
    assert ignored == {"Widget": 1}
    pod = model.get("Pod", "shop", "web-1-0")
    assert model.root_key(pod) == ObjectKey("Deployment", "shop", "web")
    assert {p.metadata.name for p in model.pods_of(model.get("Deployment", "shop", "web"))} == {"web-1-0", "web-1-1", "web-1-2"}
    assert len(model.pods_on_node("n1")) == 3
    assert len(model.service_pods(model.service("shop", "web"))) == 3  # type: ignore[arg-type]
    secret = model.secret("shop", "creds")
    assert secret is not None and secret.keys == ["password"] and secret.data is None  # values never kept


def test_incident_groups_symptoms_under_the_node(test_codes: dict[str, Code]) -> None:
    model, _ = model_from_objects(cluster_objects(), now=NOW)
    report = run_checks(model, only=["KT9*"])
    assert report.suppressed == 1  # the annotated pod
    assert all(f.object.name != "lonely" for f in report.findings)
    assert len(report.incidents) == 1
    incident = report.incidents[0]
    assert incident.cause.code == "KT901" and incident.root == ObjectKey("Node", "", "n1")
    assert sorted(f.code for f in incident.symptoms) == ["KT902", "KT902", "KT902", "KT903", "KT904"]
    assert (incident.pods, incident.services) == (3, 1)
    assert incident.severity == Severity.ERROR
    again = build_incidents(model, report.findings)
    assert again[0].id == incident.id  # stable fingerprint


def test_ignore_flags_and_globs(test_codes: dict[str, Code]) -> None:
    model, _ = model_from_objects(cluster_objects(), now=NOW)
    report = run_checks(model, only=["KT9*"], ignore=["KT90[12]"])
    assert {f.code for f in report.findings} == {"KT903", "KT904"}
    # Without the node finding, the pods group under their Deployment.
    assert len(report.incidents) == 1 and report.incidents[0].root == ObjectKey("Deployment", "shop", "web")


def test_checks_needing_unloaded_kinds_are_skipped(test_codes: dict[str, Code]) -> None:
    model, _ = model_from_objects([o for o in cluster_objects() if o["kind"] != "Node"], now=NOW)
    report = run_checks(model, only=["KT9*"])
    assert report.findings == []
    assert [s.missing for s in report.skipped_checks if s.analyzer.endswith("synthetic")] == [("Node",)]


def test_snapshot_round_trip_keeps_kinds_and_drops_secret_values(tmp_path: Path, test_codes: dict[str, Code]) -> None:
    model, _ = model_from_objects(cluster_objects(), now=NOW)
    model.loaded.add("PersistentVolumeClaim")  # listed live, none exist
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(snapshot_document(model)))
    assert "c2VjcmV0" not in path.read_text()
    loaded, _ = load_files([path])
    assert loaded.now == NOW
    assert "PersistentVolumeClaim" in loaded.loaded
    assert [f.code for f in run_checks(loaded, only=["KT9*"]).findings] == [f.code for f in run_checks(model, only=["KT9*"]).findings]


def test_files_multi_document_yaml_list_and_directory(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: x}\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p, namespace: x}}\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text(json.dumps({"apiVersion": "v1", "kind": "PodList", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q", "namespace": "x"}}]}))
    model, _ = load_files([tmp_path])
    assert sorted(p.metadata.name for p in model.pods) == ["p", "q"]
    assert model.origins[ObjectKey("Pod", "x", "q")].endswith("sub/b.json")
    assert model.loaded == {"Pod", "Service"}


def test_invalid_yaml_reports_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata:\n  name: [unclosed\n")
    with pytest.raises(InputError, match=r"bad.yaml:\d+: invalid YAML"):
        load_files([bad])
    with pytest.raises(InputError, match="no such file"):
        load_files([tmp_path / "missing.yaml"])
