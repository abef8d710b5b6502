"""The sandbox's audit log option: kube-apiserver's flags and policy, and no silent change of an existing sandbox
(tests/e2e/test_rbac_minimize.py reads a real audit log from one)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from kubesteward.sandbox.cluster import Sandbox, SandboxError


def test_kube_apiserver_gets_the_audit_flags_beside_the_extra_ones(tmp_path: Path) -> None:
    sandbox = Sandbox("t-audit", 1, tmp_path / "t-audit", extra_args={"kube-apiserver": {"v": "2"}}, audit_log=True)
    binaries: defaultdict[str, Path] = defaultdict(lambda: Path("/nonexistent/binary"))
    config = next(yaml.safe_load_all(sandbox._write_config(binaries).read_text()))
    (patch,) = [p for p in config["componentsPatches"] if p["name"] == "kube-apiserver"]
    flags = {arg["key"]: arg["value"] for arg in patch["extraArgs"]}
    assert flags["v"] == "2"
    assert flags["audit-log-path"] == str(sandbox.audit_log_path)
    policy = yaml.safe_load(Path(flags["audit-policy-file"]).read_text())
    assert policy["kind"] == "Policy" and policy["rules"] == [{"level": "Metadata"}]  # never a request body

    plain = Sandbox("t-plain", 1, tmp_path / "t-plain")
    config = next(yaml.safe_load_all(plain._write_config(binaries).read_text()))
    assert not [p for p in config["componentsPatches"] if p["name"] == "kube-apiserver"]


def test_an_audit_log_is_not_added_to_a_sandbox_made_without_one(tmp_path: Path) -> None:
    sandbox = Sandbox("t-audit", 1, tmp_path / "t-audit", audit_log=True)
    sandbox.layout.kwokctl_config.parent.mkdir(parents=True)
    sandbox.layout.kwokctl_config.write_text("")  # kwokctl made it: it holds data
    with pytest.raises(SandboxError, match="created without an audit log; .* --recreate"):
        sandbox.up()
