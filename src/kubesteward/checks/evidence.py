"""Shared evidence helpers, so every analyzer reports events and containers the same way."""

from __future__ import annotations

from typing import Any

from kubesteward.model import objects as o
from kubesteward.model.cluster import ClusterModel


def event_lines(model: ClusterModel, obj: Any, limit: int = 3) -> list[str]:
    """The newest Warning events about ``obj`` as ``Reason: message (xN)`` lines.

    Warning events are evidence attached to the finding of their object; they
    are never findings of their own (that is what makes other tools noisy).
    Events saying the same thing (the scheduler starts a new one for the same
    FailedScheduling message after a while) are one line, their counts added.
    """
    said: dict[tuple[str, str], int] = {}  # newest first
    for event in model.events_for(obj):
        key = (event.reason, event.message)
        said[key] = said.get(key, 0) + event.occurrences
    return [
        f"{reason}: {message}" + (f" (x{count})" if count > 1 else "")
        for (reason, message), count in list(said.items())[:limit]
    ]


def container_spec(pod: o.Pod, name: str) -> o.Container | None:
    for container in list(pod.spec.initContainers or []) + list(pod.spec.containers):
        if container.name == name:
            return container
    return None


def limit_of(container: o.Container | None, resource: str) -> str | None:
    if container is None or container.resources is None:
        return None
    return (container.resources.limits or {}).get(resource)


def request_of(container: o.Container | None, resource: str) -> str | None:
    if container is None or container.resources is None:
        return None
    return (container.resources.requests or {}).get(resource)


def human_duration(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h5m``, ``2d4h``: precise enough for "how long", short enough for a message."""
    if seconds is None:
        return "an unknown time"
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    return f"{secs}s"
