"""RBAC, evaluated exactly as the API server's RBAC authorizer does, over Roles, ClusterRoles,
RoleBindings and ClusterRoleBindings given as plain manifests (files or a live LIST).

What the authorizer does, and this module with it:

- A request is allowed when any rule reachable from a binding that names the user allows it;
  nothing denies. ClusterRoleBindings hold everywhere; a RoleBinding only for requests *in its
  namespace*. A cluster-scoped request, a LIST across every namespace and a non-resource URL
  have no namespace, so only ClusterRoleBindings grant them (a ClusterRole's ``nonResourceURLs``
  do nothing through a RoleBinding).
- A rule allows a resource request when its ``verbs`` (or ``*``), ``apiGroups`` (or ``*``),
  ``resources`` and ``resourceNames`` all match. ``resources`` holds ``*`` (everything,
  subresources too), the resource (``pods``: not its subresources), ``resource/subresource``
  (``pods/exec``) or ``*/subresource`` (``*/scale``: that subresource of anything). ``pods/*``
  is not a pattern: it matches a subresource literally named ``*``, i.e. nothing. A rule with
  ``resourceNames`` allows only requests naming one of them, so never ``list``, ``watch`` or
  ``create`` (they carry no name).
- A non-resource request (``/healthz``, ``/metrics``) is allowed by ``nonResourceURLs``: ``*``,
  the exact path, or a prefix ending in ``*`` (``/healthz/*``); its verb is the lower-case HTTP
  method.
- A RoleBinding's ``roleRef`` names a Role of its own namespace or a ClusterRole; a
  ClusterRoleBinding's only a ClusterRole. A binding whose role does not exist grants nothing.
- Subjects: a User by name, a Group by membership, a ServiceAccount as the user
  ``system:serviceaccount:NS:NAME`` (the binding's namespace when the subject names none; in a
  ClusterRoleBinding such a subject matches nobody). Every authenticated user is in
  ``system:authenticated``; a ServiceAccount also in ``system:serviceaccounts`` and
  ``system:serviceaccounts:NS``. Members of ``system:masters`` are allowed everything by the
  API server before RBAC is asked: they appear in no binding.
- An aggregated ClusterRole (``aggregationRule.clusterRoleSelectors``) holds the rules of every
  other ClusterRole whose labels a selector matches, as the aggregation controller writes them
  (transitively: a source that aggregates holds its own sources' rules). A live cluster's
  aggregated roles already carry those rules; files may carry none, or sources the set does not
  hold (the built-in ``system:aggregate-to-*`` roles), so the rules a role carries are kept too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from kubesteward.model.objects import LabelSelector
from kubesteward.model.semantics.selectors import selector_matches

API_GROUP = "rbac.authorization.k8s.io"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
ALL = "*"
SUPERUSER_GROUP = "system:masters"
AUTHENTICATED_GROUP = "system:authenticated"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
# Verbs of requests that name no object: a rule with resourceNames never allows them.
UNNAMED_VERBS = frozenset({"list", "watch", "create", "deletecollection"})
# What Kubernetes labels the roles and bindings it makes itself (the API server reconciles them).
BOOTSTRAP_LABEL, BOOTSTRAP_VALUE = "kubernetes.io/bootstrapping", "rbac-defaults"
# A ClusterRole labelled so is a source of the built-in aggregated roles (admin, edit, view) or of others.
AGGREGATE_LABEL_PREFIX = "rbac.authorization.k8s.io/aggregate-to-"
USER_FACING_ROLES = ("cluster-admin", "admin", "edit", "view")


def is_default_cluster_role(name: str) -> bool:
    """Whether every cluster has a ClusterRole of this name: the API server makes them at start."""
    return name in USER_FACING_ROLES or name.startswith("system:")


# The one default ClusterRole whose rules are fixed and short (the API server's bootstrap policy):
# what files that bind it without holding it mean.
CLUSTER_ADMIN: dict[str, Any] = {
    "apiVersion": f"{API_GROUP}/v1", "kind": "ClusterRole",
    "metadata": {"name": "cluster-admin", "labels": {BOOTSTRAP_LABEL: BOOTSTRAP_VALUE}},
    "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}],
}


@dataclass(frozen=True, order=True)
class Subject:
    """Who a binding names: ``User``, ``Group`` or ``ServiceAccount`` (whose ``namespace`` is set,
    from the binding's own when the subject gave none; "" in a ClusterRoleBinding: nobody)."""

    kind: str
    name: str
    namespace: str = ""

    @property
    def username(self) -> str:
        """The user name the API server authenticates this subject as ("" for a group)."""
        if self.kind == "ServiceAccount":
            return service_account_username(self.namespace, self.name) if self.namespace else ""
        return self.name if self.kind == "User" else ""

    def __str__(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount {self.namespace or '<no namespace>'}/{self.name}"
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """A role or a binding: kind, name and namespace ("" for the cluster-scoped kinds)."""

    kind: str
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Request:
    """What the authorizer is asked: a resource request (``resource`` set: group, subresource,
    name, namespace) or a non-resource one (``path`` set). ``namespace`` "" is a cluster-scoped
    request, a request across every namespace, or a non-resource URL."""

    verb: str
    resource: str = ""
    group: str = ""
    subresource: str = ""
    name: str = ""
    namespace: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return not self.path

    def __str__(self) -> str:
        if not self.is_resource:
            return f"{self.verb} {self.path}"
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.subresource:
            what += f"/{self.subresource}"
        if self.name:
            what += f" {self.name}"
        return f"{self.verb} {what}" + (f" in {self.namespace}" if self.namespace else "")


@dataclass(frozen=True)
class Rule:
    """One PolicyRule; the empty tuple for a field the rule leaves out."""

    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, rule: Mapping[str, Any]) -> Rule:
        def strings(key: str) -> tuple[str, ...]:
            value = rule.get(key)
            return tuple(map(str, value)) if isinstance(value, list) else ()

        return cls(strings("verbs"), strings("apiGroups"), strings("resources"), strings("resourceNames"),
                   strings("nonResourceURLs"))

    def manifest(self) -> dict[str, list[str]]:
        """The rule as a manifest writes it (empty fields left out)."""
        fields = (("apiGroups", self.api_groups), ("resources", self.resources),
                  ("resourceNames", self.resource_names), ("nonResourceURLs", self.non_resource_urls),
                  ("verbs", self.verbs))
        return {key: list(values) for key, values in fields if values}

    def allows(self, request: Request) -> bool:
        if not verb_matches(self, request.verb):
            return False
        if not request.is_resource:
            return non_resource_url_matches(self, request.path)
        return (api_group_matches(self, request.group) and resource_matches(self, request.resource, request.subresource)
                and resource_name_matches(self, request.name))

    def __str__(self) -> str:
        if self.non_resource_urls and not self.resources:
            return f"{','.join(self.verbs)} {','.join(self.non_resource_urls)}"
        groups = ",".join(group or '""' for group in self.api_groups)
        names = f" [{','.join(self.resource_names)}]" if self.resource_names else ""
        return f"{','.join(self.verbs)} {','.join(self.resources)} (apiGroups {groups}){names}"


def verb_matches(rule: Rule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: Rule, resource: str, subresource: str = "") -> bool:
    """``*``, the exact ``resource[/subresource]``, or ``*/subresource`` for a subresource request."""
    combined = f"{resource}/{subresource}" if subresource else resource
    for allowed in rule.resources:
        if allowed == ALL or allowed == combined:
            return True
        if subresource and allowed == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for allowed in rule.non_resource_urls:
        if allowed == ALL or allowed == path:
            return True
        if allowed.endswith("*") and path.startswith(allowed[:-1]):
            return True
    return False


def service_account_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"


@dataclass(frozen=True)
class User:
    """An authenticated user as the authorizer sees it: a name and groups."""

    name: str
    groups: frozenset[str] = frozenset()

    @classmethod
    def named(cls, username: str, groups: Iterable[str] = ()) -> User:
        """``username`` with the groups the API server gives it on top of ``groups``: everyone
        ``system:authenticated``, a ServiceAccount its two ServiceAccount groups."""
        every = {*groups, AUTHENTICATED_GROUP}
        account = parse_service_account(username)
        if account is not None:
            every |= {SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{account[0]}"}
        return cls(username, frozenset(every))

    @classmethod
    def of(cls, subject: Subject, groups: Iterable[str] = ()) -> User:
        """The user a User or ServiceAccount subject authenticates as."""
        if subject.kind == "Group":
            raise ValueError(f"{subject} is a group, not a user")
        return cls.named(subject.username, groups)

    @property
    def superuser(self) -> bool:
        return SUPERUSER_GROUP in self.groups


def parse_service_account(username: str) -> tuple[str, str] | None:
    """``(namespace, name)`` of ``system:serviceaccount:NS:NAME``; None for any other user."""
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        return None
    namespace, colon, name = username[len(SERVICE_ACCOUNT_PREFIX):].partition(":")
    return (namespace, name) if colon and namespace and name and ":" not in name else None


def subject_of(username: str) -> Subject:
    """The binding subject naming ``username``: a ServiceAccount for ``system:serviceaccount:NS:NAME``."""
    account = parse_service_account(username)
    return Subject("ServiceAccount", account[1], account[0]) if account else Subject("User", username)


def applies_to(subject: Subject, user: User) -> bool:
    if subject.kind == "Group":
        return subject.name in user.groups
    username = subject.username
    return bool(username) and username == user.name


@dataclass(frozen=True)
class Binding:
    """A RoleBinding (``scope`` its namespace) or ClusterRoleBinding (``scope`` "")."""

    ref: ObjectRef
    role: ObjectRef  # the role it refers to, resolved: a Role of its namespace, or a ClusterRole
    subjects: tuple[Subject, ...]

    @property
    def scope(self) -> str:
        return self.ref.namespace


@dataclass(frozen=True)
class RoleDefinition:
    ref: ObjectRef
    rules: tuple[Rule, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    aggregation: tuple[LabelSelector, ...] | None = None  # clusterRoleSelectors, when aggregated


@dataclass(frozen=True)
class Grant:
    """``subject`` may make the request through ``binding`` and its ``role``'s ``rule``, in
    namespace ``scope`` ("" everywhere: a ClusterRoleBinding)."""

    subject: Subject
    binding: ObjectRef
    role: ObjectRef
    scope: str
    rule: Rule


@dataclass(frozen=True)
class Permission:
    """What one binding gives a user (through ``subject``: the user itself or one of its groups)."""

    subject: Subject
    binding: ObjectRef
    role: ObjectRef
    scope: str
    rules: tuple[Rule, ...]


class RBAC:
    """The RBAC objects of one cluster or one set of files, evaluated as the authorizer does."""

    def __init__(self, roles: Iterable[RoleDefinition], bindings: Iterable[Binding]) -> None:
        self.roles: dict[ObjectRef, RoleDefinition] = {role.ref: role for role in roles}
        self.bindings: list[Binding] = sorted(bindings, key=lambda binding: binding.ref)
        self._effective: dict[ObjectRef, tuple[Rule, ...]] = {}

    @classmethod
    def from_manifests(cls, manifests: Iterable[Mapping[str, Any]]) -> RBAC:
        """From plain manifests (any kinds: those not of RBAC are passed over)."""
        roles: list[RoleDefinition] = []
        bindings: list[Binding] = []
        for manifest in manifests:
            kind = manifest.get("kind")
            if kind not in RBAC_KINDS or str(manifest.get("apiVersion", "")).rpartition("/")[0] not in (API_GROUP, ""):
                continue
            metadata = _mapping(manifest.get("metadata"))
            namespace = str(metadata.get("namespace") or "") if kind in ("Role", "RoleBinding") else ""
            ref = ObjectRef(str(kind), str(metadata.get("name") or ""), namespace)
            if kind in ("Role", "ClusterRole"):
                roles.append(_role(ref, manifest, metadata))
            else:
                bindings.append(_binding(ref, manifest))
        return cls(roles, bindings)

    # -- roles -------------------------------------------------------------

    def rules_of(self, role: ObjectRef) -> tuple[Rule, ...] | None:
        """The rules ``role`` grants, aggregation included; None when it does not exist."""
        if role not in self.roles:
            return None
        return self._rules(role, frozenset())

    def _rules(self, ref: ObjectRef, visiting: frozenset[ObjectRef]) -> tuple[Rule, ...]:
        cached = self._effective.get(ref)
        if cached is not None:
            return cached
        role = self.roles[ref]
        if role.aggregation is None:
            self._effective[ref] = role.rules
            return role.rules
        rules = list(role.rules)
        seen = set(rules)
        for source in self.aggregated_from(ref):
            if source in visiting:
                continue  # a cycle of aggregating roles: each holds what the others carry
            for rule in self._rules(source, visiting | {ref}):
                if rule not in seen:
                    seen.add(rule)
                    rules.append(rule)
        result = tuple(rules)
        if not visiting:  # a result computed inside a cycle may miss a member's rules
            self._effective[ref] = result
        return result

    def aggregated_from(self, ref: ObjectRef) -> list[ObjectRef]:
        """The ClusterRoles an aggregated ClusterRole's selectors match (itself excluded), by name."""
        role = self.roles.get(ref)
        if role is None or role.aggregation is None:
            return []
        return [
            other.ref for other in sorted(self.roles.values(), key=lambda r: r.ref)
            if other.ref.kind == "ClusterRole" and other.ref != ref
            and any(selector_matches(selector, other.labels) for selector in role.aggregation)
        ]

    # -- questions -----------------------------------------------------------

    def bindings_in_force(self, namespace: str) -> Iterator[Binding]:
        """The bindings the authorizer visits for a request in ``namespace`` ("": cluster-wide ones only)."""
        for binding in self.bindings:
            if not binding.scope or (namespace and binding.scope == namespace):
                yield binding

    def who_can(self, request: Request, *, every_namespace: bool = False) -> list[Grant]:
        """Every subject a binding allows ``request`` to, with the binding, role and rule that do it.

        ``every_namespace``: ``request`` is asked in each namespace in turn (its own ignored), so
        RoleBindings of every namespace answer too, each grant saying where it holds."""
        grants: list[Grant] = []
        for binding in self.bindings:
            if every_namespace and request.is_resource:
                applicable = True
            else:
                applicable = not binding.scope or (bool(request.namespace) and binding.scope == request.namespace)
            if not applicable:
                continue
            rule = self._allowing_rule(binding, request)
            if rule is None:
                continue
            for subject in binding.subjects:
                if subject.kind == "Group" or subject.username:
                    grants.append(Grant(subject, binding.ref, binding.role, binding.scope, rule))
        return grants

    def _allowing_rule(self, binding: Binding, request: Request) -> Rule | None:
        if binding.scope and not request.is_resource:
            return None  # a non-resource URL has no namespace: no RoleBinding is asked
        for rule in self.rules_of(binding.role) or ():
            if rule.allows(request):
                return rule
        return None

    def permissions_of(self, user: User) -> list[Permission]:
        """What every binding naming ``user`` (or a group of it) gives it; missing roles give nothing."""
        found: list[Permission] = []
        for binding in self.bindings:
            rules = self.rules_of(binding.role)
            if not rules:
                continue
            for subject in binding.subjects:
                if applies_to(subject, user):
                    found.append(Permission(subject, binding.ref, binding.role, binding.scope, rules))
                    break
        return found

    def allows(self, user: User, request: Request) -> bool:
        """The authorizer's answer (RBAC's part of it, plus the superuser group before it)."""
        if user.superuser:
            return True
        for binding in self.bindings_in_force(request.namespace if request.is_resource else ""):
            if any(applies_to(subject, user) for subject in binding.subjects):
                if self._allowing_rule(binding, request) is not None:
                    return True
        return False

    def dangling(self) -> list[Binding]:
        """Bindings whose role does not exist (in this set): they grant nothing, until someone
        creates a role of that name, which then grants at once."""
        return [binding for binding in self.bindings if binding.role not in self.roles]

    def bound_roles(self) -> set[ObjectRef]:
        """Roles some binding refers to, and the ClusterRoles those aggregate (their rules are in use)."""
        bound = {binding.role for binding in self.bindings if binding.role in self.roles}
        pending = list(bound)
        while pending:
            for source in self.aggregated_from(pending.pop()):
                if source not in bound:
                    bound.add(source)
                    pending.append(source)
        return bound


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _role(ref: ObjectRef, manifest: Mapping[str, Any], metadata: Mapping[str, Any]) -> RoleDefinition:
    rules = tuple(Rule.from_manifest(rule) for rule in manifest.get("rules") or () if isinstance(rule, Mapping))
    labels = {str(k): str(v) for k, v in _mapping(metadata.get("labels")).items()}
    aggregation: tuple[LabelSelector, ...] | None = None
    rule = _mapping(manifest.get("aggregationRule"))
    if ref.kind == "ClusterRole" and rule:
        selectors: list[LabelSelector] = []
        for selector in rule.get("clusterRoleSelectors") or ():
            try:
                selectors.append(msgspec.convert(selector, LabelSelector))
            except msgspec.ValidationError:
                continue  # the API server validates selectors; a malformed one in a file selects nothing
        aggregation = tuple(selectors)
    return RoleDefinition(ref, rules, labels, aggregation)


def _binding(ref: ObjectRef, manifest: Mapping[str, Any]) -> Binding:
    role_ref = _mapping(manifest.get("roleRef"))
    role_kind = str(role_ref.get("kind") or "")
    if role_kind == "Role" and ref.kind == "RoleBinding":
        role = ObjectRef("Role", str(role_ref.get("name") or ""), ref.namespace)
    else:  # a ClusterRole; a Role from a ClusterRoleBinding, or another kind, is refused: never found
        role = ObjectRef(role_kind or "ClusterRole", str(role_ref.get("name") or ""))
    subjects: list[Subject] = []
    for subject in manifest.get("subjects") or ():
        if not isinstance(subject, Mapping):
            continue
        kind = str(subject.get("kind") or "")
        namespace = (str(subject.get("namespace") or "") or ref.namespace) if kind == "ServiceAccount" else ""
        subjects.append(Subject(kind, str(subject.get("name") or ""), namespace))
    return Binding(ref, role, tuple(subjects))
