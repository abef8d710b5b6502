"""The sandbox's fault labels: what to put on a pod or node, and what happens.

The KWOK stages under ``stages/`` implement these; this table is what the CLI
and docs/sandbox.md print, and what the e2e tests check against, so the three cannot
drift apart silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FAULT_LABEL = "kubesteward.io/fault"
# Limits a pod fault to one container (default: every container of the pod).
FAULT_CONTAINER_ANNOTATION = "kubesteward.io/fault-container"
# Fixed crash-loop restart interval (a Go duration such as "5s") instead of
# the kubelet's back-off; handy for tests and demos.
RESTART_INTERVAL_ANNOTATION = "kubesteward.io/restart-interval"
# Simulated usage read by KWOK's ClusterResourceUsage (per container).
USAGE_CPU_ANNOTATION = "kwok.x-k8s.io/usage-cpu"
USAGE_MEMORY_ANNOTATION = "kwok.x-k8s.io/usage-memory"

TargetKind = Literal["Pod", "Node"]


@dataclass(frozen=True)
class Fault:
    """One value of the fault label and the status it produces."""

    value: str
    kind: TargetKind
    result: str
    # Whether setting the label on an already-running object takes effect,
    # and whether removing it brings the object back to healthy.
    applies_to_running: bool = True
    recovers_on_removal: bool = True

    @property
    def label(self) -> str:
        return f"{FAULT_LABEL}={self.value}"


FAULTS: tuple[Fault, ...] = (
    Fault(
        "crashloop-oom",
        "Pod",
        "phase Running; container waiting CrashLoopBackOff, lastState.terminated "
        "OOMKilled exit 137, restartCount grows with kubelet back-off; Ready False",
    ),
    Fault(
        "crashloop-error",
        "Pod",
        "as crashloop-oom, but lastState.terminated reason Error, exit code 1",
    ),
    Fault(
        "image-pull",
        "Pod",
        'phase Pending; container waiting ImagePullBackOff ("Back-off pulling image \\"<image>\\"..."); '
        "Ready False",
        # A running container has its image already; kubelets never go back.
        applies_to_running=False,
    ),
    Fault(
        "not-ready",
        "Pod",
        "phase Running; container running but ready false (failing readiness probe); Ready False",
    ),
    Fault(
        "not-ready",
        "Node",
        "condition Ready False, reason KubeletNotReady (the controller-manager then taints the node)",
    ),
    Fault(
        "memory-pressure",
        "Node",
        "condition MemoryPressure True, reason KubeletHasInsufficientMemory; Ready stays True",
    ),
)

POD_FAULTS = tuple(f.value for f in FAULTS if f.kind == "Pod")
NODE_FAULTS = tuple(f.value for f in FAULTS if f.kind == "Node")


def fault(value: str, kind: TargetKind) -> Fault:
    """Look one fault up; KeyError if that label value means nothing for ``kind``."""
    for item in FAULTS:
        if item.value == value and item.kind == kind:
            return item
    raise KeyError(f"{kind} fault {value!r}")
