"""Incremental evaluation gives exactly the findings of a full evaluation.

The model is the live sandbox with the demo workload (real faults, real
controllers); the property is then checked offline on that model: for every
object, (a) re-evaluating it and its relations changes nothing, and (b) when
it disappears, re-evaluating its relations gives the full result of the
model without it. (b) is what makes ``watch.relations`` complete: a deleted
Node must re-evaluate its pods, a deleted ConfigMap the pods that mount it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

from kubesteward.checks.settings import CheckSettings
from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import NotFound
from kubesteward.findings import Finding
from kubesteward.model.cluster import KIND_ATTRS, ClusterModel, key_of
from kubesteward.model.load import load_cluster
from kubesteward.sandbox.demo import apply_demo, wait_for_demo
from kubesteward.sandbox.faults import FAULT_LABEL, RESTART_INTERVAL_ANNOTATION
from kubesteward.watch.cluster import ClusterWatch, Evaluated, WatchSettings
from kubesteward.watch.evaluate import IncrementalEvaluator
from kubesteward.watch.relations import affected
from tests.support.nodes import TOLERATE_TEST_TAINT, MakeNode
from tests.support.wait import eventually

Obj = dict[str, Any]


def signature(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return sorted((f.code, str(f.object), f.message) for f in findings)


def without(model: ClusterModel, victim: Any) -> ClusterModel:
    """A fresh model (no cached indexes) minus one object."""
    lists = {attr: [o for o in getattr(model, attr) if o is not victim] for attr in KIND_ATTRS.values()}
    return dataclasses.replace(model, **lists)  # type: ignore[arg-type]


async def test_incremental_evaluation_matches_full_evaluation(kube: KubeClient, sandbox_kubeconfig: Path) -> None:
    await apply_demo(sandbox_kubeconfig)
    await wait_for_demo(sandbox_kubeconfig)
    model = await load_cluster(kube)
    objects = [o for o in model.all_objects()]
    assert len(objects) > 50
    evaluator = IncrementalEvaluator()
    full = signature(evaluator.full(model))
    assert full, "the demo workload has faults"

    unstable, incomplete = [], []
    for obj in objects:
        keys = affected(model, obj)
        if keys is None:
            continue
        evaluator.full(model)
        if signature(evaluator.update(model, keys)) != full:
            unstable.append(str(key_of(obj)) if obj.kind != "Event" else f"Event/{obj.metadata.name}")

        smaller = without(model, obj)
        expected = signature(IncrementalEvaluator().full(smaller))
        evaluator.full(model)
        dirty = affected(smaller, obj)
        got = signature(evaluator.full(smaller) if dirty is None else evaluator.update(smaller, dirty))
        if got != expected:
            missing = [f for f in expected if f not in got][:2]
            extra = [f for f in got if f not in expected][:2]
            incomplete.append(f"{obj.kind}/{obj.metadata.name}: missing {missing} extra {extra}")
    assert unstable == []
    assert incomplete == []


# --------------------------------------------------------------------------- live: every batch, incremental == full

NO_TIME = CheckSettings(pod_not_ready_seconds=0, pod_pending_seconds=0, hpa_condition_seconds=0)


def pod(name: str, namespace: str, *, node: str | None = None, fault: str | None = None,
        config: str | None = None) -> Obj:
    spec: Obj = {
        "containers": [{"name": "app", "image": "registry.example.com/shop/api:1"}],
        "terminationGracePeriodSeconds": 0,
        "tolerations": TOLERATE_TEST_TAINT,
    }
    if node:
        spec["nodeName"] = node
    if config:
        spec["containers"][0]["env"] = [
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": config, "key": "mode"}}}]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "api", **({FAULT_LABEL: fault} if fault else {})},
                     "annotations": {RESTART_INTERVAL_ANNOTATION: "2s"}},
        "spec": spec,
    }


async def test_every_incremental_pass_of_a_live_watch_equals_a_full_pass(
    kube: KubeClient, namespace: str, make_node: MakeNode
) -> None:
    mismatches: list[str] = []
    passes = {"incremental": 0}

    async def check(evaluated: Evaluated) -> None:
        if evaluated.full:
            return
        passes["incremental"] += 1
        # Messages may quote ages ("NotReady for 2s"); what must match is which findings exist.
        expected = sorted((f.code, str(f.object), f.severity) for f in IncrementalEvaluator(NO_TIME).full(evaluated.model))
        got = sorted((f.code, str(f.object), f.severity) for f in evaluated.findings)
        if got != expected:
            mismatches.append(f"missing {[f for f in expected if f not in got][:2]} extra "
                              f"{[f for f in got if f not in expected][:2]}")

    watch = ClusterWatch(kube, IncrementalEvaluator(NO_TIME), check, namespace=namespace,
                         settings=WatchSettings(resync=3600.0, batch_window=0.05))
    await watch.start()
    stop = asyncio.Event()
    task = asyncio.create_task(watch.run(stop))
    try:
        node = await make_node()
        await kube.create(pod("pinned", namespace, node=node))
        await kube.create(pod("crasher", namespace, fault="crashloop-error"))
        await kube.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": namespace},
                           "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 8080}]}})
        await kube.create(pod("reader", namespace, config="settings"))  # the ConfigMap does not exist yet
        await asyncio.sleep(4)
        # The node goes NotReady: its pods' findings change although the pods did not.
        await kube.patch(resources.NODE, node, {"metadata": {"labels": {FAULT_LABEL: "not-ready"}}})
        await asyncio.sleep(6)
        # The missing ConfigMap appears: the pod that references it is fine now.
        await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
                           "data": {"mode": "fast"}})
        await asyncio.sleep(3)
        await kube.delete(resources.POD, "crasher", namespace=namespace)
        await kube.patch(resources.NODE, node, {"metadata": {"labels": {FAULT_LABEL: None}}})
        await asyncio.sleep(6)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
    assert passes["incremental"] >= 5
    assert mismatches == []


# --------------------------------------------------------------------------- pods watched per namespace


async def test_a_cluster_wide_watch_follows_pods_per_namespace_and_namespaces_as_they_come_and_go(
    kube: KubeClient,
) -> None:
    latest: list[Evaluated] = []

    async def record(evaluated: Evaluated) -> None:
        latest[:] = [evaluated]

    watch = ClusterWatch(kube, IncrementalEvaluator(NO_TIME), record, settings=WatchSettings(resync=3600.0))
    await watch.start()

    def pod_shards() -> dict[str | None, Any]:
        return {i.source.namespace: i for i in watch.informers if i.kind == "Pod"}

    # The initial load listed pods per namespace; one watch continues each LIST.
    assert None not in pod_shards() and {"default", "kube-system"} <= pod_shards().keys()
    name = f"t-late-{uuid.uuid4().hex[:6]}"
    stop = asyncio.Event()
    task = asyncio.create_task(watch.run(stop))
    try:
        # A namespace that did not exist at start: its pods must be seen (a new shard lists, then watches).
        await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        await kube.create(pod("crasher", name, fault="crashloop-error"))

        async def crasher_findings() -> list[str]:
            return [f.code for f in latest[0].findings if f.object.namespace == name] if latest else []

        codes = await eventually(crasher_findings, bool, timeout=60, what=f"a finding for the pod in {name}")
        assert "KS101" in codes, codes
        assert name in pod_shards() and pod_shards()[name].stats.events + len(pod_shards()[name].store) >= 1
        assert sum(1 for i in watch.informers if i.kind == "Pod" and i.source.namespace == name) == 1

        # The namespace goes: its pods are deleted first, then its pod watch is stopped.
        seen = pod_shards()[name].stats.events
        await kube.delete(resources.NAMESPACE, name)

        async def shard_gone() -> bool:
            return name not in pod_shards()

        await eventually(shard_gone, bool, timeout=90, what=f"the pod watch of {name} to stop")
        assert latest and all(p.metadata.namespace != name for p in latest[0].model.pods)
        # Its events stay counted (the exported counters are sums over informers: never down).
        assert seen >= 1 and watch.retired_events["Pod"] >= seen
        assert not [f for f in latest[0].findings if f.object.namespace == name]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
        try:
            await kube.delete(resources.NAMESPACE, name)
        except NotFound:
            pass
