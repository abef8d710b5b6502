"""Where objects read from files came from, and the line of any of their fields (found lazily)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesteward.model.files import Manifests, load_manifests
from kubesteward.model.full import FullKey
from kubesteward.model.lines import LineFinder, Position, parse_field
from kubesteward.model.origin import Origin

MULTI = """\
# a leading comment is no document
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: fast
---
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  annotations:
    example.com/owner: payments
spec:
  template:
    spec:
      containers:
        - name: api
          image: api:1.0
        - name: sidecar
          image: proxy:2.0
          resources:
            limits: {memory: 64Mi}
"""

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: shop
  spec:
    selector: {app: web}
- apiVersion: v1
  kind: Pod
  metadata:
    name: web-1
    namespace: shop
  spec:
    containers:
    - name: web
      image: web:3
"""


def key(kind: str, name: str, group: str = "", namespace: str = "shop") -> FullKey:
    return FullKey(group, kind, namespace, name)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_document_of_a_multi_document_file_has_its_index_and_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "all.yaml", MULTI)
    loaded = load_manifests([path])
    config = loaded.origin(key("ConfigMap", "settings"))
    deployment = loaded.origin(key("Deployment", "api", "apps"))
    assert config == Origin(str(path), 0, (), 3, (3, 9))
    # The empty document between the two "---" is counted, as the YAML parser counts documents.
    assert deployment is not None and (deployment.document, deployment.line) == (2, 12)
    assert str(deployment) == f"{path}:12"


def test_a_field_line_is_its_key_line_and_an_absent_field_points_at_its_nearest_ancestor(tmp_path: Path) -> None:
    path = write(tmp_path, "all.yaml", MULTI)
    loaded = load_manifests([path])
    origin = loaded.origin(key("Deployment", "api", "apps"))
    assert origin is not None
    lines = loaded.lines
    assert lines.position(origin, "spec.template.spec.containers[0].image") == Position(24, 11, True)
    assert lines.line(origin, "spec.template.spec.containers[1].resources.limits.memory") == 28
    assert lines.line(origin, "spec.template.spec.containers[1]") == 25
    assert lines.line(origin, "metadata.annotations[example.com/owner]") == 18
    # No resources in the first container: the container itself (the "- name: api" line), not exact.
    assert lines.position(origin, "spec.template.spec.containers[0].resources.limits") == Position(23, 11, False)
    assert lines.line(origin) == 12
    assert lines.line(origin, ("spec", "template")) == 20


def test_objects_of_a_list_have_their_item_path_and_their_own_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", LIST)
    loaded = load_manifests([path])
    service = loaded.origin(key("Service", "web"))
    pod = loaded.origin(key("Pod", "web-1"))
    assert service is not None and pod is not None
    assert (service.within, service.line) == (("items", 0), 4)
    assert (pod.within, pod.line) == (("items", 1), 11)
    assert loaded.lines.line(pod, "spec.containers[0].image") == 19
    assert loaded.lines.line(service, "spec.selector.app") == 10


def test_json_lines_are_found_when_asked(tmp_path: Path) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop"},
         "spec": {"containers": [{"name": "web", "image": "web:3"}]}},
    ]}
    text = json.dumps(listing, indent=2)
    path = write(tmp_path, "list.json", text)
    loaded = load_manifests([path])
    pod = loaded.origin(key("Pod", "web-1"))
    assert pod is not None and pod.line == 0 and pod.within == ("items", 1)  # JSON: nothing computed at load
    numbered = text.splitlines()
    image = loaded.lines.line(pod, "spec.containers[0].image")
    assert image is not None and '"image": "web:3"' in numbered[image - 1]
    start = loaded.lines.line(pod)
    assert start is not None and numbered[start - 1] == "    {"  # the object's opening brace
    assert numbered[start:start + 2] == ['      "apiVersion": "v1",', '      "kind": "Pod",']  # the second item


def test_stdin_lines_are_found_after_stdin_is_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(MULTI.encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    loaded = load_manifests([Path("-")])
    origin = loaded.origin(key("Deployment", "api", "apps"))
    assert origin is not None and origin.file == "-" and origin.line == 12
    assert loaded.lines.line(origin, "spec.template.spec.containers[1].image") == 26


def test_an_object_given_twice_keeps_every_origin(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", MULTI)
    second = write(tmp_path, "b.yaml", MULTI.split("---\n---\n")[1])
    loaded = load_manifests([first, second])
    duplicates = loaded.objects.duplicates
    assert list(duplicates) == [key("Deployment", "api", "apps")]
    assert [(o.file, o.line) for o in duplicates[key("Deployment", "api", "apps")]] == [(str(first), 12), (str(second), 1)]
    assert loaded.origin(key("Deployment", "api", "apps")) == duplicates[key("Deployment", "api", "apps")][-1]


def test_a_file_changed_since_it_was_read_gives_no_wrong_line(tmp_path: Path) -> None:
    path = write(tmp_path, "all.yaml", MULTI)
    loaded = load_manifests([path])
    origin = loaded.origin(key("Deployment", "api", "apps"))
    assert origin is not None
    path.write_text("garbage: [unclosed\n")
    assert loaded.lines.line(origin, "spec.template") in (None, 12)  # never another object's line
    path.unlink()
    assert LineFinder().position(origin, "spec") == Position(12, 1, False)  # the first line known at load


def test_rendered_objects_have_no_field_lines() -> None:
    origin = Origin("chart/templates/deployment.yaml", rendered_by="helm", source="chart")
    assert LineFinder().line(origin, "spec") is None


def test_field_paths_parse_with_indexes_and_bracketed_keys() -> None:
    assert parse_field("spec.template.spec.containers[0].resources") == (
        "spec", "template", "spec", "containers", 0, "resources")
    assert parse_field('metadata.annotations["kubernetes.io/change-cause"]') == (
        "metadata", "annotations", "kubernetes.io/change-cause")
    assert parse_field(("spec", 2)) == ("spec", 2)
    assert parse_field("") == ()


TRICKY = """\
plain: text
booleans: [yes, No, on, OFF, true, False, y, n]
nulls: [~, null, Null]
nothing:
numbers: [0x1F, 0o17, 017, 1_000, "1_000", 1:30, -.inf, .NaN, 6.02e+23, +12, 3.]
dates: [2026-12-03, 2026-12-03T10:00:00Z, "2026-12-03"]
empty: ""
quoted: 'yes'
folded: >
  one
  two
literal: |
  keep
"=": value
binary: !!binary aGVsbG8=
anchored: &shared {cpu: 100m, memory: 64Mi}
aliased: *shared
merged:
  <<: *shared
  cpu: 200m
set: !!set {a, b}
omap: !!omap [{a: 1}, {b: 2}]
? [complex, key]
: only YAML allows it
"""


def test_the_manifest_loader_gives_what_yaml_safe_load_gives(tmp_path: Path) -> None:
    from kubesteward.model.files import parse_documents

    tricky = TRICKY.replace("? [complex, key]\n: only YAML allows it\n", "")
    documents = list(parse_documents(tmp_path / "x.yaml", tricky + "---\n" + MULTI + "---\n" + LIST))
    expected = [d for d in yaml.safe_load_all(tricky + "---\n" + MULTI + "---\n" + LIST) if d is not None]
    assert [d.data for d in documents] == expected
    assert documents[0].data["aliased"] is documents[0].data["anchored"]  # one object, as the safe loader shares
    assert documents[0].data["merged"] == {"cpu": "200m", "memory": "64Mi"}


def test_an_unhashable_key_is_invalid_yaml_as_before(tmp_path: Path) -> None:
    from kubesteward.errors import InputError
    from kubesteward.model.files import parse_documents

    with pytest.raises(InputError, match="invalid YAML: found unhashable key"):
        list(parse_documents(tmp_path / "x.yaml", TRICKY))


@pytest.fixture(scope="module")
def deployment_lines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Manifests, Origin]:
    loaded = load_manifests([write(tmp_path_factory.mktemp("lines"), "all.yaml", MULTI)])
    origin = loaded.origin(key("Deployment", "api", "apps"))
    assert origin is not None
    return loaded, origin


@given(path=st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_any_field_path_is_a_line_of_the_object_or_nothing(
    deployment_lines: tuple[Manifests, Origin], path: str,
) -> None:
    loaded, origin = deployment_lines
    assert all(isinstance(step, str | int) for step in parse_field(path))
    found = loaded.lines.position(origin, path)
    assert found is not None and 12 <= found.line <= 28  # the object's own lines, its first at worst
