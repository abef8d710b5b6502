#!/usr/bin/env python3
"""Benchmark of ``kubesteward drift``, one section each:

- ``namespaces``: two namespaces of 1,000 objects each on a real API server (``--kubeconfig``; 100
  applications of 10 objects: Deployment, Service, ConfigMap, Secret, ServiceAccount, HPA, PDB,
  NetworkPolicy, Role, RoleBinding), the second a copy of the first with a few planted differences
  (an image, a ConfigMap value, a Secret value, per 25 applications). Timed three ways: the CLI end to end
  (``drift --namespaces A B -o json``, a new process per run: start, both sides' LISTs, the comparison,
  the report), the library call (``drift_namespaces``, both sides read), and the comparison alone
  (``compare_stores`` on the loaded objects). Median and worst of the runs. Target: <= 1 s end to end.
- ``desired``: manifests vs live: the first namespace's 1,000 objects as one manifest file, with the same
  planted differences, compared with the live namespace (``drift -f FILE -o json``, one server-side dry-run
  apply per object), end to end and as the library call (``drift_desired``). Target: <= 5 s end to end.
- ``sync``: the same 1,000 objects synced into a namespace of their own, the CLI end to end: the first sync,
  the unchanged re-sync, the ``--dry-run --prune`` plan (no target: figures for docs/performance.md).

    python bench/drift.py [SECTION…] --kubeconfig PATH [--apps 100] [--runs 5]

The namespaces are created once (``bench-drift-a``/``-b``; a re-run reuses them) and left for the next
run; ``--cleanup`` deletes them. Not a test: it prints figures; nothing fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubesteward.cluster import KubeClient, load_config
from kubesteward.cluster.resources import NAMESPACE
from kubesteward.drift.desired import drift_desired
from kubesteward.drift.namespaces import DEFAULT_KINDS, compare_stores, drift_namespaces
from kubesteward.errors import Conflict, NotFound
from kubesteward.model.full import load_full

LEFT, RIGHT = "bench-drift-a", "bench-drift-b"
CONCURRENCY = 32  # creates in flight: the population takes seconds, not minutes


def _app(namespace: str, number: int, drifted: bool) -> Iterator[dict[str, Any]]:
    """One application (10 objects); ``drifted``: its image, config value and Secret value differ."""
    app = f"app{number:04d}"
    meta = {"name": app, "namespace": namespace, "labels": {"app": app}}
    image = f"registry.example.com/{app}:{'2.0' if drifted else '1.0'}"
    yield {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
           "spec": {"replicas": 0, "selector": {"matchLabels": {"app": app}},
                    "template": {"metadata": {"labels": {"app": app}}, "spec": {
                        "serviceAccountName": app,
                        "containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}],
                                        "env": [{"name": "LOG_LEVEL", "value": "info"}],
                                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]}}}}
    yield {"apiVersion": "v1", "kind": "Service", "metadata": meta,
           "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    yield {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": f"{app}-config"},
           "data": {"app.yaml": f"name: {app}\nlevel: {'debug' if drifted else 'info'}\n"}}
    yield {"apiVersion": "v1", "kind": "Secret", "metadata": {**meta, "name": f"{app}-db"}, "type": "Opaque",
           "stringData": {"password": f"bench-{app}-{'two' if drifted else 'one'}"}}
    yield {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    yield {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
                    "minReplicas": 1, "maxReplicas": 5}}
    yield {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}}
    yield {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
           "spec": {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Ingress"]}}
    yield {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
           "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}
    yield {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": app},
           "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": namespace}]}


def namespace_objects(namespace: str, apps: int, *, plant: bool) -> list[dict[str, Any]]:
    return [obj for number in range(apps) for obj in _app(namespace, number, plant and number % 25 == 0)]


async def _create(client: KubeClient, obj: dict[str, Any], gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            await client.create(obj)
        except Conflict:
            pass  # from an earlier run: the population is the same


async def populate(client: KubeClient, apps: int) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    for name, plant in ((LEFT, False), (RIGHT, True)):
        try:
            await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        except Conflict:
            pass
        await asyncio.gather(*(_create(client, obj, gate) for obj in namespace_objects(name, apps, plant=plant)))


async def cleanup(client: KubeClient) -> None:
    for name in (LEFT, RIGHT):
        try:
            await client.delete(NAMESPACE, name)
        except NotFound:
            pass


def run_cli(args: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds, exit code and stdout of one CLI process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "kubesteward", *args], stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code not in (0, 1):
            raise SystemExit(f"kubesteward {' '.join(args)} failed with exit code {code}: {err.read().decode()}")
        return elapsed, usage.ru_utime + usage.ru_stime, code, out.read().decode()


def cli_runs(args: list[str], runs: int) -> tuple[list[float], list[float], int, str]:
    """``runs`` CLI processes: their wall and CPU seconds, and the last one's exit code and stdout."""
    wall: list[float] = []
    cpu: list[float] = []
    code, stdout = 0, ""
    for _ in range(runs):
        elapsed, cpu_seconds, code, stdout = run_cli(args)
        wall.append(elapsed)
        cpu.append(cpu_seconds)
    return wall, cpu, code, stdout


def _figures(name: str, seconds: list[float], extra: str = "") -> None:
    print(f"  {name:<28} median {statistics.median(seconds):.3f} s, worst {max(seconds):.3f} s{extra}")


async def bench_namespaces(kubeconfig: Path, apps: int, runs: int) -> None:
    async with KubeClient(load_config(str(kubeconfig))) as client:
        started = time.perf_counter()
        await populate(client, apps)
        print(f"namespaces: 2 x {apps * 10} objects ready in {time.perf_counter() - started:.1f} s")
        library: list[float] = []
        for _ in range(runs):
            started = time.perf_counter()
            result = await drift_namespaces(client, LEFT, client, RIGHT)
            library.append(time.perf_counter() - started)
        left = await load_full(client, DEFAULT_KINDS, namespace=LEFT)
        right = await load_full(client, DEFAULT_KINDS, namespace=RIGHT)
        pure: list[float] = []
        for _ in range(runs):
            started = time.perf_counter()
            compare_stores(left, right)
            pure.append(time.perf_counter() - started)
    wall, cpu, code, stdout = cli_runs(
        ["drift", "--kubeconfig", str(kubeconfig), "--namespaces", LEFT, RIGHT, "-o", "json"], runs)
    counts = json.loads(stdout)["counts"]
    print(f"  objects compared: {len(result.objects)} ({counts}); CLI exit {code}")
    _figures("CLI end to end", wall, f", CPU median {statistics.median(cpu):.3f} s")
    _figures("library (both sides read)", library)
    _figures("comparison alone", pure)


async def bench_desired(kubeconfig: Path, apps: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        manifest = Path(directory) / "desired.yaml"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                        "items": namespace_objects(LEFT, apps, plant=True)}))
        async with KubeClient(load_config(str(kubeconfig))) as client:
            await populate(client, apps)
            library: list[float] = []
            for _ in range(runs):
                started = time.perf_counter()
                result = await drift_desired(client, [manifest])
                library.append(time.perf_counter() - started)
        wall, cpu, code, stdout = cli_runs(
            ["drift", "--kubeconfig", str(kubeconfig), "-f", str(manifest), "-o", "json"], runs)
    counts = json.loads(stdout)["counts"]
    print(f"desired: {len(result.objects)} manifest objects vs {LEFT} ({counts}); CLI exit {code}")
    _figures("CLI end to end", wall, f", CPU median {statistics.median(cpu):.3f} s")
    _figures("library (dry runs and LISTs)", library)


async def _delete_namespace(kubeconfig: Path, name: str) -> None:
    async with KubeClient(load_config(str(kubeconfig))) as client:
        try:
            await client.delete(NAMESPACE, name)
        except NotFound:
            pass


def _headless(obj: dict[str, Any]) -> dict[str, Any]:
    """Services without a cluster IP: the two namespaces above already hold 200 of the sandbox's few hundred."""
    if obj["kind"] != "Service":
        return obj
    return {**obj, "spec": {**obj["spec"], "clusterIP": "None"}}


def bench_sync(kubeconfig: Path, apps: int, runs: int) -> None:
    """``sync`` of the same 1,000 objects (and their Namespace) into a namespace of its own: the first sync
    (everything created), then ``runs`` syncs of the unchanged manifests, then ``runs`` ``--dry-run --prune``
    plans; a new process each, the audit trail on SQLite, ``--no-wait`` (the API server's time, not the
    rollouts')."""
    namespace = f"bench-sync-{os.getpid()}"  # its own each run: the last run's may still be terminating
    with tempfile.TemporaryDirectory() as directory:
        manifest = Path(directory) / "app.yaml"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            *map(_headless, namespace_objects(namespace, apps, plant=False))]}))
        base = ["sync", "--kubeconfig", str(kubeconfig), "-f", str(manifest), "-n", namespace, "--app", "bench",
                "--no-wait", "--state", str(Path(directory) / "state.db"), "-o", "json"]
        try:
            first, first_cpu, _code, stdout = run_cli(base)
            created = json.loads(stdout)["counts"]
            again, again_cpu, _code, stdout = cli_runs(base, runs)
            unchanged = json.loads(stdout)["counts"]
            plan, plan_cpu, _code, _stdout = cli_runs([*base, "--dry-run", "--prune"], runs)
        finally:
            asyncio.run(_delete_namespace(kubeconfig, namespace))
    print(f"sync: {apps * 10 + 1} objects into {namespace}")
    print(f"  first sync {created}: {first:.3f} s, CPU {first_cpu:.3f} s")
    _figures(f"unchanged {unchanged}", again, f", CPU median {statistics.median(again_cpu):.3f} s")
    _figures("--dry-run --prune", plan, f", CPU median {statistics.median(plan_cpu):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", help="namespaces, desired, sync (the default: every section)")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cleanup", action="store_true", help="Delete the benchmark's namespaces and stop.")
    args = parser.parse_args()
    if args.cleanup:
        async def clean() -> None:
            async with KubeClient(load_config(str(args.kubeconfig))) as client:
                await cleanup(client)

        asyncio.run(clean())
        return
    sections = args.sections or ["namespaces", "desired", "sync"]
    unknown = set(sections) - {"namespaces", "desired", "sync"}
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if "namespaces" in sections:
        asyncio.run(bench_namespaces(args.kubeconfig, args.apps, args.runs))
    if "desired" in sections:
        asyncio.run(bench_desired(args.kubeconfig, args.apps, args.runs))
    if "sync" in sections:
        bench_sync(args.kubeconfig, args.apps, args.runs)


if __name__ == "__main__":
    main()
