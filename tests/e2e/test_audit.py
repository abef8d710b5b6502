"""``kubesteward audit`` on the real API server: a namespace seeded with known violations (a custom
resource that makes pods among them, through a CRD the test defines) and a compliant workload; the
audit finds exactly the seeded violations on the seeded objects, honours a suppression annotation,
refuses an identity that can read nothing, says what a partial identity missed, fans out over two
contexts, and never shows a planted secret.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import Invalid, NotFound
from kubesteward.policy import RULES, PolicyConfig, load_rules
from tests.support.cli import assert_one_clear_line, cli, kubectl, variant
from tests.support.identities import service_account_token
from tests.support.wait import eventually

FORMATS = ("table", "json", "yaml", "sarif", "junit", "markdown")
PLANTED = "s3cr3t-" + uuid.uuid4().hex  # unique per run: found only if it leaked from this run
GROUP = f"t{uuid.uuid4().hex[:8]}.audit.kubesteward.io"
CRDS = resources.by_name("customresourcedefinitions")
assert CRDS is not None

# Seeded objects and the codes of the default profile each must get (none on the compliant ones).
NOLIMITS = ("Deployment", "nolimits")
# no resources, no probes, no securityContext (so escalation is not forbidden either)
NO_RESOURCES_NO_PROBES = {"KS700", "KS701", "KS702", "KS705", "KS706", "KS740"}
SEEDED: dict[tuple[str, str], set[str]] = {
    NOLIMITS: NO_RESOURCES_NO_PROBES | {"KS753"},  # and a password as a literal env value
    ("Rollout", "bad-rollout"): NO_RESOURCES_NO_PROBES,  # a custom resource judged as the workload it is
    ("Deployment", "privileged"): {"KS720", "KS740"},
    ("Service", "ghost"): {"KS809"},
    ("PodDisruptionBudget", "strict"): {"KS803"},
    ("RoleBinding", "admins"): {"KS821"},
    ("NetworkPolicy", "ghost"): {"KS842"},
}
SUPPRESSED = ("KS706", "a queue worker: nothing to be ready for")
COMPLIANT = {("Deployment", "web"), ("Service", "web"), ("PodDisruptionBudget", "web"),
             ("ServiceAccount", "web"), ("NetworkPolicy", "default-deny"), ("NetworkPolicy", "dns")}


def active(codes: set[str]) -> set[str]:
    """``codes``, each checked to be a rule of the default profile (a seed for nothing tests nothing)."""
    load_rules()
    config = PolicyConfig()
    assert {code for code in codes if code in RULES and config.active(RULES[code])} == codes, codes
    return codes


HARDENED_POD: dict[str, Any] = {
    "serviceAccountName": "web",
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"}},
    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
}
DIGEST = "sha256:" + "ab" * 32


def hardened_container(name: str) -> dict[str, Any]:
    return {
        "name": name, "image": f"registry.example.com/{name}:1.4.2@{DIGEST}", "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "livenessProbe": {"httpGet": {"path": "/livez", "port": 8080}, "periodSeconds": 10, "failureThreshold": 6},
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}, "periodSeconds": 5, "failureThreshold": 2},
        "startupProbe": {"httpGet": {"path": "/livez", "port": 8080}, "periodSeconds": 5, "failureThreshold": 30},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "privileged": False,
                            "capabilities": {"drop": ["ALL"]}},
    }


def deployment(namespace: str, name: str, pod: dict[str, Any], *, annotations: dict[str, str] | None = None,
               replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    spread = {
        "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": labels},
                                               "topologyKey": "kubernetes.io/hostname"}}]}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels}}],
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations or {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {**spread, **pod}}}}


def pdb(namespace: str, name: str, app: str, **budget: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": namespace},
            "spec": {**budget, "selector": {"matchLabels": {"app": app}}}}


def rollout_crd() -> dict[str, Any]:
    """A small Argo-Rollout-like CRD: its schema gives its objects a pod template under spec."""
    open_object = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    pod_spec = {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {
        "containers": {"type": "array", "items": open_object}}}
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "replicas": {"type": "integer"}, "selector": open_object, "strategy": open_object,
        "template": {"type": "object", "properties": {"metadata": open_object, "spec": pod_spec}}}}}}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"rollouts.{GROUP}"},
            "spec": {"group": GROUP, "scope": "Namespaced",
                     "names": {"plural": "rollouts", "singular": "rollout", "kind": "Rollout", "listKind": "RolloutList"},
                     "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": schema}}]}}


@pytest.fixture
async def rollouts(kube: KubeClient) -> AsyncIterator[None]:
    """The Rollout CRD, established and served, deleted afterwards (it is cluster-scoped)."""
    assert CRDS is not None
    await kube.apply(rollout_crd(), force=True)

    async def served() -> bool:
        try:
            return await kube.resolve(f"{GROUP}/v1alpha1", "Rollout") is not None
        except (NotFound, Invalid):
            return False

    try:
        await eventually(served, bool, timeout=60, what="the Rollout CRD to be served")
        yield
    finally:
        try:
            await kube.delete(CRDS, f"rollouts.{GROUP}")
        except NotFound:
            pass


def seeded_manifests(namespace: str) -> list[dict[str, Any]]:
    bare_pod = {k: v for k, v in HARDENED_POD.items() if k not in ("serviceAccountName", "securityContext")}
    careless = {"name": "worker", "image": "registry.example.com/worker:2.0",
                "env": [{"name": "DB_PASSWORD", "value": PLANTED}]}
    privileged = {**hardened_container("agent"),
                  "securityContext": {"privileged": True, "allowPrivilegeEscalation": True}}
    return [
        # compliant
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "web", "namespace": namespace},
         "automountServiceAccountToken": False},
        deployment(namespace, "web", {**HARDENED_POD, "containers": [hardened_container("web")]}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}},
        pdb(namespace, "web", "web", minAvailable=1),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "default-deny", "namespace": namespace},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "dns", "namespace": namespace},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
             "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
             "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}},
        # seeded violations
        deployment(namespace, "nolimits", {**bare_pod, "containers": [careless]},
                   annotations={f"ignore.kubesteward.io/{SUPPRESSED[0]}": SUPPRESSED[1]}),
        deployment(namespace, "privileged", {**HARDENED_POD, "containers": [privileged]}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ghost", "namespace": namespace},
         "spec": {"selector": {"app": "nothing-has-this"}, "ports": [{"port": 80}]}},
        pdb(namespace, "strict", "privileged", maxUnavailable=0),
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "admins", "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "web", "namespace": namespace}]},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "ghost", "namespace": namespace},
         "spec": {"podSelector": {"matchLabels": {"app": "nothing-has-this"}}, "policyTypes": ["Ingress"]}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
         "stringData": {"password": PLANTED}},
    ]


def rollout(namespace: str) -> dict[str, Any]:
    labels = {"app": "bad-rollout"}
    return {"apiVersion": f"{GROUP}/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "bad-rollout", "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "strategy": {"canary": {}},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         **HARDENED_POD, "containers": [{"name": "app", "image": "registry.example.com/app:3.1"}]}}}}


def audit(kubeconfig: Path, *args: str) -> Any:
    result = cli("audit", "--kubeconfig", str(kubeconfig), *args, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result


def pairs(run: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["code"], f["object"]["kind"], f["object"]["name"]) for f in run["findings"]}


async def test_audit_finds_exactly_the_seeded_violations_and_never_shows_a_secret(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str, rollouts: None
) -> None:
    kubectl(sandbox_kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(seeded_manifests(namespace)))
    await kube.create(rollout(namespace))
    raw = kubectl(sandbox_kubeconfig, "get", "secret,deploy", "-n", namespace, "-o", "json")
    assert PLANTED in raw and "last-applied-configuration" in raw  # where a careless tool would find it

    expected = {(code, kind, name) for (kind, name), codes in SEEDED.items() for code in active(codes)}
    suppressed = (SUPPRESSED[0], *NOLIMITS)
    focus = sorted({code for code, _, _ in expected})

    # Exactly the seeded violations, on the seeded objects, with the rules they were seeded for.
    focused = json.loads(audit(sandbox_kubeconfig, "-n", namespace, "-o", "json", "--only", ",".join(focus)).stdout)
    (run,) = focused["runs"]
    assert run["coverage"]["complete"] is True and run["error"] is None
    assert pairs(run) == expected - {suppressed}
    assert [(s["code"], s["object"]["name"], s["reason"], s["by"]) for s in run["suppressed"]] == [
        (SUPPRESSED[0], NOLIMITS[1], SUPPRESSED[1], "annotation")]

    # Every rule of the default profile: the compliant objects stay clean, the seeded findings are all there,
    # and the custom resource was judged as the workload it is.
    whole = json.loads(audit(sandbox_kubeconfig, "-n", namespace, "-o", "json").stdout)["runs"][0]
    found = pairs(whole)
    on_compliant = [f for f in whole["findings"] if (f["object"]["kind"], f["object"]["name"]) in COMPLIANT]
    assert on_compliant == [], [(f["code"], f["object"]["name"], f["message"]) for f in on_compliant]
    assert expected - {suppressed} <= found
    assert any(kind == "Rollout" for _, kind, _ in found)
    assert {obj["object"]["namespace"] for obj in whole["findings"]} == {namespace}
    score = whole["scores"][namespace]
    assert score["checks"] > score["failed"] > 0 and 0 < score["score"] < 100

    # The table says the same, with the namespace's score; every format keeps the planted secret out.
    outputs = {fmt: audit(sandbox_kubeconfig, "-n", namespace, "-o", fmt) for fmt in FORMATS}
    table = outputs["table"].stdout
    assert f"Rollout/{namespace}/bad-rollout" in table and f"{score['score']}%" in table
    token = await service_account_token(kube, namespace, "auditor", read_in=(namespace,))  # gone with the namespace
    as_token = variant(sandbox_kubeconfig, tmp_path, user={"token": token}, name="token-kubeconfig")
    verbose = cli("-vv", "audit", "-n", namespace, "-o", "json", "--kubeconfig", str(as_token), timeout=120)
    seen = {fmt: result.stdout + result.stderr for fmt, result in outputs.items()}
    seen["-vv"] = verbose.stdout + verbose.stderr
    assert "GET /api" in seen["-vv"]
    leaks = {where for where, text in seen.items() if PLANTED in text or token in text}
    assert leaks == set(), f"the planted secret or the token reached: {sorted(leaks)}"


async def test_two_contexts_are_audited_concurrently_each_in_its_own_run(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    await kube.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ghost", "namespace": namespace},
                       "spec": {"selector": {"app": "nothing-has-this"}, "ports": [{"port": 80}]}})
    data = yaml.safe_load(sandbox_kubeconfig.read_text())
    context = data["contexts"][0]
    data["contexts"] = [{**context, "name": name} for name in ("one", "two")]
    data["current-context"] = "one"
    config = tmp_path / "two-contexts"
    config.write_text(yaml.safe_dump(data))

    result = audit(config, "--context", "one", "--context", "two", "-n", namespace, "-o", "json", "--only", "KS809")
    runs = json.loads(result.stdout)["runs"]
    assert [run["context"] for run in runs] == ["one", "two"]
    expected = {(code, "Service", "ghost") for code in active({"KS809"})}
    assert [pairs(run) for run in runs] == [expected, expected]
    both = audit(config, "--context", "one,two", "-n", namespace)
    assert "one" in both.stdout and "two" in both.stdout

    # One cluster failing is its own run: the other is reported, the failure named, the exit code its own.
    data["contexts"].append({**context, "name": "gone", "context": {**context["context"], "cluster": "gone"}})
    data["clusters"].append({"name": "gone", "cluster": {"server": "https://127.0.0.1:1"}})
    config.write_text(yaml.safe_dump(data))
    mixed = cli("audit", "--kubeconfig", str(config), "--context", "one,gone", "-n", namespace, "-o", "json")
    assert mixed.returncode == 8, mixed.stderr
    runs = json.loads(mixed.stdout)["runs"]
    assert [(run["context"], run["error"] is None) for run in runs] == [("one", True), ("gone", False)]
    table = cli("audit", "--kubeconfig", str(config), "--context", "one,gone", "-n", namespace)
    assert table.returncode == 8 and "error: [gone]" in table.stderr, table.stderr


async def test_an_identity_that_can_read_nothing_is_refused_not_reported_clean(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    token = await service_account_token(kube, namespace, "nobody")
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    for command in (["-A"], ["-n", namespace], ["-A", "-o", "json"], ["-A", "--fail-on", "error", "--allow-partial"]):
        result = cli("audit", *command, "--kubeconfig", str(config))
        assert_one_clear_line(result, 5, "forbidden (403)", "may read nothing")
        assert "no policy findings" not in result.stdout and '"runs"' not in result.stdout


async def test_a_partial_identity_says_what_it_missed_and_fails_the_gate_unless_allowed(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    """Read access to one namespace only: `-A` falls back to it (the context's namespace)."""
    token = await service_account_token(kube, namespace, "reader", read_in=(namespace,))
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token}, namespace=namespace)
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fine", "namespace": namespace},
                       "data": {"a": "b"}})
    document = json.loads(audit(config, "-A", "-o", "json").stdout)
    coverage = document["runs"][0]["coverage"]
    unread = {entry["kind"]: entry for entry in coverage["unreadKinds"]}
    assert coverage["complete"] is False
    assert unread["Deployment"]["readIn"] == [namespace] and unread["CustomResourceDefinition"]["readIn"] == []
    table = audit(config, "-A").stdout
    assert "partial result" in table and "CustomResourceDefinition (forbidden)" in table
    assert "✔ no policy findings" not in table
    sarif = json.loads(audit(config, "-A", "-o", "sarif").stdout)
    notes = sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert any("partial result" in note["message"]["text"] for note in notes)

    gate = cli("audit", "-A", "--only", "KS891", "--fail-on", "error", "--kubeconfig", str(config))
    assert gate.returncode == 5, gate.stderr
    context = yaml.safe_load(config.read_text())["current-context"]
    assert f"error: [{context}] partial result under --fail-on" in gate.stderr and "--allow-partial" in gate.stderr
    allowed = cli("audit", "-A", "--only", "KS891", "--fail-on", "error", "--allow-partial", "--kubeconfig", str(config))
    assert allowed.returncode == 0, allowed.stderr
    elsewhere = cli("audit", "-n", "kube-system", "--kubeconfig", str(config))
    assert_one_clear_line(elsewhere, 5, "may read nothing in namespace 'kube-system'")


def test_bad_input_is_refused_before_any_request(sandbox_kubeconfig: Path) -> None:
    missing = f"nosuch-{uuid.uuid4().hex[:6]}"
    for args, needle in ((["-n", missing], f"namespace {missing!r} does not exist"),
                         (["-l", "app in (a"], "invalid label selector"),
                         (["--profile", "strictest"], "unknown policy profile"),
                         (["--only", "KS12345"], "no finding code matches"),
                         (["--fail-on", "bad"], "--fail-on must be")):
        result = cli("audit", *args, "--kubeconfig", str(sandbox_kubeconfig))
        assert_one_clear_line(result, 2, needle)
