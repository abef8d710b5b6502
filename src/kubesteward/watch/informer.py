"""List-then-watch of one LIST source, keeping a local store of slim objects.

Informer semantics (client-go's reflector, in small):
- start from the resourceVersion the initial LIST returned, with bookmarks,
  so a reconnect resumes exactly where the last event or bookmark left off;
- the server ends a watch after ``timeoutSeconds`` (jittered, so a hundred
  watches do not reconnect in step), sending a bookmark just before: re-watch
  from there;
- a dead connection is noticed by the inactivity timeout: no event or
  bookmark for ``timeoutSeconds`` plus a margin (an idle kind may get no
  bookmark before its watch ends), and reconnects back off with full jitter;
- 410 Gone (the resourceVersion was compacted away, e.g. after an API
  server restart) re-lists and diffs against the store, so no add, change
  or delete is lost across the gap;
- a failure is kept in ``error`` until the API server has answered this
  source again (an event, or a one-item LIST made before the next watch),
  so the context's readiness says the truth meanwhile: a watch that only
  keeps reconnecting (401, 403, connection refused) is not "synced".
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kubesteward.cluster import KubeClient, RetryPolicy
from kubesteward.cluster.client import ObjectList
from kubesteward.errors import ClusterError, Gone
from kubesteward.model.cluster import ListSource
from kubesteward.model.kinds import BY_KIND, strip_values

log = logging.getLogger("kubesteward.watch")

StoreKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Change:
    """One change seen by an informer; ``RELIST`` means "the store was rebuilt"."""

    kind: str
    type: str  # ADDED | MODIFIED | DELETED | RELIST
    obj: Any  # the new object, or the last known one for DELETED; None for RELIST
    received: float  # time.monotonic() when it arrived
    old: Any = None  # the instance it replaces in the store (the one the model indexed), if any


@dataclass
class InformerStats:
    events: int = 0
    relists: int = 0
    reconnects: int = 0
    last_activity: float = field(default_factory=time.monotonic)  # last event or bookmark
    connected: bool = False
    failing_since: float | None = None  # time.monotonic() of the first failure not yet recovered from


def store_key(obj: Any) -> StoreKey:
    return (obj.metadata.namespace, obj.metadata.name)


RECONNECT = RetryPolicy(max_attempts=1_000_000, base_delay=0.2, max_delay=10.0, total=float("inf"))


class Informer:
    def __init__(
        self,
        client: KubeClient,
        source: ListSource,
        items: Iterable[Any],
        emit: Callable[[Change], None],
        *,
        timeout_seconds: int = 90,
        inactivity_margin: float = 30.0,
        reconnect: RetryPolicy = RECONNECT,
        page_size: int = 500,
    ) -> None:
        self.client = client
        self.source = source
        self.spec = BY_KIND[source.kind]
        self.store: dict[StoreKey, Any] = {store_key(obj): obj for obj in items}
        self.resource_version = source.resource_version
        self.emit = emit
        self.timeout_seconds = timeout_seconds
        self.inactivity_margin = inactivity_margin
        self.reconnect = reconnect
        self.page_size = page_size
        self.stats = InformerStats()
        # The last failure, until the API server answered this source again (see the module doc).
        self.error: ClusterError | None = None

    @property
    def kind(self) -> str:
        return self.source.kind

    async def run(self) -> None:
        """Watch forever (until cancelled)."""
        failures = 0
        while True:
            try:
                if self.error is not None:
                    # An idle watch may see no event or bookmark for a minute after it
                    # reconnected: ask once, so recovery shows at once (one item, not the kind).
                    await self._probe()
                if self.resource_version:
                    await self._watch_once()
                else:
                    await self._list_first()  # started after the initial load (a new namespace's shard)
                failures = 0  # the server closed a healthy watch (timeoutSeconds): resume
            except Gone:
                log.info("%s watch: resourceVersion %s expired; re-listing", self.name, self.resource_version)
                try:
                    await self.relist()
                    failures = 0
                except ClusterError as exc:
                    failures += 1
                    await self._back_off(failures, exc)
            except ClusterError as exc:
                failures += 1
                await self._back_off(failures, exc)

    async def _probe(self) -> None:
        params: dict[str, str | int] = {"limit": 1}
        if self.source.field_selector:
            params["fieldSelector"] = self.source.field_selector
        await self.client.request("GET", self.spec.resource.collection_path(self.source.namespace), params=params)
        self._answered()

    def _answered(self) -> None:
        """The API server answered this source: whatever failed before is over."""
        if self.error is not None:
            log.info("%s watch recovered", self.name)
            self.error = None
            self.stats.failing_since = None

    async def _watch_once(self) -> None:
        timeout = int(self.timeout_seconds * (1.0 + 0.5 * random.random()))
        events = self.client.watch(
            self.spec.resource,
            resource_version=self.resource_version,
            namespace=self.source.namespace,
            field_selector=self.source.field_selector,
            type=self.spec.struct,
            timeout_seconds=timeout,
            inactivity_timeout=timeout + self.inactivity_margin,
        )
        self.stats.connected = True
        try:
            async for event in events:
                self.stats.last_activity = time.monotonic()
                if self.error is not None:
                    self._answered()
                self.resource_version = event.resource_version
                if event.object is None:  # bookmark
                    continue
                self._apply(event.type, strip_values(event.object))
        finally:
            self.stats.connected = False
            await events.aclose()

    def _apply(self, type_: str, obj: Any) -> None:
        key = store_key(obj)
        old = self.store.pop(key, None) if type_ == "DELETED" else self.store.get(key)
        if type_ != "DELETED":
            self.store[key] = obj
        self.stats.events += 1
        self.emit(Change(self.kind, type_, obj, time.monotonic(), old))

    async def _list(self) -> ObjectList[Any]:
        """One paged LIST of this informer's source."""
        return await self.client.list(
            self.spec.resource,
            namespace=self.source.namespace,
            field_selector=self.source.field_selector,
            type=self.spec.struct,
            limit=self.page_size,
        )

    async def _list_first(self) -> None:
        """The first LIST of an informer that did not come from the initial load: everything
        in it is new (ADDED), so the engine evaluates it incrementally."""
        result = await self._list()
        for obj in result.items:
            self._apply("ADDED", strip_values(obj))
        self.resource_version = result.resource_version
        self.stats.last_activity = time.monotonic()
        self._answered()

    async def relist(self) -> None:
        """Replace the store by a fresh LIST; deletions seen only now are emitted."""
        result = await self._list()
        fresh = {store_key(obj): strip_values(obj) for obj in result.items}
        now = time.monotonic()
        for key, old in self.store.items():
            if key not in fresh:
                self.emit(Change(self.kind, "DELETED", old, now, old))
        self.store = fresh
        self.resource_version = result.resource_version
        self.stats.relists += 1
        self.stats.last_activity = now
        self._answered()
        self.emit(Change(self.kind, "RELIST", None, now))

    async def _back_off(self, failures: int, exc: ClusterError) -> None:
        delay = self.reconnect.delay(failures)
        self.stats.reconnects += 1
        self.error = exc
        if self.stats.failing_since is None:
            self.stats.failing_since = time.monotonic()
        if failures == 1 or failures % 10 == 0:
            log.warning("%s watch failed (%s); reconnecting in %.1fs", self.name, exc, delay)
        await asyncio.sleep(delay)

    @property
    def name(self) -> str:
        """``Pod (shop)``, ``Event (all namespaces) [type!=Normal]``: for logs and readiness reasons."""
        where = self.source.namespace or "all namespaces"
        selector = f" [{self.source.field_selector}]" if self.source.field_selector else ""
        return f"{self.kind} ({where}){selector}"
