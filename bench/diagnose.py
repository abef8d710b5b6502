#!/usr/bin/env python3
"""Benchmark: `kubesteward diagnose -A` against the raw paged LIST of the same kinds.

Creates (once) 10,000 pods with their Deployments/ReplicaSets, Services and
Events in a sandbox of 100 KWOK nodes, then measures in the same run:

- raw: one concurrent paged LIST per kind, as kubectl makes them (500 per page,
  the field selectors diagnose uses, and claims' Normal events where a claim is
  unbound, as diagnose lists them), bytes only (no decoding);
- raw, request plan: diagnose's own requests (every kind but Events, Pods one
  namespace at a time, concurrently, every LIST at least as recent as the
  namespace list, from the watch cache; then the Events of the namespaces its
  analyzers asked about), bytes only: diagnose's time over this is the
  client's own cost (decoding, model, checks, process start);
- diagnose: the `kubesteward diagnose -A -o json` CLI, end to end (process start included);
- the CLI's cold start alone: a new interpreter importing what the CLI imports
  before its first request (typer, the command, aiohttp), no cluster involved;
- their ratio (target <= 1.3) and diagnose's peak RSS (target <= 150 MB);
- the CPU seconds each measurement cost the client, and the API server when it
  runs on this machine (a bench sandbox): on a host whose cores the client
  shares with the API server, the client's CPU is wall time too.

    python bench/diagnose.py [--pods 10000] [--keep] [--kubeconfig PATH] [--faults every-namespace]

Not a test: it prints figures; nothing fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubesteward.cluster import KubeClient, load_config
from kubesteward.cluster.resources import NAMESPACE, by_name
from kubesteward.errors import Conflict
from kubesteward.model.kinds import BY_KIND, CLAIM_NOTES_SELECTOR, FIELD_SELECTORS, MODEL_KINDS
from kubesteward.model.load import SHARD_CONCURRENCY, SHARDED_KINDS, unbound_claim_namespaces
from kubesteward.model.objects import PersistentVolumeClaim, Pod

EVENTS = BY_KIND["Event"].resource

NAMESPACES = 10
PODS_PER_DEPLOYMENT = 20
MARK = "kubesteward.io/bench"


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
        },
    }


async def create(client: KubeClient, obj: dict[str, Any]) -> Any:
    """Create, or return the existing object (a re-run continues a partial population)."""
    try:
        return await client.create(obj)
    except Conflict:
        rt = await client.resolve(obj["apiVersion"], obj["kind"])
        return await client.get(rt, obj["metadata"]["name"], obj["metadata"].get("namespace"))


def faulty(index: int, spread: bool) -> bool:
    """2% of workloads (and of the Warning events) carry a real fault so the analyzers have work to do:
    all in one namespace of the ten (bench-7), or ``spread`` one in every 50 so each namespace has some."""
    return index % 50 == ((index // 50) % NAMESPACES if spread else 7)


async def populate(client: KubeClient, pods: int, spread: bool) -> None:
    """Real Deployments: the controller-manager creates ReplicaSets and pods, the
    scheduler binds them, KWOK runs them. We add Services and Events."""
    deployments = pods // PODS_PER_DEPLOYMENT
    sem = asyncio.Semaphore(32)
    started = time.monotonic()

    for ns_index in range(NAMESPACES):
        await client.apply({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": f"bench-{ns_index}", "labels": {MARK: "true"}}})

    async def one_deployment(index: int) -> None:
        ns = f"bench-{index % NAMESPACES}"
        app = f"app-{index:04d}"
        fault = "crashloop-oom" if faulty(index, spread) else None
        async with sem:
            await create(client, {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": app, "namespace": ns, "labels": {MARK: "true"}},
                "spec": {"replicas": PODS_PER_DEPLOYMENT, "selector": {"matchLabels": {"app": app}},
                         "template": template(app, fault)},
            })
            await create(client, {
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": ns},
                # Headless: the sandbox's service CIDR is small, and this needs no cluster IP.
                "spec": {"clusterIP": "None", "selector": {"app": app}, "ports": [{"port": 80, "targetPort": "http"}]},
            })

    await asyncio.gather(*(one_deployment(i) for i in range(deployments)))
    print(f"  {deployments} Deployments and Services in {time.monotonic() - started:.0f}s", flush=True)

    # One event per pod, as kubelets and controllers would leave behind.
    async def one_event(index: int) -> None:
        ns = f"bench-{index % NAMESPACES}"
        warning = faulty(index, spread)
        async with sem:
            await create(client, {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": f"bench-{index:05d}", "namespace": ns},
                "involvedObject": {"kind": "Pod", "namespace": ns, "name": f"app-{index // PODS_PER_DEPLOYMENT:04d}-x",
                                   "apiVersion": "v1"},
                "reason": "BackOff" if warning else "Started",
                "message": "Back-off restarting failed container app" if warning else "Started container app",
                "type": "Warning" if warning else "Normal",
                "source": {"component": "kubelet"},
                "count": 1,
            })

    await asyncio.gather(*(one_event(i) for i in range(pods)))
    print(f"  {pods} events in {time.monotonic() - started:.0f}s", flush=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        running = await count_pods(client, running=True)
        print(f"  {running} pods running after {time.monotonic() - started:.0f}s", flush=True)
        if running >= pods * 0.98:
            break
        await asyncio.sleep(10)


async def count_pods(client: KubeClient, running: bool = False) -> int:
    pods = by_name("pods")
    assert pods is not None
    selector = "status.phase=Running" if running else None
    result = await client.list(pods, label_selector=MARK, field_selector=selector, limit=500, type=Pod)
    return len(result.items)


async def raw_list_seconds(client: KubeClient, plan: list[str | None] | None = None) -> tuple[float, int]:
    """Concurrent paged LIST of every model kind, reading bytes only (``plan``: as diagnose makes them,
    the Events in these namespaces (None: cluster-wide) after everything else)."""

    since = ""  # the loader's plan: every LIST at least as recent as the namespace list
    # The loader lists claims' Normal events where a claim is unbound (none in a bench sandbox).
    claims = await client.list(BY_KIND["PersistentVolumeClaim"].resource, type=PersistentVolumeClaim)
    notes = [(EVENTS.collection_path(ns), CLAIM_NOTES_SELECTOR) for ns in unbound_claim_namespaces(claims.items)]

    async def one(path: str, selector: str | None) -> int:
        total, token = 0, ""
        while True:
            params: dict[str, str | int] = {"limit": 500}
            if selector:
                params["fieldSelector"] = selector
            if token:
                params["continue"] = token
            elif since:
                params.update(resourceVersion=since, resourceVersionMatch="NotOlderThan")
            response = await client.request("GET", path, params=params)
            total += len(response.content)
            # Find the continue token without decoding the whole body.
            head = response.content[:600]
            marker = head.find(b'"continue":"')
            token = head[marker + 12: head.index(b'"', marker + 12)].decode() if marker >= 0 else ""
            if not token:
                return total

    started = time.perf_counter()
    if plan is None:
        sizes = await asyncio.gather(
            *(
                one(spec.resource.collection_path(), selector)
                for spec in MODEL_KINDS
                for selector in FIELD_SELECTORS.get(spec.kind, (None,))
            ),
            *(one(path, selector) for path, selector in notes),
        )
        return time.perf_counter() - started, sum(sizes)

    # Diagnose's plan: Namespaces first, then every kind but Events, Pods per namespace (a few at a
    # time); once the analyzers have run, the Events of the namespaces they asked about.
    slots = {kind: asyncio.Semaphore(SHARD_CONCURRENCY) for kind in SHARDED_KINDS}
    namespaces = await client.get_json(NAMESPACE.collection_path())
    names = [n["metadata"]["name"] for n in namespaces["items"]]
    since = namespaces["metadata"]["resourceVersion"]

    async def shard(kind: str, path: str, selector: str | None) -> int:
        async with slots[kind]:
            return await one(path, selector)

    sizes = await asyncio.gather(
        *(
            shard(spec.kind, spec.resource.collection_path(ns), selector) if spec.kind in SHARDED_KINDS
            else one(spec.resource.collection_path(), selector)
            for spec in MODEL_KINDS
            if spec.kind != "Event"
            for selector in FIELD_SELECTORS.get(spec.kind, (None,))
            for ns in (names if spec.kind in SHARDED_KINDS else [None])
        ),
    )
    unbound = {path for path, _selector in notes}
    events = await asyncio.gather(
        *(
            shard("Event", EVENTS.collection_path(ns), selector)
            for ns in plan
            for selector in (*FIELD_SELECTORS["Event"], *(
                [CLAIM_NOTES_SELECTOR] if EVENTS.collection_path(ns) in unbound or (ns is None and unbound) else []
            ))
        ),
    )
    return time.perf_counter() - started, sum(sizes) + sum(events)


async def event_namespaces(client: KubeClient) -> list[str | None]:
    """Where diagnose lists Events on this cluster (None: cluster-wide): where its analyzers ask."""
    from kubesteward.diagnosis import diagnose_cluster

    result = await diagnose_cluster(client)
    return sorted({s.namespace for s in result.model.sources if s.kind == "Event"}, key=lambda ns: ns or "")


async def library_seconds(client: KubeClient) -> float:
    """The library path in this process: load the model and run every check (no interpreter start)."""
    from kubesteward.diagnosis import diagnose_cluster

    started = time.perf_counter()
    result = await diagnose_cluster(client)
    elapsed = time.perf_counter() - started
    del result  # freed after the clock stops: a caller keeps its result (freeing 10k pods took ~0.06 s)
    return elapsed


def apiserver_pid() -> int | None:
    """The kube-apiserver running on this machine, if exactly one does (a bench sandbox's)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "kube-apiserver":
                found.append(int(entry.name))
    return found[0] if len(found) == 1 else None


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_diagnose(kubeconfig: Path) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MB), exit code and CPU seconds of the CLI process."""
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
    return elapsed, usage.ru_maxrss / 1024, code, usage.ru_utime + usage.ru_stime


# What `diagnose` imports before its first request, as the CLI imports it (the
# command module through the lazy group, with its CA-bundle shortcut).
COLD_START = "from kubesteward.cli.main import _load_command; _load_command('diagnose')"


def cold_start_seconds() -> float:
    """Wall seconds of a new interpreter making the CLI's imports up to its first request."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", COLD_START], check=True)
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def populated_cluster(
    name: str, pods: int, kubeconfig: str | None, *, keep: bool, spread: bool
) -> AsyncIterator[Path]:
    """The cluster to measure: ``kubeconfig``'s, or a bench sandbox of that name (down afterwards
    unless ``keep``), populated with ``pods`` bench pods if it has fewer (shared by every bench)."""
    sandbox = None
    if kubeconfig:
        path = Path(kubeconfig)
    else:
        from kubesteward.sandbox.cluster import Sandbox

        # Fast controllers so 10k pods converge in minutes; everything else stays real.
        # No metrics-server: scraping 10k simulated pods every 10 s costs the KWOK
        # controller ~2.4 CPU-s per scrape on these two cores, which landed at
        # random in measurements (the same LIST took 0.9 s or 3 s). Nothing measured here uses metrics.
        fast = {"kube-api-qps": "800", "kube-api-burst": "1600"}
        sandbox = Sandbox(name=name, nodes=max(3, pods // 100 + 1),
                          extra_args={"kube-controller-manager": fast, "kube-scheduler": fast}, metrics=False)
        print(f"starting bench sandbox with {sandbox.nodes} nodes...", flush=True)
        sandbox.up(progress=lambda m: print(f"  {m}", flush=True), timeout=600)
        path = sandbox.kubeconfig
    try:
        client = KubeClient(load_config(str(path)), timeout=120)
        existing = await count_pods(client)
        if existing < pods:
            print(f"creating {pods} pods ({existing} exist)...", flush=True)
            await populate(client, pods, spread)
        print(f"cluster has {await count_pods(client)} bench pods", flush=True)
        await client.aclose()
        yield path
    finally:
        if sandbox is not None and not keep:
            sandbox.down()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--kubeconfig", help="use this cluster instead of a bench sandbox")
    parser.add_argument("--keep", action="store_true", help="leave the bench sandbox running")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pause", type=float, default=3.0, help="seconds of quiet before each measurement")
    parser.add_argument("--faults", choices=["one-namespace", "every-namespace"], default="one-namespace",
                        help="where the faulty workloads are (every-namespace: a sandbox of its own, bench-spread)")
    args = parser.parse_args()
    spread = args.faults == "every-namespace"

    async with populated_cluster("bench-spread" if spread else "bench", args.pods, args.kubeconfig, keep=args.keep,
                                 spread=spread) as kubeconfig:
        client = KubeClient(load_config(str(kubeconfig)), timeout=120)
        await asyncio.sleep(5)  # let controllers settle before measuring

        events_where = await event_namespaces(client)
        raw, planned, diag, rss, library, cold = [], [], [], [], [], []
        size = 0
        server = apiserver_pid()
        # CPU seconds per measurement: the client's, and the API server's while it ran.
        cpu: dict[str, list[tuple[float, float]]] = {"raw": [], "plan": [], "CLI": [], "library": []}

        def mark() -> tuple[float, float]:
            return time.process_time(), process_cpu(server)

        def charge(name: str, start: tuple[float, float], client_cpu: float | None = None) -> None:
            own, api = mark()
            cpu[name].append((own - start[0] if client_cpu is None else client_cpu, api - start[1]))

        async def measure_raw() -> None:
            nonlocal size
            start = mark()
            seconds, size = await raw_list_seconds(client)
            charge("raw", start)
            raw.append(seconds)

        async def measure_plan() -> None:
            start = mark()
            planned.append((await raw_list_seconds(client, plan=events_where))[0])
            charge("plan", start)

        async def measure_cli() -> None:
            start = mark()
            d_seconds, d_rss, _code, d_cpu = run_diagnose(kubeconfig)
            charge("CLI", start, d_cpu)
            diag.append(d_seconds)
            rss.append(d_rss)

        async def measure_library() -> None:
            start = mark()
            library.append(await library_seconds(client))
            charge("library", start)

        async def measure_cold_start() -> None:
            cold.append(cold_start_seconds())

        measurements = [measure_raw, measure_plan, measure_cli, measure_library, measure_cold_start]
        for round_ in range(args.repeat):
            # The order rotates every round. A big LIST leaves hundreds of MB of
            # garbage in the API server, which collects it during a later LIST
            # (a cycle costs ~0.8 CPU-s at 10k pods), about every other one here:
            # in a fixed order the same measurements paid for it every round (the
            # CLI 1.85 API-server CPU-s per run, the library 0.97, for the same
            # requests). Each measurement starts after a quiet pause.
            turn = round_ % len(measurements)
            for measure in measurements[turn:] + measurements[:turn]:
                await asyncio.sleep(args.pause)
                await measure()
        await client.aclose()
        raw_median, diag_median, lib_median = statistics.median(raw), statistics.median(diag), statistics.median(library)
        plan_median = statistics.median(planned)
        print(f"\nobjects listed: {size / 1e6:.1f} MB of JSON across {len(MODEL_KINDS)} kinds")
        print(f"diagnose lists Events in: {', '.join(ns or 'all namespaces' for ns in events_where) or 'no namespace'} "
              "(where its analyzers asked for them; the raw LIST reads them all)")
        print(f"raw paged LIST (bytes only): {', '.join(f'{s:.2f}' for s in raw)} s  median {raw_median:.2f} s")
        print(f"raw, the loader's request plan (bytes only): {', '.join(f'{s:.2f}' for s in planned)} s  "
              f"median {plan_median:.2f} s")
        print(f"diagnose -A (CLI, end to end): {', '.join(f'{s:.2f}' for s in diag)} s  median {diag_median:.2f} s")
        print(f"diagnose (library, load + checks): {', '.join(f'{s:.2f}' for s in library)} s  median {lib_median:.2f} s")
        print(f"ratio diagnose/raw: CLI {diag_median / raw_median:.2f}, library {lib_median / raw_median:.2f}"
              "  (target <= 1.3)")
        print(f"ratio diagnose/raw with the same request plan: CLI {diag_median / plan_median:.2f}, "
              f"library {lib_median / plan_median:.2f}")
        cold_median = statistics.median(cold)
        print(f"CLI cold start (interpreter and imports before the first request, no cluster): "
              f"{', '.join(f'{s:.2f}' for s in cold)} s  median {cold_median:.2f} s "
              f"({cold_median / diag_median:.0%} of the CLI's time; the raw LIST and the library call pay none)")
        print(f"diagnose peak RSS: {max(rss):.0f} MB  (target <= 150 MB)")
        print("CPU-s, medians: client " + ", ".join(
            f"{name} {statistics.median(c for c, _a in runs):.2f}" for name, runs in cpu.items()))
        if server is not None:
            print("  API server during each: " + ", ".join(
                f"{name} {statistics.median(a for _c, a in runs):.2f}" for name, runs in cpu.items()))


if __name__ == "__main__":
    asyncio.run(main())
