"""Reads: GET, paged LIST decoded by msgspec straight into caller-chosen types, and watch streams.

- a paged LIST asks for the next page while it decodes this one, restarts when its continue
  token expires (410), and can ask for data not older than a resourceVersion (the watch cache);
- a watch stream is split into lines as it arrives and each line decoded once into the
  object type, bookmarks and errors included.
"""

from __future__ import annotations

import asyncio
import builtins
import functools
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import aiohttp
import msgspec

from kubesteward.cluster.resources import ResourceType
from kubesteward.cluster.transport import Response, Transport, reason
from kubesteward.errors import Gone, ServerError, Timeout, Unreachable

T = TypeVar("T")

_CONTINUE = re.compile(rb'"continue":"([^"]*)"')
_RESOURCE_VERSION = re.compile(rb'"resourceVersion":"([^"]*)"')


class ListMeta(msgspec.Struct, gc=False):
    resourceVersion: str = ""
    continue_: str = msgspec.field(name="continue", default="")


class _ListEnvelope(msgspec.Struct, Generic[T], gc=False):
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    items: list[T] | None = None


class _WatchLine(msgspec.Struct, gc=False):
    type: str
    object: msgspec.Raw


_OBJECT_EVENTS = frozenset({"ADDED", "MODIFIED", "DELETED"})


@functools.cache
def _typed_watch_line(object_type: Any) -> Any:
    """A watch line struct whose object decodes straight into ``object_type``."""
    return msgspec.defstruct(
        f"WatchLine_{getattr(object_type, '__name__', 'object')}", [("type", str), ("object", object_type)]
    )


class _BookmarkMeta(msgspec.Struct, gc=False):
    resourceVersion: str = ""


class _Bookmark(msgspec.Struct, gc=False):
    metadata: _BookmarkMeta = msgspec.field(default_factory=_BookmarkMeta)


class _WatchStatus(msgspec.Struct, gc=False):
    code: int = 0
    reason: str = ""
    message: str = ""


@functools.cache
def decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    """The JSON decoder into ``type_``, made once per type (a decoder is immutable, so shared)."""
    return msgspec.json.Decoder(type_)


@dataclass(frozen=True)
class WatchEvent(Generic[T]):
    """One event of a watch: ``ADDED``, ``MODIFIED``, ``DELETED`` (with the decoded
    object) or ``BOOKMARK`` (``object`` is None; only the resourceVersion moves)."""

    type: str
    object: T | None
    resource_version: str


@dataclass
class ObjectList(Generic[T]):
    """The decoded items of a (possibly paged) LIST and the resourceVersion to watch from."""

    items: list[T]
    resource_version: str
    pages: int = 1
    restarts: int = 0  # times the list restarted because its continue token expired


class Reads:
    """The read verbs of :class:`~kubesteward.cluster.client.KubeClient` (a mixin over its transport)."""

    transport: Transport

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        response = await self.transport.request("GET", path, params=params)
        return msgspec.json.decode(response.content)

    async def version(self) -> dict[str, str]:
        data: dict[str, str] = await self.get_json("/version")
        return data

    async def get(self, rt: ResourceType, name: str, namespace: str | None = None, *, type: Any = dict) -> Any:
        response = await self.transport.request("GET", rt.object_path(name, namespace))
        return decoder(type).decode(response.content)

    async def list_pages(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
        type: Any = dict,
        not_older_than: str = "",
    ) -> AsyncIterator[tuple[list[Any], ListMeta, bool]]:
        """Yield ``(items, list_meta, restarted)`` page by page.

        When a continue token expires (410 Gone) the list restarts from the
        beginning; ``restarted`` tells the caller to drop what it collected.

        ``not_older_than`` (a resourceVersion) asks for a list at least that
        recent instead of the newest: an API server with a watch cache answers
        it from the cache at once (1.34+ pages it there too; older servers
        page it from etcd, as without it), where a list of the newest state
        may first wait for the cache to prove it is current.
        """
        envelope_decoder = decoder(_ListEnvelope[type])
        path = rt.collection_path(namespace)
        request = self.transport.request

        def fetch(token: str) -> asyncio.Task[Response]:
            params: dict[str, str | int] = {"limit": limit}
            if label_selector:
                params["labelSelector"] = label_selector
            if field_selector:
                params["fieldSelector"] = field_selector
            if token:
                params["continue"] = token  # the token carries its own resourceVersion
            elif not_older_than:
                params["resourceVersion"] = not_older_than
                params["resourceVersionMatch"] = "NotOlderThan"
            return asyncio.ensure_future(request("GET", path, params=params))

        token = ""
        restarted = False
        pending: asyncio.Task[Response] | None = fetch(token)
        try:
            while pending is not None:
                try:
                    response = await pending
                except Gone:
                    if not token:
                        raise
                    token, restarted = "", True
                    pending = fetch(token)
                    continue
                # The API server writes the list's metadata before its items, so
                # the next continue token is in the first bytes: ask for the next
                # page now and let the server prepare it while we decode this one.
                early = _CONTINUE.search(response.content, 0, 2048)
                guess = early.group(1).decode() if early else ""
                pending = fetch(guess) if guess else None
                envelope = envelope_decoder.decode(response.content)
                del response
                token = envelope.metadata.continue_
                if token != guess:  # no early token (or a look-alike): follow the real one
                    if pending is not None:
                        pending.cancel()
                    pending = fetch(token) if token else None
                yield envelope.items or [], envelope.metadata, restarted
                restarted = False
        finally:
            if pending is not None and not pending.done():
                pending.cancel()

    @overload
    async def list(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = ...,
        label_selector: str | None = ...,
        field_selector: str | None = ...,
        limit: int = ...,
        type: builtins.type[T],
        each: Callable[[T], T] | None = ...,
        not_older_than: str = ...,
    ) -> ObjectList[T]: ...

    @overload
    async def list(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = ...,
        label_selector: str | None = ...,
        field_selector: str | None = ...,
        limit: int = ...,
        each: Callable[[dict[str, Any]], dict[str, Any]] | None = ...,
        not_older_than: str = ...,
    ) -> ObjectList[dict[str, Any]]: ...

    async def list(
        self,
        rt: ResourceType,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
        type: Any = dict,
        each: Callable[[Any], Any] | None = None,
        not_older_than: str = "",
    ) -> ObjectList[Any]:
        """Paged LIST of a whole collection, decoded into ``type`` (a msgspec Struct, or dict for full objects).

        ``each`` maps every item as its page arrives (while the next page is on
        its way, not after the last byte); ``not_older_than``: see :meth:`list_pages`.
        """
        items: builtins.list[Any] = []
        pages = restarts = 0
        resource_version = ""
        async for page, meta, restarted in self.list_pages(
            rt, namespace=namespace, label_selector=label_selector, field_selector=field_selector, limit=limit,
            type=type, not_older_than=not_older_than,
        ):
            if restarted:
                items, pages, restarts = [], 0, restarts + 1
            items.extend(page if each is None else [each(item) for item in page])
            pages += 1
            resource_version = meta.resourceVersion
        return ObjectList(items=items, resource_version=resource_version, pages=pages, restarts=restarts)

    async def watch(
        self,
        rt: ResourceType,
        *,
        resource_version: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        type: Any = dict,
        timeout_seconds: int = 300,
        inactivity_timeout: float = 90.0,
    ) -> AsyncGenerator[WatchEvent[Any], None]:
        """Stream one watch from ``resource_version`` with bookmarks until the server ends it.

        One attempt, no retries: the caller (an informer) owns reconnects,
        because only it knows from which resourceVersion to resume.
        ``inactivity_timeout`` bounds the silence between two lines; the API
        server sends a bookmark about once a minute, so a longer silence means
        a dead connection. An expired resourceVersion raises :class:`Gone`.
        """
        params: dict[str, str] = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        path = rt.collection_path(namespace)
        context = self.transport.context
        response = await self.transport.stream(path, params, read_timeout=inactivity_timeout)
        try:
            buffer = b""
            lines = _WatchLines(type, resource_version, path, context)
            try:
                # Whatever has arrived, in one piece: a burst of events is split
                # into lines here rather than read line by line (objects can
                # exceed any line limit the reader would impose anyway).
                async for chunk in response.content.iter_any():
                    buffer += chunk
                    if b"\n" not in chunk:
                        continue
                    *complete, buffer = buffer.split(b"\n")
                    for line in complete:
                        if line:
                            yield lines.event(line)
            except TimeoutError:
                raise Timeout(
                    f"watch {path}: no data for {inactivity_timeout:.0f}s (inactivity timeout)", context=context
                ) from None
            except aiohttp.ClientError as exc:
                raise Unreachable(f"watch {path}: connection lost: {reason(exc)}", context=context) from None
        finally:
            response.close()


class _WatchLines:
    """Decodes the lines of one watch stream, following its resourceVersion.

    Slim structs do not keep resourceVersion, so it is read from the raw
    object (its metadata serializes first, so the first match is its own).
    """

    def __init__(self, type_: Any, resource_version: str, path: str, context: str) -> None:
        self.current = resource_version
        self._path = path
        self._context = context
        self._object = decoder(type_)
        self._typed = decoder(_typed_watch_line(type_))
        self._line = decoder(_WatchLine)

    def event(self, line: bytes) -> WatchEvent[Any]:
        # One pass for the common case: the line decoded straight into the
        # object type (a second pass over a Raw object cost ~a third more).
        try:
            typed = self._typed.decode(line)
        except msgspec.ValidationError:
            typed = None  # an ERROR's Status does not fit the object type
        if typed is not None and typed.type in _OBJECT_EVENTS:
            found = _RESOURCE_VERSION.search(line)
            if found is not None:
                self.current = found.group(1).decode()
            return WatchEvent(typed.type, typed.object, self.current)
        event = self._line.decode(line)
        if event.type == "BOOKMARK":
            self.current = decoder(_Bookmark).decode(event.object).metadata.resourceVersion or self.current
            return WatchEvent("BOOKMARK", None, self.current)
        if event.type == "ERROR":
            status = decoder(_WatchStatus).decode(event.object)
            if status.code == 410:
                raise Gone(f"gone (410): {status.message}", context=self._context, status=410)
            raise ServerError(
                f"watch {self._path}: {status.code} {status.message}", context=self._context, status=status.code or 500,
            )
        obj = self._object.decode(event.object)  # raises what the object type refuses
        found = _RESOURCE_VERSION.search(memoryview(event.object))
        if found is not None:
            self.current = found.group(1).decode()
        return WatchEvent(event.type, obj, self.current)
