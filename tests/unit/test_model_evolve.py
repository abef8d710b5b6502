"""ClusterModel.evolve: indexes patched for a watch batch equal indexes rebuilt from scratch."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from kubesteward.model.cluster import _CARRIED_INDEXES, KIND_ATTRS, ClusterModel
from kubesteward.model.files import model_from_objects

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)


def pod(name: str, node: str, rs: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}", "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                          "uid": f"uid-{rs}", "controller": True}]},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": "Running"},
    }


def event(name: str, about: str, seen: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": about}, "type": "Warning",
            "reason": "BackOff", "message": "back-off", "lastTimestamp": seen}


def replica_set(name: str) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "shop",
                                                                         "uid": f"uid-{name}"}}


def build(objects: list[dict[str, Any]]) -> ClusterModel:
    model, _ = model_from_objects(copy.deepcopy(objects), now=NOW)
    return model


def comparable(model: ClusterModel, name: str) -> dict[Any, Any]:
    index = getattr(model, name)
    out: dict[Any, Any] = {}
    for key, value in index.items():
        if isinstance(value, list):
            if value:  # an emptied list is the same as no entry
                out[key] = sorted(map(repr, value)) if name != "_events_by_object" else [repr(v) for v in value]
        else:
            out[key] = repr(value)
    return out


def test_patched_indexes_equal_rebuilt_ones() -> None:
    before = [
        replica_set("web-1"), replica_set("web-2"),
        pod("a", "n1", "web-1", {"app": "web", "v": "1"}),
        pod("b", "n1", "web-1", {"app": "web", "v": "1"}),
        pod("c", "n2", "web-2", {"app": "web", "v": "2"}),
        event("e1", "a", "2026-11-22T11:00:00Z"), event("e2", "a", "2026-11-22T11:30:00Z"),
    ]
    old = build(before)
    for name in _CARRIED_INDEXES:
        getattr(old, name)

    # The batch: b moves to n2 and is relabelled, c is deleted, d is added, a newer event about a,
    # the ReplicaSet web-2 is deleted.
    by_name = {(o.kind, o.metadata.name): o for o in old.all_objects()}
    after_objects = [o for o in before if (o["kind"], o["metadata"]["name"]) not in {("Pod", "c"), ("ReplicaSet", "web-2")}]
    moved = pod("b", "n2", "web-1", {"app": "web", "v": "2"})
    after_objects = [moved if o["metadata"]["name"] == "b" else o for o in after_objects]
    after_objects += [pod("d", "n3", "web-1", {"app": "web", "v": "1"}), event("e3", "a", "2026-11-22T11:45:00Z")]
    fresh = build(after_objects)
    # The successor holds the very instances the changes carry (as a watch's stores do).
    new_b = next(p for p in fresh.pods if p.metadata.name == "b")
    new_d = next(p for p in fresh.pods if p.metadata.name == "d")
    new_e3 = next(e for e in fresh.events if e.metadata.name == "e3")
    successor = ClusterModel(now=NOW, loaded=set(old.loaded))
    keep = {id(by_name[("Pod", "c")]), id(by_name[("ReplicaSet", "web-2")]), id(by_name[("Pod", "b")])}
    for attr in KIND_ATTRS.values():
        setattr(successor, attr, [o for o in getattr(old, attr) if id(o) not in keep])
    successor.pods += [new_b, new_d]
    successor.events += [new_e3]
    old.evolve(successor, [
        (by_name[("Pod", "b")], new_b),
        (by_name[("Pod", "c")], None),
        (None, new_d),
        (None, new_e3),
        (by_name[("ReplicaSet", "web-2")], None),
    ])

    rebuilt = ClusterModel(now=NOW, loaded=set(old.loaded))
    for attr in KIND_ATTRS.values():
        setattr(rebuilt, attr, list(getattr(successor, attr)))
    for name in _CARRIED_INDEXES:
        assert name in successor.__dict__  # carried, not rebuilt
        assert comparable(successor, name) == comparable(rebuilt, name), name
        assert name not in old.__dict__  # moved away from the old model
    assert [e.metadata.name for e in successor.events_for(by_name[("Pod", "a")])] == ["e3", "e2", "e1"]
    assert {p.metadata.name for p in successor.pods_on_node("n2")} == {"b"}


def test_services_selecting_a_pod_match_a_scan_of_every_service() -> None:
    def service(name: str, namespace: str, selector: dict[str, str] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"ports": [{"port": 80}]}
        if selector is not None:
            spec["selector"] = selector
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": spec}

    pods = [
        pod("web-1", "n1", "web-rs", {"app": "web", "tier": "front"}),
        pod("web-2", "n1", "web-rs", {"app": "web"}),
        pod("db-1", "n2", "db-rs", {"app": "db", "tier": "back"}),
        pod("bare", "n2", "other-rs", {}),
    ]
    services = [
        service("web", "shop", {"app": "web"}),
        service("front", "shop", {"tier": "front", "app": "web"}),  # two pairs: indexed under one
        service("z-front", "shop", {"tier": "front"}),
        service("db", "shop", {"app": "db"}),
        service("manual", "shop", None),  # no selector: endpoints managed by hand, selects nothing
        service("empty", "shop", {}),
        service("web", "elsewhere", {"app": "web"}),  # same labels, another namespace
    ]
    model = build(pods + services)
    for p in model.pods:
        expected = {
            s.metadata.name for s in model.services
            if s.metadata.namespace == p.metadata.namespace and s.spec.selector
            and all((p.metadata.labels or {}).get(k) == v for k, v in s.spec.selector.items())
        }
        assert {s.metadata.name for s in model.services_selecting(p)} == expected, p.metadata.name
    assert {s.metadata.name for s in model.services_selecting(model.get("Pod", "shop", "web-1"))} == {
        "web", "front", "z-front"}


def test_indexes_kept_while_loading_equal_indexes_built_on_first_use() -> None:
    """A live load indexes each LIST as it arrives (index_while_loading + add): the same indexes,
    lists in the same order, as one pass over the finished model."""
    objects = [
        replica_set("web-1"), replica_set("web-2"),
        pod("a", "n1", "web-1", {"app": "web", "v": "1"}), pod("b", "n2", "web-2", {"app": "web", "v": "2"}),
        event("e1", "a", "2026-11-22T11:00:00Z"), event("e2", "a", "2026-11-22T11:30:00Z"),
        pod("c", "n1", "web-1", {"app": "web", "v": "1"}), event("e3", "a", "2026-11-22T11:10:00Z"),
    ]
    lazy = build(objects)
    live = ClusterModel(now=NOW, loaded=set(lazy.loaded))
    live.index_while_loading()
    for batch in ([lazy.replicasets[0]], lazy.pods[:2], lazy.events[:2], [lazy.replicasets[1]], lazy.pods[2:],
                  lazy.events[2:]):
        live.add(batch[0].kind, batch)
    def in_order(model: ClusterModel, name: str) -> dict[Any, Any]:
        return {k: list(map(repr, v)) if isinstance(v, list) else repr(v) for k, v in getattr(model, name).items()}

    for name in _CARRIED_INDEXES:
        assert in_order(live, name) == in_order(lazy, name), name
    assert [e.metadata.name for e in live.events_for(lazy.get("Pod", "shop", "a"))] == ["e2", "e3", "e1"]


def test_adding_objects_drops_the_indexes_built_from_fewer() -> None:
    model = build([replica_set("web-1"), pod("a", "n1", "web-1", {"app": "web"})])
    assert model.events_for(model.pods[0]) == [] and [p.metadata.name for p in model.pods_on_node("n1")] == ["a"]
    more = build([pod("b", "n1", "web-1", {"app": "web"}), event("e1", "a", "2026-11-22T11:00:00Z")])
    model.add("Pod", more.pods)
    model.add("Event", more.events)
    assert [p.metadata.name for p in model.pods_on_node("n1")] == ["a", "b"]
    assert [e.metadata.name for e in model.events_for(model.pods[0])] == ["e1"]
    assert [p.metadata.name for p in model.pods_of(model.replicasets[0])] == ["a", "b"]
