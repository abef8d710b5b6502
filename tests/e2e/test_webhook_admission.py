"""The admission webhook called by the real kube-apiserver.

`kubesteward webhook serve` runs as a user runs it (a process of its own, a generated CA chain), and
`kubesteward webhook install --url https://127.0.0.1:PORT` registers it with the sandbox's API server.
Each test installs configurations of its own name whose namespaceSelector holds only its own
namespace (and no cluster-scoped kind), so other tests on the same cluster never meet the webhook,
and uninstalls them whatever happens.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import ClusterError, Forbidden, NotFound
from kubesteward.webhook.install import uninstall
from tests.support.cli import cli, kubectl
from tests.support.wait import eventually
from tests.support.webhook import Served, install, start_server

TOLERATE_KWOK = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
PROBE = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_server(tmp_path_factory.mktemp("webhook-tls"))
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
async def installed(kube: KubeClient, sandbox_kubeconfig: Path) -> AsyncIterator[list[str]]:
    """Names of the configurations a test installs; every one is deleted afterwards."""
    names: list[str] = []
    try:
        yield names
    finally:
        for name in names:
            await uninstall(kube, name)


def pod(name: str, namespace: str, *, hardened: bool = True, resourced: bool = True,
        readiness: bool = True) -> dict[str, Any]:
    """A pod every error-level rule of the production profile admits (``hardened``, ``resourced``), or not."""
    container: dict[str, Any] = {"name": "app", "image": "registry.example.com/app:1.4.2",
                                 "imagePullPolicy": "IfNotPresent", "livenessProbe": PROBE}
    if readiness:
        container["readinessProbe"] = {**PROBE, "httpGet": {"path": "/ready", "port": 8080}}
    if resourced:
        container["resources"] = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}}
    spec: dict[str, Any] = {"containers": [container], "tolerations": TOLERATE_KWOK,
                            "automountServiceAccountToken": False, "terminationGracePeriodSeconds": 0}
    if hardened:
        container["securityContext"] = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "runAsNonRoot": True, "runAsUser": 10001,
                                        "capabilities": {"drop": ["ALL"]}}
        spec["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


async def create(kube: KubeClient, obj: dict[str, Any], *, dry_run: bool = False) -> tuple[dict[str, Any], list[str]]:
    """POST ``obj``: the object the API server answers and the warnings it relays (its Warning headers)."""
    response = await kube.request(
        "POST", resources.POD.collection_path(obj["metadata"]["namespace"]), params={"dryRun": "All"} if dry_run else None,
        content=json.dumps(obj).encode(), headers={"Content-Type": "application/json"},
    )
    warnings = [value for key, value in response.headers.items() if key.lower() == "warning"]
    return response.json(), warnings


async def until_denied(kube: KubeClient, namespace: str) -> ClusterError:
    """The API server takes a moment to see a new configuration: probe with dry-run creates until it refuses."""
    async def probe() -> ClusterError | None:
        try:
            await create(kube, pod(f"probe-{uuid.uuid4().hex[:6]}", namespace, resourced=False), dry_run=True)
        except ClusterError as exc:
            return exc
        return None

    found = await eventually(probe, lambda exc: exc is not None and "kubesteward" in str(exc), timeout=30,
                             interval=0.3, what="the webhook to be called")
    assert found is not None
    return found


async def test_a_pod_without_limits_is_refused_with_the_rules_message(
        kube: KubeClient, namespace: str, server: Served, installed: list[str], sandbox_kubeconfig: Path) -> None:
    install(sandbox_kubeconfig, server, namespace, installed, "--no-mutate")
    await until_denied(kube, namespace)
    with pytest.raises(Forbidden) as refused:
        await create(kube, pod("no-limits", namespace, resourced=False))
    message = str(refused.value)
    assert 'admission webhook "validate.policy.kubesteward.io" denied the request' in message
    assert "KS702" in message and "memory limit" in message
    with pytest.raises(NotFound):
        await kube.get(resources.POD, "no-limits", namespace=namespace)


async def test_a_compliant_pod_is_admitted_unchanged_and_warnings_reach_the_client(
        kube: KubeClient, namespace: str, server: Served, installed: list[str], sandbox_kubeconfig: Path) -> None:
    install(sandbox_kubeconfig, server, namespace, installed)
    await _until_called(kube, namespace)
    created, warnings = await create(kube, pod("compliant", namespace))
    assert "kubesteward.io/mutated" not in (created["metadata"].get("annotations") or {})
    assert not any("KS7" in w for w in warnings), warnings
    created, warnings = await create(kube, pod("no-readiness", namespace, readiness=False))
    assert any("KS706" in w for w in warnings), warnings  # a warning-level rule: admitted, and the client told


async def test_the_mutation_is_applied_before_validation(
        kube: KubeClient, namespace: str, server: Served, installed: list[str], sandbox_kubeconfig: Path) -> None:
    install(sandbox_kubeconfig, server, namespace, installed)
    await _until_called(kube, namespace)
    # Without resources or a security context: the mutation adds them, so validation admits it.
    created, _warnings = await create(kube, pod("mutated", namespace, hardened=False, resourced=False))
    stored = await kube.get(resources.POD, "mutated", namespace=namespace)
    assert stored["spec"]["containers"][0]["resources"]["limits"] == {"memory": "256Mi"}  # the profile's default
    raw = created["spec"]
    assert raw["containers"][0]["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert raw["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    assert raw["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "no memory limit" in created["metadata"]["annotations"]["kubesteward.io/mutated"]


async def test_a_dry_run_is_judged_and_leaves_nothing_behind(
        kube: KubeClient, namespace: str, server: Served, installed: list[str], sandbox_kubeconfig: Path) -> None:
    install(sandbox_kubeconfig, server, namespace, installed, "--no-mutate")
    await until_denied(kube, namespace)
    with pytest.raises(Forbidden, match="KS702"):
        await create(kube, pod("dry-refused", namespace, resourced=False), dry_run=True)
    answered, _warnings = await create(kube, pod("dry-admitted", namespace), dry_run=True)
    assert answered["metadata"]["name"] == "dry-admitted"
    with pytest.raises(NotFound):
        await kube.get(resources.POD, "dry-admitted", namespace=namespace)
    # kubectl prints the webhook's refusal and its warnings the same way for --dry-run=server.
    manifest = json.dumps(pod("kubectl-dry", namespace, readiness=False))
    printed = subprocess.run(
        [str(_kubectl_binary()), "--kubeconfig", str(sandbox_kubeconfig), "create", "--dry-run=server", "-f", "-"],
        input=manifest, capture_output=True, text=True, timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    assert "Warning: KS706" in printed.stderr and "(server dry run)" in printed.stdout
    assert "kubectl-dry" not in kubectl(sandbox_kubeconfig, "get", "pods", "-n", namespace, "-o", "name")


async def test_failure_policy_decides_what_happens_while_the_server_is_down(
        kube: KubeClient, namespace: str, installed: list[str], sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    served = start_server(tmp_path / "tls")
    try:
        ignore = install(sandbox_kubeconfig, served, namespace, installed, "--failure-policy", "Ignore", "--no-mutate",
                         "--timeout", "2")
        await until_denied(kube, namespace)
    finally:
        served.stop()
    await create(kube, pod("while-down", namespace, resourced=False))  # Ignore: let through

    await uninstall(kube, ignore)
    install(sandbox_kubeconfig, served, namespace, installed, "--failure-policy", "Fail", "--no-mutate", "--timeout", "2")

    async def refused() -> str:
        try:
            await create(kube, pod(f"down-{uuid.uuid4().hex[:6]}", namespace, resourced=True), dry_run=True)
        except ClusterError as exc:
            return str(exc)
        return ""

    message = await eventually(refused, lambda text: "failed calling webhook" in text, timeout=30, interval=0.3,
                               what="Fail to refuse while the server is down")
    assert "validate.policy.kubesteward.io" in message


async def _until_called(kube: KubeClient, namespace: str) -> None:
    """Until the API server calls the webhook (a dry-run create comes back mutated)."""
    async def probe() -> dict[str, Any]:
        created, _warnings = await create(kube, pod(f"probe-{uuid.uuid4().hex[:6]}", namespace, resourced=False),
                                          dry_run=True)
        return created

    await eventually(probe, lambda obj: "kubesteward.io/mutated" in (obj["metadata"].get("annotations") or {}),
                     timeout=30, interval=0.3, what="the mutating webhook to be called")
    await asyncio.sleep(0)


def _kubectl_binary() -> Path:
    from kubesteward.sandbox import build

    return build.binary_path("kubectl")


async def test_uninstall_deletes_both_configurations(
        kube: KubeClient, namespace: str, server: Served, installed: list[str], sandbox_kubeconfig: Path) -> None:
    name = install(sandbox_kubeconfig, server, namespace, installed)
    removed = cli("webhook", "uninstall", "--name", name, "--state", str(server.state),
                  "--kubeconfig", str(sandbox_kubeconfig))
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.splitlines() == [f"deleted ValidatingWebhookConfiguration/{name}",
                                           f"deleted MutatingWebhookConfiguration/{name}"]
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        with pytest.raises(NotFound):
            await kube.get(await kube.resolve("admissionregistration.k8s.io/v1", kind), name)
    again = cli("webhook", "uninstall", "--name", name, "--state", str(server.state),
                "--kubeconfig", str(sandbox_kubeconfig))
    assert again.returncode == 0 and again.stdout == "" and "nothing to delete" in again.stderr
    # Both writes of each command are in the audit trail, newest first; the no-op uninstall wrote nothing.
    trail = cli("history", "--app", f"webhook/{name}", "--state", str(server.state), "-o", "json")
    assert trail.returncode == 0, trail.stderr
    assert [(e["action"], e["kind"], e["name"], e["outcome"], e["source"]) for e in json.loads(trail.stdout)] == [
        ("delete", kind, name, "ok", "webhook uninstall") for kind in ("MutatingWebhookConfiguration",
                                                                          "ValidatingWebhookConfiguration")
    ] + [("apply", kind, name, "ok", "webhook install") for kind in ("MutatingWebhookConfiguration",
                                                                     "ValidatingWebhookConfiguration")]


async def test_a_server_dry_run_install_writes_nothing_and_is_recorded_as_one(
        kube: KubeClient, namespace: str, server: Served, sandbox_kubeconfig: Path) -> None:
    name = f"ks-e2e-{uuid.uuid4().hex[:8]}"
    result = cli("webhook", "install", "--url", server.url, "--cert-dir", str(server.cert_dir), "--name", name,
                 "-n", namespace, "--state", str(server.state), "--server-dry-run",
                 "--kubeconfig", str(sandbox_kubeconfig))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"applied ValidatingWebhookConfiguration/{name} (server dry run)",
                                          f"applied MutatingWebhookConfiguration/{name} (server dry run)"]
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        with pytest.raises(NotFound):
            await kube.get(await kube.resolve("admissionregistration.k8s.io/v1", kind), name)
    trail = cli("history", "--app", f"webhook/{name}", "--state", str(server.state), "-o", "json")
    assert {(e["action"], e["dryRun"]) for e in json.loads(trail.stdout)} == {("apply", True)}


async def test_a_workload_made_before_the_webhook_is_held_to_it_at_its_next_real_change(
        kube: KubeClient, namespace: str, server: Served, installed: list[str], sandbox_kubeconfig: Path) -> None:
    legacy = pod("legacy", namespace, resourced=False)
    template = {"metadata": {"labels": {"app": "legacy"}}, "spec": legacy["spec"]}
    await kube.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "legacy", "namespace": namespace},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "legacy"}}, "template": template}})
    install(sandbox_kubeconfig, server, namespace, installed, "--no-mutate")
    await until_denied(kube, namespace)
    deployments = await kube.resolve("apps/v1", "Deployment")
    # Metadata alone (what controllers and people do to running workloads): admitted.
    await kube.patch(deployments, "legacy", {"metadata": {"labels": {"team": "shop"}}}, namespace=namespace)
    # A change of its pods: the rules apply.
    with pytest.raises(Forbidden, match="KS702"):
        await kube.patch(deployments, "legacy", {"spec": {"template": {"spec": {"containers": [
            {**legacy["spec"]["containers"][0], "image": "registry.example.com/app:1.4.3"}]}}}}, namespace=namespace)
