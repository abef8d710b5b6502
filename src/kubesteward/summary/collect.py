"""Collect a cluster summary with one concurrent paged LIST per kind."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from kubesteward.cluster import KubeClient, resources
from kubesteward.model.objects import Namespace, Node, Pod, condition
from kubesteward.model.semantics.health import pod_problem, pod_restarts

_PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")


@dataclass
class NodeLine:
    name: str
    ready: str  # "True", "False", "Unknown"
    schedulable: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class ClusterSummary:
    context: str
    server: str
    version: str
    namespaces: int
    nodes: list[NodeLine]
    pods: int
    pods_by_phase: dict[str, int]
    # pods by why they do not serve ("CrashLoopBackOff (OOMKilled)", "Pending (Unschedulable)", ...)
    pod_problems: dict[str, int]
    restarts: int

    @property
    def nodes_ready(self) -> int:
        return sum(1 for n in self.nodes if n.ready == "True")


def _node_line(node: Node) -> NodeLine:
    ready = condition(node.status.conditions, "Ready")
    problems = [
        cond.type
        for cond in node.status.conditions or ()
        if cond.type in _PRESSURES and cond.status == "True"
    ]
    if ready is not None and ready.status != "True" and ready.reason:
        problems.insert(0, ready.reason)
    return NodeLine(
        name=node.metadata.name,
        ready=ready.status if ready else "Unknown",
        schedulable=not node.spec.unschedulable,
        problems=problems,
    )


def _pod_problems(pods: list[Pod]) -> tuple[Counter[str], int]:
    """Pods by what keeps them from serving (as the workload findings summarise them), leaving
    out pods merely starting; and the container restarts of every pod."""
    problems: Counter[str] = Counter()
    restarts = 0
    for pod in pods:
        restarts += pod_restarts(pod)
        problem = pod_problem(pod)
        if problem is not None and not problem.starting:
            problems[problem.summary] += 1
    return problems, restarts


async def summarize(client: KubeClient, namespace: str | None = None) -> ClusterSummary:
    """Version, nodes, namespaces and pods, fetched concurrently and decoded slim."""
    version, nodes, namespaces, pods = await asyncio.gather(
        client.version(),
        client.list(resources.NODE, type=Node),
        client.list(resources.NAMESPACE, type=Namespace),
        client.list(resources.POD, namespace=namespace, type=Pod),
    )
    problems, restarts = _pod_problems(pods.items)
    return ClusterSummary(
        context=client.context,
        server=client.config.host,
        version=version.get("gitVersion", "unknown"),
        namespaces=len(namespaces.items),
        nodes=[_node_line(n) for n in nodes.items],
        pods=len(pods.items),
        pods_by_phase=dict(Counter(p.status.phase or "Unknown" for p in pods.items)),
        pod_problems=dict(problems.most_common()),
        restarts=restarts,
    )
