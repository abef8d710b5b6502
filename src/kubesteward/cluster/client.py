"""The one async client every feature uses to talk to a cluster: a thin facade over the concerns.

- :mod:`~kubesteward.cluster.transport`: aiohttp pools, retries, circuit breaker, typed errors;
- :mod:`~kubesteward.cluster.reads`: GET, paged LIST into slim structs, watch streams;
- :mod:`~kubesteward.cluster.writes`: create, server-side apply, patch, replace, update, delete,
  eviction, scale, each with server-side dry run;
- :mod:`~kubesteward.cluster.discovery`: where a kind lives (built-ins without a call).
"""

from __future__ import annotations

from collections.abc import Mapping

from kubesteward.cluster.connection import ClusterConfig
from kubesteward.cluster.discovery import Discovery
from kubesteward.cluster.reads import ListMeta, ObjectList, Reads, WatchEvent
from kubesteward.cluster.resources import ResourceType
from kubesteward.cluster.retry import CircuitBreaker, RetryPolicy
from kubesteward.cluster.transport import Response, Transport
from kubesteward.cluster.writes import FIELD_MANAGER, Preconditions, Scale, Writes

__all__ = [
    "FIELD_MANAGER", "KubeClient", "ListMeta", "ObjectList", "Preconditions", "Response", "Scale", "WatchEvent",
]


class KubeClient(Reads, Writes):
    """Async client for one cluster context. Create through :class:`ClientFactory` or directly."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_connections: int = 16,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.config = config
        self.transport = Transport(
            config, retry=retry, breaker=breaker, timeout=timeout, connect_timeout=connect_timeout,
            max_connections=max_connections,
        )
        self.discovery = Discovery(self.transport)

    @property
    def context(self) -> str:
        return self.config.context

    @property
    def retry(self) -> RetryPolicy:
        return self.transport.retry

    @property
    def breaker(self) -> CircuitBreaker:
        return self.transport.breaker

    @property
    def timeout(self) -> float:
        return self.transport.timeout

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request with retries; return a 2xx response or raise a typed error."""
        return await self.transport.request(
            method, path, params=params, content=content, headers=headers, idempotent=idempotent, timeout=timeout
        )

    def open_streams(self) -> None:
        """Get the watch connection pool ready now (the first watch otherwise does it)."""
        self.transport.open_streams()

    async def resolve(self, api_version: str, kind: str) -> ResourceType:
        """Where ``kind`` lives; built-ins need no API call, others use discovery (cached)."""
        return await self.discovery.resolve(api_version, kind)
