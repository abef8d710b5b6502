"""The fields a manifest sets: an object cut down to them, list items matched as server-side apply does."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubesteward.drift.fieldset import merge_key, project, secret_shape, without_path

MANIFEST: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:1.27", "env": [{"name": "MODE", "value": "blue"}]},
    ]}}},
}
LIVE: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "uid": "u-1", "labels": {"app": "web", "team": "added-by-someone"}},
    "spec": {"replicas": 5, "revisionHistoryLimit": 10, "template": {"spec": {
        "dnsPolicy": "ClusterFirst",
        "containers": [
            {"name": "istio-proxy", "image": "proxy:1"},  # a webhook's sidecar, first
            {"name": "web", "image": "nginx:1.28", "imagePullPolicy": "IfNotPresent",
             "env": [{"name": "INJECTED", "value": "x"}, {"name": "MODE", "value": "blue"}]},
        ],
    }}},
    "status": {"replicas": 5},
}


def test_project_keeps_only_the_manifests_fields_matching_containers_and_env_by_name() -> None:
    assert project(LIVE, MANIFEST) == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 5, "template": {"spec": {"containers": [
            {"name": "web", "image": "nginx:1.28", "env": [{"name": "MODE", "value": "blue"}]},
        ]}}},
    }


def test_a_field_the_manifest_sets_to_null_asks_for_nothing() -> None:
    shape = {"metadata": {"name": "web", "annotations": None}, "spec": {"replicas": None}}
    assert project(LIVE, shape) == {"metadata": {"name": "web"}, "spec": {}}


def test_an_item_the_live_list_lacks_is_absent_from_the_projection() -> None:
    live = {"spec": {"template": {"spec": {"containers": [{"name": "other", "image": "x"}]}}}}
    assert project(live, MANIFEST)["spec"]["template"]["spec"]["containers"] == []


def test_lists_without_merge_keys_match_by_position_and_keep_extra_items() -> None:
    shape = {"args": ["a", "b"], "rules": [{"host": "a"}]}
    live = {"args": ["a", "b", "c"], "rules": [{"host": "a", "http": {}}, {"host": "b"}]}
    assert project(live, shape) == {"args": ["a", "b", "c"], "rules": [{"host": "a"}, {"host": "b"}]}


def test_merge_keys_in_order_and_only_when_each_item_has_a_distinct_one() -> None:
    assert merge_key([{"name": "a", "port": 1}, {"name": "b", "port": 2}]) == "name"
    assert merge_key([{"containerPort": 80}, {"containerPort": 443}]) == "containerPort"
    assert merge_key([{"mountPath": "/a", "name": "v"}, {"mountPath": "/b", "name": "v"}]) == "mountPath"
    assert merge_key([{"port": 80}, {"port": 80}]) is None
    assert merge_key(["a"]) is None and merge_key([]) is None


def test_without_path_removes_one_field_and_leaves_the_original_alone() -> None:
    cut = without_path(MANIFEST, ("spec", "replicas"))
    assert "replicas" not in cut["spec"] and "template" in cut["spec"]
    assert MANIFEST["spec"]["replicas"] == 2
    assert without_path(MANIFEST, ("spec", "absent", "deeper")) == MANIFEST


def test_a_secrets_string_data_is_compared_where_the_server_keeps_it() -> None:
    shape = secret_shape({"kind": "Secret", "data": {"a": "YQ=="}, "stringData": {"b": "plain"}})
    assert shape == {"kind": "Secret", "data": {"a": "YQ==", "b": base64.b64encode(b"plain").decode()}}
    config = {"kind": "ConfigMap", "stringData": {"b": "plain"}}
    assert secret_shape(config) == config


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=20,
)


@given(_json)
def test_an_object_projected_on_itself_is_itself(value: Any) -> None:
    assert project(value, value) == _without_null_fields(value)


@given(_json, _json)
def test_projection_is_idempotent(source: Any, shape: Any) -> None:
    once = project(source, shape)
    assert project(once, shape) == once


def _without_null_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_null_fields(sub) for key, sub in value.items() if sub is not None}
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return [_without_null_fields(item) for item in value]
    return value  # a list of anything else is compared whole
