#!/usr/bin/env python3
"""Benchmark: `kubesteward diagnose -A` against the raw paged LIST of the same kinds.

Creates (once) 10,000 pods with their Deployments/ReplicaSets, Services and
Events in a sandbox of 100 KWOK nodes, then measures in the same run:

- raw: concurrent paged LISTs of every kind the model loads, bytes only (no decoding);
- diagnose: the `kubesteward diagnose -A -o json` CLI, end to end (process start included);
- their ratio (target <= 1.3) and diagnose's peak RSS (target <= 150 MB).

    python bench/diagnose.py [--pods 10000] [--keep] [--kubeconfig PATH]

Not a test: it prints figures; nothing fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubesteward.cluster import KubeClient, load_config
from kubesteward.cluster.resources import by_name
from kubesteward.model.kinds import MODEL_KINDS

NAMESPACES = 10
PODS_PER_DEPLOYMENT = 20
MARK = "kubesteward.io/bench"
TOLERATE_KWOK = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]


def template(app: str, fault: str | None) -> dict[str, Any]:
    labels = {"app": app, MARK: "true"}
    if fault:
        labels["kubesteward.io/fault"] = fault
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": f"registry.local/{app}:1.0",
                    "ports": [{"containerPort": 8080, "name": "http"}],
                    "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                }
            ],
            "tolerations": TOLERATE_KWOK,
        },
    }


async def populate(client: KubeClient, pods: int, nodes: list[str]) -> None:
    deployments = pods // PODS_PER_DEPLOYMENT
    sem = asyncio.Semaphore(48)
    created = 0
    started = time.monotonic()

    async def guarded(coro: Any) -> Any:
        async with sem:
            return await coro

    for ns_index in range(NAMESPACES):
        await client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{ns_index}", "labels": {MARK: "true"}}})

    async def one_deployment(index: int) -> None:
        nonlocal created
        ns = f"bench-{index % NAMESPACES}"
        app = f"app-{index:04d}"
        # 2% of workloads carry a real fault so the analyzers have work to do.
        fault = "crashloop-oom" if index % 50 == 7 else None
        tpl = template(app, fault)
        selector = {"matchLabels": {"app": app}}
        deployment = await client.create({
            "apiVersion": "apps/v1", "kind": "Deployment",
            # Paused: the Deployment controller then adopts our ReplicaSet instead of creating its own.
            "metadata": {"name": app, "namespace": ns, "labels": {MARK: "true"}},
            "spec": {"replicas": PODS_PER_DEPLOYMENT, "paused": True, "selector": selector, "template": tpl},
        })
        rs_name = f"{app}-5d4c7b9f8"
        rs_tpl = template(app, fault)
        rs_tpl["metadata"]["labels"]["pod-template-hash"] = "5d4c7b9f8"
        replica_set = await client.create({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": rs_name, "namespace": ns, "labels": rs_tpl["metadata"]["labels"],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                                     "uid": deployment["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}],
            },
            "spec": {"replicas": PODS_PER_DEPLOYMENT,
                     "selector": {"matchLabels": {"app": app, "pod-template-hash": "5d4c7b9f8"}}, "template": rs_tpl},
        })
        await client.create({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": ns},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": "http"}]},
        })
        owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name,
                  "uid": replica_set["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        for replica in range(PODS_PER_DEPLOYMENT):
            name = f"{rs_name}-{replica:03d}"
            pod = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": rs_tpl["metadata"]["labels"], "ownerReferences": owner},
                "spec": {**rs_tpl["spec"], "nodeName": nodes[(index * PODS_PER_DEPLOYMENT + replica) % len(nodes)]},
            }
            await guarded(client.create(pod))
            await guarded(client.create({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"{name}.bench", "namespace": ns},
                "involvedObject": {"kind": "Pod", "namespace": ns, "name": name, "apiVersion": "v1"},
                "reason": "BackOff" if fault else "Started",
                "message": "Back-off restarting failed container app" if fault else "Started container app",
                "type": "Warning" if fault else "Normal",
                "source": {"component": "kubelet"},
                "count": 1,
            }))
            created += 1
        if index % 25 == 0:
            print(f"  populated {created} pods in {time.monotonic() - started:.0f}s", flush=True)

    await asyncio.gather(*(one_deployment(i) for i in range(deployments)))
    print(f"  populated {created} pods in {time.monotonic() - started:.0f}s", flush=True)


async def count_pods(client: KubeClient) -> int:
    pods = by_name("pods")
    assert pods is not None
    result = await client.list(pods, label_selector=MARK, limit=500)
    return len(result.items)


async def raw_list_seconds(client: KubeClient) -> tuple[float, int]:
    """Concurrent paged LIST of every model kind, reading bytes only."""

    async def one(path: str) -> int:
        total, token = 0, ""
        while True:
            params: dict[str, str | int] = {"limit": 500}
            if token:
                params["continue"] = token
            response = await client.request("GET", path, params=params)
            total += len(response.content)
            # Find the continue token without decoding the whole body.
            head = response.content[:600]
            marker = head.find(b'"continue":"')
            token = head[marker + 12: head.index(b'"', marker + 12)].decode() if marker >= 0 else ""
            if not token:
                return total

    started = time.perf_counter()
    sizes = await asyncio.gather(*(one(spec.resource.collection_path()) for spec in MODEL_KINDS))
    return time.perf_counter() - started, sum(sizes)


def run_diagnose(kubeconfig: Path) -> tuple[float, float, int]:
    """Wall seconds and peak RSS (MB) of the CLI process, and its exit code."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubesteward", "diagnose", "-A", "-o", "json", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"diagnose failed with exit code {code}: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024, code


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--kubeconfig", help="use this cluster instead of a bench sandbox")
    parser.add_argument("--keep", action="store_true", help="leave the bench sandbox running")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    sandbox = None
    if args.kubeconfig:
        kubeconfig = Path(args.kubeconfig)
    else:
        from kubesteward.sandbox.cluster import Sandbox

        sandbox = Sandbox(name="bench", nodes=max(3, args.pods // 100 + 1))
        print(f"starting bench sandbox with {sandbox.nodes} nodes...", flush=True)
        sandbox.up(progress=lambda m: print(f"  {m}", flush=True), timeout=600)
        kubeconfig = sandbox.kubeconfig
    try:
        client = KubeClient(load_config(str(kubeconfig)), timeout=120)
        nodes_rt = by_name("nodes")
        assert nodes_rt is not None
        nodes = [n["metadata"]["name"] for n in (await client.list(nodes_rt)).items]
        existing = await count_pods(client)
        if existing < args.pods:
            print(f"creating {args.pods} pods ({existing} exist)...", flush=True)
            await populate(client, args.pods, nodes)
        print(f"cluster has {await count_pods(client)} bench pods on {len(nodes)} nodes", flush=True)
        await asyncio.sleep(5)  # let controllers settle before measuring

        raw, diag, rss = [], [], []
        size = 0
        for _ in range(args.repeat):
            seconds, size = await raw_list_seconds(client)
            raw.append(seconds)
            d_seconds, d_rss, _code = run_diagnose(kubeconfig)
            diag.append(d_seconds)
            rss.append(d_rss)
        await client.aclose()
        raw_median, diag_median = statistics.median(raw), statistics.median(diag)
        print(f"\nobjects listed: {size / 1e6:.1f} MB of JSON across {len(MODEL_KINDS)} kinds")
        print(f"raw paged LIST (bytes only): {', '.join(f'{s:.2f}' for s in raw)} s  median {raw_median:.2f} s")
        print(f"diagnose -A (CLI, end to end): {', '.join(f'{s:.2f}' for s in diag)} s  median {diag_median:.2f} s")
        print(f"ratio diagnose/raw: {diag_median / raw_median:.2f}  (target <= 1.3)")
        print(f"diagnose peak RSS: {max(rss):.0f} MB  (target <= 150 MB)")
    finally:
        if sandbox is not None and not args.keep:
            sandbox.down()


if __name__ == "__main__":
    asyncio.run(main())
