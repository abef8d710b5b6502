"""What `status` counts as pod problems: the pods' own problems (model.semantics.health), one per pod."""

from __future__ import annotations

from typing import Any

import msgspec

from kubesteward.model import objects as o
from kubesteward.summary.collect import _pod_problems


def pod(phase: str, *, ready: str = "False", reason: str = "", containers: list[dict[str, Any]] | None = None,
        scheduled: str | None = None, **meta: Any) -> o.Pod:
    conditions = [{"type": "Ready", "status": ready}]
    if scheduled is not None:
        conditions.append({"type": "PodScheduled", "status": "False", "reason": scheduled})
    raw = {"metadata": {"name": "p", "namespace": "shop", **meta},
           "status": {"phase": phase, "reason": reason, "conditions": conditions, "containerStatuses": containers or []}}
    return msgspec.convert(raw, o.Pod)


def test_status_counts_each_pod_once_by_its_problem_and_every_restart() -> None:
    oom_loop = {"name": "app", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    healed = {"name": "app", "ready": True, "restartCount": 2, "state": {"running": {}},
              "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}
    pods = [
        pod("Running", containers=[oom_loop]),
        pod("Running", containers=[oom_loop]),
        pod("Running", ready="True", containers=[healed]),  # ran out of memory once, serves now: history
        pod("Running", containers=[{"name": "app", "state": {"running": {}}}]),
        pod("Pending", scheduled="Unschedulable"),
        pod("Pending", containers=[{"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}]),  # starting
        pod("Failed", reason="Evicted"),
        pod("Succeeded"),
        pod("Running", containers=[oom_loop], deletionTimestamp="2025-01-10T12:00:00Z"),  # going away
    ]
    problems, restarts = _pod_problems(pods)
    assert dict(problems) == {
        "CrashLoopBackOff (OOMKilled)": 2,
        "Running, not ready": 1,
        "Pending (Unschedulable)": 1,
        "Failed (Evicted)": 1,
    }
    assert restarts == 4 + 4 + 2 + 4
