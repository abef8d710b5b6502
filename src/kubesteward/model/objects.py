"""Slim msgspec projections of Kubernetes objects.

Each struct holds only the fields the engine reads; msgspec skips the rest
of the JSON without building it (about 20x faster and 1/30th of the memory
of full objects for 10k pods). ``gc=False`` keeps these leaf records out of
the cyclic garbage collector's scans. Fetch the full object with
``KubeClient.get(..., type=dict)`` when a feature really needs it.
"""

from __future__ import annotations

import msgspec


class OwnerReference(msgspec.Struct, gc=False, omit_defaults=True):
    kind: str
    name: str
    uid: str = ""
    apiVersion: str = ""
    controller: bool = False


class ObjectMeta(msgspec.Struct, gc=False, omit_defaults=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resourceVersion: str = ""
    generation: int = 0
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[OwnerReference] | None = None


class Condition(msgspec.Struct, gc=False, omit_defaults=True):
    type: str
    status: str
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class ContainerStateWaiting(msgspec.Struct, gc=False, omit_defaults=True):
    reason: str = ""
    message: str = ""


class ContainerStateTerminated(msgspec.Struct, gc=False, omit_defaults=True):
    exitCode: int = 0
    reason: str = ""
    message: str = ""
    finishedAt: str | None = None


class ContainerStateRunning(msgspec.Struct, gc=False, omit_defaults=True):
    startedAt: str | None = None


class ContainerState(msgspec.Struct, gc=False, omit_defaults=True):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(msgspec.Struct, gc=False, omit_defaults=True):
    name: str
    ready: bool = False
    restartCount: int = 0
    image: str = ""
    state: ContainerState | None = None
    lastState: ContainerState | None = None


class PodStatus(msgspec.Struct, gc=False, omit_defaults=True):
    phase: str = ""
    reason: str = ""
    message: str = ""
    conditions: list[Condition] | None = None
    containerStatuses: list[ContainerStatus] | None = None
    initContainerStatuses: list[ContainerStatus] | None = None


class PodSpecSlim(msgspec.Struct, gc=False, omit_defaults=True):
    nodeName: str = ""


class Pod(msgspec.Struct, gc=False, omit_defaults=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpecSlim = msgspec.field(default_factory=PodSpecSlim)
    status: PodStatus = msgspec.field(default_factory=PodStatus)


class NodeSpec(msgspec.Struct, gc=False, omit_defaults=True):
    unschedulable: bool = False


class NodeStatus(msgspec.Struct, gc=False, omit_defaults=True):
    conditions: list[Condition] | None = None
    allocatable: dict[str, str] | None = None
    capacity: dict[str, str] | None = None


class Node(msgspec.Struct, gc=False, omit_defaults=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class Namespace(msgspec.Struct, gc=False, omit_defaults=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


def condition(conditions: list[Condition] | None, type_: str) -> Condition | None:
    for cond in conditions or ():
        if cond.type == type_:
            return cond
    return None
