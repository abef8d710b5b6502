"""``kubesteward drift --namespaces`` on the real API server: two namespaces applied with kubectl (so with
the last-applied annotation, assigned cluster IPs and node ports, uids, managedFields, default tokens and
the root-CA ConfigMap) and five planted differences report exactly those five and nothing else; the
planted Secret values appear in no output format nor at -vv; ``--ignore`` removes what it names; an
identical namespace and the same namespace through two contexts are in sync; a partial read is a gap, not
drift; the same namespace in two real clusters (a second sandbox) reports the same five; bad input is one line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.cluster import KubeClient
from kubesteward.drift.namespaces import drift_namespaces
from kubesteward.drift.normalise import parse_ignores
from kubesteward.sandbox.cluster import Sandbox
from tests.support.cli import assert_one_clear_line, cli, kubectl, run_in_process, variant
from tests.support.identities import service_account_token
from tests.support.kinds import widget_crd
from tests.support.sandboxes import own_sandbox

PLANTED_LEFT = "s3cr3t-left-" + uuid.uuid4().hex  # unique per run: found only if it leaked from this run
PLANTED_RIGHT = "s3cr3t-right-" + uuid.uuid4().hex
PLANTED_ENV = "s3cr3t-env-" + uuid.uuid4().hex  # the same on both sides: shown (as a digest) in the diff
FORMATS = ("table", "json", "yaml", "markdown")


def _manifests(namespace: str, level: str, image: str, replicas: int, password: str, extra: bool) -> str:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"},
         "data": {"LEVEL": level, "REGION": "eu"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "type": "Opaque",
         "stringData": {"password": password, "user": "app"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"serviceAccountName": "app",
                                        "containers": [{"name": "web", "image": image,
                                                        "env": [{"name": "DB_PASSWORD", "value": PLANTED_ENV}]}]}}}},
        # Scaled by an HPA on both sides: its replicas are the HPA's, not drift.
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "worker"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "worker"}},
                  "template": {"metadata": {"labels": {"app": "worker"}},
                               "spec": {"containers": [{"name": "w", "image": "busybox:1.36"}]}}}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "worker"},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "worker"},
                  "minReplicas": 1, "maxReplicas": 5}},
        # Cluster IP and node port assigned per namespace: never drift.
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
         "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
         "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": namespace}]},
    ]
    if extra:
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "only-right"},
                     "data": {"x": "1"}})
    return yaml.safe_dump_all(docs)




def _left(namespace: str) -> str:
    return _manifests(namespace, "info", "nginx:1.25", 2, PLANTED_LEFT, extra=False)


def _right(namespace: str) -> str:
    return _manifests(namespace, "debug", "nginx:1.26", 3, PLANTED_RIGHT, extra=True)


EXPECTED = {
    ("ConfigMap/app-config", "drifted"): {"/data/LEVEL"},
    ("Deployment.apps/web", "drifted"): {"/spec/replicas", "/spec/template/spec/containers/0/image"},
    ("Secret/db", "drifted"): {"/data/password"},
    ("ConfigMap/only-right", "extra"): set(),
}
IN_SYNC = {"ConfigMap/app-config", "Deployment.apps/worker", "HorizontalPodAutoscaler.autoscaling/worker",
           "Service/web", "PodDisruptionBudget.policy/web", "Role.rbac.authorization.k8s.io/reader",
           "RoleBinding.rbac.authorization.k8s.io/reader", "ServiceAccount/app", "ServiceAccount/default"}


@pytest.fixture(scope="module")
def spaces(sandbox_kubeconfig: Path) -> Iterator[tuple[str, str, str]]:
    """Three namespaces: left, right (five differences), and a copy of left."""
    suffix = uuid.uuid4().hex[:6]
    names = (f"drift-l-{suffix}", f"drift-r-{suffix}", f"drift-c-{suffix}")
    try:
        for name, manifests in zip(names, (_left, _right, _left), strict=True):
            kubectl(sandbox_kubeconfig, "create", "namespace", name)
            kubectl(sandbox_kubeconfig, "apply", "-n", name, "-f", "-", stdin=manifests(name))
        yield names
    finally:
        for name in names:
            kubectl(sandbox_kubeconfig, "delete", "namespace", name, "--wait=false", "--ignore-not-found")


def _summary(document: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    out = {}
    for obj in document["objects"]:
        kind = f"{obj['kind']}.{obj['group']}" if obj["group"] else obj["kind"]
        out[(f"{kind}/{obj['name']}", obj["status"])] = {c["path"] for c in obj.get("changes", [])}
    return out


def _drifted(document: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {key: paths for key, paths in _summary(document).items() if key[1] != "in-sync"}


async def test_library_reports_exactly_the_planted_differences(
    kube: KubeClient, spaces: tuple[str, str, str],
) -> None:
    left, right, _copy = spaces
    result = await drift_namespaces(kube, left, kube, right)
    assert result.complete and not result.in_sync
    document = result.document()
    assert _drifted(document) == EXPECTED
    in_sync = {ref for ref, status in _summary(document) if status == "in-sync"}
    assert IN_SYNC - {"ConfigMap/app-config"} <= in_sync
    # No default token, no root-CA ConfigMap, nothing a controller made (ReplicaSets are not even asked for).
    refs = {ref for ref, _status in _summary(document)}
    assert "ConfigMap/kube-root-ca.crt" not in refs and not any(ref.startswith("ReplicaSet") for ref in refs)
    secret = next(obj for obj in result.objects if obj.ref == "Secret/db")
    (change,) = secret.changes
    assert change.secret and change.describe().startswith("/data/password: changed (sha256:")


async def test_ignore_and_name_map(kube: KubeClient, spaces: tuple[str, str, str]) -> None:
    left, right, _copy = spaces
    result = await drift_namespaces(
        kube, left, kube, right, ignore=parse_ignores(["Deployment:/spec/replicas", "data.LEVEL"]),
        name_map={"app-config": "only-right"}, kinds=["ConfigMap", "Deployment"],
    )
    drifted = _drifted(result.document())
    assert drifted[("Deployment.apps/web", "drifted")] == {"/spec/template/spec/containers/0/image"}
    # app-config mapped onto only-right: compared as one object (its data differs), the right's own
    # app-config is then extra.
    mapped = next(obj for obj in result.objects if obj.right_name == "only-right")
    assert mapped.name == "app-config" and {c.path for c in mapped.changes} == {"/data/REGION", "/data/x"}
    assert ("ConfigMap/app-config", "extra") in drifted


def test_cli_every_format_exit_1_and_no_secret_anywhere(
    sandbox_kubeconfig: Path, spaces: tuple[str, str, str],
) -> None:
    left, right, _copy = spaces
    base = ("drift", "--kubeconfig", str(sandbox_kubeconfig), "--namespaces", left, right)
    seen: dict[str, str] = {}
    for fmt in FORMATS:
        result = cli(*base, "-o", fmt)
        assert result.returncode == 1, result.stderr
        seen[fmt] = result.stdout + result.stderr
    verbose = cli("-vv", *base)
    assert verbose.returncode == 1, verbose.stderr
    assert "GET" in verbose.stderr  # -vv did log the requests
    seen["-vv"] = verbose.stdout + verbose.stderr
    for where, text in seen.items():
        for planted in (PLANTED_LEFT, PLANTED_RIGHT, PLANTED_ENV):
            assert planted not in text, where
    assert _drifted(json.loads(seen["json"])) == EXPECTED
    assert _drifted(yaml.safe_load(seen["yaml"])) == EXPECTED
    table = seen["table"]
    assert "drifted" in table and "extra" in table and "+++ " in table and "-  replicas: 2" in table
    assert "/data/password: changed (sha256:" in table
    assert "| `Secret/db` | drifted |" in seen["markdown"] and "```diff" in seen["markdown"]
    summary_only = cli(*base, "--no-diff", "--ignore", "/spec/replicas")
    assert summary_only.returncode == 1 and "+++ " not in summary_only.stdout
    assert "replicas" not in summary_only.stdout


def test_cli_identical_namespaces_and_two_contexts_exit_0(
    sandbox_kubeconfig: Path, spaces: tuple[str, str, str], tmp_path: Path,
) -> None:
    left, right, copy = spaces
    same = cli("drift", "--kubeconfig", str(sandbox_kubeconfig), "--namespaces", left, copy, "--fail-on", "drift")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "0 drifted, 0 missing" in same.stdout and "0 extra" in same.stdout
    # Two contexts (here two names for the one cluster): the same namespace compared across them.
    config = yaml.safe_load(sandbox_kubeconfig.read_text())
    original = config["contexts"][0]
    config["contexts"].append({"name": "other", "context": dict(original["context"])})
    two = tmp_path / "two-contexts"
    two.write_text(yaml.safe_dump(config))
    across = ("drift", "--kubeconfig", str(two), "--context", original["name"], "--context", "other")
    in_sync = cli(*across, "-n", left, "-o", "json")
    assert in_sync.returncode == 0, in_sync.stderr
    document = json.loads(in_sync.stdout)
    assert document["inSync"] and document["right"]["context"] == "other" and document["counts"]["in-sync"] >= 9
    drifted = cli(*across, "--namespaces", left, right, "-o", "json")
    assert drifted.returncode == 1 and _drifted(json.loads(drifted.stdout)) == EXPECTED


def test_cli_bad_input_is_one_line(sandbox_kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args, needle in (
        ((), "say what to compare"),
        (("--namespaces", "a", "b", "--map", "nothing"), "--map"),
        (("--namespaces", "a", "b", "--ignore", "spec..x"), "--ignore"),
        (("--namespaces", "a", "b", "-o", "sarif"), "output format"),
        (("--namespaces", "a", "b", "--fail-on", "warning"), "--fail-on"),
    ):
        code, _out, err = run_in_process(capsys, "drift", *args)
        assert code == 2 and needle in err and "Traceback" not in err, (args, err)
    missing = cli("drift", "--kubeconfig", str(sandbox_kubeconfig), "--namespaces", "default", "no-such-ns-x")
    assert_one_clear_line(missing, 2, "no-such-ns-x", "does not exist")


async def test_partial_read_is_a_gap_not_drift(
    kube: KubeClient, sandbox_kubeconfig: Path, spaces: tuple[str, str, str], namespace: str, tmp_path: Path,
) -> None:
    left, right, copy = spaces
    try:
        await _partial_read(kube, sandbox_kubeconfig, (left, right, copy), namespace, tmp_path)
    finally:  # the bindings made in the module's namespaces would be drift to the tests after this one
        kubectl(sandbox_kubeconfig, "delete", "-n", left, "role,rolebinding", "drifter-read", "--ignore-not-found")
        kubectl(sandbox_kubeconfig, "delete", "-n", copy, "role,rolebinding", "drifter-cm", "--ignore-not-found")


async def _partial_read(
    kube: KubeClient, sandbox_kubeconfig: Path, spaces: tuple[str, str, str], namespace: str, tmp_path: Path,
) -> None:
    left, right, copy = spaces
    token = await service_account_token(kube, namespace, "drifter", read_in=(left,))
    subject = [{"kind": "ServiceAccount", "name": "drifter", "namespace": namespace}]
    await kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                       "metadata": {"name": "drifter-cm", "namespace": copy},
                       "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
    await kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                       "metadata": {"name": "drifter-cm", "namespace": copy}, "subjects": subject,
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "drifter-cm"}})
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    base = ("drift", "--kubeconfig", str(config), "--kinds", "ConfigMap,Secret", "--namespaces", left, copy)
    gated = cli(*base, "--fail-on", "drift")
    assert gated.returncode == 5, gated.stdout + gated.stderr
    assert "partial" in gated.stdout and "Secret (forbidden)" in gated.stdout and "--allow-partial" in gated.stderr
    assert "Secret/db" not in gated.stdout  # the Secret the right side could not read is not "missing"
    plain = cli(*base)  # without --fail-on too: exit 0 would be the verdict "in sync"
    assert plain.returncode == 5 and "partial" in plain.stdout, plain.stdout + plain.stderr
    allowed = cli(*base, "--fail-on", "drift", "--allow-partial", "-o", "json")
    assert allowed.returncode == 0, allowed.stderr
    document = json.loads(allowed.stdout)
    assert document["inSync"] and not document["right"]["coverage"]["complete"]
    assert [gap["kind"] for gap in document["right"]["coverage"]["unreadKinds"]] == ["Secret"]
    nothing = cli("drift", "--kubeconfig", str(config), "--namespaces", left, right)
    assert_one_clear_line(nothing, 5, "forbidden")


@pytest.fixture(scope="module")
def other_cluster() -> Iterator[Sandbox]:
    """A second, small sandbox: another cluster, with its own API server, uids and IP ranges."""
    with own_sandbox("t18-drift") as sandbox:
        yield sandbox


def test_cross_cluster_between_two_sandboxes(
    sandbox_kubeconfig: Path, spaces: tuple[str, str, str], other_cluster: Sandbox, tmp_path: Path,
) -> None:
    left = spaces[0]
    # The same namespace name in the other cluster, holding the right side's objects.
    kubectl(other_cluster.kubeconfig, "create", "namespace", left)
    kubectl(other_cluster.kubeconfig, "apply", "-n", left, "-f", "-", stdin=_right(left))
    here, there = (yaml.safe_load(path.read_text()) for path in (sandbox_kubeconfig, other_cluster.kubeconfig))
    merged = {**here, **{field: here[field] + there[field] for field in ("clusters", "users", "contexts")}}
    both = tmp_path / "both"
    both.write_text(yaml.safe_dump(merged))
    names = (here["contexts"][0]["name"], there["contexts"][0]["name"])
    assert names[0] != names[1]
    result = cli("drift", "--kubeconfig", str(both), "--context", names[0], "--context", names[1], "-n", left,
                 "-o", "json")
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert (document["left"]["context"], document["right"]["context"]) == names
    assert _drifted(document) == EXPECTED  # uids, cluster IPs, node ports and tokens of two clusters: no noise
    for planted in (PLANTED_LEFT, PLANTED_RIGHT, PLANTED_ENV):
        assert planted not in result.stdout + result.stderr


async def test_custom_resources_by_api_version_and_kind(
    kube: KubeClient, sandbox_kubeconfig: Path, spaces: tuple[str, str, str],
) -> None:
    left, right, _copy = spaces
    group = f"t{uuid.uuid4().hex[:8]}.drift.kubesteward.io"
    kubectl(sandbox_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(widget_crd(group)))
    try:
        kubectl(sandbox_kubeconfig, "wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
        for namespace, size in ((left, 3), (right, 4)):
            widget = {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": size}}
            kubectl(sandbox_kubeconfig, "apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(widget))
        result = await drift_namespaces(kube, left, kube, right, kinds=[f"{group}/v1/Widget"])
        assert {(obj.ref, obj.status): [c.describe() for c in obj.changes] for obj in result.objects} == {
            (f"Widget.{group}/w", "drifted"): ["/spec/size: 3 -> 4"]}
    finally:
        kubectl(sandbox_kubeconfig, "delete", "crd", f"widgets.{group}", "--ignore-not-found", "--wait=false")
