"""Trust, end to end on the real API server: a run that could not look never says "all is well", secrets never
leave, strings from the cluster cannot drive the terminal.

Identities are real ServiceAccounts with real RBAC; credentials plugins are real processes; the planted
secret goes in through ``kubectl apply`` (which writes the last-applied annotation, as in production).
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import yaml

from kubesteward.cluster import KubeClient
from kubesteward.sandbox.faults import FAULT_LABEL, RESTART_INTERVAL_ANNOTATION
from tests.support.cli import assert_one_clear_line, cli, kubectl, variant
from tests.support.identities import service_account_token
from tests.support.proxy import FaultProxy
from tests.support.receiver import Receiver
from tests.support.wait import eventually

FORMATS = ("table", "json", "yaml", "sarif", "markdown")


def plugin(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "credential-plugin.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


# --------------------------------------------------------------------------- no false green

def test_a_failing_exec_plugin_is_exit_4_with_its_message(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    script = plugin(tmp_path, 'echo "token expired: run corp-login again" >&2\nexit 1')
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(script),
                          "interactiveMode": "Never"}}
    config = variant(sandbox_kubeconfig, tmp_path, user=exec_user)
    for command in (["diagnose", "-A"], ["diagnose", "--fail-on", "error"], ["status"],
                    ["snapshot", "-o", str(tmp_path / "s.json")]):
        result = cli(*command, "--kubeconfig", str(config))
        assert_one_clear_line(result, 4, "token expired: run corp-login again")
        assert "no problems found" not in result.stdout
    assert not (tmp_path / "s.json").exists()


async def test_an_identity_that_can_read_nothing_is_forbidden(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    token = await service_account_token(kube, namespace, "nobody")
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    for command in (["diagnose", "-A"], ["diagnose", "-A", "-o", "json"], ["diagnose", "-n", namespace],
                    ["diagnose", "-A", "--fail-on", "error", "--allow-partial"], ["snapshot", "-o", "-"]):
        result = cli(*command, "--kubeconfig", str(config))
        assert_one_clear_line(result, 5, "forbidden (403)", "may read nothing")
        assert "no problems found" not in result.stdout and '"items"' not in result.stdout


async def test_a_namespace_the_identity_cannot_read_is_forbidden(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    token = await service_account_token(kube, namespace, "reader", read_in=(namespace,))
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token})
    result = cli("diagnose", "-n", "kube-system", "--kubeconfig", str(config))
    assert_one_clear_line(result, 5, "may read nothing in namespace 'kube-system'")


async def test_a_partial_run_says_so_in_every_format_and_fails_the_gate_unless_allowed(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    """Read access to one namespace only: `-A` falls back to it (the context's namespace) and says what it missed."""
    token = await service_account_token(kube, namespace, "reader", read_in=(namespace,))
    config = variant(sandbox_kubeconfig, tmp_path, user={"token": token}, namespace=namespace)
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fine", "namespace": namespace},
                       "data": {"a": "b"}})
    outputs = {fmt: cli("diagnose", "-A", "-o", fmt, "--kubeconfig", str(config)) for fmt in FORMATS}
    for fmt, result in outputs.items():
        assert result.returncode == 0, (fmt, result.stderr)
    table = outputs["table"].stdout
    assert "partial result" in table and "Node (forbidden)" in table and f"Pod (only in '{namespace}')" in table
    assert "✔ no problems found" not in table
    for fmt in ("json", "yaml"):
        document = (json.loads if fmt == "json" else yaml.safe_load)(outputs[fmt].stdout)
        coverage = document["clusters"][0]["coverage"]
        assert coverage["complete"] is False, fmt
        unread = {entry["kind"]: entry for entry in coverage["unreadKinds"]}
        assert unread["Node"]["readIn"] == [] and unread["Pod"]["readIn"] == [namespace], fmt
    notes = json.loads(outputs["sarif"].stdout)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == 1 and "partial result" in notes[0]["message"]["text"] and notes[0]["level"] == "warning"
    assert "Partial result." in outputs["markdown"].stdout and "No problems found in what could be read" in (
        outputs["markdown"].stdout)

    gate = cli("diagnose", "-A", "--fail-on", "error", "--kubeconfig", str(config))
    assert gate.returncode == 5, gate.stderr
    assert "partial result under --fail-on" in gate.stderr and "--allow-partial" in gate.stderr
    allowed = cli("diagnose", "-A", "--fail-on", "error", "--allow-partial", "--kubeconfig", str(config))
    assert allowed.returncode == 0, allowed.stderr

    # The gap travels with a snapshot: diagnosing it offline is just as partial.
    snapshot = tmp_path / "partial.json"
    assert cli("snapshot", "-o", str(snapshot), "--kubeconfig", str(config)).returncode == 0
    offline = cli("diagnose", "-f", str(snapshot), "--fail-on", "error")
    assert offline.returncode == 5 and "partial result under --fail-on" in offline.stderr, offline.stderr


def test_a_namespace_that_does_not_exist_is_a_usage_error(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    missing = f"nosuch-{uuid.uuid4().hex[:6]}"
    for command in (["diagnose", "-n", missing], ["snapshot", "-n", missing, "-o", str(tmp_path / "x.json")]):
        result = cli(*command, "--kubeconfig", str(sandbox_kubeconfig))
        assert_one_clear_line(result, 2, f"namespace {missing!r} does not exist")


def test_an_invalid_selector_is_refused_before_any_request(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    from kubesteward.cluster import load_config

    proxy = FaultProxy(load_config(str(sandbox_kubeconfig))).start()
    try:
        config = tmp_path / "via-proxy"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "p",
            "clusters": [{"name": "p", "cluster": {"server": proxy.url}}], "users": [{"name": "p", "user": {}}],
            "contexts": [{"name": "p", "context": {"cluster": "p", "user": "p"}}],
        }))
        for selector in ("===", "app in (a", "app=web,", "tier notin ()"):
            result = cli("diagnose", "-A", "-l", selector, "--kubeconfig", str(config))
            assert_one_clear_line(result, 2, "invalid label selector")
        assert proxy.requests == []
        # A valid set-based selector is taken, and scopes the findings.
        assert cli("diagnose", "-A", "-l", "app in (a,b),!canary", "--kubeconfig", str(config)).returncode == 0
        assert proxy.requests
    finally:
        proxy.close()


# --------------------------------------------------------------------------- secrets never leave

PLANTED = "s3cr3t-" + uuid.uuid4().hex  # unique per run: found only if it leaked from this run


def _planted_manifests(namespace: str) -> str:
    crashing = {"app": "leaky", FAULT_LABEL: "crashloop-error"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "leaky", "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "leaky"}}, "template": {
            "metadata": {"labels": crashing, "annotations": {RESTART_INTERVAL_ANNOTATION: "2s"}},
            "spec": {"containers": [{"name": "app", "image": "registry.local/leaky:1",
                                     "env": [{"name": "DB_PASSWORD", "value": PLANTED}]}],
                     "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]}}},
    }
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
              "stringData": {"password": PLANTED}}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
                  "data": {"dsn": f"postgres://app:{PLANTED}@db/app"}}
    return yaml.safe_dump_all([secret, config_map, deployment])


async def test_a_planted_secret_never_leaves_in_any_output_file_log_or_alert(
    sandbox_kubeconfig: Path, tmp_path: Path, kube: KubeClient, namespace: str
) -> None:
    kubectl(sandbox_kubeconfig, "apply", "-f", "-", stdin=_planted_manifests(namespace))
    # kubectl apply put the values in last-applied annotations, where a careless tool would find them.
    raw = kubectl(sandbox_kubeconfig, "get", "secret,deploy,configmap", "-n", namespace, "-o", "json")
    assert PLANTED in raw and "last-applied-configuration" in raw

    async def crashing() -> bool:
        result = cli("diagnose", "-n", namespace, "-o", "json", "--kubeconfig", str(sandbox_kubeconfig))
        return any(f["object"]["kind"] == "Pod" for c in json.loads(result.stdout)["clusters"] for f in c["findings"])

    await eventually(crashing, bool, timeout=90, what="the leaky pod crash-looping")

    token = await service_account_token(kube, namespace, "viewer", cluster_role="cluster-admin")
    as_token = variant(sandbox_kubeconfig, tmp_path, user={"token": token}, name="token-kubeconfig")
    seen: dict[str, str] = {}
    for fmt in FORMATS:
        result = cli("-vv", "diagnose", "-n", namespace, "-o", fmt, "--kubeconfig", str(as_token))
        assert result.returncode == 0, result.stderr
        seen[f"diagnose -o {fmt}"] = result.stdout
        seen[f"diagnose -o {fmt} (-vv log)"] = result.stderr
    assert "GET /api/v1/namespaces" in seen["diagnose -o json (-vv log)"]  # the requests were logged, masked

    state = tmp_path / "state"
    files = {name: state / name for name in ("snapshot.json", "snapshot.yaml", "alerts.jsonl", "watch.db")}
    for name in ("snapshot.json", "snapshot.yaml"):
        result = cli("snapshot", "-n", namespace, "-o", str(files[name]), "--kubeconfig", str(as_token))
        assert result.returncode == 14 and "does not exist" in result.stderr  # never a directory made up
    state.mkdir()
    for name in ("snapshot.json", "snapshot.yaml"):
        assert cli("snapshot", "-n", namespace, "-o", str(files[name]), "--kubeconfig", str(as_token)).returncode == 0
    seen["snapshot -o -"] = cli("snapshot", "-n", namespace, "-o", "-", "--kubeconfig", str(as_token)).stdout
    offline = cli("diagnose", "-f", str(files["snapshot.json"]), "-o", "json")
    seen["diagnose -f snapshot"] = offline.stdout + offline.stderr

    hook_token = "hooktoken-" + uuid.uuid4().hex
    with Receiver() as receiver:
        watch = cli(
            "-vv", "watch", "-n", namespace, "--once", "--kubeconfig", str(as_token), "--metrics-addr", "off",
            "--state", str(files["watch.db"]), "--default-threshold", "0s", "--group-wait", "0s",
            "--sink", f"jsonl={files['alerts.jsonl']}",
            "--sink", f"webhook={receiver.url}/hook/{hook_token}?token={hook_token}",
            timeout=180,
        )
        bodies = [request.body.decode() for request in receiver.requests]
    seen["watch (stdout)"], seen["watch (-vv log)"] = watch.stdout, watch.stderr
    assert watch.returncode in (0, 1), watch.stderr
    assert bodies, "the webhook got the alert"
    for index, body in enumerate(bodies):
        seen[f"webhook body {index}"] = body
    for name in ("snapshot.json", "snapshot.yaml", "alerts.jsonl", "watch.db"):
        assert stat.S_IMODE(files[name].stat().st_mode) == 0o600, name
        seen[name] = files[name].read_bytes().decode(errors="replace")
    assert '"Secret"' in seen["snapshot.json"] and "leaky" in seen["alerts.jsonl"]  # they did describe the objects

    leaks = {where for where, text in seen.items() if PLANTED in text}
    assert leaks == set(), f"the planted secret reached: {sorted(leaks)}"
    token_leaks = {where for where, text in seen.items() if token in text or hook_token in text}
    assert token_leaks == set(), f"a credential reached: {sorted(token_leaks)}"


# --------------------------------------------------------------------------- terminal safety

HOSTILE = "pull failed \x1b[2J\x1b]0;pwned\x07 \x9b31m [red]fake[/] [link=file:///etc/passwd]open[/link]\rOVER"


async def test_a_hostile_event_message_cannot_drive_the_terminal(
    sandbox_kubeconfig: Path, kube: KubeClient, namespace: str
) -> None:
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "victim", "namespace": namespace, "labels": {FAULT_LABEL: "crashloop-error"},
                     "annotations": {RESTART_INTERVAL_ANNOTATION: "2s"}},
        "spec": {"containers": [{"name": "app", "image": "registry.local/app:1"}],
                 "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]},
    }
    created = await kube.create(pod)
    await kube.create({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "victim.hostile", "namespace": namespace},
        "involvedObject": {"kind": "Pod", "name": "victim", "namespace": namespace, "uid": created["metadata"]["uid"],
                           "apiVersion": "v1"},
        "reason": "BackOff", "message": HOSTILE, "type": "Warning", "count": 3,
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
        "source": {"component": "kubelet"},
    })
    terminal = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "COLUMNS": "300"}

    async def shown() -> str | None:
        result = cli("diagnose", "-n", namespace, "--kubeconfig", str(sandbox_kubeconfig), env=terminal)
        return result.stdout if "fake" in result.stdout else None

    table = await eventually(shown, lambda text: text is not None, timeout=90, what="the hostile event in the diagnosis")
    assert table is not None
    assert "\x1b[" in table  # it was a terminal: rich coloured it
    sequences = table.split("\x1b")[1:]
    assert all(seq.startswith("[") and "m" in seq[:16] and "J" not in seq[: seq.index("m")] for seq in sequences)
    assert "\x1b]" not in table and "\x9b" not in table and "\x07" not in table and "\r" not in table
    assert "[red]fake[/]" in table and "\\x1b[2J" in table
    markdown = cli("diagnose", "-n", namespace, "-o", "markdown", "--kubeconfig", str(sandbox_kubeconfig)).stdout
    assert "\\x1b[2J" in markdown and "\x1b" not in markdown and "\r" not in markdown
    assert os.environ.get("FORCE_COLOR") is None  # only the child saw a terminal
