"""Every write verb against the real control plane: server-side apply, dry run, the three patch
types, delete with preconditions and each propagation policy (the real garbage collector),
eviction against a real PodDisruptionBudget (the real disruption controller), the scale
subresource, and a custom resource the test defines (found through discovery).

Retry rules are checked through the fault proxy in front of the same API server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubesteward.cluster import KubeClient, Preconditions, RetryPolicy, resources
from kubesteward.cluster.writes import PatchType
from kubesteward.errors import Conflict, DisruptionBlocked, Invalid, NotFound, ServerError
from tests.support.kinds import builtin, exists
from tests.support.proxy import FaultProxy, client_via
from tests.support.wait import eventually

Obj = dict[str, Any]


CONFIGMAPS = builtin("v1", "ConfigMap")
DEPLOYMENTS = builtin("apps/v1", "Deployment")
REPLICASETS = builtin("apps/v1", "ReplicaSet")
PDBS = builtin("policy/v1", "PodDisruptionBudget")
CRDS = builtin("apiextensions.k8s.io/v1", "CustomResourceDefinition")
TOLERATE_KWOK = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, total=10)


def configmap(name: str, namespace: str, **data: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}


def deployment(name: str, replicas: int = 1) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "tolerations": TOLERATE_KWOK,
                    "containers": [{"name": "app", "image": f"registry.example.com/{name}:1.0"}],
                },
            },
        },
    }


async def replicasets_of(kube: KubeClient, namespace: str, app: str) -> list[Obj]:
    return (await kube.list(REPLICASETS, namespace=namespace, label_selector=f"app={app}")).items


async def ready_pods(kube: KubeClient, namespace: str, app: str) -> list[Obj]:
    pods = (await kube.list(resources.POD, namespace=namespace, label_selector=f"app={app}")).items
    return [
        p for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
    ]


def managers(obj: Obj) -> dict[str, str]:
    return {m["manager"]: m["operation"] for m in obj["metadata"].get("managedFields", [])}


# ---------------------------------------------------------------------------- server-side apply


async def test_server_side_apply_creates_then_updates_and_drops_what_it_no_longer_applies(
    kube: KubeClient, namespace: str
) -> None:
    created = await kube.apply(configmap("ssa", namespace, a="1", b="2"))
    assert created["data"] == {"a": "1", "b": "2"}
    assert managers(created) == {"kubesteward": "Apply"}
    uid = created["metadata"]["uid"]

    updated = await kube.apply(configmap("ssa", namespace, a="changed"))
    assert updated["metadata"]["uid"] == uid  # the same object, updated in place
    assert updated["data"] == {"a": "changed"}  # b was ours and is no longer applied: removed
    assert (await kube.get(CONFIGMAPS, "ssa", namespace))["data"] == {"a": "changed"}


async def test_apply_conflict_names_the_fields_and_their_manager_and_force_takes_them(
    kube: KubeClient, namespace: str
) -> None:
    await kube.apply(configmap("shared", namespace, a="theirs", b="theirs", c="theirs"), field_manager="other-tool")

    with pytest.raises(Conflict) as info:
        await kube.apply(configmap("shared", namespace, a="ours", b="ours"))
    message = str(info.value)
    assert ".data.a" in message and ".data.b" in message and ".data.c" not in message
    assert '"other-tool"' in message and "\n" not in message
    assert info.value.exit_code == 7
    assert (await kube.get(CONFIGMAPS, "shared", namespace))["data"]["a"] == "theirs"  # nothing written

    forced = await kube.apply(configmap("shared", namespace, a="ours", b="ours"), force=True)
    assert forced["data"] == {"a": "ours", "b": "ours", "c": "theirs"}
    owned = {m["manager"]: m["fieldsV1"] for m in forced["metadata"]["managedFields"]}
    assert set(owned["kubesteward"]["f:data"]) == {"f:a", "f:b"}  # the forced fields are ours now
    assert set(owned["other-tool"]["f:data"]) == {"f:c"}


# ---------------------------------------------------------------------------- dry run


async def test_dry_run_of_every_verb_leaves_nothing_behind(kube: KubeClient, namespace: str) -> None:
    # Objects that do not exist yet stay absent.
    await kube.create(configmap("ghost", namespace, a="1"), dry_run=True)
    applied = await kube.apply(configmap("ghost-applied", namespace, a="1"), dry_run=True)
    assert applied["data"] == {"a": "1"}  # the server answered with what it would store
    for name in ("ghost", "ghost-applied"):
        with pytest.raises(NotFound):
            await kube.get(CONFIGMAPS, name, namespace)

    # Objects that exist stay as they are.
    original = await kube.create(configmap("real", namespace, a="1"))
    previews = [
        await kube.patch(CONFIGMAPS, "real", {"data": {"a": "merge"}}, namespace=namespace, dry_run=True),
        await kube.patch(CONFIGMAPS, "real", {"data": {"a": "smp"}}, namespace=namespace, patch_type="strategic",
                         dry_run=True),
        await kube.patch(CONFIGMAPS, "real", [{"op": "replace", "path": "/data/a", "value": "json"}],
                         namespace=namespace, patch_type="json", dry_run=True),
        await kube.replace({**original, "data": {"a": "put"}}, dry_run=True),
        await kube.update(CONFIGMAPS, "real", lambda o: o["data"].update(a="rmw"), namespace=namespace, dry_run=True),
    ]
    assert [p["data"]["a"] for p in previews] == ["merge", "smp", "json", "put", "rmw"]
    deleting = await kube.delete(CONFIGMAPS, "real", namespace=namespace, dry_run=True)
    assert (deleting["kind"], deleting["status"], deleting["details"]["name"]) == ("Status", "Success", "real")
    # With preconditions the options go in the body, where the API server then reads them all (dry run too).
    await kube.delete(CONFIGMAPS, "real", namespace=namespace, dry_run=True, propagation_policy="Background",
                      preconditions=Preconditions(uid=original["metadata"]["uid"]))
    after = await kube.get(CONFIGMAPS, "real", namespace)
    assert after["data"] == {"a": "1"}
    assert after["metadata"]["resourceVersion"] == original["metadata"]["resourceVersion"]

    # The workload verbs too: a scale and an eviction that would be allowed.
    await kube.create(deployment("dry", replicas=1), namespace=namespace)
    [pod] = await eventually(lambda: ready_pods(kube, namespace, "dry"), lambda p: len(p) == 1, what="a ready pod")
    scaled = await kube.scale(DEPLOYMENTS, "dry", 4, namespace=namespace, dry_run=True)
    assert scaled.spec.replicas == 4
    assert (await kube.get(DEPLOYMENTS, "dry", namespace))["spec"]["replicas"] == 1
    await kube.evict(pod["metadata"]["name"], namespace, dry_run=True)
    still = await kube.get(resources.POD, pod["metadata"]["name"], namespace)
    assert still["metadata"]["uid"] == pod["metadata"]["uid"] and not still["metadata"].get("deletionTimestamp")


# ---------------------------------------------------------------------------- patch


async def test_each_patch_type(kube: KubeClient, namespace: str) -> None:
    await kube.create({**configmap("p", namespace, a="1", b="2"), "metadata": {
        "name": "p", "namespace": namespace, "labels": {"keep": "yes", "drop": "yes"}}})

    # JSON merge patch: set a value, remove one with null, leave the rest.
    merged = await kube.patch(CONFIGMAPS, "p", {"metadata": {"labels": {"drop": None, "new": "yes"}}, "data": {"a": "9"}},
                              namespace=namespace)
    assert merged["metadata"]["labels"] == {"keep": "yes", "new": "yes"}
    assert merged["data"] == {"a": "9", "b": "2"}

    # JSON patch: operations, guarded by a test of the current value.
    patched = await kube.patch(CONFIGMAPS, "p", [
        {"op": "test", "path": "/data/a", "value": "9"},
        {"op": "remove", "path": "/data/b"},
        {"op": "add", "path": "/data/c", "value": "3"},
    ], namespace=namespace, patch_type="json")
    assert patched["data"] == {"a": "9", "c": "3"}
    with pytest.raises(Invalid):  # a failed test operation: nothing applied
        await kube.patch(CONFIGMAPS, "p", [{"op": "test", "path": "/data/a", "value": "stale"},
                                           {"op": "remove", "path": "/data/c"}], namespace=namespace, patch_type="json")
    assert (await kube.get(CONFIGMAPS, "p", namespace))["data"] == {"a": "9", "c": "3"}

    # Strategic merge patch: a list of containers is merged by name, where a merge patch replaces it.
    await kube.create(deployment("web"), namespace=namespace)
    sidecar = {"name": "sidecar", "image": "registry.example.com/sidecar:1.0"}
    strategic = await kube.patch(DEPLOYMENTS, "web", {"spec": {"template": {"spec": {"containers": [sidecar]}}}},
                                 namespace=namespace, patch_type="strategic")
    assert [c["name"] for c in strategic["spec"]["template"]["spec"]["containers"]] == ["sidecar", "app"]
    replaced = await kube.patch(DEPLOYMENTS, "web", {"spec": {"template": {"spec": {"containers": [sidecar]}}}},
                                namespace=namespace)
    assert [c["name"] for c in replaced["spec"]["template"]["spec"]["containers"]] == ["sidecar"]


# ---------------------------------------------------------------------------- delete


async def test_delete_preconditions_refuse_a_stale_object(kube: KubeClient, namespace: str) -> None:
    first = await kube.create(configmap("pre", namespace, a="1"))
    with pytest.raises(Conflict, match="409"):
        await kube.delete(CONFIGMAPS, "pre", namespace=namespace, preconditions=Preconditions(uid=str(uuid.uuid4())))
    changed = await kube.patch(CONFIGMAPS, "pre", {"data": {"a": "2"}}, namespace=namespace)
    stale = Preconditions(uid=first["metadata"]["uid"], resource_version=first["metadata"]["resourceVersion"])
    with pytest.raises(Conflict, match="409"):
        await kube.delete(CONFIGMAPS, "pre", namespace=namespace, preconditions=stale)
    with pytest.raises(Conflict, match="409"):  # a PUT of what was read before the change: refused too
        await kube.replace({**first, "data": {"a": "lost update"}})
    assert (await kube.get(CONFIGMAPS, "pre", namespace))["data"] == {"a": "2"}

    current = Preconditions(uid=changed["metadata"]["uid"], resource_version=changed["metadata"]["resourceVersion"])
    await kube.delete(CONFIGMAPS, "pre", namespace=namespace, preconditions=current, grace_period_seconds=0)
    with pytest.raises(NotFound):
        await kube.get(CONFIGMAPS, "pre", namespace)


async def test_delete_propagation_policies_as_the_garbage_collector_applies_them(
    kube: KubeClient, namespace: str
) -> None:
    names = ("orphan", "background", "foreground")
    for name in names:
        await kube.create(deployment(name), namespace=namespace)
    for name in names:
        await eventually(lambda n=name: replicasets_of(kube, namespace, n), lambda rs: len(rs) == 1,
                         what=f"the ReplicaSet of {name}")

    # Orphan: the Deployment goes, its ReplicaSet stays without an owner.
    await kube.delete(DEPLOYMENTS, "orphan", namespace=namespace, propagation_policy="Orphan")
    await eventually(lambda: exists(kube, DEPLOYMENTS, "orphan", namespace), lambda e: not e, what="orphan deleted")
    [orphaned] = await eventually(lambda: replicasets_of(kube, namespace, "orphan"),
                                  lambda rs: len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences"),
                                  what="the orphaned ReplicaSet without its owner reference")
    await asyncio.sleep(2)  # the collector had time to act on it
    assert [rs["metadata"]["uid"] for rs in await replicasets_of(kube, namespace, "orphan")] == [
        orphaned["metadata"]["uid"]
    ]

    # Foreground: the Deployment stays, marked, until its ReplicaSet is gone; then both are gone.
    marked = await kube.delete(DEPLOYMENTS, "foreground", namespace=namespace, propagation_policy="Foreground")
    assert marked["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in marked["metadata"]["finalizers"]
    await eventually(lambda: replicasets_of(kube, namespace, "foreground"), lambda rs: not rs,
                     what="the foreground Deployment's ReplicaSet deleted")
    await eventually(lambda: exists(kube, DEPLOYMENTS, "foreground", namespace), lambda e: not e,
                     what="the foreground Deployment deleted after its ReplicaSet")

    # Background: the Deployment goes at once, the collector deletes its ReplicaSet after.
    await kube.delete(DEPLOYMENTS, "background", namespace=namespace, propagation_policy="Background")
    assert not await exists(kube, DEPLOYMENTS, "background", namespace)
    await eventually(lambda: replicasets_of(kube, namespace, "background"), lambda rs: not rs,
                     what="the background Deployment's ReplicaSet collected")


# ---------------------------------------------------------------------------- eviction


async def test_eviction_blocked_by_a_budget_is_a_clear_error_at_once_and_allowed_otherwise(
    proxy: FaultProxy, kube: KubeClient, namespace: str
) -> None:
    await kube.create(deployment("guarded", replicas=2), namespace=namespace)
    pods = await eventually(lambda: ready_pods(kube, namespace, "guarded"), lambda p: len(p) == 2, what="2 ready pods")
    await kube.create({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "guard"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}},
    }, namespace=namespace)
    await eventually(lambda: kube.get(PDBS, "guard", namespace),
                     lambda b: b.get("status", {}).get("currentHealthy") == 2
                     and b["status"].get("observedGeneration") == b["metadata"]["generation"],
                     what="the budget's status")
    victim = pods[0]["metadata"]["name"]

    client = client_via(proxy, RetryPolicy(max_attempts=6, base_delay=0.5, total=30))
    try:
        with pytest.raises(DisruptionBlocked) as info:
            await client.evict(victim, namespace)
    finally:
        await client.aclose()
    assert proxy.count("POST", "/eviction") == 1  # a refusal no retry can change: not retried
    message = str(info.value)
    assert "PodDisruptionBudget" in message and "guard" in message and victim in message and "\n" not in message
    assert info.value.status == 429 and info.value.exit_code == 7
    assert not (await kube.get(resources.POD, victim, namespace))["metadata"].get("deletionTimestamp")

    # A budget that allows one disruption lets the eviction through; the pod goes.
    await kube.patch(PDBS, "guard", {"spec": {"minAvailable": 1}}, namespace=namespace)
    await eventually(lambda: kube.get(PDBS, "guard", namespace),
                     lambda b: b.get("status", {}).get("disruptionsAllowed") == 1, what="one disruption allowed")
    victim_uid = pods[0]["metadata"]["uid"]
    await kube.evict(victim, namespace, preconditions=Preconditions(uid=victim_uid))
    await eventually(lambda: pod_uid(kube, victim, namespace), lambda uid: uid != victim_uid, what="the evicted pod gone")


async def pod_uid(kube: KubeClient, name: str, namespace: str) -> str:
    try:
        pod = await kube.get(resources.POD, name, namespace)
    except NotFound:
        return ""
    return "" if pod["metadata"].get("deletionTimestamp") else str(pod["metadata"]["uid"])


async def test_write_retry_rules(proxy: FaultProxy, kube: KubeClient, namespace: str) -> None:
    """After a 503 the server may have acted: only writes that cannot do more when sent twice are sent again."""
    await kube.create(configmap("r", namespace, a="1"))
    client = client_via(proxy, FAST)
    patches = lambda: proxy.count("PATCH")  # noqa: E731
    try:
        once: list[tuple[PatchType, Any]] = [("strategic", {"data": {"a": "2"}}),
                                             ("json", [{"op": "add", "path": "/data/b", "value": "2"}])]
        for patch_type, patch in once:
            proxy.fail(503, times=1, match=lambda m, p: m == "PATCH")
            before = patches()
            with pytest.raises(ServerError):
                await client.patch(CONFIGMAPS, "r", patch, namespace=namespace, patch_type=patch_type)
            assert patches() == before + 1, patch_type

        for write in (lambda: client.patch(CONFIGMAPS, "r", {"data": {"a": "3"}}, namespace=namespace),
                      lambda: client.apply(configmap("r", namespace, a="4"), force=True)):
            proxy.fail(503, times=1, match=lambda m, p: m == "PATCH")
            before = patches()
            await write()
            assert patches() == before + 2  # idempotent: retried, and it landed

        # A 429 that is not a budget's refusal (throttling) means "not processed": an eviction is retried.
        await client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lone", "namespace": namespace},
                             "spec": {"tolerations": TOLERATE_KWOK, "terminationGracePeriodSeconds": 0,
                                      "containers": [{"name": "c", "image": "registry.example.com/lone:1"}]}})
        proxy.fail(429, times=1, match=lambda m, p: "/eviction" in p)
        await client.evict("lone", namespace)
        assert proxy.count("POST", "/eviction") == 2
    finally:
        await client.aclose()
    assert (await kube.get(CONFIGMAPS, "r", namespace))["data"] == {"a": "4"}


# ---------------------------------------------------------------------------- scale


async def test_scale_subresource_up_and_down(kube: KubeClient, namespace: str) -> None:
    await kube.create(deployment("elastic", replicas=1), namespace=namespace)
    scale = await kube.get_scale(DEPLOYMENTS, "elastic", namespace=namespace)
    assert scale.spec.replicas == 1 and scale.metadata.name == "elastic"

    up = await kube.scale(DEPLOYMENTS, "elastic", 3, namespace=namespace)
    assert up.spec.replicas == 3
    assert (await kube.get(DEPLOYMENTS, "elastic", namespace))["spec"]["replicas"] == 3
    seen = await eventually(lambda: kube.get_scale(DEPLOYMENTS, "elastic", namespace=namespace),
                            lambda s: s.status.replicas == 3, what="3 replicas running")
    assert seen.status.selector == "app=elastic"

    down = await kube.scale(DEPLOYMENTS, "elastic", 0, namespace=namespace)
    assert down.spec.replicas == 0
    assert (await kube.get(DEPLOYMENTS, "elastic", namespace))["spec"]["replicas"] == 0
    await eventually(lambda: ready_pods(kube, namespace, "elastic"), lambda p: not p, what="scaled to zero")

    with pytest.raises(Invalid, match="no scale subresource"):
        await kube.scale(CONFIGMAPS, "anything", 2, namespace=namespace)


# ---------------------------------------------------------------------------- custom resources


def crd(group: str, kind: str, plural: str) -> Obj:
    schema = {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"replicas": {"type": "integer"}, "size": {"type": "string"},
                                                  "tags": {"type": "array", "items": {"type": "string"}}}},
        "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
    }}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [{
                "name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema},
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                         "statusReplicasPath": ".status.replicas"}},
            }],
        },
    }


@pytest.fixture
async def crd_group(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh API group for this test's CustomResourceDefinitions, deleted afterwards."""
    group = f"t{uuid.uuid4().hex[:8]}.kubesteward.test"
    try:
        yield group
    finally:
        for item in (await kube.list(CRDS)).items:
            if item["spec"]["group"] == group:
                await kube.delete(CRDS, item["metadata"]["name"])


async def define(kube: KubeClient, group: str, kind: str, plural: str) -> None:
    await kube.create(crd(group, kind, plural))
    await eventually(lambda: kube.get(CRDS, f"{plural}.{group}"),
                     lambda c: any(x["type"] == "Established" and x["status"] == "True"
                                   for x in (c.get("status") or {}).get("conditions") or []),
                     what=f"{kind} established")


async def test_a_custom_resource_is_resolved_created_applied_patched_scaled_and_deleted(
    kube: KubeClient, namespace: str, crd_group: str
) -> None:
    api_version = f"{crd_group}/v1"
    with pytest.raises(Invalid, match="unknown apiVersion"):
        await kube.resolve(api_version, "Widget")  # not served yet (and not remembered as missing)
    await define(kube, crd_group, "Widget", "widgets")

    widget = {"apiVersion": api_version, "kind": "Widget", "metadata": {"name": "w1", "namespace": namespace},
              "spec": {"replicas": 1, "size": "small"}}
    created = await kube.create(widget)
    assert created["spec"] == {"replicas": 1, "size": "small"}
    rt = await kube.resolve(api_version, "Widget")
    assert (rt.plural, rt.namespaced, rt.api_version) == ("widgets", True, api_version)
    assert await kube.discovery.preferred_version(crd_group) == "v1"

    applied = await kube.apply({**widget, "spec": {"replicas": 1, "size": "large"}}, force=True)
    assert applied["spec"]["size"] == "large"
    assert "kubesteward" in managers(applied)
    merged = await kube.patch(rt, "w1", {"spec": {"tags": ["a"]}}, namespace=namespace)
    assert merged["spec"] == {"replicas": 1, "size": "large", "tags": ["a"]}
    with pytest.raises(Invalid, match="415"):  # strategic merge needs a Go type: custom resources refuse it
        await kube.patch(rt, "w1", {"spec": {"size": "x"}}, namespace=namespace, patch_type="strategic")

    assert "scale" in await kube.discovery.subresources(rt)
    scaled = await kube.scale(rt, "w1", 5, namespace=namespace)
    assert scaled.spec.replicas == 5
    assert (await kube.get(rt, "w1", namespace))["spec"]["replicas"] == 5

    listed = await kube.list(rt, namespace=namespace)
    assert [item["metadata"]["name"] for item in listed.items] == ["w1"]
    assert listed.items[0]["spec"] == {"replicas": 5, "size": "large", "tags": ["a"]}  # held whole

    # A second kind in a group this client already read: discovery reads the group again once.
    await define(kube, crd_group, "Gadget", "gadgets")
    gadget = await kube.apply({"apiVersion": api_version, "kind": "Gadget", "metadata": {"name": "g1"},
                               "spec": {"size": "tiny"}}, namespace=namespace)
    assert gadget["metadata"]["namespace"] == namespace

    await kube.delete(rt, "w1", namespace=namespace)
    with pytest.raises(NotFound):
        await kube.get(rt, "w1", namespace)
