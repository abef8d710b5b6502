#!/usr/bin/env python3
"""Benchmark of the policy engine's entry points, one section each:

- ``lint``: ``kubesteward lint`` on one multi-document YAML of 5,000 objects (Namespaces,
  Deployments, StatefulSets, CronJobs, Services, ConfigMaps, HPAs, PDBs, Ingresses, NetworkPolicies,
  ServiceAccounts, Roles and RoleBindings, a share of them breaking rules), through the CLI end to end:
  a new process per run, as CI runs it (process start, reading, judging, locating the findings' lines,
  writing the report). Wall seconds (median and worst of the runs), CPU seconds, peak RSS, findings.
  Target: <= 2 s for 5,000 objects.
- ``webhook``: admission latency of ``kubesteward webhook serve`` (its own process, its generated CA) at
  a steady rate (an open loop: each request sent when due, its latency counted from then): AdmissionReviews
  of the lint section's workloads POSTed over HTTPS straight to ``/validate`` and ``/mutate``, and, with
  ``--kubeconfig``, dry-run pod creates through that cluster's API server with and without the webhook
  registered (``url:`` clientConfig on 127.0.0.1, so the API server must run on this host). p50/p99/max.
  Target: p99 <= 20 ms directly at 100 requests/s.

    python bench/policy.py [SECTION…] [--objects 5000] [--runs 5] [--format json] [--rate 100] [--seconds 20]
                           [--kubeconfig PATH]

With no section, every section runs. Not a test: it prints figures; nothing fails on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

# -- lint ----------------------------------------------------------------------------------------

NAMESPACES = 20


def _container(app: str, number: int) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": f"registry.example.com/{app}:1.{number % 7}.0",
        "ports": [{"containerPort": 8080, "name": "http"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "DB_PASSWORD", "valueFrom": {
            "secretKeyRef": {"name": f"{app}-db", "key": "password"}}}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/live", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    # A realistic share of workloads break rules, each in its own way.
    if number % 10 == 0:
        del container["resources"]
    if number % 13 == 0:
        container["image"] = f"docker.io/library/{app}:latest"
    if number % 17 == 0:
        container["securityContext"] = {"privileged": True}
    if number % 11 == 0:
        del container["livenessProbe"]
    return container


def _pod_spec(app: str, number: int) -> dict[str, Any]:
    return {
        "serviceAccountName": app,
        "automountServiceAccountToken": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}, "runAsUser": 10001},
        "containers": [_container(app, number)],
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {"app": app}}}],
    }


def _app(namespace: str, number: int) -> Iterator[dict[str, Any]]:
    """One application: its workload and what goes with it (10 objects)."""
    app = f"app{number:04d}"
    meta = {"name": app, "namespace": namespace, "labels": {"app": app, "team": f"team{number % 9}"}}
    template = {"metadata": {"labels": {"app": app}}, "spec": _pod_spec(app, number)}
    if number % 8 == 0:
        yield {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta,
               "spec": {"replicas": 3, "serviceName": app, "selector": {"matchLabels": {"app": app}},
                        "template": template}}
    elif number % 9 == 0:
        # an old apiVersion, removed since 1.25
        yield {"apiVersion": "batch/v1beta1" if number % 18 == 0 else "batch/v1", "kind": "CronJob", "metadata": meta,
               "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {
                   "metadata": template["metadata"], "spec": {**template["spec"], "restartPolicy": "OnFailure"}}}}}}
    else:
        yield {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
               "spec": {"replicas": 1 if number % 7 == 0 else 3, "selector": {"matchLabels": {"app": app}},
                        "template": template}}
    selector = {"app": app if number % 23 else f"{app}-typo"}
    yield {"apiVersion": "v1", "kind": "Service", "metadata": meta,
           "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    yield {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": f"{app}-config"},
           "data": {"app.yaml": f"name: {app}\nreplicas: 3\n"}}
    yield {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    yield {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
                    "minReplicas": 3, "maxReplicas": 10,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                                  "target": {"type": "Utilization",
                                                                             "averageUtilization": 70}}}]}}
    yield {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta,
           "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}}}
    yield {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
           "spec": {"ingressClassName": "nginx", "rules": [{"host": f"{app}.example.com", "http": {"paths": [
               {"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": app, "port": {"name": "http"}}}}]}}]}}
    yield {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
           "spec": {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "ingress-nginx"}}}]}]}}
    yield {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
           "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]}
    yield {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": app},
           "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": namespace}]}


def lint_objects(count: int) -> list[dict[str, Any]]:
    """``count`` objects: the namespaces, then applications spread over them."""
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{n:02d}"}} for n in range(NAMESPACES)
    ]
    number = 0
    while len(objects) < count:
        objects.extend(_app(f"team-{number % NAMESPACES:02d}", number))
        number += 1
    return objects[:count]


def run_cli(args: list[str], output: Path) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak RSS (MB) and exit code of one CLI process (stdout to ``output``)."""
    with open(output, "wb") as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "kubesteward", *args], stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            err.seek(0)
            raise SystemExit(f"kubesteward {' '.join(args)} failed with exit code {code}: {err.read().decode()}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def bench_lint(args: argparse.Namespace) -> None:
    objects = lint_objects(args.objects)
    with tempfile.TemporaryDirectory(prefix="kubesteward-bench-") as tmp:
        path = Path(tmp) / "manifests.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        size = path.stat().st_size
        kinds: dict[str, int] = {}
        for obj in objects:
            kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
        print(f"lint: {len(objects)} objects, {size / 1e6:.1f} MB of YAML: "
              + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items())))
        command = ["lint", str(path), "-o", args.format]
        report = Path(tmp) / "report"
        run_cli(command, report)  # warm the page cache and the bytecode
        walls, cpus = [], []
        rss = 0.0
        for _ in range(args.runs):
            wall, cpu, peak, _code = run_cli(command, report)
            walls.append(wall)
            cpus.append(cpu)
            rss = max(rss, peak)
        findings = _count_findings(report.read_bytes(), args.format)
        print(f"lint -o {args.format}: wall median {statistics.median(walls):.2f} s, worst {max(walls):.2f} s "
              f"(target <= 2 s), CPU median {statistics.median(cpus):.2f} s, peak RSS {rss:.0f} MB, "
              f"{findings} findings, {args.runs} runs")
        # On a shared machine wall time is CPU time plus waiting for a core: say how busy it was.
        print(f"load average during the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def _count_findings(out: bytes, fmt: str) -> str:
    if fmt != "json":
        return "?"
    import json

    return str(sum(len(run["findings"]) for run in json.loads(out)["runs"]))


# -- webhook -------------------------------------------------------------------------------------

WEBHOOK_NAMESPACE = "bench-webhook"


def _review(number: int, obj: dict[str, Any]) -> bytes:
    import json

    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": f"bench-{number}", "operation": "CREATE", "namespace": obj["metadata"]["namespace"], "object": obj,
        "kind": {"group": "apps", "version": "v1", "kind": obj["kind"]}, "dryRun": False}}).encode()


def _admission_objects() -> list[dict[str, Any]]:
    """What the webhook is sent: the lint section's Deployments, StatefulSets and CronJobs (a share break rules)."""
    return [obj for obj in lint_objects(400) if obj["kind"] in ("Deployment", "StatefulSet", "CronJob")]


def _bench_pod(number: int) -> dict[str, Any]:
    container = _container(f"app{number:04d}", 1)  # compliant but for what the mutation adds
    del container["resources"], container["securityContext"]["allowPrivilegeEscalation"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"bench-{number}", "namespace": WEBHOOK_NAMESPACE},
            "spec": {"automountServiceAccountToken": False, "containers": [container],
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 10001}}}


def _percentiles(latencies: list[float]) -> str:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"p50 {at(0.50):.1f} ms, p99 {at(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms"


async def _steady(rate: float, seconds: float, send: Callable[[int], Any]) -> tuple[list[float], int]:
    """Send ``rate`` requests a second for ``seconds``, each when its time comes whatever the earlier ones
    are doing (an open loop, as the API server's callers are): latency from when it was due, so a stall
    counts against every request it delays. Returns the latencies and the failures."""
    import asyncio

    latencies: list[float] = []
    failures = 0

    async def one(number: int, due: float) -> None:
        nonlocal failures
        try:
            await send(number)
        except Exception:
            failures += 1
            return
        latencies.append(time.perf_counter() - due)

    tasks = []
    started = time.perf_counter()
    for number in range(int(rate * seconds)):
        due = started + number / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(one(number, due)))
    await asyncio.gather(*tasks)
    return latencies, failures


def _start_webhook(cert_dir: Path) -> tuple[subprocess.Popen[str], str]:
    import re

    process = subprocess.Popen([sys.executable, "-m", "kubesteward", "webhook", "serve", "--listen", "127.0.0.1:0",
                                "--cert-dir", str(cert_dir)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               text=True)
    assert process.stderr is not None
    for line in process.stderr:
        found = re.search(r"serving (https://127\.0\.0\.1:\d+)", line)
        if found:
            return process, found.group(1)
    raise SystemExit(f"the webhook server did not start (exit code {process.wait()})")


def bench_webhook(args: argparse.Namespace) -> None:
    import asyncio

    with tempfile.TemporaryDirectory(prefix="kubesteward-bench-") as tmp:
        process, url = _start_webhook(Path(tmp))
        try:
            asyncio.run(_webhook_direct(args, url, Path(tmp) / "ca.crt"))
            if args.kubeconfig:
                asyncio.run(_webhook_through_api_server(args, url, Path(tmp)))
            else:
                print("webhook through the API server: skipped (give --kubeconfig of a cluster whose API server "
                      "runs on this host, e.g. a sandbox's)")
        finally:
            process.terminate()
            process.wait(timeout=10)


async def _webhook_direct(args: argparse.Namespace, url: str, ca: Path) -> None:
    import ssl

    import aiohttp

    objects = _admission_objects()
    context = ssl.create_default_context(cafile=str(ca))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        for path in ("/validate", "/mutate"):
            async def send(number: int, path: str = path) -> None:
                body = _review(number, objects[number % len(objects)])
                async with session.post(url + path, data=body, headers={"Content-Type": "application/json"}) as answer:
                    answer.raise_for_status()
                    await answer.read()

            await _steady(args.rate, 1.0, send)  # warm: connections, the rules' first calls
            latencies, failures = await _steady(args.rate, args.seconds, send)
            print(f"webhook {path} directly at {args.rate:g}/s for {args.seconds:g} s: {_percentiles(latencies)} "
                  f"(target p99 <= 20 ms), {failures} failed")


async def _webhook_through_api_server(args: argparse.Namespace, url: str, cert_dir: Path) -> None:
    import asyncio
    import contextlib
    import json

    from kubesteward.cluster import KubeClient, load_config, resources
    from kubesteward.errors import Conflict
    from kubesteward.webhook.certs import TLSFiles
    from kubesteward.webhook.install import Registration, configurations, install, uninstall

    client = KubeClient(load_config(args.kubeconfig), timeout=30)
    path = resources.POD.collection_path(WEBHOOK_NAMESPACE)
    try:
        try:
            await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": WEBHOOK_NAMESPACE}})
        except Conflict:
            pass

        async def send(number: int) -> None:
            await client.request("POST", path, params={"dryRun": "All"}, content=json.dumps(_bench_pod(number)).encode(),
                                 headers={"Content-Type": "application/json"})

        await _steady(args.rate, 1.0, send)
        without, failed_without = await _steady(args.rate, args.seconds, send)
        name = "kubesteward-bench"
        bundle = TLSFiles(cert_dir / "ca.crt", cert_dir / "ca.crt").ca_bundle()
        await install(client, configurations(Registration(ca_bundle=bundle, url=url, name=name,
                                                          namespaces=(WEBHOOK_NAMESPACE,))))
        try:
            await asyncio.sleep(2)  # the API server sees new configurations within a second or so
            await _steady(args.rate, 1.0, send)
            with_webhook, failed_with = await _steady(args.rate, args.seconds, send)
        finally:
            await uninstall(client, name)
        print(f"dry-run pod creates through the API server at {args.rate:g}/s for {args.seconds:g} s:")
        print(f"  without the webhook: {_percentiles(without)}, {failed_without} failed")
        print(f"  with it (mutate + validate): {_percentiles(with_webhook)}, {failed_with} failed")
    finally:
        with contextlib.suppress(Exception):
            await client.delete(resources.NAMESPACE, WEBHOOK_NAMESPACE)
        await client.aclose()


# -- sections ------------------------------------------------------------------------------------

SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "lint": bench_lint,
    "webhook": bench_webhook,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", choices=[*SECTIONS, []], metavar="SECTION",
                        help=f"which benchmarks to run ({', '.join(SECTIONS)}; default: all)")
    parser.add_argument("--objects", type=int, default=5000, help="lint: objects in the manifest file")
    parser.add_argument("--runs", type=int, default=5, help="lint: measured runs (after one warm-up run)")
    parser.add_argument("--format", default="json", help="lint: output format")
    parser.add_argument("--rate", type=float, default=100.0, help="webhook: admission requests a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="webhook: seconds of requests per measurement")
    parser.add_argument("--kubeconfig", help="webhook: also through this cluster's API server (e.g. a sandbox's)")
    args = parser.parse_args()
    for name in args.sections or list(SECTIONS):
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
