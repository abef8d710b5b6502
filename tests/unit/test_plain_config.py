"""Plain-data contexts are read without the official loader, with the same result as the loader's."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubesteward.cluster import plain_config
from kubesteward.cluster.config import load_config
from kubesteward.cluster.connection import ClusterConfig
from kubesteward.cluster.plain_config import plain_context

CA, CERT, KEY = b"-----CA-----\n", b"-----CERT-----\n", b"-----KEY-----\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(cluster: dict[str, Any], user: dict[str, Any], **context: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443/", **cluster}},
                     {"name": "other", "cluster": {"server": "https://10.0.0.1:6443"}}],
        "users": [{"name": "u", "user": user}, {"name": "v", "user": {"token": "other-token"}}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u", **context}},
                     {"name": "second", "context": {"cluster": "other", "user": "v"}}],
        "current-context": "main",
    }


def summary(config: ClusterConfig) -> dict[str, Any]:
    """Every setting, with the certificate files' contents instead of their (temporary) paths."""
    def content(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return {
        "context": config.context, "host": config.host, "verify_ssl": config.verify_ssl,
        "ca": content(config.ca_file), "cert": content(config.cert_file), "key": content(config.key_file),
        "tls_server_name": config.tls_server_name, "username": config.username, "password": config.password,
        "authorization": config.authorization(), "namespace": config.namespace,
    }


def through_loader(path: Path, context: str | None, monkeypatch: pytest.MonkeyPatch) -> ClusterConfig:
    with monkeypatch.context() as patch:
        patch.setattr(plain_config, "plain_context", lambda *args: None)
        return load_config(str(path), context)


CASES = {
    "certificate data": (dict(cert_data=True), {}),
    "certificate files relative to the kubeconfig": (dict(cert_files=True), {}),
    "token, insecure, server name": (
        {"insecure-skip-tls-verify": True, "tls-server-name": "api.internal"}, {"token": "s3cret"}),
    "basic auth": ({"certificate-authority-data": b64(CA)}, {"username": "admin", "password": "pw"}),
    "namespace": ({"certificate-authority-data": b64(CA)}, {"token": "t", "namespace": "shop"}),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("context", [None, "second"])
def test_plain_contexts_match_the_official_loader(case: str, context: str | None, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, user = dict(CASES[case][0]), dict(CASES[case][1])
    namespace = user.pop("namespace", None)
    if cluster.pop("cert_data", False):
        cluster["certificate-authority-data"] = b64(CA)
        user.update({"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)})
    if cluster.pop("cert_files", False):
        (tmp_path / "pki").mkdir()
        for name, data in (("ca.crt", CA), ("admin.crt", CERT), ("admin.key", KEY)):
            (tmp_path / "pki" / name).write_bytes(data)
        cluster["certificate-authority"] = "pki/ca.crt"
        user.update({"client-certificate": "pki/admin.crt", "client-key": str(tmp_path / "pki" / "admin.key")})
    path = tmp_path / "config"
    data = kubeconfig(cluster, user, **({"namespace": namespace} if namespace else {}))
    path.write_text(yaml.safe_dump(data))

    assert plain_context(data, path, context) is not None  # really the plain path
    assert summary(load_config(str(path), context)) == summary(through_loader(path, context, monkeypatch))


@pytest.mark.parametrize("user, cluster", [
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "get-token"}}, {}),
    ({"auth-provider": {"name": "oidc", "config": {}}}, {}),
    ({"tokenFile": "/var/run/token"}, {}),
    ({"token": "t"}, {"proxy-url": "http://proxy:3128"}),
    ({"token": "t"}, {"insecure-skip-tls-verify": "true"}),  # a string: the loader's truthiness decides
    ({"token": "t", "as": "someone-else"}, {}),
    ({"token": "t", "client-key": "k.pem", "client-key-data": "a2V5"}, {}),  # file and data: loader and kubectl differ
])
def test_anything_with_behaviour_goes_to_the_loader(user: dict[str, Any], cluster: dict[str, Any],
                                                     tmp_path: Path) -> None:
    assert plain_context(kubeconfig(cluster, user), tmp_path / "config", None) is None


def test_missing_context_or_file_goes_to_the_loader_for_its_error(tmp_path: Path) -> None:
    data = kubeconfig({"certificate-authority": "missing.crt"}, {"token": "t"})
    assert plain_context(data, tmp_path / "config", None) is None
    assert plain_context(kubeconfig({}, {"token": "t"}), tmp_path / "config", "nope") is None


def test_several_kubeconfig_files_are_merged_by_the_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text(yaml.safe_dump(kubeconfig({}, {"token": "t"})))
    second.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}))
    calls: list[object] = []
    monkeypatch.setattr(plain_config, "plain_context", lambda *args: calls.append(args))
    config = load_config(f"{first}:{second}")
    assert config.host == "https://127.0.0.1:6443" and config.authorization() == "Bearer t"
    assert calls == []  # two files: never the plain path
