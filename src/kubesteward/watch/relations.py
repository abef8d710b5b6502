"""Which objects to re-evaluate when one object changes.

Analyzers read an object *and* what it points at: a pod's findings depend on
its node, its PVCs, ConfigMaps and Secrets; a Deployment's on its pods; a
Service's on its pods and EndpointSlices. When one object changes, the
objects whose findings may change with it are re-evaluated too (a Node
change re-evaluates the pods on it, a pod change its owners, Services, PDBs
and node). Everything is answered from the model's indexes: no API calls.

A kind whose effects are too wide to enumerate cheaply (a NetworkPolicy) asks
for a full evaluation by returning ``None``.
"""

from __future__ import annotations

from typing import Any

from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel, ObjectKey, key_of

# Kinds whose change is re-evaluated by a full pass (rare, wide effects).
FULL_PASS_KINDS = frozenset({"NetworkPolicy"})


def affected(model: ClusterModel, obj: Any) -> set[ObjectKey] | None:
    """Keys whose findings may change when ``obj`` (added, changed or just deleted) changes."""
    return BatchRelations(model).affected(obj)


class BatchRelations:
    """``affected`` for one batch of changes on one model.

    Pods of one workload share their owner chain, the Services selecting them
    (the same labels) and their namespace's PDBs; a rollout or a burst of
    status updates touches thousands of pods of a few workloads, so these are
    computed once per batch rather than once per pod (they were two thirds of
    a batch's relation cost).
    """

    def __init__(self, model: ClusterModel) -> None:
        self.model = model
        self._owner_chains: dict[object, frozenset[ObjectKey]] = {}
        self._service_keys: dict[tuple[str, frozenset[tuple[str, str]]], frozenset[ObjectKey]] = {}
        self._pdb_keys: dict[str, frozenset[ObjectKey]] = {}

    def affected(self, obj: Any) -> set[ObjectKey] | None:
        model = self.model
        kind = obj.kind
        if kind in FULL_PASS_KINDS:
            return None
        if kind == "Event":
            ref = obj.involvedObject
            target = model.get(ref.kind, ref.namespace or "", ref.name)
            if target is None:
                return {ObjectKey(ref.kind, ref.namespace or "", ref.name)}
            return self.affected(target)
        keys = {key_of(obj)}
        ns = obj.metadata.namespace
        if kind == "Namespace":
            # What a namespace changes is its own objects' findings (a Terminating namespace
            # silences them): those, not a full pass. A deletion updates it several times, and
            # full passes of a big cluster each time held back every other alert for seconds.
            name = obj.metadata.name
            keys.update(key_of(o) for o in model.all_objects() if o.kind != "Event" and o.metadata.namespace == name)
        elif kind == "Pod":
            self._add_pod_relations(obj, keys)
        elif kind == "Node":
            for pod in model.pods_on_node(obj.metadata.name):
                keys.add(key_of(pod))
                keys |= self._owners(pod)
        elif kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"):
            keys |= self._owners(obj)
            for child in model.children(obj):
                keys.add(key_of(child))
            for pod in model.pods_of(obj):
                keys.add(key_of(pod))
            keys.update(key_of(h) for h in model.hpas_for(obj))
            # The PDBs guarding its pods read their health.
            keys |= self._pdbs(ns)
        elif kind == "Service":
            keys.update(key_of(i) for i in model.ingresses_for(obj))
            keys.update(key_of(p) for p in model.service_pods(obj))
        elif kind in ("EndpointSlice", "Endpoints"):
            # A slice names its Service by label; the legacy Endpoints (watched where slices are out of
            # reach) by sharing its name.
            name = (obj.metadata.labels or {}).get("kubernetes.io/service-name") if kind == "EndpointSlice" else (
                obj.metadata.name)
            service = model.service(ns, name) if name else None
            if service is not None:
                keys.add(key_of(service))
                keys.update(key_of(i) for i in model.ingresses_for(service))
        elif kind == "IngressClass":
            keys.update(key_of(i) for i in model.ingresses)
        elif kind in ("ConfigMap", "Secret", "ServiceAccount"):
            # References by name: pods (env, volumes, service account) and Ingress TLS.
            keys.update(key_of(p) for p in model.pods_in(ns))
            keys.update(key_of(i) for i in model.ingresses if i.metadata.namespace == ns)
        elif kind == "PersistentVolumeClaim":
            for pod in model.pods_in(ns):
                if _mounts(pod, obj.metadata.name):
                    keys.add(key_of(pod))
                    keys |= self._owners(pod)
            if obj.spec.volumeName:
                keys.add(ObjectKey("PersistentVolume", "", obj.spec.volumeName))
        elif kind == "PersistentVolume":
            ref = obj.spec.claimRef
            if ref is not None and ref.name:
                keys.add(ObjectKey("PersistentVolumeClaim", ref.namespace or "", ref.name))
        elif kind == "StorageClass":
            # Default-class changes affect class-less claims too: re-evaluate every claim and its pods.
            for pvc in model.pvcs:
                keys.add(key_of(pvc))
                for pod in model.pods_in(pvc.metadata.namespace):
                    if _mounts(pod, pvc.metadata.name):
                        keys.add(key_of(pod))
            keys.update(key_of(pv) for pv in model.pvs)
        elif kind == "HorizontalPodAutoscaler":
            ref = obj.spec.scaleTargetRef
            keys.add(ObjectKey(ref.kind, ns, ref.name))
        return keys

    def _owners(self, obj: Any) -> frozenset[ObjectKey]:
        """The keys of ``obj``'s controller chain and of the HPAs scaling any of them."""
        ref = obj.metadata.controller()
        if ref is None:
            return frozenset()
        memo = ref.uid or (ref.kind, obj.metadata.namespace, ref.name)
        chain = self._owner_chains.get(memo)
        if chain is None:
            chain = self._owner_chains[memo] = frozenset(self._walk_owners(obj))
        return chain

    def _walk_owners(self, obj: Any) -> set[ObjectKey]:
        model, keys = self.model, set[ObjectKey]()
        current = obj
        for _ in range(8):
            parent = model.owner(current)
            if parent is None:
                owner_key = model.owner_key(current)
                if owner_key is not None:
                    keys.add(owner_key)
                break
            keys.add(key_of(parent))
            keys.update(key_of(h) for h in model.hpas_for(parent))
            current = parent
        return keys

    def _pdbs(self, namespace: str) -> frozenset[ObjectKey]:
        found = self._pdb_keys.get(namespace)
        if found is None:
            pdbs = self.model.pdbs
            found = self._pdb_keys[namespace] = frozenset(key_of(p) for p in pdbs if p.metadata.namespace == namespace)
        return found

    def _services(self, pod: o.Pod) -> frozenset[ObjectKey]:
        """The Services selecting ``pod`` and the Ingresses in front of them (the same for every pod
        with the same labels in the namespace)."""
        memo = (pod.metadata.namespace, frozenset((pod.metadata.labels or {}).items()))
        found = self._service_keys.get(memo)
        if found is None:
            keys = set[ObjectKey]()
            for svc in self.model.services_selecting(pod):
                keys.add(key_of(svc))
                keys.update(key_of(i) for i in self.model.ingresses_for(svc))
            found = self._service_keys[memo] = frozenset(keys)
        return found

    def _add_pod_relations(self, pod: o.Pod, keys: set[ObjectKey]) -> None:
        ns = pod.metadata.namespace
        keys |= self._owners(pod)
        if pod.spec.nodeName:
            keys.add(ObjectKey("Node", "", pod.spec.nodeName))
        keys |= self._services(pod)
        keys |= self._pdbs(ns)
        for volume in pod.spec.volumes or ():
            if volume.persistentVolumeClaim is not None:
                keys.add(ObjectKey("PersistentVolumeClaim", ns, volume.persistentVolumeClaim.claimName))


def _mounts(pod: o.Pod, claim: str) -> bool:
    return any(v.persistentVolumeClaim is not None and v.persistentVolumeClaim.claimName == claim
               for v in pod.spec.volumes or ())
