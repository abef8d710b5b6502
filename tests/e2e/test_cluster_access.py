"""The cluster access layer against the real kube-apiserver of the sandbox.

Faults (429, 5xx, resets, expired continue tokens) are injected by a loopback
proxy in front of the real apiserver; everything else is the real API.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from kubesteward.cluster import (
    CircuitBreaker,
    ClientFactory,
    KubeClient,
    ObjectList,
    RetryPolicy,
    load_config,
    resources,
)
from kubesteward.errors import Conflict, Forbidden, Gone, NotFound, ServerError, Timeout, Unreachable
from kubesteward.model.kinds import CLAIM_NOTES_SELECTOR
from kubesteward.model.load import load_cluster
from kubesteward.model.objects import Pod
from tests.support.proxy import FaultProxy, client_via  # the `proxy` fixture is in tests/e2e/conftest.py

CONFIGMAPS = resources.by_name("configmaps")
assert CONFIGMAPS is not None


async def timed_list(client: KubeClient, namespace: str) -> tuple[ObjectList[dict[str, Any]], float]:
    """LIST ConfigMaps through ``client`` (closed afterwards): the result and the seconds it took."""
    started = time.monotonic()
    try:
        result = await client.list(CONFIGMAPS, namespace=namespace)
    finally:
        await client.aclose()
    return result, time.monotonic() - started


def pod(name: str, namespace: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bulk", **labels}},
        "spec": {
            "containers": [{"name": "c", "image": "registry.local/app:1"}],
            "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
        },
    }


async def test_paged_list_over_more_than_500_pods(kube: KubeClient, namespace: str) -> None:
    semaphore = asyncio.Semaphore(32)

    async def create(i: int) -> None:
        async with semaphore:
            await kube.create(pod(f"p-{i:04d}", namespace))

    await asyncio.gather(*(create(i) for i in range(620)))
    result = await kube.list(resources.POD, namespace=namespace, limit=100, type=Pod)
    assert len(result.items) == 620
    assert result.pages == 7
    assert {p.metadata.name for p in result.items} == {f"p-{i:04d}" for i in range(620)}
    assert result.resource_version  # usable to start a watch
    # A label selector is applied by the server, across pages too.
    await kube.patch(resources.POD, "p-0007", {"metadata": {"labels": {"pick": "me"}}}, namespace=namespace)
    picked = await kube.list(resources.POD, namespace=namespace, label_selector="pick=me", limit=50, type=Pod)
    assert [p.metadata.name for p in picked.items] == ["p-0007"]


async def test_expired_continue_token_restarts_the_list(proxy: FaultProxy, kube: KubeClient, namespace: str) -> None:
    for i in range(5):
        await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": namespace}})
    expired = (
        b'{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,'
        b'"message":"The provided continue parameter is too old"}'
    )
    proxy.fail(410, times=1, match=lambda m, p: "continue=" in p, body=expired)
    client = client_via(proxy, RetryPolicy(max_attempts=2, base_delay=0.01, total=5))
    try:
        result = await client.list(CONFIGMAPS, namespace=namespace, limit=2)
    finally:
        await client.aclose()
    names = sorted(item["metadata"]["name"] for item in result.items)
    assert names[:5] == [f"cm-{i}" for i in range(5)]
    assert len(names) == len(set(names))  # nothing collected twice across the restart
    assert result.restarts == 1
    assert proxy.injected == 1


async def test_the_load_lists_everything_at_least_as_recent_as_the_namespace_list(
    proxy: FaultProxy, kube: KubeClient, namespace: str
) -> None:
    """After the Namespace LIST, every LIST's first page asks for data not older than its
    resourceVersion (answered from the watch cache); continue pages carry only their token."""
    for i in range(5):
        await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}", "namespace": namespace}})
    client = client_via(proxy, RetryPolicy(max_attempts=2, base_delay=0.01, total=10))
    try:
        model = await load_cluster(client, page_size=5)
    finally:
        await client.aclose()
    since = next(s.resource_version for s in model.sources if s.kind == "Namespace")
    queries = [(urlsplit(path).path, parse_qs(urlsplit(path).query)) for method, path in proxy.requests if method == "GET"]
    assert queries[0][0] == "/api/v1/namespaces" and "resourceVersion" not in queries[0][1]
    firsts = [q for _path, q in queries[1:] if "continue" not in q]
    continued = [q for _path, q in queries[1:] if "continue" in q]
    assert len(firsts) >= 22 and continued  # every other kind, and pages past the first
    assert all(q["resourceVersion"] == [since] and q["resourceVersionMatch"] == ["NotOlderThan"] for q in firsts)
    assert not any("resourceVersion" in q for q in continued)
    mine = {c.metadata.name for c in model.configmaps if c.metadata.namespace == namespace}
    assert {f"cm-{i}" for i in range(5)} <= mine


def event_lists(proxy: FaultProxy) -> list[tuple[str, str]]:
    """(path, field selector) of every first page of an Event LIST the proxy forwarded."""
    found = []
    for method, target in proxy.requests:
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        if method == "GET" and path.endswith("/events") and "continue" not in query:
            found.append((path, query.get("fieldSelector", [""])[0]))
    return found


async def test_claims_normal_events_are_listed_only_where_a_claim_is_unbound(
    proxy: FaultProxy, kube: KubeClient, namespace: str
) -> None:
    """Events have no watch cache: every Event LIST reads all events of its scope from etcd. The
    claims' Normal events (evidence for a stuck claim) are listed only in the namespaces holding
    an unbound claim; a watch, whose claims may become unbound later, lists them everywhere."""
    await kube.create({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "no-such-class"},  # never provisioned: stays Pending
    })
    client = client_via(proxy, RetryPolicy(max_attempts=2, base_delay=0.01, total=10))
    try:
        model = await load_cluster(client)
        unbound = {c.metadata.namespace for c in model.pvcs if c.status.phase != "Bound"}
        assert namespace in unbound
        lists = event_lists(proxy)
        notes = sorted(path for path, selector in lists if selector == CLAIM_NOTES_SELECTOR)
        assert notes == sorted(f"/api/v1/namespaces/{ns}/events" for ns in unbound)
        assert {selector for _path, selector in lists} == {"type!=Normal", CLAIM_NOTES_SELECTOR}
        assert {s.field_selector for s in model.sources if s.kind == "Event"} == {"type!=Normal", CLAIM_NOTES_SELECTOR}

        proxy.requests.clear()
        await load_cluster(client, namespace="kube-public")  # no claims there: no such LIST
        assert {selector for _path, selector in event_lists(proxy)} == {"type!=Normal"}

        proxy.requests.clear()
        await load_cluster(client, shard=frozenset(), claim_notes="all")
        assert sorted(event_lists(proxy)) == [("/api/v1/events", "type!=Normal"), ("/api/v1/events", CLAIM_NOTES_SELECTOR)]
    finally:
        await client.aclose()


async def test_410_on_the_first_page_is_not_retried_forever(proxy: FaultProxy, namespace: str) -> None:
    proxy.fail(410, times=-1)
    client = client_via(proxy, RetryPolicy(max_attempts=3, base_delay=0.01, total=5))
    try:
        with pytest.raises(Gone):
            await client.list(CONFIGMAPS, namespace=namespace)
    finally:
        await client.aclose()


async def test_429_is_retried_honouring_retry_after(proxy: FaultProxy, namespace: str) -> None:
    proxy.fail(429, times=2, headers={"Retry-After": "1"})
    client = client_via(proxy, RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.02, total=20))
    result, elapsed = await timed_list(client, namespace)
    assert result.items is not None
    assert proxy.count("GET") == 3
    assert elapsed >= 2.0  # two Retry-After: 1 waits, although the jitter alone would be ~0.03 s


async def test_5xx_and_connection_resets_are_retried_for_reads(proxy: FaultProxy, namespace: str) -> None:
    proxy.fail(503, times=2)
    proxy.fail(0, times=1)  # drop the connection without an answer
    client = client_via(proxy, RetryPolicy(max_attempts=6, base_delay=0.01, total=10))
    try:
        result = await client.list(CONFIGMAPS, namespace=namespace)
    finally:
        await client.aclose()
    assert isinstance(result.items, list)
    assert proxy.count("GET") == 4


async def test_a_stalled_read_times_out_and_is_retried(proxy: FaultProxy, namespace: str) -> None:
    proxy.stall(4.0, times=1)
    client = client_via(proxy, RetryPolicy(max_attempts=3, base_delay=0.01, total=20), timeout=1.0)
    result, elapsed = await timed_list(client, namespace)
    assert isinstance(result.items, list)
    assert proxy.count("GET") == 2  # the first attempt timed out after 1 s; the second was answered
    assert 1.0 <= elapsed < 4.0


async def test_a_stalled_write_times_out_without_a_blind_retry(proxy: FaultProxy, namespace: str) -> None:
    proxy.stall(3.0, match=lambda m, p: m == "POST")
    client = client_via(proxy, RetryPolicy(max_attempts=5, base_delay=0.01, total=20), timeout=1.0)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "slow", "namespace": namespace}}
    try:
        with pytest.raises(Timeout, match="timed out") as info:
            await client.create(body)
    finally:
        await client.aclose()
    assert proxy.count("POST") == 1  # the server may still act on it: never sent twice
    assert "\n" not in str(info.value)


async def test_retries_stop_at_the_bound_with_a_clear_error(proxy: FaultProxy, namespace: str) -> None:
    proxy.fail(503)
    client = client_via(proxy, RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, total=10))
    started = time.monotonic()
    try:
        with pytest.raises(ServerError) as info:
            await client.list(CONFIGMAPS, namespace=namespace)
    finally:
        await client.aclose()
    assert time.monotonic() - started < 5
    assert proxy.count("GET") == 4
    message = str(info.value)
    assert "503" in message and "after 4 attempts" in message and "\n" not in message


async def test_total_time_bound_cuts_retries_short(proxy: FaultProxy, namespace: str) -> None:
    proxy.fail(503, headers={"Retry-After": "2"})
    client = client_via(proxy, RetryPolicy(max_attempts=50, base_delay=0.01, total=3.0))
    started = time.monotonic()
    try:
        with pytest.raises(ServerError):
            await client.list(CONFIGMAPS, namespace=namespace)
    finally:
        await client.aclose()
    assert time.monotonic() - started < 3.5
    assert proxy.count("GET") == 2  # t=0 and t=2; a third try would end past the 3 s budget


async def test_non_idempotent_create_is_not_blindly_retried_on_5xx(proxy: FaultProxy, kube: KubeClient, namespace: str) -> None:
    proxy.fail(503, times=1, match=lambda m, p: m == "POST")
    client = client_via(proxy, RetryPolicy(max_attempts=5, base_delay=0.01, total=5))
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "once", "namespace": namespace}}
    try:
        with pytest.raises(ServerError):
            await client.create(body)
        assert proxy.count("POST") == 1
        # 429 means "not processed": even a POST is retried, and it lands exactly once.
        proxy.fail(429, times=1, match=lambda m, p: m == "POST")
        await client.create(body)
        assert proxy.count("POST") == 3
    finally:
        await client.aclose()
    assert (await kube.get(CONFIGMAPS, "once", namespace))["metadata"]["name"] == "once"


async def test_circuit_breaker_fails_fast_once_open(proxy: FaultProxy, namespace: str) -> None:
    proxy.fail(503)
    breaker = CircuitBreaker(threshold=3, cooldown=30.0)
    client = client_via(proxy, RetryPolicy(max_attempts=10, base_delay=0.01, total=10), breaker)
    try:
        with pytest.raises(Unreachable, match="failing fast"):
            await client.list(CONFIGMAPS, namespace=namespace)
        seen = proxy.count()
        assert seen == 3  # the breaker opened after 3 failures and stopped the retry loop
        started = time.monotonic()
        with pytest.raises(Unreachable, match="failing fast"):
            await client.list(CONFIGMAPS, namespace=namespace)
        assert time.monotonic() - started < 0.1
        assert proxy.count() == seen  # nothing reached the network
    finally:
        await client.aclose()


async def test_server_side_apply_and_dry_run(kube: KubeClient, namespace: str) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": namespace}, "data": {"a": "1"}}
    created = await kube.apply(cm)
    assert created["data"] == {"a": "1"}
    managers = {m["manager"]: m["operation"] for m in created["metadata"]["managedFields"]}
    assert managers == {"kubesteward": "Apply"}

    # Server-side dry run: the server validates and answers, nothing is stored.
    preview = await kube.apply({**cm, "data": {"a": "2"}}, dry_run=True)
    assert preview["data"] == {"a": "2"}
    assert (await kube.get(CONFIGMAPS, "ssa", namespace))["data"] == {"a": "1"}
    await kube.create({**cm, "metadata": {"name": "never", "namespace": namespace}}, dry_run=True)
    with pytest.raises(NotFound):
        await kube.get(CONFIGMAPS, "never", namespace)

    # Another manager owning the field makes our apply conflict unless forced.
    await kube.apply({**cm, "data": {"a": "other"}}, field_manager="someone-else", force=True)
    with pytest.raises(Conflict, match="conflict"):
        await kube.apply({**cm, "data": {"a": "3"}})
    forced = await kube.apply({**cm, "data": {"a": "3"}}, force=True)
    assert forced["data"] == {"a": "3"}


async def test_read_modify_write_retries_on_409(kube: KubeClient, namespace: str) -> None:
    await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "rmw", "namespace": namespace}, "data": {}})
    calls = 0

    def mutate(obj: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        obj.setdefault("data", {})["ours"] = "yes"

    original_replace = kube.replace
    interfered = False

    async def racing_replace(obj: Any, **kwargs: Any) -> Any:
        nonlocal interfered
        if not interfered:
            # A concurrent writer changes the object between our read and our write.
            interfered = True
            await kube.patch(CONFIGMAPS, "rmw", {"data": {"theirs": "yes"}}, namespace=namespace)
        return await original_replace(obj, **kwargs)

    kube.replace = racing_replace  # type: ignore[method-assign]
    try:
        result = await kube.update(CONFIGMAPS, "rmw", mutate, namespace=namespace)
    finally:
        kube.replace = original_replace  # type: ignore[method-assign]
    assert calls == 2  # first write hit 409 Conflict, the second read-modify-write succeeded
    assert result["data"] == {"ours": "yes", "theirs": "yes"}


async def test_unknown_kind_is_invalid_and_discovery_resolves_others(kube: KubeClient) -> None:
    from kubesteward.errors import Invalid

    lease = await kube.resolve("coordination.k8s.io/v1", "Lease")
    assert lease.plural == "leases"
    pc = await kube.resolve("scheduling.k8s.io/v1", "PriorityClass")  # not built in: discovered
    assert (pc.plural, pc.namespaced) == ("priorityclasses", False)
    with pytest.raises(Invalid, match="unknown kind"):
        await kube.resolve("v1", "Pdo")
    with pytest.raises(Invalid, match="unknown apiVersion"):
        await kube.resolve("nothing.example.com/v1", "Thing")


async def test_factory_fans_out_and_isolates_failures(sandbox_kubeconfig: Path, tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load(sandbox_kubeconfig.read_text())
    ctx = data["contexts"][0]
    dead_cluster = {**data["clusters"][0], "name": "dead"}
    dead_cluster["cluster"] = {**dead_cluster["cluster"], "server": "https://127.0.0.1:1"}
    data["clusters"].append(dead_cluster)
    data["contexts"].append({"name": "dead", "context": {**ctx["context"], "cluster": "dead"}})
    path = tmp_path / "two"
    path.write_text(yaml.safe_dump(data))
    fast = RetryPolicy(max_attempts=2, base_delay=0.01, total=2)
    async with ClientFactory(str(path), retry=fast) as factory:
        names, _current = factory.contexts()
        assert set(names) == {ctx["name"], "dead"}
        results = await factory.fan_out([ctx["name"], "dead"], lambda c: c.version())
        assert factory.client(ctx["name"]) is factory.client(ctx["name"])  # one client per context
    by_name = {r.context: r for r in results}
    assert by_name[ctx["name"]].ok and by_name[ctx["name"]].value is not None
    assert by_name[ctx["name"]].value["gitVersion"].startswith("v1.")  # type: ignore[index]
    assert isinstance(by_name["dead"].error, Unreachable)


async def test_exec_credential_plugin_goes_through_the_official_loader(
    kube: KubeClient, namespace: str, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    """An exec plugin's token authenticates for real; a plain-data context (the sandbox's) needs no loader."""
    import json
    import sys

    import yaml

    from kubesteward.cluster.plain_config import plain_context

    await kube.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "exec-user", "namespace": namespace}})
    await kube.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "exec-user", "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "exec-user", "namespace": namespace}],
    })
    response = await kube.request(
        "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/exec-user/token",
        content=b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":600}}',
        headers={"Content-Type": "application/json"},
    )
    token = response.json()["status"]["token"]
    calls = tmp_path / "calls"
    plugin = tmp_path / "get-token.py"
    credential = {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": token}}
    plugin.write_text(f"import pathlib, sys\npathlib.Path({str(calls)!r}).open('a').write('x')\n"
                      f"print({json.dumps(json.dumps(credential))})\n")
    data = yaml.safe_load(sandbox_kubeconfig.read_text())
    assert plain_context(data, sandbox_kubeconfig, None) is not None  # the sandbox's own context is plain data
    data["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                         "command": sys.executable, "args": [str(plugin)]}}
    path = tmp_path / "exec-config"
    path.write_text(yaml.safe_dump(data))
    assert plain_context(data, path, None) is None

    config = load_config(str(path))
    async with KubeClient(config) as client:
        listed = await client.list(resources.POD, namespace=namespace)
        assert listed.items == []  # authenticated as exec-user, who may view this namespace
        with pytest.raises(Forbidden):
            await client.list(resources.NODE)  # ... and only that: the token is really the plugin's
    assert calls.read_text().startswith("x")
