"""Client factory keyed by context, and concurrent fan-out over many clusters."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from kubesteward.cluster.client import KubeClient
from kubesteward.cluster.config import list_contexts, load_config
from kubesteward.cluster.retry import RetryPolicy
from kubesteward.errors import KubestewardError

T = TypeVar("T")


@dataclass
class ContextResult(Generic[T]):
    """The outcome of one cluster in a fan-out: a value or a typed error, never both."""

    context: str
    value: T | None = None
    error: KubestewardError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ClientFactory:
    """One :class:`KubeClient` per context, created lazily and shared (one pool and breaker per cluster)."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.timeout = timeout
        self.retry = retry
        self._clients: dict[str | None, KubeClient] = {}

    def contexts(self) -> tuple[list[str], str | None]:
        return list_contexts(self.kubeconfig)

    def client(self, context: str | None = None) -> KubeClient:
        """The client for ``context`` (None: the kubeconfig's current context, or in-cluster)."""
        existing = self._clients.get(context)
        if existing is None:
            config = load_config(self.kubeconfig, context)
            existing = KubeClient(config, timeout=self.timeout, retry=self.retry)
            self._clients[context] = existing
        return existing

    async def fan_out(
        self, contexts: Sequence[str | None], work: Callable[[KubeClient], Awaitable[T]]
    ) -> list[ContextResult[T]]:
        """Run ``work`` against every context concurrently; one cluster's failure does not stop the others."""

        async def one(context: str | None) -> ContextResult[T]:
            name = context or "current"
            try:
                client = self.client(context)
                name = client.context
                return ContextResult(name, value=await work(client))
            except KubestewardError as exc:
                return ContextResult(name, error=exc)

        return list(await asyncio.gather(*(one(c) for c in (contexts or [None]))))

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients.values()))
        self._clients.clear()

    async def __aenter__(self) -> ClientFactory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
