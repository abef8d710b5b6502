"""A run's coverage: what it could read of what it was asked, and what closes a gap."""

from __future__ import annotations

from typing import Any

import pytest

from kubesteward.errors import Forbidden
from kubesteward.model.cluster import ClusterModel, Skipped, key_of
from kubesteward.model.coverage import coverage_of, require_something_read
from kubesteward.model.files import model_from_objects
from kubesteward.watch.relations import affected


def model_with(loaded: set[str], skipped: list[Skipped], namespace: str | None = None) -> ClusterModel:
    return ClusterModel(context="c", source="live", namespace_scope=namespace, loaded=loaded, skipped=skipped)


def test_refused_kinds_are_gaps_and_unserved_apis_are_not() -> None:
    model = model_with({"Pod", "Service"}, [
        Skipped("Node", "forbidden: nodes is forbidden"),
        Skipped("Secret", "cluster-wide list forbidden; loaded namespace 'shop' only", namespaces=("shop",)),
        Skipped("IngressClass", "the API networking.k8s.io/v1 is not served by this cluster", unread=False),
    ])
    coverage = coverage_of(model)
    assert not coverage.complete
    assert coverage.summary() == "Node (forbidden), Secret (only in 'shop')"
    assert coverage.document()["notServed"] == ["IngressClass"]
    assert coverage_of(model_with({"Pod"}, [Skipped("IngressClass", "not served", unread=False)])).complete


def test_endpoints_read_in_place_of_refused_endpoint_slices_close_the_gap() -> None:
    refused = Skipped("EndpointSlice", "forbidden: endpointslices.discovery.k8s.io is forbidden")
    assert coverage_of(model_with({"Pod", "Service", "Endpoints"}, [refused])).complete
    both = [refused, Skipped("Endpoints", "forbidden: endpoints is forbidden")]
    assert coverage_of(model_with({"Pod", "Service"}, both)).summary() == (
        "EndpointSlice (forbidden), Endpoints (forbidden)")


def test_a_model_that_read_no_namespaced_kind_is_forbidden() -> None:
    nothing = [Skipped("Pod", "forbidden: pods is forbidden"), Skipped("Service", "forbidden: x")]
    with pytest.raises(Forbidden) as info:
        require_something_read(model_with({"Node"}, nothing, namespace="shop"))
    assert "may read nothing in namespace 'shop'" in str(info.value) and info.value.exit_code == 5
    require_something_read(model_with({"Pod"}, nothing[1:]))  # something was read: a partial result
    require_something_read(model_with(set(), []))  # nothing refused: an empty cluster, not a refusal


def test_a_change_to_legacy_endpoints_reaches_its_service() -> None:
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "shop"},
         "spec": {"selector": {"app": "api"}}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "api", "namespace": "shop"}, "subsets": []},
    ]
    model, _ = model_from_objects(objects)
    service, endpoints = model.services[0], model.endpoints[0]
    assert key_of(service) in (affected(model, endpoints) or set())
