"""The node codes (KS5xx): nodes that cannot run pods, or are about to evict them."""

from __future__ import annotations

from kubesteward.findings.codes import define
from kubesteward.findings.remediation import Step, steps
from kubesteward.findings.severity import Severity

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
    remediation=steps(
        Step("Read its conditions, reason, message and recent events", "kubectl describe node <node>"),
        Step(
            "Ready=Unknown: check that the machine is up and reachable (the cloud console), then its kubelet",
            "systemctl status kubelet",
        ),
        Step("Read the kubelet's log on the node", "journalctl -u kubelet --since -1h"),
        Step(
            "Ready=False: the message names the failing part; on the node check the container runtime (`crictl info`), "
            "the CNI plugin, disk and memory",
            "systemctl status containerd",
        ),
        Step("If it will not come back, drain it", "kubectl drain <node> --ignore-daemonsets --delete-emptydir-data"),
        Step("Then replace the machine, and delete the Node once it is gone", "kubectl delete node <node>"),
    ),
)


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
    remediation=steps(
        Step("Read the MemoryPressure message and the eviction events", "kubectl describe node <node>"),
        Step("Find the heaviest pods (metrics-server)", "kubectl top pods -A --sort-by=memory | head"),
        Step("See the pods on the node", "kubectl get pods -A --field-selector spec.nodeName=<node>"),
        Step(
            "Set memory requests close to real usage (and limits) so the scheduler does not "
            "overcommit the node; move or "
            "scale down memory-hungry workloads"
        ),
        Step(
            "Check system daemons outside pods on the node (`free -m`) and the kubelet's "
            "`systemReserved`/`kubeReserved`",
            "ps aux --sort=-rss | head",
        ),
    ),
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
    remediation=steps(
        Step("See which filesystem is full, and the eviction events", "kubectl describe node <node>"),
        Step("On the node, see free space and inodes", "df -h && df -i"),
        Step(
            "See what takes the space: pod logs (and images: `crictl images`)",
            "du -sh /var/log/pods/* | sort -h | tail",
        ),
        Step(
            "Find pods writing large logs or emptyDir data; set `resources.limits.ephemeral-storage` "
            "and `sizeLimit` on "
            "emptyDir volumes; rotate logs (`containerLogMaxSize`)"
        ),
        Step("Grow the disk or prune images", "crictl rmi --prune"),
    ),
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
    remediation=steps(
        Step("Read the PIDPressure message and the eviction events", "kubectl describe node <node>"),
        Step(
            "On the node, count the threads (`ps -eLf | wc -l`) and find the process with most",
            "ps -e -o pid,nlwp,comm --sort=-nlwp | head",
        ),
        Step(
            "Set the kubelet's `podPidsLimit` so one pod cannot exhaust the node; fix the leak in "
            "the offending workload "
            "(reap children: use `tini` or `shareProcessNamespace`)"
        ),
    ),
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
    remediation=steps(
        Step("Read the reason and message of NetworkUnavailable", "kubectl describe node <node>"),
        Step(
            "Find the CNI daemonset pod on this node",
            "kubectl get pods -A -o wide --field-selector spec.nodeName=<node>",
        ),
        Step("Read its logs", "kubectl logs -n <cni-namespace> <cni-pod>"),
        Step("On cloud providers, check the route table for the node's pod CIDR and the cloud-controller-manager logs"),
    ),
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
    remediation=steps(
        Step("Finish the drain", "kubectl drain <node> --ignore-daemonsets --delete-emptydir-data"),
        Step("If it hangs, find the budget with ALLOWED DISRUPTIONS 0", "kubectl get pdb -A"),
        Step("Or, if the maintenance is over, uncordon it", "kubectl uncordon <node>"),
    ),
)
