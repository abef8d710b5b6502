"""One declaration per kind: ClusterModel's attributes (``holds``) are what every kind table derives from."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from kubesteward.cluster import resources
from kubesteward.model import objects as o
from kubesteward.model.cluster import KIND_ATTRS, KINDS, ClusterModel, holds
from kubesteward.model.kinds import BY_KIND, MODEL_KINDS, STAND_INS


def test_every_list_of_slim_objects_on_the_model_is_a_declared_kind() -> None:
    slim_lists = {f.name for f in fields(ClusterModel) if str(f.type).startswith("list[o.")}
    assert slim_lists == set(KIND_ATTRS.values())
    assert len(slim_lists) == len(KINDS) == 24


def test_each_declaration_agrees_with_its_struct_and_the_cluster_layer() -> None:
    for spec in KINDS:
        assert spec.struct.kind == spec.kind == spec.resource.kind
        assert resources.builtin(spec.resource.api_version, spec.kind) is spec.resource
        assert getattr(ClusterModel(), spec.attr) == []
        assert str(next(f.type for f in fields(ClusterModel) if f.name == spec.attr)) == f"list[o.{spec.struct.__name__}]"


def test_the_kind_tables_are_derived_in_declaration_order() -> None:
    assert list(KIND_ATTRS) == [spec.kind for spec in KINDS]
    assert KIND_ATTRS["PersistentVolumeClaim"] == "pvcs" and KIND_ATTRS["Endpoints"] == "endpoints"
    assert [spec.kind for spec in MODEL_KINDS] == [k for k in KIND_ATTRS if k != "Endpoints"]
    assert MODEL_KINDS[0].kind == "Pod" and MODEL_KINDS[-1].kind == "Event"
    assert {k: s.kind for k, s in STAND_INS.items()} == {"EndpointSlice": "Endpoints"}
    assert set(BY_KIND) == set(KIND_ATTRS)
    assert BY_KIND["Deployment"].resource.collection_path("web") == "/apis/apps/v1/namespaces/web/deployments"
    assert not BY_KIND["StorageClass"].resource.namespaced


def test_a_kind_the_cluster_layer_does_not_know_cannot_be_declared() -> None:
    with pytest.raises(LookupError, match="apps/v2 Deployment"):
        holds("apps/v2", o.Deployment)


def test_each_model_gets_its_own_lists() -> None:
    @dataclass
    class Held:
        pods: list[o.Pod] = holds("v1", o.Pod)

    first, second = Held(), Held()
    first.pods.append(o.Pod(metadata=o.ObjectMeta(name="a"), spec=o.PodSpec(containers=[])))
    assert second.pods == [] and len(ClusterModel().pods) == 0
