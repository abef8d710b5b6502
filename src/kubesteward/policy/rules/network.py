"""Policy rules on NetworkPolicy (codes and prose in ``findings/catalogue/policy_network.py``).

Which policy selects which pods, in which direction, and which peers they let through is
:mod:`kubesteward.model.semantics.network_policy`'s; these rules only ask. Pod templates of every
kind that makes pods count (CRD workloads included); a pod a controller owns is judged on its
controller's template.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubesteward.findings.catalogue.policy_network import KS840, KS841, KS842, KS843, KS844, KS845
from kubesteward.model.semantics.network_policy import (
    EGRESS,
    INGRESS,
    Direction,
    Peer,
    allows_port,
    named_namespaces,
    open_to_everyone,
    peers,
    pod_selector,
    policies_isolating,
    rule_ports,
    rules,
    selects_every_pod,
    selects_pod,
)
from kubesteward.model.semantics.pod_templates import PodTemplate
from kubesteward.model.semantics.selectors import format_selector
from kubesteward.policy.context import PolicyContext, labels_of, meta
from kubesteward.policy.registry import Manifest, Violation, object_rule, set_rule

_KINDS = ("NetworkPolicy",)
_DNS_PORT_NAMES = ("dns",)


def _namespace(obj: Manifest) -> str:
    return str(meta(obj).get("namespace") or "")


def _unisolated(ctx: PolicyContext, direction: Direction) -> Iterator[Violation]:
    policies = ctx.of_kind("NetworkPolicy")
    for template in ctx.judged_templates:
        ns = _namespace(template.owner)
        if next(policies_isolating(policies, direction, ns, template.labels), None) is None:
            noun = "ingress" if direction == INGRESS else "egress"
            yield Violation(
                f"no NetworkPolicy of {ns or 'its namespace'} isolates these pods for {noun}: "
                + ("any pod of the cluster can connect to them" if direction == INGRESS else "they may connect anywhere"),
                template.metadata_path, {"namespace": ns, "policies_in_namespace": _names_in(policies, ns)},
                subject=template.owner,
            )


def _names_in(policies: list[Manifest], namespace: str) -> list[str]:
    return sorted(str(meta(p).get("name") or "") for p in policies if _namespace(p) == namespace)


@set_rule(KS840, kinds=("NetworkPolicy",))
def pods_without_ingress_policy(ctx: PolicyContext) -> Iterator[Violation]:
    yield from _unisolated(ctx, INGRESS)


@set_rule(KS841, kinds=("NetworkPolicy",), optional=True)
def pods_without_egress_policy(ctx: PolicyContext) -> Iterator[Violation]:
    yield from _unisolated(ctx, EGRESS)


@set_rule(KS842, kinds=("NetworkPolicy",))
def policy_selecting_nothing(ctx: PolicyContext) -> Iterator[Violation]:
    for policy in ctx.of_kind("NetworkPolicy"):
        if selects_every_pod(policy):
            continue
        ns = _namespace(policy)
        if not any(selects_pod(policy, ns, t.labels) for t in ctx.templates_in(ns)):
            selector = pod_selector(policy)
            yield Violation(
                f"podSelector {format_selector(selector)} selects no pod template in {ns or 'its namespace'}",
                ("spec", "podSelector"), {"selector": format_selector(selector)}, subject=policy,
            )


@object_rule(KS843, kinds=_KINDS)
def ingress_from_everywhere(policy: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    for index, rule in rules(policy, INGRESS):
        reason = open_to_everyone(rule, INGRESS)
        if reason is None:
            continue
        ports = rule_ports(rule)
        yield Violation(
            f"ingress rule {index} lets in {reason} on {', '.join(ports) if ports else 'every port'}",
            ("spec", "ingress", index), {"rule": index, "ports": ports or ["*"], "open_to": reason},
        )


def _namespace_labels(ctx: PolicyContext) -> dict[str, dict[str, str]]:
    return {str(meta(ns).get("name") or ""): labels_of(ns) for ns in ctx.of_kind("Namespace")}


def _judgeable(peer: Peer, ctx: PolicyContext, populated: set[str]) -> bool:
    """Whether the set holds every pod the peer could select: on a cluster always; on files, a peer of
    the policy's own namespace, or one naming its namespaces when the set holds pods in each."""
    if ctx.live or peer.namespaces is None:
        return True
    names = named_namespaces(peer.namespaces)
    return names is not None and bool(names) and names <= populated


def _selects_some_pod(peer: Peer, policy_ns: str, ctx: PolicyContext, labels: dict[str, dict[str, str]]) -> bool | None:
    undecided = False
    for template in ctx.templates:
        ns = _namespace(template.owner)
        known = labels.get(ns, {} if ctx.live else None)
        verdict = peer.selects(policy_ns, ns, known, template.labels)
        if verdict:
            return True
        undecided = undecided or verdict is None
    return None if undecided else False


@set_rule(KS844, kinds=("NetworkPolicy", "Namespace"))
def peer_selecting_nothing(ctx: PolicyContext) -> Iterator[Violation]:
    labels = _namespace_labels(ctx)
    populated = {_namespace(t.owner) for t in ctx.templates}
    for policy in ctx.of_kind("NetworkPolicy"):
        policy_ns = _namespace(policy)
        for direction in (INGRESS, EGRESS):
            for index, rule in rules(policy, direction):
                for peer in peers(rule, direction) or ():
                    if peer.addresses or not _judgeable(peer, ctx, populated):
                        continue
                    if _selects_some_pod(peer, policy_ns, ctx, labels) is False:
                        side, key = ("from", "ingress") if direction == INGRESS else ("to", "egress")
                        yield Violation(
                            f"{key} rule {index}: {side} peer {peer.index} ({peer.describe()}) selects no pod",
                            ("spec", key, index, side, peer.index),
                            {"rule": index, "peer": peer.describe()}, subject=policy,
                        )


def _resolves_names(policies: list[Manifest]) -> bool:
    return any(
        allows_port(rule, 53, "UDP", _DNS_PORT_NAMES)
        for policy in policies for _, rule in rules(policy, EGRESS)
    )


@set_rule(KS845, kinds=("NetworkPolicy",))
def egress_without_dns(ctx: PolicyContext) -> Iterator[Violation]:
    policies = ctx.of_kind("NetworkPolicy")
    for template in ctx.judged_templates:
        yield from _dns_violation(template, policies)


def _dns_violation(template: PodTemplate, policies: list[Manifest]) -> Iterator[Violation]:
    ns = _namespace(template.owner)
    isolating = list(policies_isolating(policies, EGRESS, ns, template.labels))
    if isolating and not _resolves_names(isolating):
        names = sorted(str(meta(p).get("name") or "") for p in isolating)
        yield Violation(
            f"egress is isolated by {', '.join(names)} and no egress rule allows DNS (53/UDP): name lookups fail",
            template.metadata_path, {"policies": names}, subject=template.owner,
        )
