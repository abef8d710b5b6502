"""Resource paths and kubeconfig loading errors (pure, no API calls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubesteward.cluster import resources
from kubesteward.cluster.config import load_config
from kubesteward.errors import ConfigError


def test_collection_and_object_paths() -> None:
    deploy = resources.by_name("deployments")
    assert deploy is not None
    assert deploy.collection_path() == "/apis/apps/v1/deployments"
    assert deploy.collection_path("web") == "/apis/apps/v1/namespaces/web/deployments"
    assert deploy.object_path("api", "web") == "/apis/apps/v1/namespaces/web/deployments/api"
    assert resources.POD.collection_path("a") == "/api/v1/namespaces/a/pods"
    assert resources.NODE.object_path("n1", "ignored") == "/api/v1/nodes/n1"
    with pytest.raises(ValueError):
        resources.POD.object_path("p")


def test_lookup_by_kind_and_plural() -> None:
    assert resources.by_name("Ingress") == resources.by_name("ingresses")
    assert resources.builtin("policy/v1", "PodDisruptionBudget") is not None
    assert resources.builtin("v1", "Nope") is None


KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u1
  user: {token: abc}
contexts:
- name: one
  context: {cluster: c1, user: u1}
current-context: one
"""


def test_load_context_reads_host_and_token(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    config = load_config(str(path))
    assert config.context == "one"
    assert config.host == "https://127.0.0.1:6443"
    assert config.verify_ssl is False
    assert config.authorization() == "Bearer abc"


def test_unknown_context_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(KUBECONFIG)
    with pytest.raises(ConfigError, match="'missing'"):
        load_config(str(path), "missing")


def test_invalid_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed")
    with pytest.raises(ConfigError):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="no kubeconfig found"):
        load_config(str(tmp_path / "absent"))


def test_merged_kubeconfig_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "a"
    first.write_text(KUBECONFIG)
    second = tmp_path / "b"
    second.write_text(KUBECONFIG.replace("name: one", "name: two").replace("current-context: one", "current-context: two").replace("abc", "xyz").replace("u1", "u2"))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    assert load_config(None, "two").authorization() == "Bearer xyz"
    assert load_config(None).context == "one"  # the first file's current-context wins, as in kubectl
