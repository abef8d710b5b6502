"""``drift -f`` on the real API server: an application applied with the project's server-side apply shows
no drift although the server defaulted fields, the Deployment was scaled (as its HPA would) and a mutating
webhook added fields; a changed
ConfigMap value and image are exactly what drifts; a Secret's change is reported by digest, its value in
no output; objects the cluster lacks are missing (their namespace too); what the server refuses is one
object's error, not the run's; the members of the app's ApplySet the manifests no longer hold are extra (none
without its parent), and what may not be read of them is a gap, never "no extra".
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.cluster import KubeClient, load_config, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.drift.desired import drift_desired
from kubesteward.drift.namespaces import DriftResult
from kubesteward.drift.normalise import parse_ignores
from kubesteward.drift.ownership import ApplySet, GroupKind, record_of
from kubesteward.model.render import RenderOptions
from kubesteward.webhook.admission import MUTATED_ANNOTATION as MUTATED
from kubesteward.webhook.install import uninstall
from tests.support.cli import assert_one_clear_line, cli, variant
from tests.support.identities import service_account_token
from tests.support.kinds import fresh_namespace
from tests.support.wait import eventually
from tests.support.webhook import install, start_server

SECRET_VALUE = "s3cr3t-" + uuid.uuid4().hex  # unique per run: found only if it leaked from this run
NEW_SECRET_VALUE = "n3w-" + uuid.uuid4().hex


def resource(kind: str) -> ResourceType:
    rt = resources.by_name(kind)
    assert rt is not None
    return rt


DEPLOYMENTS, CONFIGMAPS, SECRETS = resource("Deployment"), resource("ConfigMap"), resource("Secret")


def app(namespace: str) -> list[dict[str, Any]]:
    labels = {"app": "web"}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config", "namespace": namespace},
         "data": {"mode": "blue", "level": "info"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-secret", "namespace": namespace},
         "stringData": {"password": SECRET_VALUE}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
         "spec": {
             "replicas": 2, "selector": {"matchLabels": labels},
             "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                 "name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
                 # quantities the server writes in its own form (0.5Gi -> 512Mi)
                 "resources": {"requests": {"cpu": "0.1", "memory": "0.5Gi"}},
                 "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "mode"}}}],
             }]}},
         }},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 80}]}},
        {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
         "metadata": {"name": "web", "namespace": namespace},
         "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                  "minReplicas": 2, "maxReplicas": 6,
                  "metrics": [{"type": "Resource", "resource": {
                      "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}},
    ]


def write(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(objects))
    return path


def statuses(result: DriftResult) -> dict[str, str]:
    return {f"{entry.kind}/{entry.name}": entry.status for entry in result.objects}


def every_text(result: DriftResult) -> str:
    """Everything the result can show: verdicts, changes, both sides, the diffs, the document."""
    parts = [repr(result), repr(result.document())]
    for entry in result.objects:
        parts += [*entry.diff("desired", "live"), *(c.describe() for c in entry.changes)]
    return "\n".join(parts)


def assert_no_secret(text: str) -> None:
    for value in (SECRET_VALUE, NEW_SECRET_VALUE):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text


async def test_applied_app_is_in_sync_then_exactly_the_edits_drift(
    kube: KubeClient, namespace: str, tmp_path: Path,
) -> None:
    objects = app(namespace)
    manifest = write(tmp_path / "app.yaml", objects)
    for obj in objects:
        await kube.apply(obj, force=True)
    await kube.scale(DEPLOYMENTS, "web", 4, namespace=namespace)  # as the HPA would

    clean = await drift_desired(kube, [manifest])
    assert statuses(clean) == {
        "ConfigMap/web-config": "in-sync", "Secret/web-secret": "in-sync", "Deployment/web": "in-sync",
        "Service/web": "in-sync", "HorizontalPodAutoscaler/web": "in-sync",
    }, [(e.ref, e.reason, [c.describe() for c in e.changes]) for e in clean.objects]
    assert clean.in_sync and clean.complete
    live = await kube.get(DEPLOYMENTS, "web", namespace=namespace)
    assert live["spec"]["replicas"] == 4 and "revisionHistoryLimit" in live["spec"]  # what was left out

    # As `kubectl edit` would: another value, another image.
    await kube.patch(CONFIGMAPS, "web-config", {"data": {"mode": "green"}}, namespace=namespace)
    await kube.patch(DEPLOYMENTS, "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.28"}]}}}}, namespace=namespace, patch_type="strategic")
    edited = await drift_desired(kube, [manifest])
    drifted = {name for name, status in statuses(edited).items() if status != "in-sync"}
    assert drifted == {"ConfigMap/web-config", "Deployment/web"}
    changes = {f"{e.kind}/{e.name}": [c.path for c in e.changes] for e in edited.objects if e.changes}
    assert changes == {
        "ConfigMap/web-config": ["/data/mode"],
        "Deployment/web": ["/spec/template/spec/containers/0/image"],
    }
    image = next(e for e in edited.objects if e.kind == "Deployment").changes[0]
    assert (image.old, image.new) == ("nginx:1.27", "nginx:1.28")  # desired -> live

    # A Secret's value changed: reported by digest only.
    await kube.patch(SECRETS, "web-secret", {"stringData": {"password": NEW_SECRET_VALUE}}, namespace=namespace)
    changed = await drift_desired(kube, [manifest])
    secret = next(e for e in changed.objects if e.kind == "Secret")
    assert secret.status == "drifted"
    assert [(c.path, c.secret) for c in secret.changes] == [("/data/password", True)]
    assert str(secret.changes[0].old).startswith("sha256:") and secret.changes[0].old != secret.changes[0].new
    assert_no_secret(every_text(edited) + every_text(clean) + every_text(changed))

    # The user's rules leave out what they expect to differ.
    ignored = await drift_desired(kube, [manifest], ignore=parse_ignores(["spec.template.spec.containers[*].image"]))
    assert statuses(ignored)["Deployment/web"] == "in-sync"


async def test_missing_objects_and_refused_ones_are_reported_per_object(
    kube: KubeClient, namespace: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    gone = f"absent-{uuid.uuid4().hex[:8]}"
    manifest = write(tmp_path / "more.yaml", [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "not-applied", "namespace": namespace},
         "data": {"a": "1"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "elsewhere", "namespace": gone},
         "data": {"a": "1"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bad-port", "namespace": namespace},
         "spec": {"ports": [{"port": 700000}]}},
        {"apiVersion": "example.invalid/v1", "kind": "Nothing", "metadata": {"name": "x", "namespace": namespace}},
    ])
    result = await drift_desired(kube, [manifest])
    by_name = {entry.name: entry for entry in result.objects}
    assert by_name["not-applied"].status == "missing" and by_name["not-applied"].left is not None
    assert (by_name["elsewhere"].status, by_name["elsewhere"].reason) == ("missing", f"namespace {gone} does not exist")
    assert by_name["bad-port"].status == "error" and "700000" in by_name["bad-port"].reason
    assert by_name["x"].status == "error" and "example.invalid" in by_name["x"].reason
    assert not result.in_sync and result.counts()["error"] == 2
    assert "[" not in by_name["x"].reason  # the context is the result's, not each line's

    table = cli("drift", "-f", str(manifest), "--kubeconfig", str(sandbox_kubeconfig), timeout=120)
    assert table.returncode == 1, table.stderr
    assert f"ConfigMap/{gone}/elsewhere (namespace {gone} does not exist)" in table.stdout
    assert "unknown apiVersion 'example.invalid/v1'" in table.stdout and "2 not compared (error)" in table.stdout
    markdown = cli("drift", "-f", str(manifest), "--kubeconfig", str(sandbox_kubeconfig), "-o", "markdown", timeout=120)
    assert f"`namespace {gone} does not exist`" in markdown.stdout and "2 not compared (error)." in markdown.stdout


async def test_cli_exit_codes_and_every_format_without_the_secret(
    kube: KubeClient, namespace: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    objects = app(namespace)
    manifest = write(tmp_path / "app.yaml", objects)
    for obj in objects:
        await kube.apply(obj, force=True)
    base = ("drift", "-f", str(manifest), "--kubeconfig", str(sandbox_kubeconfig))

    clean = cli(*base, "-o", "json", timeout=120)
    assert clean.returncode == 0, clean.stderr
    document = json.loads(clean.stdout)
    assert document["inSync"] and document["counts"]["in-sync"] == len(objects)

    await kube.patch(CONFIGMAPS, "web-config", {"data": {"mode": "green"}}, namespace=namespace)
    await kube.patch(SECRETS, "web-secret", {"stringData": {"password": NEW_SECRET_VALUE}}, namespace=namespace)
    for fmt in ("table", "json", "yaml", "markdown"):
        result = cli("-vv", *base, "-o", fmt, timeout=120)  # the requests logged too
        assert result.returncode == 1, (fmt, result.stderr)
        assert_no_secret(result.stdout + result.stderr)
        assert "web-config" in result.stdout and "/data/password" in result.stdout, fmt
    document = json.loads(cli(*base, "-o", "json", timeout=120).stdout)
    drifted = {(o["kind"], o["namespace"], o["name"]) for o in document["objects"] if o["status"] != "in-sync"}
    assert drifted == {("ConfigMap", namespace, "web-config"), ("Secret", namespace, "web-secret")}
    table = cli(*base, timeout=120).stdout
    assert f"ConfigMap/{namespace}/web-config" in table
    assert "-  mode: blue" in table and "+  mode: green" in table  # the diff: manifests, then the cluster
    assert cli(*base, "--fail-on", "none", timeout=120).returncode == 0

    assert_one_clear_line(cli("drift", "-f", str(manifest), "--namespaces", "a", "b"), 2, "-f")


async def test_a_mutating_webhooks_additions_are_no_drift(
    kube: KubeClient, namespace: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    # kubesteward's own webhook, mutation only: it adds resources, a security context and an annotation
    # to a Deployment that lacks them, at the dry run as at the apply.
    served = start_server(tmp_path / "tls")
    names: list[str] = []
    try:
        install(sandbox_kubeconfig, served, namespace, names, "--no-validate")
        bare = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "bare", "namespace": namespace, "annotations": {"team": "web"}},
                "spec": {"selector": {"matchLabels": {"app": "bare"}}, "template": {
                    "metadata": {"labels": {"app": "bare"}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}

        async def applied() -> dict[str, Any]:
            answer: dict[str, Any] = await kube.apply(bare, force=True)
            return answer

        stored = await eventually(applied, lambda obj: MUTATED in (obj["metadata"].get("annotations") or {}),
                                  timeout=30, interval=0.3, what="the mutating webhook to be called")
        assert "resources" in stored["spec"]["template"]["spec"]["containers"][0]
        result = await drift_desired(kube, [write(tmp_path / "bare.yaml", [bare])])
        assert statuses(result) == {"Deployment/bare": "in-sync"}, [c.describe() for o in result.objects for c in o.changes]
    finally:
        for name in names:
            await uninstall(kube, name)
        served.stop()


async def test_a_kustomization_rendered_by_kustomize_and_files_without_a_namespace(
    kube: KubeClient, namespace: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    base = tmp_path / "overlay"
    base.mkdir()
    plain = [obj for obj in app(namespace) if obj["kind"] in ("ConfigMap", "Service")]
    for obj in plain:
        del obj["metadata"]["namespace"]
    write(base / "app.yaml", plain)
    (base / "kustomization.yaml").write_text(yaml.safe_dump({
        "namespace": namespace, "resources": ["app.yaml"], "labels": [{"pairs": {"team": "web"}}],
    }))
    desired = await drift_desired(kube, [base])
    assert statuses(desired) == {"ConfigMap/web-config": "missing", "Service/web": "missing"}
    rendered = [{**obj, "metadata": {**obj["metadata"], "namespace": namespace, "labels": {"team": "web"}}}
                for obj in plain]
    for obj in rendered:
        await kube.apply(obj, force=True)
    assert (await drift_desired(kube, [base])).in_sync  # kustomize's label and namespace included
    await kube.patch(CONFIGMAPS, "web-config", {"metadata": {"labels": {"team": "db"}}}, namespace=namespace)
    labelled = await drift_desired(kube, [base])
    assert [(o.name, [c.path for c in o.changes]) for o in labelled.drifted_objects] == [
        ("web-config", ["/metadata/labels/team"])]

    # The plain file names no namespace: -n places its objects, as kubectl does.
    # The changed label is kustomize's, not the file's: no drift there.
    result = cli("drift", "-f", str(base / "app.yaml"), "-n", namespace, "-o", "json",
                 "--kubeconfig", str(sandbox_kubeconfig), timeout=120)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {(o["namespace"], o["name"], o["status"]) for o in document["objects"]} == {
        (namespace, "web-config", "in-sync"), (namespace, "web", "in-sync")}


async def test_a_chart_rendered_by_helm_with_values(kube: KubeClient, namespace: str, tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("mode: blue\n")
    (chart / "templates" / "config.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n"
        "  namespace: {{ .Release.Namespace }}\ndata:\n  mode: {{ .Values.mode }}\n")
    values = tmp_path / "prod.yaml"
    values.write_text("mode: green\n")
    render = RenderOptions(values=(values,), release="shop", namespace=namespace)
    assert statuses(await drift_desired(kube, [chart], render)) == {"ConfigMap/shop-config": "missing"}
    await kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-config", "namespace": namespace},
                      "data": {"mode": "green"}}, force=True)
    assert (await drift_desired(kube, [chart], render)).in_sync
    blue = await drift_desired(kube, [chart], RenderOptions(release="shop", namespace=namespace))
    assert [(c.path, c.old, c.new) for o in blue.objects for c in o.changes] == [("/data/mode", "blue", "green")]


@pytest.fixture
async def elsewhere(kube: KubeClient) -> AsyncIterator[str]:
    """A second namespace, where the app owns a Service."""
    async with fresh_namespace(kube) as name:
        yield name


async def owned_app(kube: KubeClient, namespace: str, elsewhere: str, *, parent: bool = True) -> list[dict[str, Any]]:
    """An ApplySet as ``sync`` (or ``kubectl apply --applyset``) leaves it, applied: its parent ConfigMap
    recording the kinds and the other namespace, its members labelled. Returns the manifests that still hold
    two of its members; the other two (a ConfigMap, a Service in ``elsewhere``) have left them."""
    applyset = ApplySet("web-app", namespace)
    kept = [obj for obj in app(namespace) if obj["kind"] in ("ConfigMap", "Deployment")]
    gone = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "old-config", "namespace": namespace},
         "data": {"mode": "red"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "old-web", "namespace": elsewhere},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    ]
    for obj in (*kept, *gone):
        await kube.apply(applyset.member(obj), force=True)
    if parent:
        await apply_parent(kube, namespace, elsewhere)
    return kept


async def apply_parent(kube: KubeClient, namespace: str, elsewhere: str) -> None:
    record = record_of([(GroupKind("", "ConfigMap"), namespace), (GroupKind("apps", "Deployment"), namespace),
                        (GroupKind("", "Service"), elsewhere)], namespace)
    await kube.apply(ApplySet("web-app", namespace).parent(record), force=True)


async def test_owned_objects_that_left_the_manifests_are_extra(
    kube: KubeClient, namespace: str, elsewhere: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    manifest = write(tmp_path / "web-app.yaml", await owned_app(kube, namespace, elsewhere, parent=False))
    # No parent yet: nothing is owned, so nothing is extra (and nothing is an error).
    unowned = await drift_desired(kube, [manifest], namespace=namespace, app="web-app")
    assert statuses(unowned) == {"ConfigMap/web-config": "in-sync", "Deployment/web": "in-sync"}
    assert unowned.complete

    await apply_parent(kube, namespace, elsewhere)
    # Neither a stranger nor another set's member is ours, though both match the kinds and namespaces.
    await kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stranger", "namespace": namespace}})
    await kube.apply(ApplySet("other", namespace).member(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": namespace}}))
    result = await drift_desired(kube, [manifest], namespace=namespace, app="web-app")
    assert statuses(result) == {
        "ConfigMap/web-config": "in-sync", "Deployment/web": "in-sync",
        "ConfigMap/old-config": "extra", "Service/old-web": "extra",
    }
    extra = {entry.name: entry for entry in result.objects if entry.status == "extra"}
    assert extra["old-web"].namespace == elsewhere and extra["old-config"].namespace == namespace
    assert extra["old-config"].reason == "owned by app web-app, no longer in the manifests"
    assert extra["old-config"].right is not None and extra["old-config"].right["data"] == {"mode": "red"}
    assert result.complete and not result.in_sync
    assert statuses(await drift_desired(kube, [manifest], namespace=namespace)) == statuses(unowned)  # no app

    # The CLI names the app after the file, as sync does: no flag needed; --app chooses another set.
    base = ("drift", "-f", str(manifest), "-n", namespace, "--kubeconfig", str(sandbox_kubeconfig))
    found = cli(*base, "-o", "json", timeout=120)
    assert found.returncode == 1, found.stderr
    document = json.loads(found.stdout)
    assert {(o["namespace"], o["name"]) for o in document["objects"] if o["status"] == "extra"} == {
        (namespace, "old-config"), (elsewhere, "old-web")}
    assert document["counts"]["extra"] == 2
    table = cli(*base, timeout=120)
    assert f"Service/{elsewhere}/old-web (owned by app web-app, no longer in the manifests)" in table.stdout
    assert "2 extra in" in table.stdout
    # "other" has a member ("theirs") but no parent: a set without its record owns nothing.
    other = cli(*base, "--app", "other", "-o", "json", timeout=120)
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["counts"] == {"in-sync": 2, "drifted": 0, "missing": 0, "extra": 0, "error": 0}
    assert_one_clear_line(cli(*base, "--app", "Web_App"), 2, "--app 'Web_App'")
    assert_one_clear_line(cli("drift", "--namespaces", "a", "b", "--app", "web"), 2, "--app")


async def test_owned_objects_that_cannot_be_listed_are_a_gap_not_none(
    kube: KubeClient, namespace: str, elsewhere: str, tmp_path: Path, sandbox_kubeconfig: Path,
) -> None:
    kept = await owned_app(kube, namespace, elsewhere)
    manifest = write(tmp_path / "web-app.yaml", kept)
    # An identity that may read and dry-run apply in the app's namespace, and read nothing in the other one
    # the set records: its Service there may be extra, and the run must say it could not look.
    token = await service_account_token(kube, namespace, "drifter", read_in=(namespace,))
    await kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                       "metadata": {"name": "apply", "namespace": namespace},
                       "rules": [{"apiGroups": ["", "apps"], "resources": ["configmaps", "deployments"],
                                  "verbs": ["patch", "create"]}]})
    await kube.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                       "metadata": {"name": "apply", "namespace": namespace},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "apply"},
                       "subjects": [{"kind": "ServiceAccount", "name": "drifter", "namespace": namespace}]})
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    async with KubeClient(load_config(str(config))) as drifter:
        result = await drift_desired(drifter, [manifest], namespace=namespace, app="web-app")
    assert statuses(result) == {
        "ConfigMap/web-config": "in-sync", "Deployment/web": "in-sync", "ConfigMap/old-config": "extra"}
    assert not result.complete and "Service (forbidden)" in result.right.coverage.summary()

    partial = cli("drift", "-f", str(manifest), "-n", namespace, "--kubeconfig", str(config), "--fail-on", "none",
                  timeout=120)
    assert partial.returncode == 5, partial.stderr  # never "in sync" about what it could not see
    assert "Service (forbidden)" in partial.stdout + partial.stderr

    # The parent itself unreadable (Deployments only): no extra can be known, and the run says so.
    await kube.delete(resource("Role"), "drifter-read", namespace=namespace)
    await kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                      "metadata": {"name": "apply", "namespace": namespace},
                      "rules": [{"apiGroups": ["apps"], "resources": ["deployments"],
                                 "verbs": ["get", "list", "patch"]}]}, force=True)
    deployment_only = write(tmp_path / "web.yaml", [obj for obj in kept if obj["kind"] == "Deployment"])
    async with KubeClient(load_config(str(config))) as drifter:
        blind = await eventually(  # RBAC's cache takes the changed rules in a moment
            lambda: drift_desired(drifter, [deployment_only], namespace=namespace, app="web-app"),
            lambda found: "ConfigMap (forbidden)" in found.right.coverage.summary(),
            timeout=30, interval=0.5, what="the parent to be unreadable")
    assert statuses(blind) == {"Deployment/web": "in-sync"}
    assert not blind.complete
