"""Least privilege from what a subject did: the Roles and ClusterRole that allow exactly the requests
a kube-apiserver audit log recorded for it (``kubesteward rbac minimize``).

- The log is JSON lines of ``audit.k8s.io/v1`` Events (any level: Metadata is enough, nothing of a
  body is read). Each request counts once whatever its stages; requests the subject made as itself
  count, and those another user made impersonating it. Denied requests count too: they are what it
  needed and lacked.
- A request in a namespace is granted by a Role there (bound by a RoleBinding); a cluster-scoped
  request, a LIST or WATCH across every namespace and a non-resource URL by a ClusterRole (bound by a
  ClusterRoleBinding). ``get``/``update``/``patch``/``delete`` of named objects are limited to those
  names (``resourceNames``) unless asked not to; the verbs of requests without a name (``list``,
  ``watch``, ``create``, ``deletecollection``) cannot be.
- What every authenticated user is given by the default ClusterRoles (``system:discovery``,
  ``system:public-info-viewer``, ``system:basic-user``: discovery URLs, health and version, its own
  access reviews) is left out unless asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from kubesteward.errors import InputError
from kubesteward.model.semantics.rbac import (
    API_GROUP,
    UNNAMED_VERBS,
    Request,
    Rule,
    Subject,
    subject_of,
)

# Verbs in the order people write them; any other verb follows, alphabetically.
VERB_ORDER = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubesteward"}
# What the default ClusterRoles give every authenticated user (system:discovery, system:public-info-viewer).
DEFAULT_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/",
                "/openapi", "/openapi/*", "/.well-known/openid-configuration", "/openid/v1/jwks")
# ... and system:basic-user: a user's questions about its own access.
DEFAULT_RESOURCES = frozenset({
    ("authorization.k8s.io", "selfsubjectaccessreviews"), ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
})


class _User(msgspec.Struct, gc=False):
    username: str = ""


class _ObjectRef(msgspec.Struct, gc=False):
    resource: str = ""
    namespace: str = ""
    name: str = ""
    apiGroup: str = ""
    subresource: str = ""


class _Event(msgspec.Struct, gc=False):
    kind: str = ""
    apiVersion: str = ""
    auditID: str = ""
    requestURI: str = ""
    verb: str = ""
    user: _User = msgspec.field(default_factory=_User)
    impersonatedUser: _User | None = None
    objectRef: _ObjectRef | None = None


@dataclass
class AuditRead:
    """The requests one subject made, in the order first seen, and what was read to find them."""

    username: str
    requests: list[Request] = field(default_factory=list)
    events: int = 0  # audit events read, of every user
    matched: int = 0  # events of this subject (a request has one per stage logged)


def read_audit_log(paths: Iterable[Path], username: str) -> AuditRead:
    """The requests of ``username`` in the audit logs at ``paths`` (a rotated log's files, any order)."""
    found = AuditRead(username)
    seen: set[Request] = set()
    decoder = msgspec.json.Decoder(_Event)
    for path in paths:
        for event in _events(path, decoder):
            found.events += 1
            acting = event.impersonatedUser.username if event.impersonatedUser else event.user.username
            if acting != username or not event.verb:
                continue
            found.matched += 1
            request = _request(event)
            if request is not None and request not in seen:
                seen.add(request)
                found.requests.append(request)
    return found


def _events(path: Path, decoder: msgspec.json.Decoder[_Event]) -> Iterator[_Event]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read audit log {path}: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                event = decoder.decode(line)
            except (msgspec.DecodeError, RecursionError):
                if not line.endswith(b"\n"):
                    return  # the last line, still being written by the API server
                raise InputError(f"{path}:{number}: not an audit event (a JSON line of audit.k8s.io/v1 Events)") from None
            if event.kind == "Event" and event.apiVersion.startswith("audit.k8s.io/"):
                yield event


def _request(event: _Event) -> Request | None:
    ref = event.objectRef
    if ref is None:
        path = event.requestURI.partition("?")[0]
        return Request(event.verb, path=path) if path else None
    if not ref.resource:
        return None
    return Request(event.verb, ref.resource, ref.apiGroup, ref.subresource, ref.name, ref.namespace)


def granted_to_everyone(request: Request) -> bool:
    """Whether the default ClusterRoles give ``request`` to every authenticated user."""
    if not request.is_resource:
        return any(Rule(("get",), non_resource_urls=(url,)).allows(request) for url in DEFAULT_URLS)
    return request.verb == "create" and (request.group, request.resource) in DEFAULT_RESOURCES


def least_rules(requests: Iterable[Request], *, resource_names: bool = True) -> list[Rule]:
    """The fewest rules allowing exactly ``requests`` (all of one scope), sorted.

    Per resource, the verbs of unnamed requests get a rule without names; each other verb is limited
    to the names it was used on (verbs used on the same names share a rule). Rules that then differ
    only in their resources are merged."""
    unnamed: dict[tuple[str, str], set[str]] = {}
    named: dict[tuple[str, str], dict[str, set[str]]] = {}
    urls: dict[str, set[str]] = {}
    for request in requests:
        if not request.is_resource:
            urls.setdefault(request.path, set()).add(request.verb)
            continue
        target = (request.group, f"{request.resource}/{request.subresource}" if request.subresource else request.resource)
        if resource_names and request.name and request.verb not in UNNAMED_VERBS:
            named.setdefault(target, {}).setdefault(request.verb, set()).add(request.name)
        else:
            unnamed.setdefault(target, set()).add(request.verb)
    # (group, verbs, names) -> resources
    merged: dict[tuple[str, tuple[str, ...], tuple[str, ...]], set[str]] = {}
    for (group, resource), verbs in unnamed.items():
        merged.setdefault((group, _ordered(verbs), ()), set()).add(resource)
    for (group, resource), by_verb in named.items():
        by_names: dict[tuple[str, ...], set[str]] = {}
        for verb, names in by_verb.items():
            if verb not in unnamed.get((group, resource), set()):  # an unnamed grant of the verb covers them
                by_names.setdefault(tuple(sorted(names)), set()).add(verb)
        for names_used, verbs_used in by_names.items():
            merged.setdefault((group, _ordered(verbs_used), names_used), set()).add(resource)
    rules = [Rule(verbs, (group,), tuple(sorted(resources)), names) for (group, verbs, names), resources in merged.items()]
    by_verbs: dict[tuple[str, ...], set[str]] = {}
    for path, verbs in urls.items():
        by_verbs.setdefault(_ordered(verbs), set()).add(path)
    rules += [Rule(verbs, non_resource_urls=tuple(sorted(paths))) for verbs, paths in by_verbs.items()]
    return sorted(rules, key=lambda r: (bool(r.non_resource_urls), r.api_groups, r.resources, r.resource_names, r.verbs))


def _ordered(verbs: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(verbs), key=lambda verb: (VERB_ORDER.index(verb) if verb in VERB_ORDER else len(VERB_ORDER), verb)))


@dataclass(frozen=True)
class Minimized:
    """The objects to apply: a Role and RoleBinding per namespace, a ClusterRole and
    ClusterRoleBinding for the rest, and what they were made from."""

    subject: Subject
    manifests: list[dict[str, Any]]
    requests: int  # distinct requests granted
    omitted: int  # requests every authenticated user may make anyway (left out)


def minimize(requests: Iterable[Request], username: str, *, name: str | None = None, resource_names: bool = True,
             include_defaults: bool = False) -> Minimized:
    """The least-privilege RBAC objects for ``username`` (a ServiceAccount as ``system:serviceaccount:NS:NAME``)."""
    subject = subject_of(username)
    role_name = name or default_role_name(subject)
    by_scope: dict[str, list[Request]] = {}
    kept = omitted = 0
    for request in requests:
        if not include_defaults and granted_to_everyone(request):
            omitted += 1
            continue
        kept += 1
        by_scope.setdefault(request.namespace if request.is_resource else "", []).append(request)
    manifests: list[dict[str, Any]] = []
    for scope in sorted(by_scope, key=lambda s: (s == "", s)):  # the ClusterRole last
        rules = least_rules(by_scope[scope], resource_names=resource_names)
        manifests += [_role(role_name, scope, rules), _binding(role_name, scope, subject)]
    return Minimized(subject, manifests, kept, omitted)


def default_role_name(subject: Subject) -> str:
    """``<name>-least-privilege``, the name made a valid object name (lower case, ``a-z0-9.-``)."""
    cleaned = "".join(c if c.isalnum() or c in ".-" else "-" for c in subject.name.lower()).strip(".-") or "subject"
    return f"{cleaned[:200]}-least-privilege"


def _metadata(name: str, scope: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if scope:
        metadata["namespace"] = scope
    metadata["labels"] = dict(MANAGED_BY)
    return metadata


def _role(name: str, scope: str, rules: list[Rule]) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/v1", "kind": "Role" if scope else "ClusterRole",
            "metadata": _metadata(name, scope), "rules": [rule.manifest() for rule in rules]}


def _binding(name: str, scope: str, subject: Subject) -> dict[str, Any]:
    if subject.kind == "ServiceAccount":
        entry = {"kind": "ServiceAccount", "name": subject.name, "namespace": subject.namespace}
    else:
        entry = {"kind": subject.kind, "apiGroup": API_GROUP, "name": subject.name}
    return {"apiVersion": f"{API_GROUP}/v1", "kind": "RoleBinding" if scope else "ClusterRoleBinding",
            "metadata": _metadata(name, scope),
            "roleRef": {"apiGroup": API_GROUP, "kind": "Role" if scope else "ClusterRole", "name": name},
            "subjects": [entry]}
