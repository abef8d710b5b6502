"""Seed a sandbox with the demo workload (``kubesteward sandbox up --demo``)."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kubesteward.cluster import KubeClient, load_config

DEMO_NAMESPACE = "demo"
FIELD_MANAGER = "kubesteward-demo"


def demo_objects() -> list[dict[str, Any]]:
    text = resources.files("kubesteward.sandbox").joinpath("demo.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


async def apply_demo(kubeconfig: Path) -> int:
    """Server-side apply every demo object (idempotent); returns how many were applied."""
    objects = demo_objects()
    async with KubeClient(load_config(str(kubeconfig))) as client:
        # Namespaces and nodes first: everything else lives in or on them.
        first = [o for o in objects if o["kind"] in ("Namespace", "Node")]
        rest = [o for o in objects if o["kind"] not in ("Namespace", "Node")]
        for obj in first:
            await client.apply(obj, field_manager=FIELD_MANAGER, force=True)
        await asyncio.gather(*(client.apply(o, field_manager=FIELD_MANAGER, force=True) for o in rest))
    return len(objects)


async def _converged(client: KubeClient) -> bool:
    """The demo's faults are visible: every pod scheduled or judged unschedulable,
    the crash loops have restarted once, the flaky node has gone NotReady."""
    from kubesteward.cluster import resources as r
    from kubesteward.model.objects import Node, Pod, condition

    pods = (await client.list(r.POD, namespace=DEMO_NAMESPACE, type=Pod)).items
    node = await client.get(r.NODE, "kwok-flaky-0", type=Node)
    ready = condition(node.status.conditions, "Ready")
    if ready is None or ready.status == "True":
        return False
    crashing = [p for p in pods if (p.metadata.labels or {}).get("app") == "checkout"]
    if len(crashing) < 3 or not all(
        any(cs.restartCount > 0 for cs in p.status.containerStatuses or []) for p in crashing
    ):
        return False
    return all(p.spec.nodeName or condition(p.status.conditions, "PodScheduled") is not None for p in pods)


async def wait_for_demo(kubeconfig: Path, timeout: float = 90.0) -> bool:
    async with KubeClient(load_config(str(kubeconfig))) as client:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if await _converged(client):
                return True
            await asyncio.sleep(1.0)
    return False


def seed_and_wait(kubeconfig: Path, timeout: float = 90.0) -> bool:
    async def main() -> bool:
        await apply_demo(kubeconfig)
        return await wait_for_demo(kubeconfig, timeout)

    return asyncio.run(main())
