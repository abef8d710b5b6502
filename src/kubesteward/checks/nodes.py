"""Node analyzers (KS5xx): nodes that cannot run pods, or are about to evict them.

Only conditions the kubelet (or the node controller) reports are read. The
taints ``node.kubernetes.io/not-ready`` and ``.../unreachable`` are the node
controller's *reaction* to the Ready condition, so they appear as evidence of
KS501, never as findings of their own; the same goes for the pressure taints.
A condition whose status is ``Unknown`` (the node stopped reporting) is
covered by KS501 alone: "MemoryPressure Unknown" says nothing about memory.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubesteward.checks.base import Code, Finding, Severity, analyzer, define, finding
from kubesteward.checks.evidence import event_lines, human_duration
from kubesteward.checks.settings import CheckSettings
from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, key_of
from kubesteward.model.objects import condition

# Controller-managed taints that mirror node conditions (symptoms, not causes).
CONDITION_TAINTS = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/network-unavailable",
        "node.kubernetes.io/unschedulable",
    }
)

KS501 = define(
    "KS501",
    "Node is not Ready",
    area="nodes",
    severity=Severity.ERROR,
    rank=10,
    explanation="""
The node's Ready condition is False (the kubelet reports it is unhealthy: container
runtime down, PLEG not healthy, network plugin not ready) or Unknown (the kubelet
stopped posting status: the machine is down, partitioned, or the kubelet crashed).
No new pods start there, running pods are marked not Ready and drop out of Service
endpoints, and after the not-ready/unreachable toleration (300s by default) they are
evicted. kubesteward reads the Ready condition, its reason and lastTransitionTime;
the not-ready/unreachable taints the node controller adds are shown as evidence,
not reported separately. Pod findings on this node point here as their cause.
""",
    remediation="""
- `kubectl describe node <node>`: conditions, reason, message, recent events.
- Ready=Unknown: is the machine up and reachable? Check the cloud console, then on
  the node `systemctl status kubelet` and `journalctl -u kubelet --since -1h`.
- Ready=False: the message names the failing part; on the node check the runtime
  (`systemctl status containerd`, `crictl info`), the CNI plugin, disk and memory.
- If it will not come back: `kubectl drain <node> --ignore-daemonsets --delete-emptydir-data`,
  then replace the machine (`kubectl delete node <node>` once it is gone).
""",
)

_PRESSURE_REMEDIATION = """
- `kubectl describe node <node>`: the condition's message and the eviction events.
- `kubectl top pods -A --sort-by={sort} | head` (metrics-server) to find the heaviest pods;
  check the pods on the node with `kubectl get pods -A --field-selector spec.nodeName=<node>`.
"""

KS502 = define(
    "KS502",
    "Node under memory pressure",
    area="nodes",
    severity=Severity.WARNING,
    rank=12,
    explanation="""
The kubelet reports MemoryPressure=True: available memory on the node fell below its
eviction threshold (memory.available, 100Mi by default). The kubelet now evicts pods,
BestEffort first, then Burstable pods using more than they requested, and refuses new
BestEffort pods (the node gets the memory-pressure taint). Evicted and OOMKilled pods
on this node are likely symptoms. kubesteward reports the condition only when its
status is exactly True.
""",
    remediation=_PRESSURE_REMEDIATION.format(sort="memory")
    + """- Set memory requests close to real usage (and limits) so the scheduler does not
  overcommit the node; move or scale down memory-hungry workloads.
- Check system daemons outside pods (`free -m`, `ps aux --sort=-rss | head` on the node)
  and the kubelet's `systemReserved`/`kubeReserved`.
""",
)

KS503 = define(
    "KS503",
    "Node under disk pressure",
    area="nodes",
    severity=Severity.WARNING,
    rank=12,
    explanation="""
The kubelet reports DiskPressure=True: free space or inodes on the node's root or
image filesystem fell below the eviction threshold (nodefs.available 10%,
imagefs.available 15% by default). The kubelet garbage-collects images and dead
containers, then evicts pods by ephemeral-storage use; new pods are not admitted.
""",
    remediation="""
- `kubectl describe node <node>`: which filesystem, and the eviction events.
- On the node: `df -h`, `df -i`, `crictl images`, `du -sh /var/log/pods/* | sort -h | tail`.
- Find pods writing large logs or emptyDir data; set `resources.limits.ephemeral-storage`
  and `sizeLimit` on emptyDir volumes; rotate logs (`containerLogMaxSize`).
- Grow the disk or prune images (`crictl rmi --prune`).
""",
)

KS504 = define(
    "KS504",
    "Node under PID pressure",
    area="nodes",
    severity=Severity.WARNING,
    rank=12,
    explanation="""
The kubelet reports PIDPressure=True: the number of free process IDs on the node fell
below the eviction threshold. Usually one pod forks without bound (a fork bomb, a
thread leak, zombie processes without an init). The kubelet evicts pods and new
processes can fail with "resource temporarily unavailable".
""",
    remediation="""
- `kubectl describe node <node>`; on the node `ps -eLf | wc -l` and
  `ps -e -o pid,nlwp,comm --sort=-nlwp | head` to find the process with most threads.
- Set the kubelet's `podPidsLimit` so one pod cannot exhaust the node; fix the leak in
  the offending workload (reap children: use `tini` or `shareProcessNamespace`).
""",
)

KS505 = define(
    "KS505",
    "Node network unavailable",
    area="nodes",
    severity=Severity.ERROR,
    rank=10,
    explanation="""
NetworkUnavailable=True: the network for this node is not configured (set by the
cloud route controller or the CNI plugin). Pods scheduled here get no working pod
network, so they cannot reach Services or each other. kubesteward reports the
condition only when its status is exactly True.
""",
    remediation="""
- `kubectl describe node <node>`: reason and message of NetworkUnavailable.
- Check the CNI daemonset pod on this node: `kubectl get pods -A -o wide --field-selector spec.nodeName=<node>`
  and `kubectl logs -n <cni-namespace> <cni-pod>`.
- On cloud providers, check the route table for the node's pod CIDR and the
  cloud-controller-manager logs.
""",
)

KS506 = define(
    "KS506",
    "Cordoned node still runs workload pods",
    area="nodes",
    severity=Severity.WARNING,
    rank=60,
    explanation="""
The node is cordoned (spec.unschedulable, SchedulingDisabled) but still runs pods
that are not managed by a DaemonSet: a drain is in progress, is blocked (often by a
PodDisruptionBudget that allows no disruption), or the node was cordoned and
forgotten. Those pods cannot be rescheduled here if they restart elsewhere, and the
cluster has less capacity than it looks. A cordoned node without workload pods, and a
NotReady cordoned node (KS501 covers it), are not reported.
""",
    remediation="""
- Finish the drain: `kubectl drain <node> --ignore-daemonsets --delete-emptydir-data`;
  if it hangs, `kubectl get pdb -A` shows the budget with ALLOWED DISRUPTIONS 0.
- Or, if the maintenance is over: `kubectl uncordon <node>`.
""",
)

_CONDITION_CODES: dict[str, Code] = {
    "MemoryPressure": KS502,
    "DiskPressure": KS503,
    "PIDPressure": KS504,
    "NetworkUnavailable": KS505,
}


# --------------------------------------------------------------------------- helpers shared with pods.py


def ready_condition(node: o.Node) -> o.Condition | None:
    return condition(node.status.conditions, "Ready")


def node_down(node: o.Node) -> bool:
    """Ready is False or Unknown. A node that has not reported Ready yet is not "down"."""
    ready = ready_condition(node)
    return ready is not None and ready.status != "True"


def active_pods(model: ClusterModel, node: o.Node) -> list[o.Pod]:
    """Pods bound to the node that have not finished (Succeeded/Failed pods hold no resources)."""
    return [p for p in model.pods_on_node(node.metadata.name) if p.status.phase not in ("Succeeded", "Failed")]


def _is_workload_pod(pod: o.Pod) -> bool:
    """Pods a drain has to move: not DaemonSet pods, not static (mirror) pods owned by the Node."""
    ref = pod.metadata.controller()
    return ref is None or ref.kind not in ("DaemonSet", "Node")


def _taint_text(taint: o.Taint) -> str:
    value = f"={taint.value}" if taint.value else ""
    return f"{taint.key}{value}:{taint.effect}"


def fix(code: Code, step: str, *, instead_of_first: bool = False) -> str:
    """The catalogue remediation led by a step naming this finding's own objects
    (the compact view shows only the first step, so it must be the concrete one).
    ``instead_of_first``: the step is the catalogue's first one made concrete, which it replaces."""
    rest = code.remediation
    if instead_of_first:
        items = rest.split("\n- ", 1)
        rest = f"- {items[1]}" if len(items) > 1 else ""
    return f"- {step}\n{rest}".rstrip()


def _pods_evidence(model: ClusterModel, pods: list[o.Pod]) -> dict[str, int]:
    """How many pods the node runs, honestly: all of them, only those of the loaded
    namespaces (a namespaced diagnosis), or nothing when pods were not loaded at all."""
    if model.has("Pod"):
        return {"pods": len(pods)}
    return {"pods_in_loaded_namespaces": len(pods)} if "Pod" in model.loaded else {}


def _pods_text(model: ClusterModel, pods: list[o.Pod]) -> str:
    if model.has("Pod"):
        return f"{len(pods)} pod(s)"
    return f"at least {len(pods)} pod(s)" if "Pod" in model.loaded else ""


# --------------------------------------------------------------------------- analyzers


@analyzer(codes=[KS501], requires=["Node"])
def not_ready_nodes(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for node in model.nodes:
        ready = ready_condition(node)
        if ready is None or ready.status == "True":
            continue
        since = model.age_seconds(ready.lastTransitionTime)
        if since is not None and since < settings.node_not_ready_seconds:
            continue  # flapping, not (yet) an incident
        yield _not_ready_finding(model, settings, node, ready, since)


def _not_ready_finding(
    model: ClusterModel, settings: CheckSettings, node: o.Node, ready: o.Condition, since: float | None
) -> Finding:
    pods = active_pods(model, node)
    state = "NotReady" if ready.status == "False" else "Ready=Unknown (not reporting)"
    detail = f" ({ready.reason})" if ready.reason else ""
    text = f": {ready.message}" if ready.message else ""
    count = _pods_text(model, pods)
    on_it = f"; {count} on it" if count else ""
    message = f"{state} for {human_duration(since)}{detail}{text}{on_it}"
    symptoms = [_taint_text(t) for t in node.spec.taints or () if t.key in CONDITION_TAINTS]
    name = node.metadata.name
    if ready.status == "False":
        step = (
            f"On node {name}: `journalctl -u kubelet --since -1h` and the container runtime's status: "
            "the kubelet itself reports the failure"
        )
    else:
        step = f"Check that machine {name} is up and reachable, then `systemctl status kubelet` on it: its kubelet stopped reporting"
    return finding(
        KS501,
        key_of(node),
        message,
        evidence={
            "status": ready.status,
            "reason": ready.reason,
            "message": ready.message,
            "since": ready.lastTransitionTime,
            "not_ready_for": human_duration(since) if since is not None else None,
            **_pods_evidence(model, pods),
            "taints": symptoms,
            "events": event_lines(model, node, settings.evidence_events),
        },
        remediation=fix(KS501, step),
        related=[key_of(p) for p in pods],
    )


@analyzer(codes=list(_CONDITION_CODES.values()), requires=["Node"])
def node_conditions(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for node in model.nodes:
        for cond in node.status.conditions or ():
            code = _CONDITION_CODES.get(cond.type)
            # Exactly "True": "Unknown" means the node stopped reporting (KS501's business).
            if code is None or cond.status != "True":
                continue
            yield _condition_finding(model, settings, node, cond, code)


def _condition_finding(
    model: ClusterModel, settings: CheckSettings, node: o.Node, cond: o.Condition, code: Code
) -> Finding:
    pods = active_pods(model, node)
    since = model.age_seconds(cond.lastTransitionTime)
    detail = f" ({cond.reason})" if cond.reason else ""
    text = f": {cond.message}" if cond.message else ""
    return finding(
        code,
        key_of(node),
        f"{cond.type} for {human_duration(since)}{detail}{text}",
        remediation=fix(
            code, f"`kubectl describe node {node.metadata.name}`: the {cond.type} message and the node's events", instead_of_first=True
        ),
        evidence={
            "condition": cond.type,
            "reason": cond.reason,
            "message": cond.message,
            "since": cond.lastTransitionTime,
            **_pods_evidence(model, pods),
            "events": event_lines(model, node, settings.evidence_events),
        },
        related=[key_of(p) for p in pods],
    )


@analyzer(codes=[KS506], requires=["Node", "Pod"])
def cordoned_nodes(model: ClusterModel, settings: CheckSettings) -> Iterable[Finding]:
    for node in model.nodes:
        if not node.spec.unschedulable or node_down(node):
            continue
        workload = [p for p in active_pods(model, node) if _is_workload_pod(p)]
        if not workload:
            continue  # cordoned and drained: maintenance or scale-down, nothing to do
        names = sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in workload)
        yield finding(
            KS506,
            key_of(node),
            f"cordoned (SchedulingDisabled) but {_pods_text(model, workload)} not run by a DaemonSet still run on it",
            remediation=fix(
                KS506,
                f"Finish the drain (`kubectl drain {node.metadata.name} --ignore-daemonsets --delete-emptydir-data`) "
                f"or `kubectl uncordon {node.metadata.name}` if the maintenance is over",
            ),
            evidence={
                **_pods_evidence(model, workload),
                "workload_pods": names[:10],
                "events": event_lines(model, node, settings.evidence_events),
            },
            related=[key_of(p) for p in workload],
        )
