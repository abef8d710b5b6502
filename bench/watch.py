#!/usr/bin/env python3
"""Benchmark: `kubesteward watch` throughput and alert latency on a real API server.

In a sandbox with a populated cluster (Deployments, pods, Services, Events):

1. **Live**: the watch engine runs (every analyzer on, alerting to a real
   webhook receiver on loopback) while a separate process patches pods as fast
   as the API server accepts (``--updates``). Meanwhile ``--probes`` Services
   whose selector matches nothing are created one by one: each is a new
   incident, so *API write -> webhook receipt* is the alert latency (threshold
   and group_wait 0). Reported: p50/p99 latency (target p99 <= 1 s), the
   event rate the API server delivered, and the engine's CPU per event.
2. **Replay**: a fresh watch started from a resourceVersion recorded about a
   minute before the churn ended receives every pod event since, back-to-back
   from the API server's watch cache, as fast as it can take them. Reported: pod events
   processed per second with analyzers on (target >= 5,000/s), from the
   watch's start until the evaluation that covers the last event has
   finished (informer decode, model update, incremental evaluation and
   incidents included), and the engine's capacity: events per CPU-second
   (what it could take from a faster API server; here the server's own
   delivery rate bounds the replay).

    python bench/watch.py [--pods 2000] [--updates 20000] [--probes 100] [--keep] [--kubeconfig PATH]

Not a test: it prints figures; nothing fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from diagnose import MARK, populated_cluster  # noqa: E402  (the same population as bench/diagnose.py)

from kubesteward.alerts.lifecycle import AlertPolicy  # noqa: E402
from kubesteward.alerts.sinks import build_sinks  # noqa: E402
from kubesteward.cluster import KubeClient, load_config, resources  # noqa: E402
from kubesteward.model.objects import Pod  # noqa: E402
from kubesteward.state.store import StateStore  # noqa: E402
from kubesteward.watch.cluster import ClusterWatch, Evaluated, WatchSettings  # noqa: E402
from kubesteward.watch.evaluate import IncrementalEvaluator  # noqa: E402
from kubesteward.watch.service import WatchService  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent.parent))
from tests.support.receiver import Receiver  # noqa: E402

# --------------------------------------------------------------------------- churn (a separate process)


async def churn(kubeconfig: str, updates: int, concurrency: int) -> None:
    """Patch bench pods' annotations round-robin: each accepted patch is one MODIFIED pod event."""
    client = KubeClient(load_config(kubeconfig), timeout=60, max_connections=concurrency)
    pods = (await client.list(resources.POD, label_selector=MARK, type=Pod, limit=500)).items
    targets = [(p.metadata.namespace, p.metadata.name) for p in pods]
    counter = iter(range(updates))
    failures: dict[str, int] = {}
    # A value a pod already has would make a no-op patch (no new resourceVersion, no event):
    # every run writes its own.
    run = f"{time.time():.0f}"

    async def worker() -> None:
        for i in counter:
            ns, name = targets[i % len(targets)]
            patch = {"metadata": {"annotations": {"kubesteward.io/bench-tick": f"{run}-{i}"}}}
            try:
                await client.patch(resources.POD, name, patch, namespace=ns)
            except Exception as exc:  # e.g. a pod replaced meanwhile: counted, not fatal
                reason = type(exc).__name__
                failures[reason] = failures.get(reason, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.aclose()
    if failures:
        print(f"churn: {sum(failures.values())} of {updates} patches failed: {failures}", flush=True)


# --------------------------------------------------------------------------- measurements


def pod_events(watch: ClusterWatch) -> int:
    return sum(i.stats.events for i in watch.informers if i.kind == "Pod")


async def current_pod_rv(client: KubeClient) -> str:
    """The pods collection's current resourceVersion: one GET of a one-item page (not a paged LIST)."""
    page = await client.get_json(resources.POD.collection_path(), params={"limit": 1})
    return str(page["metadata"]["resourceVersion"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def live_phase(kubeconfig: Path, args: argparse.Namespace, hook: Receiver, state: str) -> tuple[str, int]:
    client = KubeClient(load_config(str(kubeconfig)), timeout=120)
    store = StateStore.open(state)
    service = WatchService(
        [client], store, build_sinks([f"webhook={hook.url}/hook"]),
        # Probes are new groups (group_wait 0: sent at once); a long group interval keeps the crash-looping
        # bench workloads' restart updates from turning the run into a notification benchmark.
        policy=AlertPolicy(thresholds={}, default_threshold=0, group_wait=0, group_interval=3600, repeat_interval=3600),
        watch=WatchSettings(resync=3600), tick=0.2,
    )
    started = time.perf_counter()
    await service.start()
    print(f"engine synced (initial LIST + full evaluation) in {time.perf_counter() - started:.2f}s", flush=True)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop, started=True))
    watch = service.watches[0]

    probe_ns = f"bench-probes-{int(time.time())}"  # the previous run's may still be terminating
    await client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": probe_ns}})
    events0, cpu0, wall0 = pod_events(watch), time.process_time(), time.perf_counter()
    # (time, resourceVersion, pod events seen) every second: the replay starts from one of these.
    marks: list[tuple[float, str, int]] = []

    async def mark() -> None:
        while True:
            marks.append((time.monotonic(), await current_pod_rv(client), pod_events(watch) - events0))
            await asyncio.sleep(1.0)

    marker = asyncio.create_task(mark())
    loadgen = subprocess.Popen([sys.executable, __file__, "--churn", str(kubeconfig), str(args.updates),
                                str(args.concurrency)])
    created: dict[str, float] = {}
    for i in range(args.probes):
        name = f"probe-{int(time.time())}-{i:03d}"
        await client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": probe_ns},
                             "spec": {"clusterIP": "None", "selector": {"app": f"nothing-{i}"},
                                      "ports": [{"port": 80}]}})
        created[name] = time.monotonic()  # the API accepted the write
        await asyncio.sleep(args.probe_interval)
    await asyncio.to_thread(loadgen.wait)
    churn_wall = time.perf_counter() - wall0
    deadline = time.monotonic() + 120
    while pod_events(watch) - events0 < args.updates * 0.99 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)
    events, cpu, wall = pod_events(watch) - events0, time.process_time() - cpu0, time.perf_counter() - wall0
    marker.cancel()
    # The API server's watch cache keeps at least the last 75 s of events (more only while it is not
    # full); replay from the mark ~60 s before the end of the churn.
    end = time.monotonic()
    start_mark = min(marks, key=lambda m: abs((end - m[0]) - args.replay_window))
    rv0, replay_events = start_mark[1], events - start_mark[2]

    received: dict[str, float] = {}
    for request in hook.requests:
        if request.ok:
            for alert in request.json()["alerts"]:
                name = alert["labels"]["name"]
                if name in created and alert["status"] == "firing":
                    received.setdefault(name, request.received_at)
    latencies = [received[n] - created[n] for n in created if n in received]
    stop.set()
    await task
    await client.delete(resources.NAMESPACE, probe_ns)
    await client.aclose()
    store.close()

    pod_informers = [i for i in watch.informers if i.kind == "Pod"]
    print(f"\npod watch: {sum(i.stats.relists for i in pod_informers)} re-lists, "
          f"{sum(i.stats.reconnects for i in pod_informers)} reconnects")
    print(f"live: {events} pod events in {wall:.1f}s while the API server took {args.updates} patches "
          f"in {churn_wall:.1f}s -> {events / wall:.0f} events/s delivered by the API server")
    print(f"live: engine CPU {cpu:.2f}s for {events} pod events + {len(created)} probes = "
          f"{1e6 * cpu / max(events, 1):.0f} us/event ({events / max(cpu, 1e-9):.0f} events per CPU-second)")
    if latencies:
        print(f"alert latency (API write -> webhook receipt), {len(latencies)}/{len(created)} probes, under churn: "
              f"p50 {1000 * statistics.median(latencies):.0f} ms, p99 {1000 * percentile(latencies, 0.99):.0f} ms, "
              f"max {1000 * max(latencies):.0f} ms  (target p99 <= 1000 ms)")
    else:
        print("alert latency: no probe alert received")
    return rv0, replay_events


async def replay_phase(kubeconfig: Path, rv0: str, expected: int) -> None:
    client = KubeClient(load_config(str(kubeconfig)), timeout=120)
    batches = {"n": 0, "incidents": 0}
    last_evaluation = 0.0

    async def on_evaluated(evaluated: Evaluated) -> None:
        nonlocal last_evaluation
        batches["n"] += 1
        batches["incidents"] = len(evaluated.incidents)
        last_evaluation = time.perf_counter()

    watch = ClusterWatch(client, IncrementalEvaluator(), on_evaluated, settings=WatchSettings(resync=3600))
    await watch.start()
    pod_informers = [i for i in watch.informers if i.kind == "Pod"]
    for informer in pod_informers:
        informer.resource_version = rv0  # replay every pod event since before the churn
    stop = asyncio.Event()
    started, cpu0 = time.perf_counter(), time.process_time()
    task = asyncio.create_task(watch.run(stop))
    deadline = time.monotonic() + 300
    first = 0.0
    while pod_events(watch) < expected and time.monotonic() < deadline:
        if any(i.stats.relists for i in pod_informers):
            break
        if not first and pod_events(watch):
            first = time.perf_counter()  # the watches are connected and the server is streaming
        await asyncio.sleep(0.002)
    received = time.perf_counter()
    # Processed means evaluated: wait for the pass that covers the last event.
    while last_evaluation < received and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    wall, cpu = last_evaluation - started, time.process_time() - cpu0
    stop.set()
    await task
    relists = sum(i.stats.relists for i in pod_informers)
    events = pod_events(watch)
    await client.aclose()
    note = " (the watch cache no longer held the start: it re-listed instead)" if relists else ""
    # Incidents are rebuilt for every batch inside ClusterWatch.evaluate (counted in the time).
    print(f"\nreplay: {events} pod events from the API server's watch cache, all received in {received - started:.2f}s "
          f"and evaluated in {wall:.2f}s -> {events / wall:.0f} events/s processed with analyzers on, "
          f"{batches['n']} evaluation batches{note}  (target >= 5000/s)")
    print(f"replay: from the first event (connections set up) to the last evaluated: {last_evaluation - first:.2f}s "
          f"-> {events / (last_evaluation - first):.0f} events/s")
    print(f"replay: engine CPU {cpu:.2f}s = {cpu * 1e6 / max(events, 1):.0f} us/event -> capacity "
          f"{events / max(cpu, 1e-9):.0f} events per CPU-second")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--replay-window", type=float, default=60.0,
                        help="replay the last this many seconds of the churn (the watch cache keeps >= 75 s)")
    parser.add_argument("--kubeconfig", help="use this cluster instead of a bench sandbox")
    parser.add_argument("--keep", action="store_true", help="leave the bench sandbox running")
    parser.add_argument("--churn", nargs=3, metavar=("KUBECONFIG", "UPDATES", "CONCURRENCY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.churn:
        await churn(args.churn[0], int(args.churn[1]), int(args.churn[2]))
        return

    async with populated_cluster("bench-watch", args.pods, args.kubeconfig, keep=args.keep, spread=False) as kubeconfig:
        with Receiver() as hook, tempfile.TemporaryDirectory() as tmp:
            rv0, events = await live_phase(kubeconfig, args, hook, f"sqlite:///{tmp}/watch.db")
        await replay_phase(kubeconfig, rv0, events)


if __name__ == "__main__":
    asyncio.run(main())
