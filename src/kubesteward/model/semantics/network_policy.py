"""NetworkPolicy semantics over manifests, as the API server defaults policies and network plugins enforce them.

- A policy applies to the pods of *its own namespace* that its ``podSelector`` selects; an empty (or
  absent) ``podSelector`` selects every pod of the namespace.
- ``policyTypes``: as given; when absent, ``Ingress`` always, plus ``Egress`` when the policy has egress
  rules (the API server's defaulting). A pod is isolated in a direction once any policy of that type
  selects it; then only what the rules of those policies allow gets through. A policy of a type with no
  rules for it allows nothing that way: a default deny, never an "allow all".
- A rule without peers (no ``from``/``to``, or an empty list) allows every source or destination; a rule
  with peers allows their union, on its ports (every port when it lists none).
- A peer: ``podSelector`` alone selects pods of the policy's namespace; ``namespaceSelector`` alone every
  pod of the namespaces it selects; both *in one peer* the pods the pod selector selects *in* those
  namespaces (an intersection), while two peers are a union. ``namespaceSelector: {}`` selects every
  namespace. ``ipBlock`` selects addresses, not pods.
- Namespaces are selected by their labels, and every namespace carries ``kubernetes.io/metadata.name``
  with its name (the API server sets it), so a selector reading only that label is decided even when
  the Namespace object is not at hand; one reading other labels is not (:func:`namespace_selected` says
  None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubesteward.model.objects import LabelSelector
from kubesteward.model.semantics.selectors import format_selector, selector_from, selector_matches

Direction = Literal["Ingress", "Egress"]
INGRESS: Direction = "Ingress"
EGRESS: Direction = "Egress"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
_RULES = {INGRESS: ("ingress", "from"), EGRESS: ("egress", "to")}
_EVERY_ADDRESS = frozenset({"0.0.0.0/0", "::/0"})


def _spec(policy: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = policy.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _namespace(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("namespace") or "") if isinstance(meta, Mapping) else ""


def policy_types(policy: Mapping[str, Any]) -> frozenset[str]:
    """The directions the policy isolates, defaulted as the API server does."""
    spec = _spec(policy)
    given = spec.get("policyTypes")
    if isinstance(given, list) and given:
        return frozenset(str(t) for t in given)
    return frozenset({INGRESS, EGRESS}) if spec.get("egress") else frozenset({INGRESS})


def pod_selector(policy: Mapping[str, Any]) -> LabelSelector | None:
    """The policy's podSelector (absent: empty, every pod; malformed: None, no pod)."""
    raw = _spec(policy).get("podSelector")
    return LabelSelector() if raw is None else selector_from(raw)


@dataclass(frozen=True)
class Policy:
    """A NetworkPolicy read once: its namespace, the directions it isolates and the pods it selects."""

    raw: Mapping[str, Any]
    namespace: str
    types: frozenset[str]
    selector: LabelSelector | None

    @property
    def name(self) -> str:
        meta = self.raw.get("metadata")
        return str(meta.get("name") or "") if isinstance(meta, Mapping) else ""

    @property
    def every_pod(self) -> bool:
        """Whether it selects every pod of its namespace (an empty podSelector)."""
        return self.selector is not None and not self.selector.matchLabels and not self.selector.matchExpressions

    def selects(self, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether the policy applies to a pod of ``namespace`` with ``labels``."""
        return self.namespace == namespace and selector_matches(self.selector, labels)

    def isolates(self, direction: Direction, namespace: str, labels: Mapping[str, str]) -> bool:
        """Whether the policy isolates that pod in ``direction`` (it selects it and has that type)."""
        return direction in self.types and self.selects(namespace, labels)

    def rules(self, direction: Direction) -> list[tuple[int, Mapping[str, Any]]]:
        """The rules of ``direction`` that take effect, with their index (none unless it has the type)."""
        if direction not in self.types:
            return []
        items = _spec(self.raw).get(_RULES[direction][0])
        return [(i, r) for i, r in enumerate(items) if isinstance(r, Mapping)] if isinstance(items, list) else []


def read_policy(policy: Mapping[str, Any]) -> Policy:
    return Policy(policy, _namespace(policy), policy_types(policy), pod_selector(policy))


def namespace_labels(name: str, labels: Mapping[str, str] | None = None) -> dict[str, str]:
    """A namespace's labels with the one every namespace carries."""
    return {**(labels or {}), NAMESPACE_NAME_LABEL: name}


def namespace_selected(selector: LabelSelector, name: str, labels: Mapping[str, str] | None) -> bool | None:
    """Whether ``selector`` selects namespace ``name``; ``labels`` None: only its name label is known,
    so a selector reading any other label cannot be decided (None)."""
    if labels is None and _reads_other_labels(selector):
        return None
    return selector_matches(selector, namespace_labels(name, labels))


def _reads_other_labels(selector: LabelSelector) -> bool:
    keys = set(selector.matchLabels or {}) | {req.key for req in selector.matchExpressions or ()}
    return bool(keys - {NAMESPACE_NAME_LABEL})


def named_namespaces(selector: LabelSelector) -> frozenset[str] | None:
    """The namespaces a selector names outright (by their name label, ``=``/``In``), or None when it
    selects by anything else."""
    if _reads_other_labels(selector):
        return None
    names: frozenset[str] | None = None
    for value in (selector.matchLabels or {}).values():
        names = frozenset({value}) if names is None else names & {value}
    for req in selector.matchExpressions or ():
        if req.operator != "In":
            return None
        values = frozenset(req.values or ())
        names = values if names is None else names & values
    return names


@dataclass(frozen=True)
class Peer:
    """One element of a rule's ``from``/``to``."""

    index: int
    pods: LabelSelector | None  # None: no podSelector (any pod of the selected namespaces)
    namespaces: LabelSelector | None  # None: no namespaceSelector (the policy's own namespace)
    cidr: str | None = None  # an ipBlock's
    excepted: bool = False  # the ipBlock carves exceptions out
    malformed: bool = False  # selects nothing (the API server would have refused it)

    @property
    def addresses(self) -> bool:
        return self.cidr is not None

    def describe(self) -> str:
        if self.cidr is not None:
            return f"ipBlock {self.cidr}" + (" (with exceptions)" if self.excepted else "")
        parts = []
        if self.namespaces is not None:
            parts.append(f"namespaceSelector {format_selector(self.namespaces)}")
        if self.pods is not None:
            parts.append(f"podSelector {format_selector(self.pods)}")
        return " and ".join(parts) or "<no selector>"

    def selects(self, policy_namespace: str, namespace: str, ns_labels: Mapping[str, str] | None,
                labels: Mapping[str, str]) -> bool | None:
        """Whether the peer selects a pod of ``namespace`` with ``labels`` (None: cannot tell, the
        namespace's labels being unknown)."""
        if self.pods is not None and not selector_matches(self.pods, labels):
            return False
        return self.selects_namespace(policy_namespace, namespace, ns_labels)

    def selects_namespace(self, policy_namespace: str, namespace: str, ns_labels: Mapping[str, str] | None) -> bool | None:
        """Whether the peer may select pods of ``namespace`` at all (None: cannot tell)."""
        if self.cidr is not None or self.malformed:
            return False
        if self.namespaces is None:
            return namespace == policy_namespace
        return namespace_selected(self.namespaces, namespace, ns_labels)

    def everyone(self) -> str | None:
        """What the peer lets in from everywhere (every pod of every namespace, every address), or None."""
        if self.cidr is not None:
            return f"every address ({self.cidr})" if self.cidr in _EVERY_ADDRESS and not self.excepted else None
        if self.malformed or self.namespaces is None or self.namespaces.matchLabels or self.namespaces.matchExpressions:
            return None
        if self.pods is None or not (self.pods.matchLabels or self.pods.matchExpressions):
            return "every pod of every namespace (namespaceSelector {})"
        return None


def peers(rule: Mapping[str, Any], direction: Direction) -> list[Peer] | None:
    """The rule's peers, or None when it has none (it allows every source or destination)."""
    items = rule.get(_RULES[direction][1])
    if not isinstance(items, list) or not items:
        return None
    return [_peer(i, item) for i, item in enumerate(items)]


def _peer(index: int, item: Any) -> Peer:
    if not isinstance(item, Mapping):
        return Peer(index, None, None, malformed=True)
    block = item.get("ipBlock")
    if isinstance(block, Mapping):
        return Peer(index, None, None, cidr=str(block.get("cidr", "")), excepted=bool(block.get("except")))
    raw_pods, raw_namespaces = item.get("podSelector"), item.get("namespaceSelector")
    pods = selector_from(raw_pods) if raw_pods is not None else None
    namespaces = selector_from(raw_namespaces) if raw_namespaces is not None else None
    malformed = (raw_pods is not None and pods is None) or (raw_namespaces is not None and namespaces is None) \
        or (raw_pods is None and raw_namespaces is None)
    return Peer(index, pods, namespaces, malformed=malformed)


def open_to_everyone(rule: Mapping[str, Any], direction: Direction) -> str | None:
    """Whom the rule lets through from (or to) everywhere, or None when its peers narrow it."""
    found = peers(rule, direction)
    if found is None:
        return "every source" if direction == INGRESS else "every destination"
    for peer in found:
        reason = peer.everyone()
        if reason is not None:
            return reason
    return None


def rule_ports(rule: Mapping[str, Any]) -> list[str]:
    """The rule's ports as ``53/UDP``, ``8000-8080/TCP``, ``http/TCP`` (empty: every port)."""
    items = rule.get("ports")
    return [_port_text(p) for p in items if isinstance(p, Mapping)] if isinstance(items, list) else []


def _port_text(port: Mapping[str, Any]) -> str:
    protocol = str(port.get("protocol") or "TCP")
    number = port.get("port")
    if number is None:
        return f"*/{protocol}"
    end = port.get("endPort")
    return f"{number}-{end}/{protocol}" if end is not None else f"{number}/{protocol}"


def allows_port(rule: Mapping[str, Any], number: int, protocol: str, names: tuple[str, ...] = ()) -> bool:
    """Whether the rule lets ``number``/``protocol`` through (a named port in ``names`` counts as it)."""
    items = rule.get("ports")
    if not isinstance(items, list) or not items:
        return True
    for port in items:
        if not isinstance(port, Mapping) or str(port.get("protocol") or "TCP") != protocol:
            continue
        value, end = port.get("port"), port.get("endPort")
        if value is None or value == number or (isinstance(value, str) and value in names):
            return True
        if isinstance(value, int) and isinstance(end, int) and value <= number <= end:
            return True
    return False
