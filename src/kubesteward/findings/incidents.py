"""Group findings into root-cause incidents through the model.

Each finding is linked to one *anchor* object: its explicit ``cause`` when
the analyzer could tell (a pod's NotReady node, a pending pod's PVC, a PVC's
missing StorageClass), otherwise the top of its owner chain (a pod's
Deployment). A finding joins what its anchor's trouble is (union-find), so
"node NotReady" collects the pods on it, and "StorageClass missing" collects
the PVC, the Pending pod and its StatefulSet; and a chain is followed: an
Ingress whose Service has no ready endpoints joins what empties the Service.

Findings are never grouped merely for being about one object: an Ingress
without any IngressClass (its own cause) that also routes to a Service whose
pods are OOMKilled holds two problems, and they stay two incidents.

The incident's headline is its most root-cause-like finding (lowest code
rank, then highest severity). Incidents are ordered by severity, then blast
radius (pods and services affected).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from kubesteward.findings.codes import CODES
from kubesteward.findings.finding import Finding
from kubesteward.findings.fingerprint import incident_id
from kubesteward.findings.severity import Severity
from kubesteward.model.cluster import ClusterModel, ObjectKey


@dataclass
class Incident:
    id: str  # the root cause's fingerprint (findings.fingerprint): same cause, same id, across runs and in watch
    severity: Severity
    root: ObjectKey
    title: str
    cause: Finding
    symptoms: list[Finding] = field(default_factory=list)
    pods: int = 0
    services: int = 0

    @property
    def findings(self) -> list[Finding]:
        return [self.cause, *self.symptoms]


AGGREGATE_KINDS = frozenset(
    {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob", "Service", "Ingress",
     "HorizontalPodAutoscaler", "PodDisruptionBudget"}
)


Node = Hashable  # an ObjectKey, or a token for one finding or one object's own trouble


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Node, Node] = {}

    def find(self, key: Node) -> Node:
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def union(self, a: Node, b: Node) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def anchor(model: ClusterModel, item: Finding) -> ObjectKey:
    if item.cause is not None:
        return item.cause
    obj = model.get(*item.object)
    return model.root_key(obj) if obj is not None else item.object


def _rank(item: Finding) -> tuple[int, int, str]:
    code = CODES.get(item.code)
    return (code.rank if code else 50, -int(item.severity), item.code)


def _state_order(item: Finding, index: int) -> tuple[int, int, str, int]:
    """Most symptom-like first: highest rank, then most severe (ties: by code, then first found)."""
    return (-_rank(item)[0], -int(item.severity), item.code, index)


def build_incidents(model: ClusterModel, findings: list[Finding]) -> list[Incident]:
    groups = _UnionFind()
    anchors = [anchor(model, item) for item in findings]
    about: dict[ObjectKey, list[int]] = {}
    for index, item in enumerate(findings):
        about.setdefault(item.object, []).append(index)
    # A finding anchored at its own object is that object's own trouble (a Service selecting
    # nothing, an Ingress without class, a Deployment that is unavailable); any other is a
    # symptom at its object of the trouble at its anchor (a pod's of its Deployment's, an
    # Ingress's of its Service's). Each finding joins its anchor's trouble.
    symptom = [anchors[i] != item.object for i, item in enumerate(findings)]
    for index, item in enumerate(findings):
        groups.union(("finding", index), anchors[index] if symptom[index] else ("own", item.object))
    # What names an object as its anchor (a pod its Deployment, an Ingress its Service) reaches
    # the object's state as a whole: its most symptom-like finding (the highest rank: "not
    # ready", "no ready endpoints"), and through it whatever that is a symptom of, so the chain
    # goes on (an Ingress's Service's pods' Deployment). Not the object's other troubles, each
    # with its own cause: an Ingress without class, or routing to a Service that does not
    # exist, a StatefulSet whose governing Service is missing, stay apart.
    for key, indexes in about.items():
        state = indexes[0] if len(indexes) == 1 else min(indexes, key=lambda i: _state_order(findings[i], i))
        groups.union(key, ("finding", state))
    # A workload-level finding (Deployment unavailable, Service without
    # endpoints) is a symptom of whatever breaks its pods. When its pods' findings
    # sit in another incident (their NotReady node), it joins the incident holding
    # most of them. Only aggregate kinds do this, and only symptoms vote: a node or
    # a PVC is never "explained" by the pods that happen to use it, nor a Service by
    # the own trouble of an Ingress in front of it.
    for index, item in enumerate(findings):
        if item.cause is not None or item.object.kind not in AGGREGATE_KINDS:
            continue
        votes: dict[Node, int] = {}
        for key in item.related:
            for other in about.get(key, ()):
                if symptom[other]:
                    root = groups.find(("finding", other))
                    votes[root] = votes.get(root, 0) + 1
        if votes:
            groups.union(("finding", index), max(votes, key=lambda k: votes[k]))
    members: dict[Node, list[Finding]] = {}
    for index, item in enumerate(findings):
        members.setdefault(groups.find(("finding", index)), []).append(item)

    incidents = []
    for group in members.values():
        group.sort(key=_rank)
        head = group[0]
        # The root is what the headline points at: its explicit cause, or the
        # top of its owner chain (the Deployment of an OOMKilled pod).
        root = anchor(model, head)
        affected = {head.object, *head.related}
        for item in group[1:]:
            affected.add(item.object)
            affected.update(item.related)
        incidents.append(
            Incident(
                id="",  # below, once ordered
                severity=max(item.severity for item in group),
                root=root,
                title=_title(head, root, len(group)),
                cause=head,
                symptoms=group[1:],
                pods=sum(1 for k in affected if k.kind == "Pod"),
                services=sum(1 for k in affected if k.kind == "Service"),
            )
        )
    incidents.sort(key=lambda i: (-i.severity, -(i.pods + i.services), -len(i.symptoms), str(i.root)))
    roots: set[ObjectKey] = set()
    for incident in incidents:
        # The first incident of a root (the worst) has its root's fingerprint, which watch's alert has;
        # a rare second one (an object's own trouble beside a chain that ends at it) is told apart.
        again = incident.root in roots
        roots.add(incident.root)
        incident.id = incident_id(model.context, incident.root, incident.cause.code if again else "")
    return incidents


def _title(head: Finding, root: ObjectKey, size: int) -> str:
    code = CODES.get(head.code)
    what = code.title if code else head.code
    subject = root if root == head.object else head.object
    more = f" (+{size - 1} related)" if size > 1 else ""
    return f"{what}: {subject}{more}"
