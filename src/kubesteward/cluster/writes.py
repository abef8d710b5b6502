"""Writes: every verb that changes a cluster, each with server-side dry run (``dryRun=All``).

Retry rule (the transport applies it): a request the server may have acted on is sent again
only when sending it twice cannot do more than once. Server-side apply, a JSON merge patch,
PUT, DELETE and setting a scale are retried; create, eviction, strategic merge and JSON
patches are not (a 429 means "not processed", so it is retried for every verb, except an
eviction a disruption budget refuses: that is final).
"""

from __future__ import annotations

import asyncio
import builtins
import copy
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from kubesteward.cluster import resources
from kubesteward.cluster.discovery import Discovery
from kubesteward.cluster.resources import ResourceType
from kubesteward.cluster.transport import Response, Transport, status_causes, status_message
from kubesteward.errors import ClusterError, Conflict, DisruptionBlocked, Invalid

FIELD_MANAGER = "kubesteward"

PatchType = Literal["merge", "strategic", "json"]
Propagation = Literal["Foreground", "Background", "Orphan"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
_JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Preconditions:
    """What must still hold for a delete or eviction to go ahead (409 Conflict otherwise): the
    object is the one that was read (``uid``) and has not changed since (``resource_version``)."""

    uid: str = ""
    resource_version: str = ""

    def as_body(self) -> dict[str, str]:
        body = {"uid": self.uid, "resourceVersion": self.resource_version}
        return {key: value for key, value in body.items() if value}


class _ScaleMeta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""


class ScaleSpec(msgspec.Struct, gc=False):
    replicas: int = 0


class ScaleStatus(msgspec.Struct, gc=False):
    replicas: int = 0
    selector: str = ""


class Scale(msgspec.Struct, gc=False):
    """A workload's scale subresource: desired (``spec``) and current (``status``) replicas."""

    metadata: _ScaleMeta = msgspec.field(default_factory=_ScaleMeta)
    spec: ScaleSpec = msgspec.field(default_factory=ScaleSpec)
    status: ScaleStatus = msgspec.field(default_factory=ScaleStatus)


class Writes:
    """The write verbs of :class:`~kubesteward.cluster.client.KubeClient` (a mixin over its
    transport and discovery)."""

    transport: Transport
    discovery: Discovery

    async def create(self, obj: Mapping[str, Any], *, namespace: str | None = None, dry_run: bool = False) -> Any:
        """POST a new object (409 Conflict when it exists)."""
        rt, _name, ns = await self._locate(obj, namespace)
        response = await self.transport.request(
            "POST", rt.collection_path(ns), params=_write_params(dry_run), content=_encode(obj), headers=_JSON,
        )
        return msgspec.json.decode(response.content)

    async def apply(
        self,
        obj: Mapping[str, Any],
        *,
        namespace: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        field_manager: str = FIELD_MANAGER,
    ) -> Any:
        """Server-side apply as ``field_manager``: creates or updates the fields ``obj`` names.

        A field another manager owns raises :class:`Conflict` naming the fields and their
        managers, unless ``force`` (only when asked) takes them over.
        """
        rt, name, ns = await self._locate(obj, namespace)
        params = _write_params(dry_run)
        params["fieldManager"] = field_manager
        if force:
            params["force"] = "true"
        body = dict(obj)
        if ns and rt.namespaced:
            body["metadata"] = {**body.get("metadata", {}), "namespace": ns}
        # JSON is YAML, so the apply-patch+yaml content type accepts it as is.
        # SSA is declarative and idempotent, so it is safe to retry.
        response = await self.transport.request(
            "PATCH", rt.object_path(name, ns), params=params, content=_encode(body),
            headers={"Content-Type": "application/apply-patch+yaml"}, idempotent=True,
        )
        return msgspec.json.decode(response.content)

    async def patch(
        self,
        rt: ResourceType,
        name: str,
        patch: Mapping[str, Any] | builtins.list[Any],
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        dry_run: bool = False,
        subresource: str | None = None,
    ) -> Any:
        """PATCH: a JSON merge patch (``merge``), a strategic merge patch (``strategic``: lists
        merged by their keys, built-in kinds only) or a JSON patch (``json``: a list of operations).

        Only a merge patch is retried after the server may have acted: it sets values, so applying
        it twice is applying it once; the others can append to lists.
        """
        if patch_type not in _PATCH_CONTENT_TYPES:
            raise Invalid(f"unknown patch type {patch_type!r}", context=self.transport.context)
        path = rt.object_path(name, namespace) + (f"/{subresource}" if subresource else "")
        response = await self.transport.request(
            "PATCH", path, params=_write_params(dry_run), content=_encode(patch),
            headers={"Content-Type": _PATCH_CONTENT_TYPES[patch_type]}, idempotent=patch_type == "merge",
        )
        return msgspec.json.decode(response.content)

    async def replace(self, obj: Mapping[str, Any], *, namespace: str | None = None, dry_run: bool = False) -> Any:
        """PUT. With ``metadata.resourceVersion`` set this is an optimistic-concurrency update (409 if stale)."""
        rt, name, ns = await self._locate(obj, namespace)
        response = await self.transport.request(
            "PUT", rt.object_path(name, ns), params=_write_params(dry_run), content=_encode(obj), headers=_JSON,
        )
        return msgspec.json.decode(response.content)

    async def update(
        self,
        rt: ResourceType,
        name: str,
        mutate: Callable[[dict[str, Any]], None],
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        attempts: int = 5,
    ) -> Any:
        """Read-modify-write guarded by ``resourceVersion``; on 409 re-read and re-apply ``mutate``."""
        path = rt.object_path(name, namespace)
        for attempt in range(attempts):
            current: dict[str, Any] = msgspec.json.decode((await self.transport.request("GET", path)).content)
            desired = copy.deepcopy(current)
            mutate(desired)
            try:
                return await self.replace(desired, namespace=namespace, dry_run=dry_run)
            except Conflict:
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(random.random() * 0.05 * (2**attempt))
        raise AssertionError("unreachable")

    async def delete(
        self,
        rt: ResourceType,
        name: str,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
        propagation_policy: Propagation | None = None,
        preconditions: Preconditions | None = None,
    ) -> Any:
        """DELETE; the answer is the object (being deleted: finalizers, foreground) or a Status.

        ``propagation_policy``: what becomes of the objects it owns: ``Foreground`` deletes them
        first (the object stays, marked, until they are gone), ``Background`` after, ``Orphan``
        never (their owner reference is removed). ``preconditions`` refuse the delete (409) when
        the object is not the one that was read. A DELETE is retried after a lost answer, so a
        :class:`NotFound` may mean an earlier attempt deleted it.
        """
        params = _write_params(dry_run)
        if grace_period_seconds is not None:
            params["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy is not None:
            params["propagationPolicy"] = propagation_policy
        content = headers = None
        if preconditions is not None:
            # The API server reads a DELETE's options from its body when it has one, and its query then not
            # at all: a dry run sent only as ``?dryRun=All`` beside preconditions would delete.
            options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                                       "preconditions": preconditions.as_body()}
            if dry_run:
                options["dryRun"] = ["All"]
            if grace_period_seconds is not None:
                options["gracePeriodSeconds"] = grace_period_seconds
            if propagation_policy is not None:
                options["propagationPolicy"] = propagation_policy
            content = _encode(options)
            headers = _JSON
        response = await self.transport.request(
            "DELETE", rt.object_path(name, namespace), params=params, content=content, headers=headers,
        )
        return msgspec.json.decode(response.content)

    async def evict(
        self,
        name: str,
        namespace: str,
        *,
        dry_run: bool = False,
        grace_period_seconds: int | None = None,
        preconditions: Preconditions | None = None,
    ) -> None:
        """Evict a pod through the Eviction subresource, which honours its PodDisruptionBudgets.

        A budget that allows no disruption now raises :class:`DisruptionBlocked` at once, naming
        the budget; it is not retried (the caller decides whether to wait and try again).
        """
        options: dict[str, Any] = {}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions is not None:
            options["preconditions"] = preconditions.as_body()
        body: dict[str, Any] = {
            "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": namespace},
        }
        if options:
            body["deleteOptions"] = options
        context = self.transport.context

        def blocked(response: Response) -> ClusterError | None:
            budgets = [c.get("message", "") for c in status_causes(response.content) if c.get("reason") == _BUDGET]
            if response.status_code != 429 or not budgets:
                return None
            why = "; ".join(str(text) for text in budgets if text) or status_message(response.content, "")
            return DisruptionBlocked(
                f"eviction of pod {namespace}/{name} refused: a PodDisruptionBudget blocks it ({why})",
                context=context, status=429,
            )

        await self.transport.request(
            "POST", resources.POD.object_path(name, namespace) + "/eviction", params=_write_params(dry_run),
            content=_encode(body), headers=_JSON, final=blocked,
        )

    async def get_scale(self, rt: ResourceType, name: str, *, namespace: str | None = None) -> Scale:
        """The scale subresource of a workload (any kind that serves one, CRDs included)."""
        path = await self._scale_path(rt, name, namespace)
        response = await self.transport.request("GET", path)
        return msgspec.json.decode(response.content, type=Scale)

    async def scale(
        self, rt: ResourceType, name: str, replicas: int, *, namespace: str | None = None, dry_run: bool = False
    ) -> Scale:
        """Set the desired replicas through the scale subresource (a value set, so safe to retry)."""
        path = await self._scale_path(rt, name, namespace)
        response = await self.transport.request(
            "PATCH", path, params=_write_params(dry_run), content=_encode({"spec": {"replicas": replicas}}),
            headers={"Content-Type": _PATCH_CONTENT_TYPES["merge"]}, idempotent=True,
        )
        return msgspec.json.decode(response.content, type=Scale)

    async def _scale_path(self, rt: ResourceType, name: str, namespace: str | None) -> str:
        if "scale" not in await self.discovery.subresources(rt):
            raise Invalid(f"{rt.kind} has no scale subresource", context=self.transport.context)
        return rt.object_path(name, namespace) + "/scale"

    async def _locate(self, obj: Mapping[str, Any], namespace: str | None) -> tuple[ResourceType, str, str | None]:
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        metadata = obj.get("metadata") or {}
        name = metadata.get("name")
        if not api_version or not kind or not name:
            raise Invalid("object needs apiVersion, kind and metadata.name", context=self.transport.context)
        rt = await self.discovery.resolve(str(api_version), str(kind))
        ns = metadata.get("namespace") or namespace
        if rt.namespaced and not ns:
            ns = "default"
        return rt, str(name), (str(ns) if rt.namespaced else None)


_BUDGET = "DisruptionBudget"  # the cause an eviction's refusal names when a budget is why


def _write_params(dry_run: bool) -> dict[str, str | int]:
    return {"dryRun": "All"} if dry_run else {}


def _encode(obj: Any) -> bytes:
    return msgspec.json.encode(obj)

