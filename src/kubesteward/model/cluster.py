"""The one in-memory cluster model every analyzer reads.

Built from slim objects (live LIST, a snapshot, or manifest files) and
indexed once: by uid, owner chain, node, namespace, label, events by
involved object, and by name for every kind that is referenced by name.
Indexes are built lazily on first use and never trigger API calls, so an
analyzer is a pure function of this model.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any, ClassVar, NamedTuple, Protocol, TypeVar

from kubesteward.cluster import resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.model import objects as o
from kubesteward.model.semantics.ownership import root_owner
from kubesteward.model.semantics.selectors import map_selector_matches, selector_is_empty, selector_matches

DEFAULT_STORAGE_CLASS = "storageclass.kubernetes.io/is-default-class"
DEFAULT_INGRESS_CLASS = "ingressclass.kubernetes.io/is-default-class"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Where a Service's endpoints are read, in order of preference: the legacy Endpoints
# stand in where EndpointSlices were not loaded (old dumps, ``kubectl get`` bundles,
# a cluster forbidding or not serving discovery.k8s.io/v1). An analyzer reading
# endpoints names this in its ``requires``: any one of them will do.
ENDPOINT_KINDS = ("EndpointSlice", "Endpoints")


class ObjectKey(NamedTuple):
    """Identity of an object in findings and incidents (namespace '' for cluster-scoped)."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


def key_of(obj: Any) -> ObjectKey:
    meta: o.ObjectMeta = obj.metadata
    return ObjectKey(obj.kind, meta.namespace, meta.name)


@dataclass(frozen=True)
class Skipped:
    """A kind the model could not load (RBAC, missing API), so checks needing it were skipped."""

    kind: str
    reason: str
    namespaces: tuple[str, ...] = ()  # non-empty: loaded only in these namespaces
    # False when nothing was missed: the API is not served, so no such objects exist. True: objects
    # of this kind may exist that the run could not read (RBAC), a gap in what it covered.
    unread: bool = True


@dataclass(frozen=True)
class ListSource:
    """Where one LIST of a kind came from, and the resourceVersion a watch resumes at."""

    kind: str
    namespace: str | None  # None: cluster-wide
    field_selector: str | None
    resource_version: str


class _Slim(Protocol):
    kind: ClassVar[str]


S = TypeVar("S", bound=_Slim)


@dataclass(frozen=True)
class KindSpec:
    """One kind the model holds: where the API serves it, its slim struct, the model's list of it."""

    kind: str
    resource: ResourceType
    struct: type[Any]
    attr: str = ""  # the ClusterModel attribute holding its objects
    # Listed live only where this kind could not be (see model.kinds.STAND_INS); None: always listed.
    stands_in_for: str | None = None


_SPEC = "kubesteward.kind"  # the key of a held kind's KindSpec in its dataclass field's metadata


def holds(api_version: str, struct: type[S], *, stands_in_for: str | None = None) -> list[S]:
    """Declare a ClusterModel attribute as the list of one kind: ``struct``'s objects, served at
    ``api_version`` (a built-in of :mod:`kubesteward.cluster.resources`, which knows its plural and scope)."""
    resource = resources.builtin(api_version, struct.kind)
    if resource is None:
        raise LookupError(f"{api_version} {struct.kind} is not a built-in of cluster/resources.py")
    spec = KindSpec(struct.kind, resource, struct, stands_in_for=stands_in_for)
    held: list[S] = field(default_factory=list, metadata={_SPEC: spec})
    return held


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class ClusterModel:
    context: str = ""
    source: str = "live"  # "live", or the file/dir it was loaded from
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    namespace_scope: str | None = None  # None: all namespaces
    skipped: list[Skipped] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)  # kinds actually loaded (fully or partly)
    partial: dict[str, set[str]] = field(default_factory=dict)  # kind -> the only namespaces loaded
    origins: dict[ObjectKey, str] = field(default_factory=dict)  # offline: the file each object came from
    sources: list[ListSource] = field(default_factory=list)  # live: the LISTs behind it (for watches)

    # The kinds the model holds, each declared here once: its list, its slim struct and the API
    # version serving it (its plural and scope: cluster/resources.py). KIND_ATTRS below and
    # model.kinds' MODEL_KINDS, STAND_INS and BY_KIND are derived from these lines, in this order.
    pods: list[o.Pod] = holds("v1", o.Pod)
    nodes: list[o.Node] = holds("v1", o.Node)
    namespaces: list[o.Namespace] = holds("v1", o.Namespace)
    deployments: list[o.Deployment] = holds("apps/v1", o.Deployment)
    replicasets: list[o.ReplicaSet] = holds("apps/v1", o.ReplicaSet)
    statefulsets: list[o.StatefulSet] = holds("apps/v1", o.StatefulSet)
    daemonsets: list[o.DaemonSet] = holds("apps/v1", o.DaemonSet)
    jobs: list[o.Job] = holds("batch/v1", o.Job)
    cronjobs: list[o.CronJob] = holds("batch/v1", o.CronJob)
    services: list[o.Service] = holds("v1", o.Service)
    endpointslices: list[o.EndpointSlice] = holds("discovery.k8s.io/v1", o.EndpointSlice)
    endpoints: list[o.Endpoints] = holds("v1", o.Endpoints, stands_in_for="EndpointSlice")
    ingresses: list[o.Ingress] = holds("networking.k8s.io/v1", o.Ingress)
    ingressclasses: list[o.IngressClass] = holds("networking.k8s.io/v1", o.IngressClass)
    networkpolicies: list[o.NetworkPolicy] = holds("networking.k8s.io/v1", o.NetworkPolicy)
    pvcs: list[o.PersistentVolumeClaim] = holds("v1", o.PersistentVolumeClaim)
    pvs: list[o.PersistentVolume] = holds("v1", o.PersistentVolume)
    storageclasses: list[o.StorageClass] = holds("storage.k8s.io/v1", o.StorageClass)
    hpas: list[o.HorizontalPodAutoscaler] = holds("autoscaling/v2", o.HorizontalPodAutoscaler)
    pdbs: list[o.PodDisruptionBudget] = holds("policy/v1", o.PodDisruptionBudget)
    serviceaccounts: list[o.ServiceAccount] = holds("v1", o.ServiceAccount)
    configmaps: list[o.ConfigMap] = holds("v1", o.ConfigMap)
    secrets: list[o.Secret] = holds("v1", o.Secret)
    events: list[o.Event] = holds("v1", o.Event)

    # ------------------------------------------------------------------ generic access

    def objects(self, kind: str) -> Sequence[Any]:
        result: Sequence[Any] = getattr(self, KIND_ATTRS[kind])
        return result

    def every(self, kind: str) -> Sequence[Any]:
        """All objects of a kind, for lookups inside an analyzer.

        Analyzers *iterate* ``model.pods`` & co. and *look up* through indexes
        or ``every()``: in an incremental view (:meth:`scoped`) the lists hold
        only the objects to re-evaluate while lookups still see everything.
        """
        full = self._full_lists
        return full[kind] if full is not None else self.objects(kind)

    _full_lists: dict[str, Sequence[Any]] | None = None
    _indexing: bool = False  # the carried indexes grow with every add()
    # When a set: the objects whose events an analyzer looked up (kind, namespace, name).
    # A diagnosis evaluates before it lists events, to list them only where they matter.
    events_asked: set[tuple[str, str, str]] | None = None

    def index_while_loading(self) -> None:
        """From now on, keep every index :meth:`evolve` carries up to date in :meth:`add`.

        A live load calls this first: the indexes then grow page by page while
        it waits for the API server, instead of in one pass over the whole model
        when the first analyzer asks, on the critical path after the last
        response. An offline model builds them on first use.
        """
        self.__dict__.update(
            _by_key={}, _by_uid={}, _children=defaultdict(list), _pods_by_node=defaultdict(list),
            _pods_by_namespace=defaultdict(list), _pods_by_label=defaultdict(list), _events_by_object=defaultdict(list),
        )
        self._indexing = True

    def add(self, kind: str, objects: Sequence[Any]) -> None:
        """Append ``objects`` (all of ``kind``) to the model. The indexes :meth:`index_while_loading`
        keeps get them; any other index already built is dropped, to be rebuilt when next asked."""
        getattr(self, KIND_ATTRS[kind]).extend(objects)
        kept = _CARRIED_INDEXES if self._indexing else ()
        for name in _LAZY_INDEXES:
            if name not in kept:
                self.__dict__.pop(name, None)
        if self._indexing:
            self._index_batch(kind, objects)

    def _index_batch(self, kind: str, objects: Sequence[Any]) -> None:
        if kind == "Event":
            self._newest_events_first(self._index_events(objects))
            return
        self._index_objects(kind, objects)
        if kind == "Pod":
            self._index_pods(objects)

    def scoped(self, subjects: Mapping[str, Sequence[Any]]) -> ClusterModel:
        """A view that makes analyzers evaluate only ``subjects`` (kind -> objects)
        while every index and ``every()`` lookup sees the whole model."""
        for name in _LAZY_INDEXES:
            getattr(self, name)  # build every index on the full model first
        view = copy.copy(self)  # shares the built indexes (they live in __dict__)
        view._full_lists = {kind: self.every(kind) for kind in KIND_ATTRS}
        for kind, attr in KIND_ATTRS.items():
            setattr(view, attr, list(subjects.get(kind, ())))
        return view

    def evolve(self, successor: ClusterModel, changes: Iterable[tuple[Any | None, Any | None]]) -> ClusterModel:
        """Hand this model's expensive indexes to ``successor`` (the next state of a watched
        cluster), patched for ``changes`` ((old, new) object pairs, either may be None).

        Rebuilding the by-key, by-uid, owner, node, namespace, label and event indexes
        is O(cluster) per watch batch; patching them is O(changes). The patched
        indexes hold what a rebuild would (list order aside). They move: this model
        forgets them and would rebuild its own if asked again.
        """
        carried = {name: self.__dict__.pop(name) for name in _CARRIED_INDEXES if name in self.__dict__}
        self._indexing = False
        if len(carried) != len(_CARRIED_INDEXES):
            return successor  # not all built here: let the successor build them itself
        successor.__dict__.update(carried)
        for old, new in changes:
            if old is not None:
                successor._unindex(old)
            if new is not None:
                successor._index(new)
        return successor

    def _unindex(self, obj: Any) -> None:
        if obj.kind == "Event":
            ref = obj.involvedObject
            _discard(self._events_by_object.get((ref.kind, ref.namespace or "", ref.name)), obj)
            return
        key, uid = key_of(obj), obj.metadata.uid
        if self._by_key.get(key) is obj:
            del self._by_key[key]
        if uid and self._by_uid.get(uid) is obj:
            del self._by_uid[uid]
        ref = obj.metadata.controller()
        if ref is not None and ref.uid:
            _discard(self._children.get(ref.uid), obj)
        if obj.kind == "Pod":
            if obj.spec.nodeName:
                _discard(self._pods_by_node.get(obj.spec.nodeName), obj)
            ns = obj.metadata.namespace
            _discard(self._pods_by_namespace.get(ns), obj)
            for label, value in (obj.metadata.labels or {}).items():
                _discard(self._pods_by_label.get((ns, label, value)), obj)

    def _index(self, obj: Any) -> None:
        self._index_batch(obj.kind, (obj,))

    def has(self, kind: str, namespace: str | None = None) -> bool:
        """True when ``kind`` was loaded (in ``namespace``, if given), so "not found"
        in it means "does not exist" rather than "we could not look"."""
        if kind not in self.loaded:
            return False
        partial = self.partial.get(kind)
        return partial is None or (namespace is not None and namespace in partial)

    def all_objects(self) -> Iterable[Any]:
        for attr in KIND_ATTRS.values():
            yield from getattr(self, attr)

    def age_seconds(self, timestamp: str | None) -> float | None:
        when = parse_time(timestamp)
        return None if when is None else (self.now - when).total_seconds()

    # ------------------------------------------------------------------ by name

    @cached_property
    def _by_key(self) -> dict[tuple[str, str, str], Any]:
        return self._object_indexes()[0]

    def get(self, kind: str, namespace: str, name: str) -> Any | None:
        return self._by_key.get(ObjectKey(kind, namespace, name))

    def node(self, name: str) -> o.Node | None:
        return self._by_key.get(ObjectKey("Node", "", name))

    def configmap(self, namespace: str, name: str) -> o.ConfigMap | None:
        return self._by_key.get(ObjectKey("ConfigMap", namespace, name))

    def secret(self, namespace: str, name: str) -> o.Secret | None:
        return self._by_key.get(ObjectKey("Secret", namespace, name))

    def pvc(self, namespace: str, name: str) -> o.PersistentVolumeClaim | None:
        return self._by_key.get(ObjectKey("PersistentVolumeClaim", namespace, name))

    def service(self, namespace: str, name: str) -> o.Service | None:
        return self._by_key.get(ObjectKey("Service", namespace, name))

    def storage_class(self, name: str) -> o.StorageClass | None:
        return self._by_key.get(ObjectKey("StorageClass", "", name))

    def ingress_class(self, name: str) -> o.IngressClass | None:
        return self._by_key.get(ObjectKey("IngressClass", "", name))

    @cached_property
    def default_storage_classes(self) -> list[o.StorageClass]:
        return [sc for sc in self.storageclasses if (sc.metadata.annotations or {}).get(DEFAULT_STORAGE_CLASS) == "true"]

    @cached_property
    def default_ingress_classes(self) -> list[o.IngressClass]:
        return [ic for ic in self.ingressclasses if (ic.metadata.annotations or {}).get(DEFAULT_INGRESS_CLASS) == "true"]

    # ------------------------------------------------------------------ owners

    @cached_property
    def _by_uid(self) -> dict[str, Any]:
        return self._object_indexes()[1]

    def by_uid(self, uid: str) -> Any | None:
        return self._by_uid.get(uid)

    def owner(self, obj: Any) -> Any | None:
        """The controlling owner (by uid, falling back to kind/name for files without uids)."""
        ref = obj.metadata.controller()
        if ref is None:
            return None
        found = self._by_uid.get(ref.uid) if ref.uid else None
        return found if found is not None else self.get(ref.kind, obj.metadata.namespace, ref.name)

    def owner_key(self, obj: Any) -> ObjectKey | None:
        """The controlling owner's key, even when the owner itself is not in the model."""
        ref = obj.metadata.controller()
        if ref is None:
            return None
        found = self.owner(obj)
        return key_of(found) if found is not None else ObjectKey(ref.kind, obj.metadata.namespace, ref.name)

    def root_owner(self, obj: Any) -> Any:
        """Walk the controller chain up: Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob."""
        return root_owner(obj, self.owner)

    def root_key(self, obj: Any) -> ObjectKey:
        """Key of the top of the owner chain; a missing owner still names the group (e.g. a deleted Job)."""
        root = self.root_owner(obj)
        missing = self.owner_key(root) if root.metadata.controller() is not None else None
        return missing or key_of(root)

    @cached_property
    def _children(self) -> dict[str, list[Any]]:
        return self._object_indexes()[2]

    def _object_indexes(
        self,
    ) -> tuple[dict[tuple[str, str, str], Any], dict[str, Any], dict[str, list[Any]]]:
        """The by-key, by-uid and owner (children) indexes, built together in one
        pass over every object but events (three passes cost much more).
        Whichever of the three was asked for, the other two are then built too."""
        self.__dict__.update(_by_key={}, _by_uid={}, _children=defaultdict(list))
        for kind, attr in KIND_ATTRS.items():
            if kind != "Event":
                self._index_objects(kind, getattr(self, attr))
        return self._by_key, self._by_uid, self._children

    def _index_objects(self, kind: str, objects: Iterable[Any]) -> None:
        """Add ``objects`` (all of ``kind``, not events) to the by-key, by-uid and owner indexes.

        Keys are plain tuples: equal, and hashing alike, to the :class:`ObjectKey`
        lookups use, and cheaper to make.
        """
        by_key, by_uid, children = self._by_key, self._by_uid, self._children
        for obj in objects:
            meta = obj.metadata
            by_key[(kind, meta.namespace, meta.name)] = obj
            if meta.uid:
                by_uid[meta.uid] = obj
            ref = meta.controller() if meta.ownerReferences else None
            if ref is not None and ref.uid:
                children[ref.uid].append(obj)

    def children(self, obj: Any) -> list[Any]:
        return self._children.get(obj.metadata.uid, [])

    def pods_of(self, workload: Any) -> list[o.Pod]:
        """Pods controlled by a workload, directly or through ReplicaSets/Jobs."""
        out: list[o.Pod] = []
        stack = [workload]
        while stack:
            for child in self.children(stack.pop()):
                if child.kind == "Pod":
                    out.append(child)
                else:
                    stack.append(child)
        return out

    # ------------------------------------------------------------------ pods by node / namespace / label

    @cached_property
    def _pods_by_node(self) -> dict[str, list[o.Pod]]:
        return self._pod_indexes()[0]

    def pods_on_node(self, node: str) -> list[o.Pod]:
        return self._pods_by_node.get(node, [])

    @cached_property
    def _pods_by_namespace(self) -> dict[str, list[o.Pod]]:
        return self._pod_indexes()[1]

    def pods_in(self, namespace: str) -> list[o.Pod]:
        return self._pods_by_namespace.get(namespace, [])

    @cached_property
    def _pods_by_label(self) -> dict[tuple[str, str, str], list[o.Pod]]:
        return self._pod_indexes()[2]

    def _pod_indexes(
        self,
    ) -> tuple[dict[str, list[o.Pod]], dict[str, list[o.Pod]], dict[tuple[str, str, str], list[o.Pod]]]:
        """Pods by node, by namespace and by (namespace, label, value), in one pass."""
        self.__dict__.update(
            _pods_by_node=defaultdict(list), _pods_by_namespace=defaultdict(list), _pods_by_label=defaultdict(list)
        )
        self._index_pods(self.pods)
        return self._pods_by_node, self._pods_by_namespace, self._pods_by_label

    def _index_pods(self, pods: Iterable[o.Pod]) -> None:
        by_node, by_namespace, by_label = self._pods_by_node, self._pods_by_namespace, self._pods_by_label
        for pod in pods:
            meta = pod.metadata
            ns = meta.namespace
            if pod.spec.nodeName:
                by_node[pod.spec.nodeName].append(pod)
            by_namespace[ns].append(pod)
            if meta.labels:
                for key, value in meta.labels.items():
                    by_label[(ns, key, value)].append(pod)

    def _candidates(self, namespace: str, labels: Mapping[str, str] | None) -> list[o.Pod]:
        """Pods having the rarest of the required label pairs (or all pods of the namespace)."""
        if not labels:
            return self.pods_in(namespace)
        lists = [self._pods_by_label.get((namespace, k, v), []) for k, v in labels.items()]
        return min(lists, key=len)

    def select_pods(self, namespace: str, selector: o.LabelSelector | None) -> list[o.Pod]:
        """Pods a LabelSelector selects in a namespace (None selects nothing, {} selects all)."""
        if selector is None:
            return []
        if selector_is_empty(selector):
            return list(self.pods_in(namespace))
        return [p for p in self._candidates(namespace, selector.matchLabels) if selector_matches(selector, p.metadata.labels)]

    def service_pods(self, service: o.Service) -> list[o.Pod]:
        """Pods a Service's map selector selects (none for selector-less Services)."""
        selector = service.spec.selector
        if not selector:
            return []
        ns = service.metadata.namespace
        return [p for p in self._candidates(ns, selector) if map_selector_matches(selector, p.metadata.labels)]

    # ------------------------------------------------------------------ endpoints, events, autoscaling

    @cached_property
    def _endpoint_counts(self) -> dict[tuple[str, str], tuple[int, bool]]:
        """(ready endpoints, any endpoint at all) per Service (namespace, name), from its EndpointSlices,
        or its legacy Endpoints where EndpointSlices were not loaded (never both: the slices are what
        is routed to). Counted in one pass: several analyzers ask about every Service."""
        counts: dict[tuple[str, str], tuple[int, bool]] = {}
        for eps in self.endpointslices:
            service = (eps.metadata.labels or {}).get(SERVICE_NAME_LABEL)
            if service:
                endpoints = eps.endpoints or ()
                ready = sum(1 for ep in endpoints if ep.conditions.ready is not False)  # nil means ready, per the API
                key = (eps.metadata.namespace, service)
                before, seen = counts.get(key, (0, False))
                counts[key] = (before + ready, seen or bool(endpoints))
        for legacy in self.endpoints:
            ns = legacy.metadata.namespace
            if not self.has("EndpointSlice", ns):
                subsets = legacy.subsets or ()
                ready = sum(len(subset.addresses or ()) for subset in subsets)
                counts[(ns, legacy.metadata.name)] = (ready, any(s.addresses or s.notReadyAddresses for s in subsets))
        return counts

    def endpoints_known(self, namespace: str) -> bool:
        """Whether a Service's endpoints in ``namespace`` can be told: its EndpointSlices, or
        else its legacy Endpoints, were loaded there (:data:`ENDPOINT_KINDS`)."""
        return self.has("EndpointSlice", namespace) or self.has("Endpoints", namespace)

    def ready_endpoints(self, service: o.Service) -> int:
        """The ready endpoints of ``service``, from whichever of :data:`ENDPOINT_KINDS` was loaded."""
        return self._endpoint_counts.get((service.metadata.namespace, service.metadata.name), (0, False))[0]

    def has_endpoints(self, service: o.Service) -> bool:
        """Any endpoint at all, ready or not (someone manages them)."""
        return self._endpoint_counts.get((service.metadata.namespace, service.metadata.name), (0, False))[1]

    @cached_property
    def _events_by_object(self) -> dict[tuple[str, str, str], list[o.Event]]:
        self.__dict__["_events_by_object"] = defaultdict(list)
        self._newest_events_first(self._index_events(self.events))
        return self._events_by_object

    def _index_events(self, events: Iterable[o.Event]) -> set[tuple[str, str, str]]:
        """Add ``events`` to the by-object index; the keys they were added under."""
        index, keys = self._events_by_object, set()
        for event in events:
            ref = event.involvedObject
            key = (ref.kind, ref.namespace or "", ref.name)
            index[key].append(event)
            keys.add(key)
        return keys

    def _newest_events_first(self, keys: Iterable[tuple[str, str, str]]) -> None:
        index = self._events_by_object
        for key in keys:
            index[key].sort(key=_last_seen, reverse=True)

    def events_for(self, obj: Any, *, warnings_only: bool = True) -> list[o.Event]:
        """Events about an object, newest first (matched by kind/namespace/name; uid when known).

        A live model holds Warning events, plus Normal ones only for PVCs
        (see ``model.kinds.FIELD_SELECTORS``); files hold whatever they contain.
        """
        meta: o.ObjectMeta = obj.metadata
        key = (obj.kind, meta.namespace, meta.name)
        if self.events_asked is not None:
            self.events_asked.add(key)
        events = self._events_by_object.get(key, [])
        return [
            e
            for e in events
            if (not warnings_only or e.type == "Warning")
            and (not e.involvedObject.uid or not meta.uid or e.involvedObject.uid == meta.uid)
        ]

    @cached_property
    def _hpas_by_target(self) -> dict[tuple[str, str, str], list[o.HorizontalPodAutoscaler]]:
        index: dict[tuple[str, str, str], list[o.HorizontalPodAutoscaler]] = defaultdict(list)
        for hpa in self.hpas:
            ref = hpa.spec.scaleTargetRef
            index[(ref.kind, hpa.metadata.namespace, ref.name)].append(hpa)
        return index

    def hpas_for(self, obj: Any) -> list[o.HorizontalPodAutoscaler]:
        return self._hpas_by_target.get((obj.kind, obj.metadata.namespace, obj.metadata.name), [])

    # ------------------------------------------------------------------ references

    @cached_property
    def _services_by_selector_pair(self) -> dict[tuple[str, str, str], list[o.Service]]:
        """Services with a selector, each under one of its pairs (the smallest): a pod it
        selects carries every pair, so looking up the pod's own labels finds it."""
        index: dict[tuple[str, str, str], list[o.Service]] = defaultdict(list)
        for svc in self.services:
            if svc.spec.selector:
                key, value = min(svc.spec.selector.items())
                index[(svc.metadata.namespace, key, value)].append(svc)
        return index

    def services_selecting(self, pod: o.Pod) -> list[o.Service]:
        """The Services whose selector selects ``pod`` (a watch asks for every changed pod:
        looked up by the pod's labels, not by scanning the namespace's Services)."""
        labels = pod.metadata.labels
        if not labels:
            return []
        ns, index = pod.metadata.namespace, self._services_by_selector_pair
        return [
            svc
            for key, value in labels.items()
            for svc in index.get((ns, key, value), ())
            if map_selector_matches(svc.spec.selector, labels)
        ]

    @cached_property
    def _ingresses_by_service(self) -> dict[tuple[str, str], list[o.Ingress]]:
        index: dict[tuple[str, str], list[o.Ingress]] = defaultdict(list)
        for ing in self.ingresses:
            for backend in ingress_backends(ing):
                if backend.service is not None:
                    index[(ing.metadata.namespace, backend.service.name)].append(ing)
        return index

    def ingresses_for(self, service: o.Service) -> list[o.Ingress]:
        found = self._ingresses_by_service.get((service.metadata.namespace, service.metadata.name), [])
        return list({id(i): i for i in found}.values())


# Every kind the model holds, derived from its attribute's declaration above (in declaration order).
KINDS: tuple[KindSpec, ...] = tuple(
    replace(f.metadata[_SPEC], attr=f.name) for f in fields(ClusterModel) if _SPEC in f.metadata
)
# kind name -> attribute of ClusterModel holding that kind's objects
KIND_ATTRS: dict[str, str] = {spec.kind: spec.attr for spec in KINDS}


# The indexes ``evolve`` patches (all built from every kind or from pods and events).
_CARRIED_INDEXES = (
    "_by_key", "_by_uid", "_children", "_pods_by_node", "_pods_by_namespace", "_pods_by_label", "_events_by_object",
)


# Every index built on first use (a cached_property of the model).
_LAZY_INDEXES = tuple(name for name, value in vars(ClusterModel).items() if isinstance(value, cached_property))


def _last_seen(event: o.Event) -> str:
    return event.last_seen


def _discard(items: list[Any] | None, obj: Any) -> None:
    """Remove ``obj`` itself (by identity) from an index list, if there."""
    if items:
        for index, item in enumerate(items):
            if item is obj:
                del items[index]
                return


def ingress_backends(ingress: o.Ingress) -> list[o.IngressBackend]:
    backends = [ingress.spec.defaultBackend] if ingress.spec.defaultBackend else []
    for rule in ingress.spec.rules or ():
        if rule.http is not None:
            backends.extend(path.backend for path in rule.http.paths)
    return backends


def pod_containers(pod: o.Pod) -> list[o.Container]:
    return list(pod.spec.initContainers or []) + list(pod.spec.containers)
