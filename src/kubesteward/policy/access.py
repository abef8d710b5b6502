"""Who may do what on a live cluster: its RBAC objects, listed once, evaluated by
:mod:`kubesteward.model.semantics.rbac` (``kubesteward rbac who-can``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kubesteward.cluster import KubeClient, resources
from kubesteward.errors import Forbidden, Invalid, NotFound, UsageError
from kubesteward.model.files import load_manifests
from kubesteward.model.full import load_full
from kubesteward.model.scope import require_namespace_exists
from kubesteward.model.semantics.rbac import API_GROUP, CLUSTER_ADMIN, RBAC, RBAC_KINDS, Binding, Grant, Request


async def load_rbac(client: KubeClient) -> RBAC:
    """Every Role, ClusterRole, RoleBinding and ClusterRoleBinding (one LIST each). Any of them that may
    not be listed fails the load: an answer from part of the bindings could name nobody wrongly."""
    store = await load_full(client, RBAC_KINDS)
    for skipped in store.skipped:
        if skipped.unread:
            raise Forbidden(f"cannot list {skipped.kind} ({skipped.reason}): who-can needs every role and binding",
                            context=client.context, status=403)
        raise NotFound(f"the RBAC API is not served by this cluster ({skipped.reason})", context=client.context,
                       status=404)
    return RBAC.from_manifests(obj.manifest() for obj in store)


@dataclass(frozen=True)
class Question:
    """What ``who-can`` asks: the request, and whether every namespace's RoleBindings answer."""

    request: Request
    every_namespace: bool


def parse_resource(resource: str, subresource: str = "") -> tuple[str, str, str]:
    """``pods``, ``pods/exec``, ``deployments.apps``, ``deployments.apps/scale`` into
    ``(plural, group, subresource)``; the group is left "" when none is written."""
    what, slash, sub = resource.partition("/")
    if slash and subresource and sub != subresource:
        raise UsageError(f"{resource!r} names subresource {sub!r} but --subresource says {subresource!r}")
    plural, dot, group = what.partition(".")
    if not plural or (slash and not sub) or (dot and not group):
        raise UsageError(f"invalid resource {resource!r}: write RESOURCE[.GROUP][/SUBRESOURCE], e.g. pods/exec")
    return plural, group, sub or subresource


async def question(
    client: KubeClient | None, verb: str, resource: str, namespace: str | None, *, subresource: str = "",
    name: str = "",
) -> Question:
    """The request a ``who-can VERB RESOURCE`` means: a non-resource URL when RESOURCE starts with ``/``;
    else the resource's group and scope from the built-ins, or discovery for a ``plural.group`` (without a
    cluster to ask, such a custom resource is taken as namespaced, as most are). Without a namespace, a
    namespaced resource is asked in every namespace; a cluster-scoped one never has one."""
    if resource.startswith("/"):
        if subresource or name:
            raise UsageError("a non-resource URL has no subresource or name")
        return Question(Request(verb.lower(), path=resource), every_namespace=False)
    plural, group, sub = parse_resource(resource, subresource)
    namespaced = True
    builtin = resources.by_name(plural) if plural != "*" else None
    if builtin is not None and group in ("", builtin.group):
        plural, group, namespaced = builtin.plural, builtin.group, builtin.namespaced
    elif group and plural != "*":
        namespaced = await _namespaced(client, plural, group) if client is not None else True
    elif plural != "*":
        raise UsageError(f"unknown resource {plural!r}: give it with its API group, e.g. {plural}.example.com")
    scope = (namespace or "") if namespaced else ""
    return Question(Request(verb, plural, group, sub, name, scope), every_namespace=namespaced and namespace is None)


async def _namespaced(client: KubeClient, plural: str, group: str) -> bool:
    """Whether ``plural.group`` is namespaced, from discovery (the group's preferred version)."""
    try:
        version = await client.discovery.preferred_version(group)
        served = await client.discovery.group_version(f"{group}/{version}")
    except (Invalid, NotFound):  # an unknown group is a usage mistake, not a cluster failure
        raise UsageError(f"the cluster serves no API group {group!r} (resource {plural}.{group})",
                         context=client.context) from None
    for rt in served.kinds.values():
        if rt.plural == plural:
            return rt.namespaced
    raise UsageError(f"the cluster serves no resource {plural!r} in API group {group!r}", context=client.context)


def who_can(rbac: RBAC, asked: Question) -> list[Grant]:
    return rbac.who_can(asked.request, every_namespace=asked.every_namespace)


@dataclass(frozen=True)
class Answer:
    question: Question
    grants: list[Grant]
    # Files only: bindings to roles the files do not hold (Kubernetes' own, such as view): what they grant is
    # not known here, so they are named rather than left out silently.
    unresolved: list[Binding] = field(default_factory=list)


async def who_can_in_cluster(
    client: KubeClient, verb: str, resource: str, namespace: str | None = None, *, subresource: str = "",
    name: str = "",
) -> Answer:
    """``who-can`` on a live cluster: the question resolved, the namespace asked for checked (one that does
    not exist is a usage error, not an answer), every RBAC object listed once, the grants."""
    asked = await question(client, verb, resource, namespace, subresource=subresource, name=name)
    if asked.request.namespace:
        await require_namespace_exists(client, asked.request.namespace, None)
    return Answer(asked, who_can(await load_rbac(client), asked))


async def who_can_in_files(
    paths: Iterable[Path], verb: str, resource: str, namespace: str | None = None, *, subresource: str = "",
    name: str = "",
) -> Answer:
    """``who-can`` on manifest files (kubectl output, multi-document YAML, directories): the roles and
    bindings they hold, aggregated ClusterRoles computed from the ClusterRoles among them."""
    asked = await question(None, verb, resource, namespace, subresource=subresource, name=name)
    objects = load_manifests(paths).objects
    manifests = [obj.manifest() for kind in RBAC_KINDS for obj in objects.of_kind(kind, group=API_GROUP)]
    if objects.get("ClusterRole", "", "cluster-admin", group=API_GROUP) is None:
        manifests.append(CLUSTER_ADMIN)  # every cluster has it, with these rules
    rbac = RBAC.from_manifests(manifests)
    applicable = {binding.ref for binding in rbac.bindings if asked.every_namespace or not binding.scope
                  or binding.scope == asked.request.namespace}
    unresolved = [binding for binding in rbac.dangling() if binding.ref in applicable and binding.subjects]
    return Answer(asked, who_can(rbac, asked), unresolved)
