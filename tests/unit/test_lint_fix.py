"""``kubesteward lint --fix``: the patch applies with the real tools, the fixed files lint clean of the fixed
codes, everything else in the files stays as written, and no env value shows in a patch."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubesteward.model.yaml_edit import Addition, add_values
from tests.support.cli import run_in_process

PLANTED = "pl4nted-s3cret-VALUE-7Q"
FIXED_CODES = {"KS700", "KS701", "KS702", "KS740", "KS745"}  # resources, privilege escalation, seccomp

WORKLOADS = """\
# the shop's workloads
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: "fast"   # a comment that must survive
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.0.0   # pinned by the release job
        ports:
        - containerPort: 8080
      - name: sidecar
        image: registry.example.com/proxy:2.1.0
        resources: {}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: shop
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          securityContext:
          containers:
          - name: report
            image: registry.example.com/report:1.2.3
            resources:
              limits: {memory: 64Mi}
"""


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KUBESTEWARD_CONFIG", raising=False)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "shop.yaml").write_text(WORKLOADS)
    return tmp_path


def codes(capsys: pytest.CaptureFixture[str], path: Path) -> set[str]:
    _, out, _ = run_in_process(capsys, "lint", str(path), "-o", "json", "--fail-on", "none")
    return {f["code"] for f in json.loads(out)["runs"][0]["findings"]}


def test_the_patch_applies_and_the_fixed_file_lints_clean_of_the_fixed_codes(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = repo / "deploy" / "shop.yaml"
    before = codes(capsys, target)
    assert FIXED_CODES <= before
    code, patch, err = run_in_process(capsys, "lint", "deploy/shop.yaml", "--fix", "--fail-on", "none")
    assert code == 0 and patch.startswith("--- a/deploy/shop.yaml\n+++ b/deploy/shop.yaml\n@@ ")
    assert "finding(s) left to fix by hand" in err
    assert target.read_text() == WORKLOADS  # a patch changes nothing by itself
    (repo / "fix.patch").write_text(patch)
    subprocess.run(["git", "apply", "--check", "fix.patch"], cwd=repo, check=True, capture_output=True)
    subprocess.run(["patch", "-p1", "-i", "fix.patch"], cwd=repo, check=True, capture_output=True)
    after = codes(capsys, target)
    assert not after & FIXED_CODES
    assert after == before - FIXED_CODES  # nothing else changed
    text = target.read_text()
    assert "# the shop's workloads" in text and 'mode: "fast"   # a comment that must survive' in text
    assert "image: registry.example.com/web:1.0.0   # pinned by the release job" in text
    documents = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in documents] == ["ConfigMap", "Deployment", "CronJob"]
    sidecar = documents[1]["spec"]["template"]["spec"]["containers"][1]
    assert sidecar["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}
    job = documents[2]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    # The limit a container set is kept, and makes its request: only cpu is added.
    assert job["containers"][0]["resources"] == {"limits": {"memory": "64Mi"}, "requests": {"cpu": "100m"}}
    assert job["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}


def test_in_place_edits_the_file_keeping_its_mode(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = repo / "deploy" / "shop.yaml"
    target.chmod(0o640)
    code, out, err = run_in_process(capsys, "lint", str(target), "--fix", "--in-place", "--fail-on", "none")
    assert code == 0 and out == "" and re.search(r"^fixed \d+ field\(s\) of 2 object\(s\) in 1 file\(s\)", err, re.M)
    assert target.stat().st_mode & 0o777 == 0o640
    assert not codes(capsys, target) & FIXED_CODES
    assert 'mode: "fast"   # a comment that must survive' in target.read_text()
    # Fixing again changes nothing: fixes only add what is missing.
    once = target.read_text()
    run_in_process(capsys, "lint", str(target), "--fix", "--in-place", "--fail-on", "none")
    assert target.read_text() == once


def test_exit_code_counts_what_is_left_after_the_fixes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run_in_process(capsys, "lint", "deploy/shop.yaml", "--only", "KS70[012]")
    assert code == 1  # missing memory requests are errors
    code, _, err = run_in_process(capsys, "lint", "deploy/shop.yaml", "--only", "KS70[012]", "--fix")
    assert code == 0 and "0 finding(s) left" in err


def test_no_env_value_in_a_patch(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = repo / "deploy" / "shop.yaml"
    target.write_text(WORKLOADS.replace(
        "        ports:\n", f"        env:\n        - name: DB_PASSWORD\n          value: {PLANTED}\n        ports:\n"))
    code, patch, err = run_in_process(capsys, "lint", "deploy/shop.yaml", "--fix", "--fail-on", "none")
    assert code == 0 and "@@" in patch
    assert PLANTED not in patch + err
    (repo / "fix.patch").write_text(patch)
    subprocess.run(["patch", "-p1", "-i", "fix.patch"], cwd=repo, check=True, capture_output=True)
    assert not codes(capsys, target) & FIXED_CODES
    assert f"value: {PLANTED}" in target.read_text()


def test_objects_from_stdin_are_not_fixed_and_say_why(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(WORKLOADS.encode())))
    code, out, err = run_in_process(capsys, "lint", "-", "--fix", "--fail-on", "none")
    assert code == 0 and out == ""
    assert "not fixed: Deployment.apps/shop/web: read from stdin" in err


def test_in_place_without_fix_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_in_process(capsys, "lint", "deploy/shop.yaml", "--in-place")
    assert code == 2 and "--fix" in err


@pytest.mark.parametrize(("text", "path", "value", "expected"), [
    # a key appended to a block mapping, after a nested block, at the mapping's indentation
    ("a:\n  b:\n    c: 1\n  d: [x]\ne: 2\n", ("a", "f"), {"g": 1}, "a:\n  b:\n    c: 1\n  d: [x]\n  f:\n    g: 1\ne: 2\n"),
    # a flow mapping holding the place is written again in block style, a comment after it kept
    ("a:\n  r: {}  # empty\n", ("a", "r", "x"), 1, "a:\n  r:  # empty\n    x: 1\n"),
    # a null replaced (empty, and spelt out)
    ("a:\n  s:\n  t: 1\n", ("a", "s"), {"k": "v"}, "a:\n  s:\n    k: v\n  t: 1\n"),
    ("a: null\n", ("a",), 5, "a: 5\n"),
    # an item of a block sequence, after a literal block scalar
    ("l:\n- n: a\n  args: |\n    echo\n- n: b\n", ("l", 0, "x"), True, "l:\n- n: a\n  args: |\n    echo\n  x: true\n- n: b\n"),
    # a value already there is never changed
    ("a:\n  b: 1\n", ("a", "b"), 2, "a:\n  b: 1\n"),
    # a flow sequence item inside a flow mapping: the outermost flow collection is rewritten
    ("a: {l: [{n: 1}]}\n", ("a", "l", 0, "m"), 2, "a:\n  l:\n  - n: 1\n    m: 2\n"),
    # a flow mapping that is an item of a list in a list
    ("a:\n- - {n: 1}\n", ("a", 0, 0, "m"), 2, "a:\n- - n: 1\n    m: 2\n"),
])
def test_additions_change_only_their_lines(text: str, path: tuple[str | int, ...], value: object, expected: str) -> None:
    assert add_values(text, [Addition(path, value)]) == expected
    assert yaml.safe_load(expected) is not None



def test_crlf_line_endings_are_kept(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = repo / "deploy" / "shop.yaml"
    target.write_bytes(WORKLOADS.replace("\n", "\r\n").encode())
    code, patch, _ = run_in_process(capsys, "lint", "deploy/shop.yaml", "--fix", "--fail-on", "none")
    assert code == 0 and "\r\n" in patch
    run_in_process(capsys, "lint", str(target), "--fix", "--in-place", "--fail-on", "none")
    raw = target.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")  # every line, the added ones too
    assert not codes(capsys, target) & FIXED_CODES


def test_an_item_of_a_list_is_fixed_in_place(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = list(yaml.safe_load_all(WORKLOADS))
    target = repo / "deploy" / "shop.yaml"
    target.write_text("# exported\n" + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items},
                                                      sort_keys=False))
    run_in_process(capsys, "lint", str(target), "--fix", "--in-place", "--fail-on", "none")
    assert not codes(capsys, target) & FIXED_CODES
    text = target.read_text()
    assert text.startswith("# exported\n")
    fixed = yaml.safe_load(text)["items"][1]["spec"]["template"]["spec"]["containers"][1]
    assert fixed["resources"]["limits"] == {"memory": "256Mi"}


def test_fix_takes_no_output_format(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_in_process(capsys, "lint", "deploy/shop.yaml", "--fix", "-o", "json")
    assert code == 2 and out == "" and "-o does not apply" in err


# Any document of mappings, lists and scalars, written block or flow style: an addition anywhere makes exactly the
# data with the value added, and (outside flow collections, which are written again) keeps every line as it was.
_KEYS = st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
_SCALARS = st.one_of(st.integers(-5, 5), st.booleans(), st.text("ab :#-'\"", max_size=6), st.none())
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.dictionaries(_KEYS, inner, min_size=1, max_size=4), st.lists(inner, min_size=1, max_size=3)), max_leaves=12)


def _mapping_paths(value: object, at: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = []
    if isinstance(value, dict):
        found.append(at)
        for key, child in value.items():
            found += _mapping_paths(child, (*at, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _mapping_paths(child, (*at, index))
    return found


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=4), st.booleans(), st.data())
def test_any_addition_makes_exactly_that_change(document: dict[str, object], flow: bool, data: st.DataObject) -> None:
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=None if flow else False)
    parent = data.draw(st.sampled_from(_mapping_paths(document)))
    key = data.draw(st.text("xyz", min_size=1, max_size=3))
    value = data.draw(_VALUES)
    expected = yaml.safe_load(text)
    node = expected
    for step in parent:
        node = node[step]
    had = node.get(key)
    if had is None:
        node[key] = value
    out = add_values(text, [Addition((*parent, key), value)])
    assert yaml.safe_load(out) == expected
    if not flow:
        kept = iter(out.splitlines())
        # every line stays, in order (but the null the value replaces)
        assert all(line in kept for line in text.splitlines() if had is not None or not line.endswith(f"{key}: null"))
