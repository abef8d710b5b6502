"""Turn a kubeconfig context (or the in-cluster service account) into connection settings.

All authentication is delegated to the official ``kubernetes`` client's config
loader: exec credential plugins, OIDC with refresh, token files with rotation.
We only read back the host, TLS material and a credential callback from it;
the loader is kept off the data path.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubesteward.cluster.connection import ClusterConfig
from kubesteward.cluster.plain_config import load_plain
from kubesteward.errors import ConfigError, Unauthorized
from kubesteward.redaction import register

IN_CLUSTER = "in-cluster"


def kubeconfig_paths(kubeconfig: str | None) -> str:
    """The kubeconfig search path, kubectl style: flag, then $KUBECONFIG (':'-merged), then ~/.kube/config."""
    if kubeconfig:
        return kubeconfig
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _existing_files(paths: str) -> list[str]:
    return [p for p in paths.split(os.pathsep) if p and Path(p).expanduser().is_file()]


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """All context names and the current one."""
    kconfig = _loader()
    paths = kubeconfig_paths(kubeconfig)
    if not _existing_files(paths):
        raise ConfigError(f"no kubeconfig found at {paths}")
    try:
        contexts, current = kconfig.list_kube_config_contexts(config_file=paths)
        first_current = _first_current_context(paths)
    except Exception as exc:  # the loader raises plain exceptions of several types
        raise ConfigError(f"cannot read kubeconfig {paths}: {_one_line(exc)}") from exc
    names = [c["name"] for c in contexts or []]
    return names, first_current or (current or {}).get("name")


def _loader() -> Any:
    # Imported lazily (its import is slow: see plain_config) and typed as Any: its functions are unannotated.
    return importlib.import_module("kubernetes.config")


def _first_current_context(paths: str) -> str | None:
    """kubectl's merge rule: the first file that sets current-context wins.

    (The official loader lets the last file win; we follow kubectl.)
    """
    import yaml

    for path in _existing_files(paths):
        with open(Path(path).expanduser()) as handle:
            data = yaml.safe_load(handle)
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return None


def _in_cluster_available() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and Path(
        "/var/run/secrets/kubernetes.io/serviceaccount/token"
    ).is_file()


def load_config(kubeconfig: str | None = None, context: str | None = None) -> ClusterConfig:
    """Resolve one context into a :class:`ClusterConfig`.

    With no kubeconfig file anywhere and running inside a pod, the in-cluster
    service account is used (``context`` may then be None or ``in-cluster``).
    """
    paths = kubeconfig_paths(kubeconfig)
    files = _existing_files(paths)
    if context != IN_CLUSTER and len(files) == 1:
        plain = load_plain(files[0], context)
        if plain is not None:
            return plain
    kconfig = _loader()
    configuration = importlib.import_module("kubernetes.client").Configuration()
    if context == IN_CLUSTER or (not kubeconfig and not _existing_files(paths) and _in_cluster_available()):
        try:
            kconfig.load_incluster_config(client_configuration=configuration)
        except Exception as exc:
            raise ConfigError(f"in-cluster configuration failed: {_one_line(exc)}") from exc
        name = IN_CLUSTER
        sa_namespace = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        default_namespace = sa_namespace.read_text().strip() if sa_namespace.is_file() else "default"
    else:
        if not _existing_files(paths):
            raise ConfigError(
                f"no kubeconfig found at {paths} (set --kubeconfig or KUBECONFIG, "
                "or use the local sandbox: `kubesteward sandbox up --demo`, or --sandbox-if-unconfigured)"
            )
        try:
            context = context or _first_current_context(paths)
            with _loader_errors() as complaints:
                kconfig.load_kube_config(config_file=paths, context=context, client_configuration=configuration)
            entries, _ = kconfig.list_kube_config_contexts(config_file=paths)
            chosen: dict[str, Any] = next((c for c in entries or [] if c.get("name") == context), {})
            default_namespace = (chosen.get("context") or {}).get("namespace") or "default"
        except Exception as exc:
            what = f"context {context!r}" if context else "the current context"
            raise ConfigError(f"cannot load {what} from {paths}: {_one_line(exc)}") from exc
        name = context or "default"
        if complaints and not _has_credentials(configuration):
            raise _credential_failure(name, complaints)
    return _from_configuration(name, configuration, default_namespace)


@contextlib.contextmanager
def _loader_errors() -> Iterator[list[str]]:
    """What the official loader logs while it runs, instead of letting it reach the user's terminal.

    The loader does not raise when a credential plugin (``exec``, an auth provider) fails: it logs the
    failure and goes on without credentials, so every request would then be anonymous and a run would
    "see" an empty cluster. The caller turns what was logged into an error.
    """
    complaints: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                complaints.append(record.getMessage())

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers, root.level = [Capture()], min(saved_level, logging.ERROR) if saved_level else logging.ERROR
    try:
        yield complaints
    finally:
        root.handlers, root.level = saved_handlers, saved_level


def _has_credentials(configuration: Any) -> bool:
    return bool((configuration.api_key or {}).get("authorization") or configuration.cert_file or configuration.username)


def _credential_failure(context: str, complaints: list[str]) -> Unauthorized:
    reason = "; ".join(line.strip().splitlines()[0] for line in complaints if line.strip())
    return Unauthorized(
        f"the credentials of context {context!r} could not be obtained: {reason or 'the credential plugin failed'}",
        context=context,
    )


def _from_configuration(name: str, configuration: Any, namespace: str) -> ClusterConfig:
    host = str(configuration.host).rstrip("/")
    if not host.startswith(("http://", "https://")):
        raise ConfigError(f"context {name!r} has no usable server address ({host!r})", context=name)

    def authorization() -> str | None:
        # auth_settings() runs the loader's refresh hook (exec plugin, OIDC
        # refresh, rotated service-account token) before reading the key; it
        # also hides the key's name, which differs between client versions.
        with _loader_errors() as complaints:
            settings = configuration.auth_settings()
        for setting in settings.values():
            if setting.get("in") == "header" and str(setting.get("key", "")).lower() == "authorization":
                value = setting.get("value")
                if value:
                    register(str(value).partition(" ")[2] or str(value))
                    return str(value)
        if complaints:  # a refresh failed and left no credential: never go on anonymously
            raise _credential_failure(name, complaints)
        return None

    register(configuration.password)
    return ClusterConfig(
        context=name,
        host=host,
        verify_ssl=bool(configuration.verify_ssl),
        ca_file=configuration.ssl_ca_cert or None,
        cert_file=configuration.cert_file or None,
        key_file=configuration.key_file or None,
        tls_server_name=getattr(configuration, "tls_server_name", None) or None,
        username=configuration.username or None,
        password=configuration.password or None,
        authorization=authorization,
        namespace=namespace,
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
