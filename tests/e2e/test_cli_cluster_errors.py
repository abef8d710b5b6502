"""The CLI against the real apiserver: a summary, and every failure as one clear line with its exit code."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kubesteward.cluster import KubeClient
from tests.support.cli import assert_one_clear_line, cli, variant


def test_status_summarizes_the_cluster(sandbox_kubeconfig: Path) -> None:
    result = cli("status", "--kubeconfig", str(sandbox_kubeconfig), "-A")
    assert result.returncode == 0, result.stderr
    assert "Kubernetes v1." in result.stdout
    assert "ready" in result.stdout
    as_json = cli("status", "--kubeconfig", str(sandbox_kubeconfig), "-o", "json")
    import json

    (summary,) = json.loads(as_json.stdout)
    assert summary["version"].startswith("v1.")
    assert len(summary["nodes"]) >= 1
    assert summary["namespaces"] >= 4  # default, kube-system, kube-public, kube-node-lease


def test_bad_credentials_exit_4(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    path = variant(sandbox_kubeconfig, tmp_path, user={"token": "not-a-valid-token"})
    result = cli("status", "--kubeconfig", str(path))
    assert_one_clear_line(result, 4, "unauthorized (401)", "rejected the credentials")


def test_unreachable_server_exit_8_within_the_timeout(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    path = variant(sandbox_kubeconfig, tmp_path, server="https://127.0.0.1:1")
    started = time.monotonic()
    result = cli("status", "--kubeconfig", str(path), "--request-timeout", "5")
    assert time.monotonic() - started < 40  # bounded retries, never a hang
    assert_one_clear_line(result, 8, "cannot connect to https://127.0.0.1:1")


async def test_forbidden_exit_5(sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str) -> None:
    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody", "namespace": namespace}})
    response = await kube.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/nobody/token",
        content=b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}',
        headers={"Content-Type": "application/json"},
    )
    token = response.json()["status"]["token"]
    path = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    result = cli("status", "--kubeconfig", str(path))
    assert_one_clear_line(result, 5, "forbidden (403)", f"system:serviceaccount:{namespace}:nobody")


def test_unknown_context_and_broken_kubeconfig_exit_3(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    result = cli("status", "--kubeconfig", str(sandbox_kubeconfig), "--context", "no-such-context")
    assert_one_clear_line(result, 3, "no-such-context")
    broken = tmp_path / "broken"
    broken.write_text("apiVersion: v1\nclusters: [\n")
    assert_one_clear_line(cli("status", "--kubeconfig", str(broken)), 3, str(broken))
    assert_one_clear_line(cli("status"), 3, "no kubeconfig found")


@pytest.mark.parametrize(
    "args", [["status", "-o", "xml", "--kubeconfig", "/dev/null"], ["status", "--bogus"], ["explain", "KS999"]]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip()


@pytest.mark.parametrize("args", [["--version"], ["exit-codes"]])
def test_version_and_exit_code_table(args: list[str]) -> None:
    result = cli(*args)
    assert result.returncode == 0
    assert result.stdout.strip()


def test_watch_failures_are_one_line_with_their_exit_code(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "watch.db"), "--metrics-addr", "off", "--once"]
    unreachable = variant(sandbox_kubeconfig, tmp_path, server="https://127.0.0.1:1")
    assert_one_clear_line(cli("watch", "--kubeconfig", str(unreachable), "--request-timeout", "5", *state), 8,
                          "cannot connect to https://127.0.0.1:1")
    dead_db = "postgresql://watch:hunter2@127.0.0.1:1/kubesteward"
    result = cli("watch", "--kubeconfig", str(sandbox_kubeconfig), "--state", dead_db, "--once", "--metrics-addr", "off")
    assert_one_clear_line(result, 13, "postgresql://watch:***@127.0.0.1:1/kubesteward")
    assert "hunter2" not in result.stderr
    for bad in (["--sink", "carrier-pigeon=coop"], ["--threshold", "KS101"], ["--group-wait", "soon"],
                ["--metrics-addr", "0.0.0.0:9808"]):
        result = cli("watch", "--kubeconfig", str(sandbox_kubeconfig), *state, *bad)
        assert result.returncode == 2, (bad, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
