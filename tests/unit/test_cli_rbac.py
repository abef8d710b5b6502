"""``kubesteward rbac``: what needs no cluster (resource names, minimize from a log file, its errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kubesteward.errors import UsageError
from kubesteward.policy.access import parse_resource
from tests.support.audit import RECORDED, SA, write_log
from tests.support.cli import run_in_process
from tests.support.rbac import binding, role, sa


@pytest.mark.parametrize(
    ("text", "subresource", "parsed"),
    [
        ("pods", "", ("pods", "", "")),
        ("pods/exec", "", ("pods", "", "exec")),
        ("pods", "exec", ("pods", "", "exec")),
        ("pods/exec", "exec", ("pods", "", "exec")),
        ("deployments.apps/scale", "", ("deployments", "apps", "scale")),
        ("widgets.example.com", "", ("widgets", "example.com", "")),
        ("*", "", ("*", "", "")),
    ],
)
def test_resources_are_read_as_kubectl_writes_them(text: str, subresource: str, parsed: tuple[str, str, str]) -> None:
    assert parse_resource(text, subresource) == parsed


@pytest.mark.parametrize(("text", "subresource"), [("pods/", ""), ("pods.", ""), ("/x", ""), ("pods/exec", "log")])
def test_malformed_resources_are_usage_errors(text: str, subresource: str) -> None:
    with pytest.raises(UsageError):
        parse_resource(text, subresource)


def test_minimize_writes_documents_kubectl_applies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", RECORDED)
    code, out, err = run_in_process(capsys, "rbac", "minimize", "--audit-log", str(log), "--user", SA)
    assert code == 0, err
    documents = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in documents] == ["Role", "RoleBinding", "Role", "RoleBinding", "ClusterRole",
                                              "ClusterRoleBinding"]
    assert "distinct request(s) of ServiceAccount shop/web" in err
    code, out, _ = run_in_process(capsys, "rbac", "minimize", "--audit-log", str(log), "--user", SA, "-o", "json",
                                  "--name", "web-minimal")
    listed = json.loads(out)
    assert listed["kind"] == "List" and {i["metadata"]["name"] for i in listed["items"]} == {"web-minimal"}


def test_minimize_never_answers_an_empty_role(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = write_log(tmp_path / "audit.log", RECORDED)
    code, out, err = run_in_process(capsys, "rbac", "minimize", "--audit-log", str(log), "--user", "nobody")
    assert code == 2 and not out
    assert "no request of 'nobody'" in err and f"({len(RECORDED)} audit events read)" in err
    code, _, err = run_in_process(capsys, "rbac", "minimize", "--audit-log", str(tmp_path / "none"), "--user", SA)
    assert code == 11 and "cannot read audit log" in err
    code, _, err = run_in_process(capsys, "rbac", "minimize", "--audit-log", str(log), "--user", SA, "-o", "table")
    assert code == 2 and "unknown output format" in err


def test_who_can_reads_files_with_kubernetes_cluster_admin_and_names_what_it_cannot_resolve(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manifests = [
        role("exec", [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}], namespace="ci"),
        binding("exec", "Role", "exec", [sa("debug")], namespace="ci"),
        binding("admins", "ClusterRole", "cluster-admin", [sa("deployer", "ci")]),  # not in the files: Kubernetes'
        binding("viewers", "ClusterRole", "view", [{"kind": "Group", "name": "devs"}], namespace="ci"),
        binding("elsewhere", "ClusterRole", "edit", [{"kind": "Group", "name": "devs"}], namespace="web"),
    ]
    path = tmp_path / "rbac.yaml"
    path.write_text(yaml.safe_dump_all(manifests))
    code, out, err = run_in_process(capsys, "rbac", "who-can", "create", "pods/exec", "-n", "ci", "-f", str(path),
                                    "-o", "json")
    assert code == 0, err
    answer = json.loads(out)
    assert [(g["subject"]["name"], g["binding"]["name"], g["namespace"]) for g in answer["grants"]] == [
        ("deployer", "admins", "*"), ("debug", "exec", "ci")]
    # view's rules are Kubernetes' and not in the files: named, not silently left out; web's binding does not apply
    assert answer["unresolved"] == [{"binding": {"kind": "RoleBinding", "name": "viewers", "namespace": "ci"},
                                     "role": {"kind": "ClusterRole", "name": "view"}}]
    code, out, _ = run_in_process(capsys, "rbac", "who-can", "create", "pods/exec", "-n", "web", "-f", str(path))
    assert code == 0 and "ServiceAccount ci/deployer" in out and "debug" not in out
    assert "RoleBinding/web/elsewhere binds ClusterRole/edit, which the files do not hold" in out
