"""The settings to reach one cluster, however they were read.

Its own module because both readers build it: the official loader's
(``config.py``) and the plain-data one (``plain_config.py``), which
``config.py`` calls; with the class in either, the two imported each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClusterConfig:
    """Everything the transport needs to reach one cluster."""

    context: str
    host: str
    verify_ssl: bool = True
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_server_name: str | None = None
    username: str | None = None
    password: str | None = None
    # The context's default namespace (kubectl's), used when a cluster-wide
    # LIST is forbidden and we fall back to what this user may read.
    namespace: str = "default"
    # Returns the current "Bearer ..." header value (refreshing exec/OIDC/
    # service-account tokens when the loader decides they expired), or None.
    authorization: Callable[[], str | None] = field(default=lambda: None, compare=False, repr=False)
