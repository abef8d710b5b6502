"""Slim msgspec projections of Kubernetes objects.

Each struct holds only the fields the engine reads; msgspec skips the rest
of the JSON without building it (far faster, and a small fraction of the
memory of full objects). ``gc=False`` keeps these records out of the
cyclic garbage collector's scans (they never form cycles). A feature that
needs every field holds full objects instead (:mod:`kubesteward.model.full`).
Which kinds the model holds is declared on ``ClusterModel`` (``holds``).

Field names follow the API's camelCase so the same structs decode live
responses, ``kubectl get -o json`` files and our own snapshots.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import msgspec

# Enumerations the API server validates: decoding them as Literal makes every
# object share one string instead of allocating its own copy.
Protocol = Literal["TCP", "UDP", "SCTP"]
TaintEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""]


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
    generation: int = 0
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    ownerReferences: list[OwnerReference] | None = None
    finalizers: list[str] | None = None

    def controller(self) -> OwnerReference | None:
        for ref in self.ownerReferences or ():
            if ref.controller:
                return ref
        return None


class Condition(msgspec.Struct, gc=False, omit_defaults=True):
    type: str
    status: str
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class LabelSelectorRequirement(msgspec.Struct, gc=False, omit_defaults=True):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(msgspec.Struct, gc=False, omit_defaults=True):
    matchLabels: dict[str, str] | None = None
    matchExpressions: list[LabelSelectorRequirement] | None = None


# --------------------------------------------------------------------------- pods


class ContainerStateWaiting(msgspec.Struct, gc=False, omit_defaults=True):
    reason: str = ""
    message: str = ""


class ContainerStateTerminated(msgspec.Struct, gc=False, omit_defaults=True):
    exitCode: int = 0
    reason: str = ""
    message: str = ""
    finishedAt: str | None = None


class ContainerStateRunning(msgspec.Struct, gc=False, omit_defaults=True):
    """Presence is what matters: the container is running."""


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


class KeyRef(msgspec.Struct, gc=False, omit_defaults=True):
    name: str = ""
    key: str = ""
    optional: bool = False


class EnvVarSource(msgspec.Struct, gc=False, omit_defaults=True):
    configMapKeyRef: KeyRef | None = None
    secretKeyRef: KeyRef | None = None


class EnvVar(msgspec.Struct, gc=False, omit_defaults=True):
    name: str
    valueFrom: EnvVarSource | None = None


class NameRef(msgspec.Struct, gc=False, omit_defaults=True):
    name: str = ""
    optional: bool = False


class EnvFromSource(msgspec.Struct, gc=False, omit_defaults=True):
    configMapRef: NameRef | None = None
    secretRef: NameRef | None = None


class ContainerPort(msgspec.Struct, gc=False, omit_defaults=True):
    containerPort: int
    name: str = ""
    protocol: Protocol = "TCP"


class ResourceRequirements(msgspec.Struct, gc=False, omit_defaults=True):
    requests: dict[str, str] | None = None
    limits: dict[str, str] | None = None


class Container(msgspec.Struct, gc=False, omit_defaults=True):
    name: str
    image: str = ""
    ports: list[ContainerPort] | None = None
    env: list[EnvVar] | None = None
    envFrom: list[EnvFromSource] | None = None
    resources: ResourceRequirements | None = None
    restartPolicy: str | None = None  # "Always" on an init container makes it a sidecar


class KeyToPath(msgspec.Struct, gc=False, omit_defaults=True):
    key: str
    path: str = ""


class ConfigMapVolume(msgspec.Struct, gc=False, omit_defaults=True):
    name: str = ""
    items: list[KeyToPath] | None = None
    optional: bool = False


class SecretVolume(msgspec.Struct, gc=False, omit_defaults=True):
    secretName: str = ""
    items: list[KeyToPath] | None = None
    optional: bool = False


class PVCVolume(msgspec.Struct, gc=False, omit_defaults=True):
    claimName: str


class ProjectedSource(msgspec.Struct, gc=False, omit_defaults=True):
    configMap: ConfigMapVolume | None = None
    secret: ConfigMapVolume | None = None  # projected secrets use "name", like config maps


class ProjectedVolume(msgspec.Struct, gc=False, omit_defaults=True):
    sources: list[ProjectedSource] | None = None


class Volume(msgspec.Struct, gc=False, omit_defaults=True):
    name: str
    configMap: ConfigMapVolume | None = None
    secret: SecretVolume | None = None
    persistentVolumeClaim: PVCVolume | None = None
    projected: ProjectedVolume | None = None


class PodSpec(msgspec.Struct, gc=False, omit_defaults=True):
    nodeName: str = ""
    containers: list[Container] = msgspec.field(default_factory=list)
    initContainers: list[Container] | None = None
    volumes: list[Volume] | None = None
    nodeSelector: dict[str, str] | None = None
    restartPolicy: Literal["Always", "OnFailure", "Never"] = "Always"
    imagePullSecrets: list[NameRef] | None = None
    schedulerName: str = ""


class Pod(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Pod"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)
    status: PodStatus = msgspec.field(default_factory=PodStatus)


class PodTemplate(msgspec.Struct, gc=False, omit_defaults=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PodSpec = msgspec.field(default_factory=PodSpec)


# --------------------------------------------------------------------------- nodes


class Taint(msgspec.Struct, gc=False, omit_defaults=True):
    key: str
    effect: TaintEffect
    value: str = ""


class NodeSpec(msgspec.Struct, gc=False, omit_defaults=True):
    unschedulable: bool = False
    taints: list[Taint] | None = None


class NodeStatus(msgspec.Struct, gc=False, omit_defaults=True):
    conditions: list[Condition] | None = None
    allocatable: dict[str, str] | None = None
    capacity: dict[str, str] | None = None


class Node(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Node"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NodeSpec = msgspec.field(default_factory=NodeSpec)
    status: NodeStatus = msgspec.field(default_factory=NodeStatus)


class NamespaceStatus(msgspec.Struct, gc=False, omit_defaults=True):
    phase: str = ""


class Namespace(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Namespace"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    status: NamespaceStatus = msgspec.field(default_factory=NamespaceStatus)


# --------------------------------------------------------------------------- workloads


class DeploymentSpec(msgspec.Struct, gc=False, omit_defaults=True):
    replicas: int | None = None
    selector: LabelSelector | None = None
    paused: bool = False
    progressDeadlineSeconds: int | None = None
    template: PodTemplate = msgspec.field(default_factory=PodTemplate)


class WorkloadStatus(msgspec.Struct, gc=False, omit_defaults=True):
    observedGeneration: int = 0
    replicas: int = 0
    readyReplicas: int = 0
    availableReplicas: int = 0
    updatedReplicas: int = 0
    unavailableReplicas: int = 0
    currentReplicas: int = 0
    conditions: list[Condition] | None = None


class Deployment(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Deployment"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: DeploymentSpec = msgspec.field(default_factory=DeploymentSpec)
    status: WorkloadStatus = msgspec.field(default_factory=WorkloadStatus)


class ReplicaSetSpec(msgspec.Struct, gc=False, omit_defaults=True):
    replicas: int | None = None
    selector: LabelSelector | None = None


class ReplicaSet(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "ReplicaSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ReplicaSetSpec = msgspec.field(default_factory=ReplicaSetSpec)
    status: WorkloadStatus = msgspec.field(default_factory=WorkloadStatus)


class PVCTemplateSpec(msgspec.Struct, gc=False, omit_defaults=True):
    storageClassName: str | None = None


class PVCTemplate(msgspec.Struct, gc=False, omit_defaults=True):
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PVCTemplateSpec = msgspec.field(default_factory=PVCTemplateSpec)


class RollingUpdate(msgspec.Struct, gc=False, omit_defaults=True):
    partition: int = 0  # StatefulSets: ordinals below it keep the old revision


class UpdateStrategy(msgspec.Struct, gc=False, omit_defaults=True):
    """A StatefulSet's or DaemonSet's: ``RollingUpdate`` (the default) or ``OnDelete``."""

    type: str = "RollingUpdate"
    rollingUpdate: RollingUpdate | None = None


class StatefulSetSpec(msgspec.Struct, gc=False, omit_defaults=True):
    replicas: int | None = None
    serviceName: str = ""
    selector: LabelSelector | None = None
    template: PodTemplate = msgspec.field(default_factory=PodTemplate)
    volumeClaimTemplates: list[PVCTemplate] | None = None
    updateStrategy: UpdateStrategy | None = None


class StatefulSetStatus(WorkloadStatus, gc=False, omit_defaults=True):
    currentRevision: str = ""  # the ControllerRevision of the pods below the partition
    updateRevision: str = ""  # the ControllerRevision of the current template


class StatefulSet(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "StatefulSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: StatefulSetSpec = msgspec.field(default_factory=StatefulSetSpec)
    status: StatefulSetStatus = msgspec.field(default_factory=StatefulSetStatus)


class DaemonSetSpec(msgspec.Struct, gc=False, omit_defaults=True):
    selector: LabelSelector | None = None
    template: PodTemplate = msgspec.field(default_factory=PodTemplate)
    updateStrategy: UpdateStrategy | None = None


class DaemonSetStatus(msgspec.Struct, gc=False, omit_defaults=True):
    desiredNumberScheduled: int = 0
    currentNumberScheduled: int = 0
    numberReady: int = 0
    numberAvailable: int = 0
    numberUnavailable: int = 0
    numberMisscheduled: int = 0
    updatedNumberScheduled: int = 0
    observedGeneration: int = 0


class DaemonSet(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "DaemonSet"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: DaemonSetSpec = msgspec.field(default_factory=DaemonSetSpec)
    status: DaemonSetStatus = msgspec.field(default_factory=DaemonSetStatus)


class ControllerRevision(msgspec.Struct, gc=False, omit_defaults=True):
    """A StatefulSet's or DaemonSet's template at one revision (its ``data`` is not held): what
    a full object decodes into (``FullObject.decode``) to find a workload's revisions."""

    kind: ClassVar[str] = "ControllerRevision"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    revision: int = 0


class JobSpec(msgspec.Struct, gc=False, omit_defaults=True):
    completions: int | None = None
    parallelism: int | None = None
    backoffLimit: int | None = None
    activeDeadlineSeconds: int | None = None
    suspend: bool = False
    selector: LabelSelector | None = None


class JobStatus(msgspec.Struct, gc=False, omit_defaults=True):
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    startTime: str | None = None
    completionTime: str | None = None
    conditions: list[Condition] | None = None


class Job(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Job"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: JobSpec = msgspec.field(default_factory=JobSpec)
    status: JobStatus = msgspec.field(default_factory=JobStatus)


class CronJobSpec(msgspec.Struct, gc=False, omit_defaults=True):
    schedule: str = ""
    suspend: bool = False
    timeZone: str | None = None
    startingDeadlineSeconds: int | None = None
    concurrencyPolicy: str = "Allow"


class ObjectRef(msgspec.Struct, gc=False, omit_defaults=True):
    kind: str = ""
    name: str = ""
    namespace: str = ""
    uid: str = ""
    apiVersion: str = ""


class CronJobStatus(msgspec.Struct, gc=False, omit_defaults=True):
    lastScheduleTime: str | None = None
    lastSuccessfulTime: str | None = None
    active: list[ObjectRef] | None = None


class CronJob(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "CronJob"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: CronJobSpec = msgspec.field(default_factory=CronJobSpec)
    status: CronJobStatus = msgspec.field(default_factory=CronJobStatus)


# --------------------------------------------------------------------------- networking


class ServicePort(msgspec.Struct, gc=False, omit_defaults=True):
    port: int
    name: str = ""
    protocol: Protocol = "TCP"
    targetPort: int | str | None = None


class ServiceSpec(msgspec.Struct, gc=False, omit_defaults=True):
    type: str = "ClusterIP"
    selector: dict[str, str] | None = None
    ports: list[ServicePort] | None = None
    clusterIP: str = ""
    externalName: str = ""


class Service(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Service"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: ServiceSpec = msgspec.field(default_factory=ServiceSpec)


class EndpointConditions(msgspec.Struct, gc=False, omit_defaults=True):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class Endpoint(msgspec.Struct, gc=False, omit_defaults=True):
    """Only readiness is read: addresses and targets are skipped at decode time
    (a 10k-pod cluster has 10k endpoints)."""

    conditions: EndpointConditions = msgspec.field(default_factory=EndpointConditions)


class EndpointSlice(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "EndpointSlice"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    endpoints: list[Endpoint] | None = None


class EndpointAddress(msgspec.Struct, gc=False, omit_defaults=True):
    """Counted, never read: the IP and target of each address are skipped at decode time."""


class EndpointSubset(msgspec.Struct, gc=False, omit_defaults=True):
    addresses: list[EndpointAddress] | None = None  # ready
    notReadyAddresses: list[EndpointAddress] | None = None


class Endpoints(msgspec.Struct, gc=False, omit_defaults=True):
    """The legacy (core v1) endpoints of the Service of the same name: what dumps of older
    clusters and ``kubectl get`` bundles hold instead of EndpointSlices."""

    kind: ClassVar[str] = "Endpoints"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    subsets: list[EndpointSubset] | None = None


class ServiceBackendPort(msgspec.Struct, gc=False, omit_defaults=True):
    number: int | None = None
    name: str = ""


class IngressServiceBackend(msgspec.Struct, gc=False, omit_defaults=True):
    name: str
    port: ServiceBackendPort = msgspec.field(default_factory=ServiceBackendPort)


class IngressBackend(msgspec.Struct, gc=False, omit_defaults=True):
    service: IngressServiceBackend | None = None


class IngressPath(msgspec.Struct, gc=False, omit_defaults=True):
    backend: IngressBackend
    path: str = ""


class IngressRuleValue(msgspec.Struct, gc=False, omit_defaults=True):
    paths: list[IngressPath] = msgspec.field(default_factory=list)


class IngressRule(msgspec.Struct, gc=False, omit_defaults=True):
    host: str = ""
    http: IngressRuleValue | None = None


class IngressTLS(msgspec.Struct, gc=False, omit_defaults=True):
    secretName: str = ""
    hosts: list[str] | None = None


class IngressSpec(msgspec.Struct, gc=False, omit_defaults=True):
    ingressClassName: str | None = None
    defaultBackend: IngressBackend | None = None
    rules: list[IngressRule] | None = None
    tls: list[IngressTLS] | None = None


class Ingress(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Ingress"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: IngressSpec = msgspec.field(default_factory=IngressSpec)


class IngressClassSpec(msgspec.Struct, gc=False, omit_defaults=True):
    controller: str = ""


class IngressClass(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "IngressClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: IngressClassSpec = msgspec.field(default_factory=IngressClassSpec)


class NetworkPolicySpec(msgspec.Struct, gc=False, omit_defaults=True):
    podSelector: LabelSelector = msgspec.field(default_factory=LabelSelector)
    policyTypes: list[str] | None = None


class NetworkPolicy(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "NetworkPolicy"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: NetworkPolicySpec = msgspec.field(default_factory=NetworkPolicySpec)


# --------------------------------------------------------------------------- storage


class PVCSpec(msgspec.Struct, gc=False, omit_defaults=True):
    storageClassName: str | None = None
    volumeName: str = ""
    accessModes: list[str] | None = None


class PVCStatus(msgspec.Struct, gc=False, omit_defaults=True):
    phase: str = ""
    conditions: list[Condition] | None = None


class PersistentVolumeClaim(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "PersistentVolumeClaim"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PVCSpec = msgspec.field(default_factory=PVCSpec)
    status: PVCStatus = msgspec.field(default_factory=PVCStatus)


class PVSpec(msgspec.Struct, gc=False, omit_defaults=True):
    storageClassName: str = ""
    claimRef: ObjectRef | None = None
    persistentVolumeReclaimPolicy: str = ""


class PVStatus(msgspec.Struct, gc=False, omit_defaults=True):
    phase: str = ""
    reason: str = ""
    message: str = ""


class PersistentVolume(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "PersistentVolume"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PVSpec = msgspec.field(default_factory=PVSpec)
    status: PVStatus = msgspec.field(default_factory=PVStatus)


class StorageClass(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "StorageClass"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    provisioner: str = ""
    volumeBindingMode: str = "Immediate"


# --------------------------------------------------------------------------- autoscaling, disruption


class CrossVersionObjectReference(msgspec.Struct, gc=False, omit_defaults=True):
    kind: str
    name: str
    apiVersion: str = ""


class MetricTarget(msgspec.Struct, gc=False, omit_defaults=True):
    type: str = ""  # Utilization, AverageValue or Value
    averageUtilization: int | None = None


class MetricResource(msgspec.Struct, gc=False, omit_defaults=True):
    name: str
    target: MetricTarget | None = None
    container: str = ""  # ContainerResource metrics only


class MetricSpec(msgspec.Struct, gc=False, omit_defaults=True):
    type: str
    resource: MetricResource | None = None
    containerResource: MetricResource | None = None


class HPASpec(msgspec.Struct, gc=False, omit_defaults=True):
    scaleTargetRef: CrossVersionObjectReference
    maxReplicas: int
    minReplicas: int | None = None
    metrics: list[MetricSpec] | None = None


class HPAStatus(msgspec.Struct, gc=False, omit_defaults=True):
    currentReplicas: int = 0
    desiredReplicas: int = 0
    conditions: list[Condition] | None = None


class HorizontalPodAutoscaler(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "HorizontalPodAutoscaler"
    spec: HPASpec
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    status: HPAStatus = msgspec.field(default_factory=HPAStatus)


class PDBSpec(msgspec.Struct, gc=False, omit_defaults=True):
    minAvailable: int | str | None = None
    maxUnavailable: int | str | None = None
    selector: LabelSelector | None = None


class PDBStatus(msgspec.Struct, gc=False, omit_defaults=True):
    disruptionsAllowed: int = 0
    currentHealthy: int = 0
    desiredHealthy: int = 0
    expectedPods: int = 0
    conditions: list[Condition] | None = None


class PodDisruptionBudget(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "PodDisruptionBudget"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    spec: PDBSpec = msgspec.field(default_factory=PDBSpec)
    status: PDBStatus = msgspec.field(default_factory=PDBStatus)


# --------------------------------------------------------------------------- identity, config


class ServiceAccount(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "ServiceAccount"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)


class ConfigMap(msgspec.Struct, gc=False, omit_defaults=True):
    """Decoded with values, then immediately reduced to ``keys`` by the loader."""

    kind: ClassVar[str] = "ConfigMap"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    keys: list[str] | None = None
    data: dict[str, str] | None = None
    binaryData: dict[str, str] | None = None


class Secret(msgspec.Struct, gc=False, omit_defaults=True):
    """Decoded with values, then immediately reduced to ``keys``: values never leave the loader."""

    kind: ClassVar[str] = "Secret"
    metadata: ObjectMeta = msgspec.field(default_factory=ObjectMeta)
    type: str = ""
    keys: list[str] | None = None
    data: dict[str, str] | None = None
    stringData: dict[str, str] | None = None


class EventSeries(msgspec.Struct, gc=False, omit_defaults=True):
    count: int = 0
    lastObservedTime: str | None = None


class EventSource(msgspec.Struct, gc=False, omit_defaults=True):
    component: str = ""


class EventMeta(msgspec.Struct, gc=False, omit_defaults=True):
    """Events are many and only evidence: their own uid, labels and owners are never read."""

    name: str = ""
    namespace: str = ""


class Event(msgspec.Struct, gc=False, omit_defaults=True):
    kind: ClassVar[str] = "Event"
    involvedObject: ObjectRef = msgspec.field(default_factory=ObjectRef)
    metadata: EventMeta = msgspec.field(default_factory=EventMeta)
    reason: str = ""
    message: str = ""
    type: str = ""
    count: int = 0
    firstTimestamp: str | None = None
    lastTimestamp: str | None = None
    eventTime: str | None = None
    series: EventSeries | None = None
    source: EventSource | None = None

    @property
    def last_seen(self) -> str:
        return (
            self.lastTimestamp
            or (self.series.lastObservedTime if self.series else None)
            or self.eventTime
            or self.firstTimestamp
            or ""
        )

    @property
    def occurrences(self) -> int:
        return max(self.count, self.series.count if self.series else 0, 1)


def condition(conditions: list[Condition] | None, type_: str) -> Condition | None:
    for cond in conditions or ():
        if cond.type == type_:
            return cond
    return None
