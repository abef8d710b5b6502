"""Policy rules: RBAC (codes and prose in ``findings/catalogue/policy_rbac.py``).

What a rule allows is decided by :mod:`kubesteward.model.semantics.rbac`, the authorizer's own
matching: a rule "can read Secrets" when it allows such a request, whatever wildcard says so.
Kubernetes' own roles and bindings (``kubernetes.io/bootstrapping: rbac-defaults``) are not judged,
nor are aggregated ClusterRoles' rules (copies of their sources', judged there).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping

from kubesteward.findings.catalogue.policy_rbac import KS820, KS821, KS822, KS823, KS824, KS825, KS826, KS827
from kubesteward.model.semantics.api_versions import parse_version
from kubesteward.model.semantics.rbac import (
    AGGREGATE_LABEL_PREFIX,
    ALL,
    API_GROUP,
    BOOTSTRAP_LABEL,
    BOOTSTRAP_VALUE,
    RBAC,
    ObjectRef,
    Request,
    Rule,
    Subject,
    is_default_cluster_role,
)
from kubesteward.policy.context import PolicyContext, labels_of, meta
from kubesteward.policy.registry import Manifest, Violation, object_rule, set_rule

ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
RBAC_KINDS = (*ROLE_KINDS, *BINDING_KINDS)
SECRET_READS = ("get", "list", "watch")
# The first release that authorises an exec over WebSocket with `create` only (earlier: `get` too).
EXEC_NEEDS_CREATE_SINCE = (1, 35)
ESCALATIONS = (
    *(Request(verb, resource, API_GROUP) for verb in ("escalate", "bind") for resource in ("roles", "clusterroles")),
    *(Request("impersonate", resource) for resource in ("users", "groups", "serviceaccounts")),
    Request("impersonate", "uids", "authentication.k8s.io"),
    Request("impersonate", "userextras", "authentication.k8s.io", "scopes"),
)


def kubernetes_default(obj: Manifest) -> bool:
    return labels_of(obj).get(BOOTSTRAP_LABEL) == BOOTSTRAP_VALUE


# Per set judged: each role's rules parsed once for the four rules reading them, and the RBAC
# evaluator built once for the set rules (weak: gone with the set).
_PARSED: weakref.WeakKeyDictionary[PolicyContext, dict[int, tuple[Manifest, list[tuple[int, Rule]]]]] = (
    weakref.WeakKeyDictionary()
)
_EVALUATORS: weakref.WeakKeyDictionary[PolicyContext, RBAC] = weakref.WeakKeyDictionary()


def judged_rules(obj: Manifest, ctx: PolicyContext) -> list[tuple[int, Rule]]:
    """The rules a role writes itself, with their index (none for Kubernetes' own or aggregated roles)."""
    parsed = _PARSED.setdefault(ctx, {})
    entry = parsed.get(id(obj))
    if entry is None or entry[0] is not obj:  # held with the object: an id is unique only while it lives
        entry = parsed[id(obj)] = (obj, list(_own_rules(obj)))
    return entry[1]


def _own_rules(obj: Manifest) -> Iterator[tuple[int, Rule]]:
    if kubernetes_default(obj) or (obj.get("kind") == "ClusterRole" and obj.get("aggregationRule")):
        return
    for index, rule in enumerate(obj.get("rules") or ()):
        if isinstance(rule, Mapping):
            yield index, Rule.from_manifest(rule)


def where(obj: Manifest) -> str:
    namespace = meta(obj).get("namespace")
    return f"in namespace {namespace}" if obj.get("kind") == "Role" and namespace else "wherever it is bound"


@object_rule(KS820, kinds=ROLE_KINDS)
def wildcard(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    for index, rule in judged_rules(obj, ctx):
        fields = [name for name, values in (("verbs", rule.verbs), ("resources", rule.resources),
                                            ("apiGroups", rule.api_groups)) if ALL in values]
        if fields:
            yield Violation(f"rule {index} grants * in {', '.join(fields)}", ("rules", index),
                            {"rule": str(rule), "wildcards": fields})


@object_rule(KS821, kinds=BINDING_KINDS)
def binds_cluster_admin(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    ref = obj.get("roleRef")
    if kubernetes_default(obj) or not isinstance(ref, dict):
        return
    if ref.get("kind") == "ClusterRole" and ref.get("name") == "cluster-admin":
        subjects = [str(s) for s in _subjects(obj)]
        scope = f"in namespace {meta(obj).get('namespace')}" if obj.get("kind") == "RoleBinding" else "cluster-wide"
        yield Violation(f"binds cluster-admin {scope} to {', '.join(subjects) or 'no subject'}", ("roleRef",),
                        {"subjects": subjects})


@object_rule(KS822, kinds=ROLE_KINDS)
def reads_secrets(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    for index, rule in judged_rules(obj, ctx):
        verbs = [verb for verb in SECRET_READS if rule.allows(Request(verb, "secrets"))]
        if verbs:
            yield Violation(f"rule {index} can {', '.join(verbs)} every Secret {where(obj)}", ("rules", index),
                            {"rule": str(rule), "verbs": verbs})


@object_rule(KS823, kinds=ROLE_KINDS)
def execs_into_pods(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    verbs = ["create"]
    if _version(ctx.settings.target_version) < EXEC_NEEDS_CREATE_SINCE:
        verbs.append("get")
    for index, rule in judged_rules(obj, ctx):
        allowed = [verb for verb in verbs if rule.allows(Request(verb, "pods", subresource="exec"))]
        if allowed:
            yield Violation(f"rule {index} can exec into pods {where(obj)} ({', '.join(allowed)} pods/exec)",
                            ("rules", index), {"rule": str(rule), "verbs": allowed})


@object_rule(KS824, kinds=ROLE_KINDS)
def escalates(obj: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    for index, rule in judged_rules(obj, ctx):
        found = sorted({str(request) for request in ESCALATIONS if rule.allows(request)})
        if found:
            yield Violation(f"rule {index} can {'; '.join(found)} {where(obj)}", ("rules", index),
                            {"rule": str(rule), "grants": found})


@set_rule(KS825, kinds=RBAC_KINDS, reads_pods=False)
def binding_to_missing_role(ctx: PolicyContext) -> Iterator[Violation]:
    rbac = _rbac(ctx)
    for binding in rbac.dangling():
        obj = ctx.get(binding.ref.kind, binding.ref.namespace, binding.ref.name)
        if obj is None or kubernetes_default(obj):
            continue
        role = binding.role
        if binding.ref.kind == "ClusterRoleBinding" and role.kind != "ClusterRole":
            message = f"refers to {role.kind} {role.name}: a ClusterRoleBinding can only refer to a ClusterRole"
        elif role.kind not in ("Role", "ClusterRole"):
            message = f"refers to a role of kind {role.kind!r}, which RBAC does not know"
        elif role.kind == "ClusterRole" and not ctx.live and is_default_cluster_role(role.name):
            continue  # every cluster has it; files do not carry it
        else:
            place = f" in namespace {role.namespace}" if role.namespace else ""
            message = f"refers to {role.kind} {role.name}, which does not exist{place}: it grants nothing until " \
                      "someone creates one of that name"
        yield Violation(message, ("roleRef",), {"role": str(role)}, subject=obj)


@set_rule(KS826, kinds=RBAC_KINDS, reads_pods=False)
def role_bound_by_nobody(ctx: PolicyContext) -> Iterator[Violation]:
    bound = _rbac(ctx).bound_roles()
    for obj in ctx.of_kind(*ROLE_KINDS):
        m = meta(obj)
        ref = ObjectRef(str(obj.get("kind")), str(m.get("name") or ""),
                        str(m.get("namespace") or "") if obj.get("kind") == "Role" else "")
        labels = labels_of(obj)
        if ref in bound or kubernetes_default(obj) or any(key.startswith(AGGREGATE_LABEL_PREFIX) for key in labels):
            continue
        yield Violation(f"no binding refers to {ref.kind} {ref.name}: it grants nothing", (), {}, subject=obj)


@set_rule(KS827, kinds=(*BINDING_KINDS, "ServiceAccount"), reads_pods=False)
def binding_to_missing_service_account(ctx: PolicyContext) -> Iterator[Violation]:
    accounts: dict[str, set[str]] = {}
    for account in ctx.of_kind("ServiceAccount"):
        m = meta(account)
        accounts.setdefault(str(m.get("namespace") or ""), set()).add(str(m.get("name") or ""))
    for binding in _rbac(ctx).bindings:
        obj = ctx.get(binding.ref.kind, binding.ref.namespace, binding.ref.name)
        if obj is None or kubernetes_default(obj):
            continue
        for index, subject in enumerate(binding.subjects):
            if subject.kind != "ServiceAccount" or not subject.namespace:
                continue
            known = accounts.get(subject.namespace)
            if known is None and not ctx.live:
                continue  # the files hold none of that namespace's ServiceAccounts: they are elsewhere
            if subject.name in (known or set()) or (subject.name == "default" and not ctx.live):
                continue
            yield Violation(f"names ServiceAccount {subject.namespace}/{subject.name}, which does not exist: "
                            "whoever creates it gets the role's rights", ("subjects", index),
                            {"service_account": f"{subject.namespace}/{subject.name}"}, subject=obj)


def _subjects(obj: Manifest) -> tuple[Subject, ...]:
    bindings = RBAC.from_manifests([obj]).bindings
    return bindings[0].subjects if bindings else ()


def _rbac(ctx: PolicyContext) -> RBAC:
    rbac = _EVALUATORS.get(ctx)
    if rbac is None:
        rbac = _EVALUATORS[ctx] = RBAC.from_manifests(ctx.of_kind(*RBAC_KINDS))
    return rbac


def _version(text: str) -> tuple[int, int]:
    try:
        return parse_version(text)
    except ValueError:
        return EXEC_NEEDS_CREATE_SINCE  # checked where the setting is read; never guess an older release
