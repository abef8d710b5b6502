"""Contexts whose credentials are plain data, read without the official loader.

Importing the official ``kubernetes`` config loader is slow and heavy at every
start (it pulls in the generated client, requests-oauthlib and pydantic
models): a real share of a big cluster's ``diagnose``, and most of a small
cluster's. A context that only holds data (the server, its CA, a client
certificate and key, a bearer token or basic auth) needs none of the
loader's logic, so :func:`plain_context` reads those straight from the file.

Everything with behaviour goes to the loader, unchanged: exec credential
plugins, auth providers (OIDC, cloud), token files (rotated), proxies,
impersonation, several merged kubeconfig files, in-cluster service accounts.
Any key this module does not know sends the context there too, so a new
kubeconfig feature is never silently ignored. The unit tests check that both
paths produce the same settings for every field read here.
"""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubesteward.cluster.connection import ClusterConfig
from kubesteward.redaction import register

# Keys whose meaning is data alone; any other key in the entry defers to the loader.
PLAIN_CLUSTER_KEYS = frozenset(
    {"server", "certificate-authority", "certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name"}
)
PLAIN_USER_KEYS = frozenset(
    {"client-certificate", "client-certificate-data", "client-key", "client-key-data", "token", "username", "password"}
)


def load_plain(path: str, context: str | None) -> ClusterConfig | None:
    """``context`` of the kubeconfig file at ``path`` if it is plain data, else None (use the loader)."""
    import yaml

    file = Path(path).expanduser()
    try:
        with open(file, "rb") as handle:
            data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None  # the loader reports it
    return plain_context(data, file, context)


def plain_context(data: Any, path: Path, context: str | None) -> ClusterConfig | None:
    """``context`` (None: the current one) of the parsed kubeconfig ``data`` at ``path``, if plain data.

    None means "use the official loader", which also reports whatever is wrong.
    """
    if not isinstance(data, dict):
        return None
    name = context or data.get("current-context")
    entry = _named(data.get("contexts"), name, "context")
    if entry is None:
        return None
    cluster = _named(data.get("clusters"), entry.get("cluster"), "cluster")
    user = _named(data.get("users"), entry.get("user"), "user") if entry.get("user") else {}
    if cluster is None or user is None or not isinstance(cluster.get("server"), str):
        return None
    if not cluster["server"].startswith(("https://", "http://")):
        return None  # the loader's path says what is wrong with it
    if not set(cluster) <= PLAIN_CLUSTER_KEYS or not set(user) <= PLAIN_USER_KEYS:
        return None
    if not set(entry) <= {"cluster", "user", "namespace"}:
        return None
    both = [k for k in ("certificate-authority", "client-certificate", "client-key") if {k, f"{k}-data"} <= {*cluster, *user}]
    if both:
        return None  # file and data: the loader takes the file, kubectl the data; let the loader decide
    if not isinstance(cluster.get("insecure-skip-tls-verify", False), bool):
        return None
    strings = [v for k, v in cluster.items() if k != "insecure-skip-tls-verify"] + list(user.values())
    if not all(isinstance(value, str) for value in strings):
        return None
    base = path.parent
    try:
        ca_file = _material(cluster, "certificate-authority", base)
        cert_file = _material(user, "client-certificate", base)
        key_file = _material(user, "client-key", base)
    except (ValueError, OSError):
        return None  # bad base64, unreadable file: the loader says it properly
    return ClusterConfig(
        context=str(name),
        host=cluster["server"].rstrip("/"),
        verify_ssl=not cluster.get("insecure-skip-tls-verify", False),
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        tls_server_name=cluster.get("tls-server-name") or None,
        authorization=_constant(_authorization(user)),
        namespace=entry.get("namespace") or "default",
    )


def _authorization(user: dict[str, Any]) -> str | None:
    """The loader's order: a token, else basic auth, both as an Authorization header
    (registered with :func:`kubesteward.redaction.register`, so no output ever shows them)."""
    if user.get("token"):
        register(user["token"])
        return f"Bearer {user['token']}"
    if "username" in user and "password" in user:
        pair = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
        register(user["password"], pair)
        return f"Basic {pair}"
    return None


def _constant(value: str | None) -> Callable[[], str | None]:
    return lambda: value


def _named(entries: Any, name: Any, field: str) -> dict[str, Any] | None:
    """kubectl's rule within one file: the first entry of that name."""
    if not isinstance(entries, list) or not isinstance(name, str) or not name:
        return None
    for item in entries:
        if isinstance(item, dict) and item.get("name") == name:
            body = item.get(field)
            return body if isinstance(body, dict) else None
    return None


def _material(entry: dict[str, Any], key: str, base: Path) -> str | None:
    """A certificate or key as a file path: the file given (relative to the kubeconfig), or the data written out."""
    data = entry.get(f"{key}-data")
    if data:
        return _private_file(base64.b64decode(data, validate=True))
    given = entry.get(key)
    if not given:
        return None
    resolved = os.path.join(base, given)  # as the loader does: relative to the kubeconfig, no ~ expansion
    if not os.path.isfile(resolved):
        raise OSError(f"{given} not found")
    return resolved


_directory: str | None = None


def _private_file(content: bytes) -> str:
    """A file only this user can read, removed at exit (ssl loads client keys from files only)."""
    global _directory
    if _directory is None:
        _directory = tempfile.mkdtemp(prefix="kubesteward-")
        atexit.register(shutil.rmtree, _directory, True)
    handle, name = tempfile.mkstemp(dir=_directory)
    with os.fdopen(handle, "wb") as out:
        out.write(content)
    return name
