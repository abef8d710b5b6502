"""``kubesteward lint`` through the real entry point: every output format, file and line, exit codes, inputs."""

from __future__ import annotations

import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.cli import run_in_process

PLANTED = "pl4nted-s3cret-VALUE-7Q"

# Line 1 starts the CronJob, whose apiVersion (removed in 1.25) is KS860 at a target of 1.32; the
# Secret and the env value hold a planted secret. Tests of exact findings run the API-version and
# machinery rules only (API_RULES); the others are tested by their families' tests.
MANIFESTS = f"""\
apiVersion: batch/v1beta1
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
          containers:
          - name: report
            image: registry.example.com/report:1.2.3
            env:
            - name: DB_PASSWORD
              value: {PLANTED}
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
stringData:
  password: {PLANTED}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.0.0
"""


@pytest.fixture
def manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)  # no .kubesteward.yaml of the repository's applies
    monkeypatch.delenv("KUBESTEWARD_CONFIG", raising=False)
    path = tmp_path / "deploy" / "app.yaml"
    path.parent.mkdir()
    path.write_text(MANIFESTS)
    return path


API_RULES = ("--only", "KS86*,KS89*")


def lint(capsys: pytest.CaptureFixture[str], *args: str, every_rule: bool = False) -> tuple[int, str, str]:
    return run_in_process(capsys, "lint", *args, *(() if every_rule or "--only" in args else API_RULES))


def findings_of(out: str) -> list[dict[str, Any]]:
    document = json.loads(out)
    assert document["apiVersion"] == "kubesteward.io/v1" and document["kind"] == "PolicyReport"
    [run] = document["runs"]
    findings: list[dict[str, Any]] = run["findings"]
    return findings


def test_json_points_at_the_file_and_the_field_line(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lint(capsys, str(manifests), "-o", "json")
    assert code == 1  # KS860 is an error, and --fail-on defaults to error
    [found] = [f for f in findings_of(out) if f["code"] == "KS860"]
    assert found["object"] == {"apiVersion": "batch/v1beta1", "kind": "CronJob", "namespace": "shop", "name": "nightly"}
    assert (found["file"], found["line"], found["field"]) == (str(manifests), 1, "apiVersion")
    assert found["severity"] == "error" and found["remediationSteps"][0]["text"]
    run = json.loads(out)["runs"][0]
    assert run["summary"]["objects"] == 3 and "KS860" in run["rules"] and run["coverage"] == {"complete": True}
    assert run["scores"]["shop"]["failed"] >= 1


def test_yaml_is_the_same_document(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, as_json, _ = lint(capsys, str(manifests), "-o", "json")
    _, as_yaml, _ = lint(capsys, str(manifests), "-o", "yaml")
    first, second = json.loads(as_json), yaml.safe_load(as_yaml)
    first.pop("generatedAt"), second.pop("generatedAt")
    assert first == second


def test_a_field_line_inside_a_later_document(tmp_path: Path, manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The removed apiVersion of the third document is on that document's own line, not the file's first.
    text = MANIFESTS.replace("apiVersion: apps/v1\nkind: Deployment", "apiVersion: extensions/v1beta1\nkind: Deployment")
    manifests.write_text(text)
    expected = text.splitlines().index("apiVersion: extensions/v1beta1") + 1
    _, out, _ = lint(capsys, str(manifests), "-o", "json")
    [found] = [f for f in findings_of(out) if f["object"]["kind"] == "Deployment"]
    assert (found["code"], found["line"]) == ("KS860", expected)


def test_table_groups_by_object_with_file_line_and_fix(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lint(capsys, str(manifests))
    assert code == 1
    lines = out.splitlines()
    assert "1 errors" in lines[0] and "3 objects" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.startswith("CronJob/shop/nightly"))
    assert lines[header].endswith(f"{manifests}:1")
    assert "KS860" in lines[header + 1] and "(at apiVersion, line 1)" in lines[header + 1]
    assert lines[header + 2].strip().startswith("fix: ")


def test_sarif_has_the_required_shape_rules_and_relative_locations(
    manifests: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / ".git").mkdir()  # the repository's root: GitHub resolves artifact URIs against it
    code, out, _ = lint(capsys, str(manifests), "-o", "sarif")
    assert code == 1
    log = json.loads(out)
    check_sarif(log)
    [run] = log["runs"]
    [result] = [r for r in run["results"] if r["ruleId"] == "KS860"]
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "deploy/app.yaml", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 1}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.resolve().as_uri() + "/"
    [rule] = [r for r in run["tool"]["driver"]["rules"] if r["id"] == "KS860"]
    assert rule["help"]["text"] and rule["help"]["markdown"].startswith("1. ")
    assert rule["defaultConfiguration"]["level"] == "error"


def check_sarif(log: dict[str, Any]) -> None:
    """The required properties of SARIF 2.1.0's schema (sarif-schema-2.1.0.json), for what we emit."""
    assert log["version"] == "2.1.0" and isinstance(log["runs"], list)
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str)
        ids = [rule["id"] for rule in driver.get("rules", [])]
        assert len(ids) == len(set(ids))
        for rule in driver.get("rules", []):
            assert isinstance(rule["id"], str)
            for key in ("shortDescription", "fullDescription", "help"):
                assert "text" in rule[key]
            assert rule["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
        for result in run["results"]:
            assert "text" in result["message"] or "id" in result["message"]
            assert result["ruleId"] in ids
            assert result["level"] in ("none", "note", "warning", "error")
            for location in result.get("locations", []):
                physical = location.get("physicalLocation")
                if physical is not None:
                    assert "artifactLocation" in physical or "address" in physical
                    assert isinstance(physical["artifactLocation"]["uri"], str)
                    if "region" in physical:
                        assert physical["region"]["startLine"] >= 1
        for invocation in run.get("invocations", []):
            assert isinstance(invocation["executionSuccessful"], bool)
            for note in invocation.get("toolExecutionNotifications", []):
                assert "text" in note["message"]


def test_junit_parses_with_a_failure_per_rule_and_object(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = lint(capsys, str(manifests), "-o", "junit")
    assert code == 1
    root = ET.fromstring(out)
    assert root.tag == "testsuites" and root.get("failures") == "1"
    [suite] = root.findall("testsuite")
    assert suite.get("name") == str(manifests)
    failed = [case for case in suite.findall("testcase") if case.find("failure") is not None]
    [case] = failed
    assert case.get("name") == "KS860 CronJob/shop/nightly"
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "KS860" and "fix: " in (failure.text or "")
    assert int(suite.get("tests") or 0) == len(suite.findall("testcase")) > 1  # rules that passed are cases too


def test_markdown_lists_findings_and_how_to_fix(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = lint(capsys, str(manifests), "-o", "markdown")
    assert out.startswith("# kubesteward policy: ")
    assert "| error | KS860 | `CronJob/shop/nightly` |" in out
    assert f"`{manifests}:1 apiVersion`" in out
    assert "### KS860: " in out


@pytest.mark.parametrize(("args", "expected"), [
    ((), 1),
    (("--fail-on", "none"), 0),
    (("--ignore", "KS860"), 0),
    (("--target-version", "1.22"), 0),  # deprecated (KS861, a warning) but still served then
    (("--target-version", "1.22", "--fail-on", "warning"), 1),
    (("--only", "KS89*"), 0),
    (("--only", "KS86*"), 1),
])
def test_exit_codes_follow_fail_on(manifests: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                                   expected: int) -> None:
    code, _, err = lint(capsys, str(manifests), "-o", "json", *args)
    assert (code, err) == (expected, "")


def test_fail_on_from_the_config_file(manifests: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / ".kubesteward.yaml").write_text("failOn: warning\npolicy:\n  settings: {targetVersion: '1.22'}\n")
    code, out, _ = lint(capsys, str(manifests), "-o", "json")
    assert code == 1 and {f["code"] for f in findings_of(out)} == {"KS861"}


def test_an_annotation_with_a_reason_suppresses(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifests.write_text(MANIFESTS.replace(
        "  name: nightly\n", "  name: nightly\n  annotations:\n    ignore.kubesteward.io/KS860: moved to batch/v1 in Q3\n"))
    code, out, _ = lint(capsys, str(manifests), "-o", "json")
    assert code == 0
    run = json.loads(out)["runs"][0]
    assert [(s["code"], s["reason"], s["by"]) for s in run["suppressed"]] == [("KS860", "moved to batch/v1 in Q3", "annotation")]
    code, out, _ = lint(capsys, str(manifests))
    assert "1 suppressed" in out.splitlines()[0]


def test_stdin_and_a_list(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    items = [yaml.safe_load(doc) for doc in MANIFESTS.split("---\n")]
    listed = yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(listed.encode())))
    code, out, _ = lint(capsys, "-", "-o", "json")
    assert code == 1
    [found] = [f for f in findings_of(out) if f["code"] == "KS860"]
    # The CronJob is the List's first item: its apiVersion is the line after "items:" and "- ".
    expected = listed.splitlines().index("- apiVersion: batch/v1beta1") + 1
    assert (found["file"], found["line"]) == ("-", expected)


def test_a_directory_is_read_recursively(manifests: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (manifests.parent / "nested").mkdir()
    (manifests.parent / "nested" / "more.yml").write_text(MANIFESTS.replace("name: nightly", "name: weekly"))
    _, out, _ = lint(capsys, str(tmp_path / "deploy"), "-o", "json")
    assert sorted(f["object"]["name"] for f in findings_of(out) if f["code"] == "KS860") == ["nightly", "weekly"]


def test_custom_resources_are_judged_by_object_rules(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifests.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: web\n  namespace: shop\n"
        "  annotations:\n    ignore.kubesteward.io/KS000: typo\nspec:\n  template:\n    spec:\n"
        "      containers: [{name: web, image: registry.example.com/web:1.0.0}]\n")
    code, out, err = run_in_process(capsys, "-v", "lint", str(manifests), "-o", "json", "--fail-on", "warning",
                                    *API_RULES)
    assert code == 1
    [found] = findings_of(out)
    assert (found["code"], found["object"]["kind"], found["line"]) == ("KS891", "Rollout", 7)
    assert "read 1 objects from 1 file(s): argoproj.io/Rollout (1)" in err  # -v says what was read
    # Its pod template is found by shape and judged by the pod rules (resources, KS700-KS702, here).
    _, out, _ = lint(capsys, str(manifests), "-o", "json", "--only", "KS70*")
    found_codes = {(f["code"], f["object"]["kind"], f["field"]) for f in findings_of(out)}
    assert ("KS701", "Rollout", "spec.template.spec.containers[0].resources") in found_codes


def test_no_secret_value_in_any_format(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The CronJob that holds the env value has a finding, so every format shows that object.
    for fmt in ("table", "json", "yaml", "sarif", "junit", "markdown"):
        code, out, err = lint(capsys, str(manifests), "-o", fmt, "--scores", every_rule=True)
        assert code == 1 and "CronJob" in out, fmt
        assert PLANTED not in out + err, fmt


@pytest.mark.parametrize(("content", "needle"), [
    (b"\x00\x01binary", "a binary file"),
    (b"kind: Deployment\nmetadata: [unclosed\n", "invalid YAML"),
])
def test_bad_input_is_one_line_and_exit_11(manifests: Path, capsys: pytest.CaptureFixture[str], content: bytes,
                                           needle: str) -> None:
    manifests.write_bytes(content)
    code, out, err = lint(capsys, str(manifests))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 11 and out == "" and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


@pytest.mark.parametrize(("args", "needle"), [
    (("-o", "html"), "unknown output format"),
    (("--profile", "strict"), "unknown policy profile"),
    (("--fail-on", "fatal"), "--fail-on"),
    (("--target-version", "latest"), "--target-version"),
    (("--only", "KS7000"), "no finding code matches"),
])
def test_usage_errors_exit_2(manifests: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                             needle: str) -> None:
    code, out, err = lint(capsys, str(manifests), *args)
    assert code == 2 and out == "" and needle in err and len(err.strip().splitlines()) == 1


def test_a_missing_path_is_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = lint(capsys, str(tmp_path / "nowhere.yaml"))
    assert code == 11 and "no such file or directory" in err


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    "values.yaml": "cronApi: batch/v1\n",
    "templates/cron.yaml": (
        "apiVersion: {{ .Values.cronApi }}\nkind: CronJob\nmetadata:\n  name: {{ .Release.Name }}-nightly\n"
        "  namespace: shop\nspec:\n  schedule: '0 3 * * *'\n  jobTemplate:\n    spec:\n      template:\n"
        "        spec:\n          restartPolicy: OnFailure\n"
        "          containers: [{name: report, image: registry.example.com/report:1.2.3}]\n"),
}


def test_a_helm_chart_is_rendered_with_values_files(tmp_path: Path, manifests: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "chart"
    for name, text in CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)
    code, out, _ = lint(capsys, str(chart), "-o", "json")
    assert code == 0 and findings_of(out) == []
    (tmp_path / "old.yaml").write_text("cronApi: batch/v1beta1\n")
    code, out, _ = lint(capsys, str(chart), "-o", "json", "-f", str(tmp_path / "old.yaml"), "--release-name", "prod")
    [found] = findings_of(out)
    assert code == 1 and found["code"] == "KS860" and found["object"]["name"] == "prod-nightly"
    assert found["file"].endswith("templates/cron.yaml")  # the template that made it, not helm's output


def test_a_kustomization_is_rendered(tmp_path: Path, manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "overlay"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources: [cron.yaml]\nnamespace: shop\nnamePrefix: eu-\n")
    (base / "cron.yaml").write_text(MANIFESTS.split("---\n")[0])
    code, out, _ = lint(capsys, str(base), "-o", "json")
    [found] = findings_of(out)
    assert code == 1 and (found["code"], found["object"]["name"]) == ("KS860", "eu-nightly")
    assert found["file"].endswith("overlay/cron.yaml")  # the resource it came from (kustomize's origin)
    assert PLANTED not in out


def test_lint_imports_no_http_stack() -> None:
    # Reading files needs the table of built-ins, not the client: aiohttp's import is a visible share of a run.
    import subprocess
    import sys

    code = ("import sys; from kubesteward.cli.main import _load_command; _load_command('lint'); "
            "import kubesteward.policy.rules, kubesteward.model.render; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] == 'aiohttp' or m == 'kubesteward.cluster.client'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    import kubesteward.cluster as cluster

    assert all(getattr(cluster, name) is not None for name in cluster.__all__)  # every lazy name resolves


def test_a_clean_run_says_so_in_every_format(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifests.write_text(MANIFESTS.replace("batch/v1beta1", "batch/v1"))
    code, out, _ = lint(capsys, str(manifests))
    assert code == 0 and "✔ no policy findings" in out
    _, out, _ = lint(capsys, str(manifests), "-o", "junit")
    root = ET.fromstring(out)
    assert root.get("failures") == "0" and int(root.get("tests") or 0) > 0  # each rule that ran is a passing case
    _, out, _ = lint(capsys, str(manifests), "-o", "sarif")
    assert json.loads(out)["runs"][0]["results"] == []
    _, out, _ = lint(capsys, str(manifests), "-o", "markdown")
    assert "No policy findings." in out


def test_hostile_names_are_shown_not_obeyed(manifests: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A name (from whoever wrote the manifest) with a terminal escape and rich markup in it.
    manifests.write_text(MANIFESTS.replace("name: nightly", 'name: "night\\e[2J[red]ly"'))
    code, out, _ = lint(capsys, str(manifests))
    assert code == 1 and "\x1b" not in out and "night\\x1b[2J[red]ly" in out
    _, out, _ = lint(capsys, str(manifests), "-o", "junit")
    [case] = [c for c in ET.fromstring(out).iter("testcase") if c.find("failure") is not None]
    assert "\\x1b" in (case.get("name") or "")  # XML 1.0 cannot hold the control character itself
    _, out, _ = lint(capsys, str(manifests), "-o", "markdown")
    assert "\x1b" not in out
