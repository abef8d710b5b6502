"""sync's ownership record, kubectl's ApplySet: the parent's id as kubectl computes it, label values the API
server accepts, and a record that survives the round trip through the parent's annotations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubesteward.drift.ownership import (
    ID_LABEL,
    KINDS_ANNOTATION,
    NAMESPACES_ANNOTATION,
    PART_OF_LABEL,
    TOOLING_ANNOTATION,
    ApplySet,
    ApplySetRecord,
    GroupKind,
    app_name,
    applyset_id,
    check_app,
    foreign_tooling,
    read_record,
    record_of,
)
from kubesteward.errors import UsageError

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")  # the API server's rule, 63 max
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_the_id_is_kubectls() -> None:
    # kubectl's own test (staging/src/k8s.io/kubectl/pkg/cmd/apply/apply_test.go): Secret my-set in test.
    assert applyset_id("my-set", "test", "Secret") == "applyset-0eFHV8ySqp7XoShsGvyWFQD3s96yqwHmzc4e0HR1dsY-v1"
    # A ConfigMap parent, computed by hand as kubectl's docs do it:
    #   echo -n "kubesteward-sync-web.shop.ConfigMap." | openssl dgst -sha256 -binary | openssl base64 -A \
    #     | tr -d '=' | tr '/+' '_-'
    assert ApplySet("web", "shop").id == "applyset-h9E7zcItD283RagMFlYq7jfRJbu4c72dkh6dyw0aobU-v1"
    assert ApplySet("web", "shop").id != ApplySet("web", "other").id != ApplySet("api", "shop").id


def test_labels_are_valid_values() -> None:
    applyset = ApplySet("a" * 46, "some-namespace-with-a-long-name")
    assert len(applyset.id) <= 63 and LABEL_VALUE.match(applyset.id)
    assert len(applyset.parent_name) <= 63 and DNS_NAME.match(applyset.parent_name)
    parent = applyset.parent(ApplySetRecord())
    assert parent["metadata"]["labels"] == {ID_LABEL: applyset.id}
    assert applyset.selector == f"{PART_OF_LABEL}={applyset.id}"


def test_member_label_is_added_to_a_copy() -> None:
    applyset = ApplySet("web", "shop")
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "web"}}}
    member = applyset.member(manifest)
    assert member["metadata"]["labels"] == {"app": "web", PART_OF_LABEL: applyset.id}
    assert manifest["metadata"]["labels"] == {"app": "web"}  # as written
    bare = applyset.member({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    assert bare["metadata"] == {"name": "n", "labels": {PART_OF_LABEL: applyset.id}}


def test_record_round_trip() -> None:
    applyset = ApplySet("web", "shop")
    record = record_of([
        (GroupKind("apps", "Deployment"), "shop"), (GroupKind("", "ConfigMap"), "shop"),
        (GroupKind("", "ConfigMap"), "shop-cache"), (GroupKind("", "Namespace"), ""),
        (GroupKind("example.com", "Widget"), "other"),
    ], "shop")
    parent = applyset.parent(record)
    notes = parent["metadata"]["annotations"]
    assert notes[KINDS_ANNOTATION] == "ConfigMap,Deployment.apps,Namespace,Widget.example.com"  # kubectl's form
    assert notes[NAMESPACES_ANNOTATION] == "other,shop-cache"  # never the parent's own
    assert notes[TOOLING_ANNOTATION].startswith("kubesteward/")
    assert read_record(parent) == record
    assert read_record(None) == ApplySetRecord() == read_record({"metadata": {}})
    wider = record.union(ApplySetRecord(frozenset({GroupKind("batch", "Job")}), frozenset({"jobs"})))
    assert read_record(applyset.parent(wider)) == wider
    assert GroupKind("batch", "Job") in wider.kinds and "jobs" in wider.namespaces


def test_foreign_tooling() -> None:
    assert foreign_tooling(None) == ""
    assert foreign_tooling(ApplySet("web", "shop").parent(ApplySetRecord())) == ""
    assert foreign_tooling({"metadata": {"annotations": {TOOLING_ANNOTATION: "kubectl/v1.31"}}}) == "kubectl/v1.31"


@pytest.mark.parametrize(("sources", "expected"), [
    (["deploy/"], "deploy"),
    (["deploy/web.yaml", "other/"], "web"),
    (["charts/Web_App.v2.yaml"], "web-app-v2"),
    ([Path("/srv/git/shop")], "shop"),
    (["-x-", "next"], "x"),
    (["___", "api"], "api"),
])
def test_app_name(sources: list[str | Path], expected: str) -> None:
    assert app_name(sources) == expected
    assert check_app(expected) == expected


def test_app_name_is_cut_to_a_valid_length() -> None:
    name = app_name(["x" * 80 + ".yaml"])
    assert len(name) == 46 and DNS_NAME.match(name)


@pytest.mark.parametrize("bad", ["Web", "web_app", "-web", "web-", "a" * 47, ""])
def test_check_app_refuses_invalid_names(bad: str) -> None:
    with pytest.raises(UsageError, match="--app"):
        check_app(bad)
