"""Waiting for applied workloads to become healthy: what ``sync`` (and a deploy) waits on after it writes.

Deployments, StatefulSets and DaemonSets are healthy when their rollout is complete, judged by
:mod:`kubesteward.model.semantics.rollout` (the controller's status, once it is about the current spec); a
Job when it succeeded (:func:`~kubesteward.model.semantics.lifecycle.job_outcome`). A rollout that can no
longer complete on its own (past its progress deadline, paused, a failed Job, the object gone) settles at
once as unhealthy; one still progressing at the timeout is unhealthy too, its message naming what it waits
for and, when one of its pods says why, that pod's problem (``ImagePullBackOff``). Other kinds have nothing
to wait for and are left out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from kubesteward.cluster import resources
from kubesteward.errors import NotFound
from kubesteward.model import objects as o
from kubesteward.model.semantics.health import pod_problems
from kubesteward.model.semantics.lifecycle import job_failure, job_outcome
from kubesteward.model.semantics.rollout import RolloutState, rollout_of
from kubesteward.model.semantics.selectors import format_selector

if TYPE_CHECKING:
    from kubesteward.cluster import KubeClient

_WAITED: dict[tuple[str, str], type[o.Deployment | o.StatefulSet | o.DaemonSet | o.Job]] = {
    ("apps", "Deployment"): o.Deployment,
    ("apps", "StatefulSet"): o.StatefulSet,
    ("apps", "DaemonSet"): o.DaemonSet,
    ("batch", "Job"): o.Job,
}
# Rollouts that make no progress without someone acting: waiting longer cannot make them healthy.
_STUCK = {RolloutState.DEADLINE_EXCEEDED, RolloutState.PAUSED}


class WaitRef(Protocol):
    """What names a workload to wait for (a sync's action, an object reference)."""

    @property
    def group(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class WaitOutcome:
    kind: str
    group: str
    namespace: str
    name: str
    healthy: bool
    state: str  # the rollout state (complete, progressing…), a Job's outcome, or "gone"
    message: str  # what it waits for, or why it failed, in kubectl's terms
    waited: float  # seconds until it settled (or the timeout)

    @property
    def ref(self) -> str:
        return f"{self.kind}.{self.group}/{self.namespace}/{self.name}"

    def document(self) -> dict[str, object]:
        return {"kind": self.kind, "group": self.group, "namespace": self.namespace, "name": self.name,
                "healthy": self.healthy, "state": self.state, "message": self.message,
                "waitedSeconds": round(self.waited, 1)}


def waits_for(ref: WaitRef) -> bool:
    """Whether ``ref`` is a kind :func:`wait_healthy` waits on."""
    return (ref.group, ref.kind) in _WAITED


async def wait_healthy(
    client: KubeClient, refs: Sequence[WaitRef], timeout: float, poll: float = 1.0,
) -> list[WaitOutcome]:
    """Poll the workloads among ``refs`` until each is healthy or cannot become so, for at most ``timeout``
    seconds; one outcome per workload, in the order given. Each poll is one LIST per kind and namespace still
    waited on, however many workloads they hold."""
    started = time.monotonic()
    pending = [ref for ref in refs if waits_for(ref)]
    outcomes: dict[int, WaitOutcome] = {}
    last: dict[int, WaitOutcome] = {}
    while True:
        live = await _read(client, pending)
        for ref in pending:
            outcome, settled = _judge(ref, live.get(_key(ref)), time.monotonic() - started)
            last[id(ref)] = outcome
            if settled:
                outcomes[id(ref)] = outcome
        pending = [ref for ref in pending if id(ref) not in outcomes]
        left = timeout - (time.monotonic() - started)
        if not pending or left <= 0:
            break
        await asyncio.sleep(min(poll, left))
    for ref in pending:
        why = await _pod_problem(client, ref)
        message = f"not healthy after {timeout:g}s: {last[id(ref)].message}" + (f" ({why})" if why else "")
        outcomes[id(ref)] = WaitOutcome(ref.kind, ref.group, ref.namespace, ref.name, False, last[id(ref)].state,
                                        message, time.monotonic() - started)
    return [outcomes[id(ref)] for ref in refs if id(ref) in outcomes]


_Workload = o.Deployment | o.StatefulSet | o.DaemonSet | o.Job


def _key(ref: WaitRef) -> tuple[str, str, str, str]:
    return ref.group, ref.kind, ref.namespace, ref.name


async def _read(client: KubeClient, refs: Sequence[WaitRef]) -> dict[tuple[str, str, str, str], _Workload]:
    """The workloads of the kinds and namespaces of ``refs`` as they are now, by group, kind, namespace, name."""

    async def listed(group: str, kind: str, namespace: str) -> list[tuple[tuple[str, str, str, str], _Workload]]:
        rt = resources.by_name(kind)
        assert rt is not None  # every waited kind is a built-in
        items = (await client.list(rt, namespace=namespace, type=_WAITED[(group, kind)])).items
        return [((group, kind, namespace, item.metadata.name), item) for item in items]

    places = sorted({(ref.group, ref.kind, ref.namespace) for ref in refs})
    return {key: item for found in await asyncio.gather(*(listed(*place) for place in places)) for key, item in found}


def _judge(ref: WaitRef, workload: _Workload | None, waited: float) -> tuple[WaitOutcome, bool]:
    """The workload's state now, and whether it is settled (healthy, or unable to become so by waiting)."""

    def outcome(healthy: bool, state: str, message: str) -> WaitOutcome:
        return WaitOutcome(ref.kind, ref.group, ref.namespace, ref.name, healthy, state, message, waited)

    if workload is None:
        return outcome(False, "gone", "deleted while waiting for it"), True
    if isinstance(workload, o.Job):
        result = job_outcome(workload)
        failure = job_failure(workload)
        if failure is not None:
            why = f"failed: {failure.reason or 'Failed'}" + (f": {failure.message}" if failure.message else "")
        else:
            why = "complete" if result == "succeeded" else "running"
        return outcome(result == "succeeded", result, why), result != "running"
    rollout = rollout_of(workload)
    healthy = rollout.complete or rollout.state is RolloutState.ON_DELETE  # OnDelete: only deleting pods proceeds
    return outcome(healthy, rollout.state.value, rollout.message), healthy or rollout.state in _STUCK


async def _pod_problem(client: KubeClient, ref: WaitRef) -> str:
    """Why one of the workload's pods does not serve (``pod web-7d9f-x2: ImagePullBackOff``), or ""."""
    struct = _WAITED[(ref.group, ref.kind)]
    rt = resources.by_name(ref.kind)
    assert rt is not None
    try:
        workload = await client.get(rt, ref.name, ref.namespace, type=struct)
        selector = format_selector(workload.spec.selector)
        if not selector:
            return ""
        pods = await client.list(resources.POD, namespace=ref.namespace, label_selector=selector, type=o.Pod)
    except NotFound:
        return ""
    problems = pod_problems(pods.items)
    problems.sort(key=lambda problem: (not problem.failing, problem.pod.metadata.name))
    return f"pod {problems[0].pod.metadata.name}: {problems[0].summary}" if problems else ""
