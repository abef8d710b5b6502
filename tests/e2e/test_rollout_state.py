"""Rollout state (model.semantics.rollout) read from a real Deployment rollout: the real
Deployment and ReplicaSet controllers act, KWOK plays the kubelet, and the
``kubesteward.io/fault`` label on the pod template makes a new revision's pods crash-loop."""

from __future__ import annotations

from typing import Any

from kubesteward.cluster import KubeClient, resources
from kubesteward.cluster.resources import ResourceType
from kubesteward.model import objects as o
from kubesteward.model.semantics import rollout
from kubesteward.model.semantics.rollout import Rollout, RolloutState
from kubesteward.sandbox.faults import FAULT_LABEL
from tests.support.wait import eventually


def resource_type(kind: str) -> ResourceType:
    found = resources.builtin("apps/v1", kind)
    assert found is not None, kind
    return found


DEPLOYMENT = resource_type("Deployment")
REPLICASET = resource_type("ReplicaSet")
TOLERATE_KWOK = [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]


def web(deadline: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "tolerations": TOLERATE_KWOK,
                    "containers": [{"name": "app", "image": "registry.example.com/shop/web:1.0"}],
                },
            },
        },
    }


async def test_a_deployment_rollout_completes_fails_its_deadline_pauses_and_rolls_back(kube: KubeClient, namespace: str) -> None:
    async def deployment() -> o.Deployment:
        dep: o.Deployment = await kube.get(DEPLOYMENT, "web", namespace, type=o.Deployment)
        return dep

    async def state() -> Rollout:
        return rollout.deployment_rollout(await deployment())

    async def history() -> tuple[o.Deployment, list[o.ReplicaSet]]:
        dep = await deployment()
        listed = await kube.list(REPLICASET, namespace=namespace, type=o.ReplicaSet)
        return dep, rollout.replicasets_by_revision(dep, listed.items)

    async def template_labels(labels: dict[str, Any]) -> None:
        await kube.patch(DEPLOYMENT, "web", {"spec": {"template": {"metadata": {"labels": labels}}}}, namespace=namespace)

    await kube.create(web(deadline=10), namespace=namespace)

    # Revision 1 rolls out: both replicas updated and available.
    done = await eventually(state, lambda r: r.complete, timeout=90, interval=1.0, what="the first rollout to complete")
    assert (done.revision, done.desired, done.updated, done.available, done.total) == ("1", 2, 2, 2, 2)
    dep, replicasets = await history()
    [first] = replicasets
    assert rollout.new_replicaset(dep, replicasets) is first and rollout.previous_replicaset(dep, replicasets) is None
    pods = await kube.list(resources.POD, namespace=namespace, type=o.Pod)
    assert len(rollout.pods_at(first, pods.items)) == 2

    # Revision 2's pods crash-loop: the rollout progresses, then exceeds its 10s progress deadline
    # while revision 1's replicas keep serving.
    await template_labels({FAULT_LABEL: "crashloop-error"})
    moving = await eventually(state, lambda r: r.revision == "2" and r.state is not RolloutState.UNOBSERVED, timeout=30,
                              what="revision 2 to be observed")
    assert moving.state in (RolloutState.PROGRESSING, RolloutState.DEADLINE_EXCEEDED) and not moving.complete
    failed = await eventually(state, lambda r: r.failed, timeout=90, interval=1.0, what="the progress deadline to pass")
    assert failed.state is RolloutState.DEADLINE_EXCEEDED and failed.revision == "2"
    assert failed.message.startswith("no progress for 10s: ") and "has timed out progressing" in failed.message
    assert failed.updated < failed.desired and failed.available >= 1  # old replicas still available
    dep, replicasets = await history()
    assert [rs.metadata.name for rs in replicasets][0] == first.metadata.name
    crashing = rollout.new_replicaset(dep, replicasets)
    assert crashing is not None and crashing.metadata.name != first.metadata.name
    assert rollout.replicaset_revision(crashing) == 2
    previous = rollout.previous_replicaset(dep, replicasets)
    assert previous is not None and previous.metadata.name == first.metadata.name  # what a rollback returns to

    # Paused, the rollout waits: no deadline is judged while paused.
    await kube.patch(DEPLOYMENT, "web", {"spec": {"paused": True}}, namespace=namespace)
    paused = await eventually(state, lambda r: r.state is RolloutState.PAUSED, timeout=30, what="the pause to be observed")
    assert paused.message.startswith("paused: ")

    # Rolling back to revision 1's template (what `rollout undo` does) reuses its ReplicaSet,
    # renumbered revision 3, and completes; the crashing one is now the previous revision.
    await kube.patch(DEPLOYMENT, "web", {"spec": {"paused": False}}, namespace=namespace)
    await template_labels({FAULT_LABEL: None})
    back = await eventually(state, lambda r: r.complete and r.revision == "3", timeout=90, interval=1.0,
                            what="the rollback to complete")
    assert (back.updated, back.available, back.total) == (2, 2, 2)
    dep, replicasets = await history()
    current, previous = rollout.new_replicaset(dep, replicasets), rollout.previous_replicaset(dep, replicasets)
    assert current is not None and current.metadata.name == first.metadata.name and rollout.replicaset_revision(current) == 3
    assert previous is not None and previous.metadata.name == crashing.metadata.name
