"""The values that flow from the alert lifecycle to the state store and the sinks.

An :class:`Alert` is one incident (one root cause) as the outside world sees
it; a :class:`Notification` is what one group sends at one moment. Both are
plain frozen values so the store can persist them and a sink can render them
without knowing anything about the cluster model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

AlertStatus = Literal["firing", "resolved"]

# Label names every alert carries (bounded set; see docs/watch.md, "Alert labels").
#   alertname  the incident's headline code, e.g. KS102
#   severity   error | warning | info
#   context    kube context (cluster) name
#   namespace  root object's namespace ("" for cluster-scoped)
#   kind, name the root-cause object
LABEL_NAMES = ("alertname", "severity", "context", "namespace", "kind", "name")


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str | None) -> dt.datetime | None:
    return None if not value else dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Alert:
    fingerprint: str  # stable per root cause: hash(context, root kind/namespace/name)
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str]  # summary, description, remediation, (optional) evidence text
    starts_at: dt.datetime  # when the incident was first seen (not when it fired)
    ends_at: dt.datetime | None = None  # set when resolved
    pods: int = 0  # blast radius, for humans
    restarts: int = 0  # total container restarts of the incident's pods when last notified

    @property
    def duration_seconds(self) -> float | None:
        return None if self.ends_at is None else (self.ends_at - self.starts_at).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": iso(self.starts_at),
            "endsAt": iso(self.ends_at),
            "durationSeconds": self.duration_seconds,
            "pods": self.pods,
            "restarts": self.restarts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        starts = parse_iso(data["startsAt"])
        assert starts is not None
        return cls(
            fingerprint=data["fingerprint"],
            status=data["status"],
            labels=dict(data["labels"]),
            annotations=dict(data["annotations"]),
            starts_at=starts,
            ends_at=parse_iso(data.get("endsAt")),
            pods=int(data.get("pods", 0)),
            restarts=int(data.get("restarts", 0)),
        )


@dataclass(frozen=True)
class Notification:
    """One message for one group at one moment (Alertmanager's webhook model).

    ``idempotency_key`` is stable for this exact notification: the group key
    plus the group's notification sequence number, which the state store
    persists. A retried or re-sent notification carries the same key, so a
    receiver can drop duplicates, and the outbox refuses to enqueue it twice.
    """

    group_key: str
    group_labels: dict[str, str]
    status: AlertStatus  # firing when any alert in it fires
    alerts: tuple[Alert, ...]
    sequence: int
    created_at: dt.datetime
    idempotency_key: str = field(default="")

    def __post_init__(self) -> None:
        if not self.idempotency_key:
            raw = f"{self.group_key}#{self.sequence}"
            object.__setattr__(self, "idempotency_key", hashlib.sha256(raw.encode()).hexdigest()[:32])

    @property
    def firing(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts if a.status == "resolved"]

    def to_json(self) -> dict[str, Any]:
        """The generic webhook body (also what the JSONL sink writes and the outbox stores)."""
        return {
            "version": "kubesteward.io/v1",
            "kind": "Notification",
            "idempotencyKey": self.idempotency_key,
            "groupKey": self.group_key,
            "groupLabels": dict(self.group_labels),
            "status": self.status,
            "sequence": self.sequence,
            "createdAt": iso(self.created_at),
            "alerts": [a.to_json() for a in self.alerts],
        }

    def body(self) -> bytes:
        """Canonical JSON bytes (sorted keys): what is signed and what is sent."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Notification:
        created = parse_iso(data["createdAt"])
        assert created is not None
        return cls(
            group_key=data["groupKey"],
            group_labels=dict(data["groupLabels"]),
            status=data["status"],
            alerts=tuple(Alert.from_json(a) for a in data["alerts"]),
            sequence=int(data["sequence"]),
            created_at=created,
            idempotency_key=data["idempotencyKey"],
        )
