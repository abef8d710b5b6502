"""Where a kind lives in the REST API: built-ins without a call, everything else (CRDs included)
through API discovery, cached per client.

A group version's discovery document is read once and kept; a kind it does not name is read
again once (a CRD established since), never remembered as missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from kubesteward.cluster import resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.cluster.transport import Transport
from kubesteward.errors import Invalid, NotFound


class _APIResource(msgspec.Struct, gc=False):
    name: str
    kind: str = ""
    namespaced: bool = False


class _APIResourceList(msgspec.Struct, gc=False):
    resources: list[_APIResource] = msgspec.field(default_factory=list)


class _GroupVersion(msgspec.Struct, gc=False):
    version: str = ""


class _APIGroup(msgspec.Struct, gc=False):
    name: str
    preferredVersion: _GroupVersion = msgspec.field(default_factory=_GroupVersion)


class _APIGroupList(msgspec.Struct, gc=False):
    groups: list[_APIGroup] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class GroupVersionResources:
    """What one group version serves: its kinds and the subresources of each (by plural)."""

    kinds: Mapping[str, ResourceType]
    subresources: Mapping[str, frozenset[str]]


class Discovery:
    """Resolves kinds to :class:`ResourceType` for one cluster, caching what discovery said."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._group_versions: dict[str, GroupVersionResources] = {}
        self._preferred: dict[str, str] | None = None

    async def resolve(self, api_version: str, kind: str) -> ResourceType:
        """Where ``kind`` lives; built-ins need no API call, others use discovery (cached)."""
        known = resources.builtin(api_version, kind)
        if known is not None:
            return known
        try:
            served = await self.group_version(api_version)
            if kind not in served.kinds:
                served = await self.group_version(api_version, refresh=True)  # a CRD established since
        except NotFound:
            raise Invalid(f"unknown apiVersion {api_version!r} (kind {kind})", context=self._transport.context) from None
        try:
            return served.kinds[kind]
        except KeyError:
            raise Invalid(f"unknown kind {kind!r} in {api_version}", context=self._transport.context) from None

    async def subresources(self, rt: ResourceType) -> frozenset[str]:
        """The subresources ``rt`` serves (``status``, ``scale``, ``eviction``…)."""
        served = await self.group_version(rt.api_version)
        return served.subresources.get(rt.plural, frozenset())

    async def preferred_version(self, group: str) -> str:
        """The version the server prefers for ``group`` ("" is the core group: ``v1``)."""
        if not group:
            return "v1"
        if self._preferred is None or group not in self._preferred:
            data = await self._transport.request("GET", "/apis")
            listed = msgspec.json.decode(data.content, type=_APIGroupList)
            self._preferred = {g.name: g.preferredVersion.version for g in listed.groups}
        try:
            return self._preferred[group]
        except KeyError:
            raise Invalid(f"unknown API group {group!r}", context=self._transport.context) from None

    async def group_version(self, api_version: str, *, refresh: bool = False) -> GroupVersionResources:
        """The discovery document of ``api_version`` (``v1``, ``apps/v1``, ``example.com/v1``);
        :class:`NotFound` when the server does not serve it."""
        cached = self._group_versions.get(api_version)
        if cached is not None and not refresh:
            return cached
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        response = await self._transport.request("GET", path)
        listed = msgspec.json.decode(response.content, type=_APIResourceList)
        group, _, version = api_version.rpartition("/")
        kinds: dict[str, ResourceType] = {}
        subresources: dict[str, set[str]] = {}
        for entry in listed.resources:
            plural, _, sub = entry.name.partition("/")
            if sub:
                subresources.setdefault(plural, set()).add(sub)
            else:
                kinds.setdefault(entry.kind, ResourceType(group, version, entry.kind, plural, entry.namespaced))
        served = GroupVersionResources(kinds, {plural: frozenset(subs) for plural, subs in subresources.items()})
        self._group_versions[api_version] = served
        return served
