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
    Policy,
    allows_port,
    named_namespaces,
    open_to_everyone,
    peers,
    read_policy,
    rule_ports,
)
from kubesteward.model.semantics.pod_templates import PodTemplate
from kubesteward.model.semantics.selectors import format_selector
from kubesteward.policy.context import PolicyContext, labels_of, meta
from kubesteward.policy.registry import Manifest, Violation, object_rule, set_rule
from kubesteward.policy.rules.selection import selected

_KINDS = ("NetworkPolicy",)
_DNS_PORT_NAMES = ("dns",)


def _namespace(obj: Manifest) -> str:
    return str(meta(obj).get("namespace") or "")


def _policies(ctx: PolicyContext) -> dict[str, list[Policy]]:
    """The set's NetworkPolicies, read once, by namespace."""

    def build() -> dict[str, list[Policy]]:
        index: dict[str, list[Policy]] = {}
        for raw in ctx.of_kind("NetworkPolicy"):
            policy = read_policy(raw)
            index.setdefault(policy.namespace, []).append(policy)
        return index

    return ctx.memo("network.policies", build)


def _isolating(ctx: PolicyContext, template: PodTemplate, direction: Direction) -> list[Policy]:
    """The policies isolating the template's pods in ``direction``."""

    def build() -> dict[int, list[Policy]]:
        index: dict[int, list[Policy]] = {}
        for ns, policies in _policies(ctx).items():
            for policy in policies:
                for selected_template in selected(ctx, ns, policy.selector):
                    index.setdefault(id(selected_template), []).append(policy)
        return index

    return [p for p in ctx.memo("network.selecting", build).get(id(template), ()) if direction in p.types]


def _unisolated(ctx: PolicyContext, direction: Direction) -> Iterator[Violation]:
    for template in ctx.judged_templates:
        if _isolating(ctx, template, direction):
            continue
        ns = _namespace(template.owner)
        noun = "ingress" if direction == INGRESS else "egress"
        yield Violation(
            f"no NetworkPolicy of {ns or 'its namespace'} isolates these pods for {noun}: "
            + ("any pod of the cluster can connect to them" if direction == INGRESS else "they may connect anywhere"),
            template.metadata_path,
            {"namespace": ns, "policies_in_namespace": sorted(p.name for p in _policies(ctx).get(ns, ()))},
            subject=template.owner,
        )


@set_rule(KS840, kinds=("NetworkPolicy",))
def pods_without_ingress_policy(ctx: PolicyContext) -> Iterator[Violation]:
    yield from _unisolated(ctx, INGRESS)


@set_rule(KS841, kinds=("NetworkPolicy",), optional=True)
def pods_without_egress_policy(ctx: PolicyContext) -> Iterator[Violation]:
    yield from _unisolated(ctx, EGRESS)


@set_rule(KS842, kinds=("NetworkPolicy",))
def policy_selecting_nothing(ctx: PolicyContext) -> Iterator[Violation]:
    for ns, policies in _policies(ctx).items():
        for policy in policies:
            if policy.every_pod or selected(ctx, ns, policy.selector):
                continue
            yield Violation(
                f"podSelector {format_selector(policy.selector)} selects no pod template in {ns or 'its namespace'}",
                ("spec", "podSelector"), {"selector": format_selector(policy.selector)}, subject=policy.raw,
            )


@object_rule(KS843, kinds=_KINDS)
def ingress_from_everywhere(policy: Manifest, ctx: PolicyContext) -> Iterator[Violation]:
    for index, rule in read_policy(policy).rules(INGRESS):
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


def _selects_some_pod(peer: Peer, policy_ns: str, ctx: PolicyContext, labels: dict[str, dict[str, str]],
                      populated: set[str]) -> bool | None:
    """Whether the peer selects a pod template of the set (None: cannot tell)."""
    undecided = False
    for ns in sorted(populated) if peer.namespaces is not None else [policy_ns]:
        verdict = peer.selects_namespace(policy_ns, ns, labels.get(ns, {} if ctx.live else None))
        if verdict is None:
            undecided = True
        elif verdict:
            pods = ctx.templates_in(ns) if peer.pods is None else selected(ctx, ns, peer.pods)
            if pods:
                return True
    return None if undecided else False


@set_rule(KS844, kinds=("NetworkPolicy", "Namespace"))
def peer_selecting_nothing(ctx: PolicyContext) -> Iterator[Violation]:
    labels = _namespace_labels(ctx)
    populated = {_namespace(t.owner) for t in ctx.templates}
    for policy_ns, policies in _policies(ctx).items():
        for policy in policies:
            for direction in (INGRESS, EGRESS):
                for index, rule in policy.rules(direction):
                    for peer in peers(rule, direction) or ():
                        if peer.addresses or not _judgeable(peer, ctx, populated):
                            continue
                        if _selects_some_pod(peer, policy_ns, ctx, labels, populated) is False:
                            side, key = ("from", "ingress") if direction == INGRESS else ("to", "egress")
                            yield Violation(
                                f"{key} rule {index}: {side} peer {peer.index} ({peer.describe()}) selects no pod",
                                ("spec", key, index, side, peer.index),
                                {"rule": index, "peer": peer.describe()}, subject=policy.raw,
                            )


@set_rule(KS845, kinds=("NetworkPolicy",))
def egress_without_dns(ctx: PolicyContext) -> Iterator[Violation]:
    for template in ctx.judged_templates:
        isolating = _isolating(ctx, template, EGRESS)
        resolves = any(allows_port(rule, 53, "UDP", _DNS_PORT_NAMES) for p in isolating for _, rule in p.rules(EGRESS))
        if isolating and not resolves:
            names = sorted(p.name for p in isolating)
            yield Violation(
                f"egress is isolated by {', '.join(names)} and no egress rule allows DNS (53/UDP): name lookups fail",
                template.metadata_path, {"policies": names}, subject=template.owner,
            )
