"""From incidents to notifications, with Alertmanager's semantics.

- One alert per root cause: its fingerprint is the incident's
  (``findings.fingerprint``: the context and the root object, as in a
  diagnosis's incident id), so 200 crashing pods of one Deployment are one
  alert, and the alert survives its headline code changing.
- pending -> firing once the incident persisted past its threshold (per
  code, ``for:`` in Prometheus terms); firing -> resolved when it clears,
  with its duration. A pending incident that clears was a blip: no alert.
- Alerts are grouped (``group_by`` labels); a new group waits
  ``group_wait`` to collect its first alerts, a changed group sends after
  ``group_interval``, an unchanged firing group repeats after
  ``repeat_interval``. A rising restart count is a change, so each increase
  is reported once (at most once per ``group_interval``).
- Inhibition: a firing Node or StorageClass alert mutes alerts whose pods
  run on that node or whose claims use that class. Silences mute by labels.
- Every decision is committed to the state store in one transaction with
  the notifications it produces (the outbox), so a crash or restart neither
  loses nor repeats a notification.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field

from kubesteward.findings import CODES, Severity
from kubesteward.findings.fingerprint import incident_id
from kubesteward.findings.incidents import Incident
from kubesteward.model.cluster import ClusterModel, ObjectKey
from kubesteward.model.semantics.health import pod_restarts
from kubesteward.notifications.silences import Silence, silenced_by
from kubesteward.notifications.types import Alert, AlertStatus, Notification, iso, parse_iso
from kubesteward.state.store import AlertRecord, GroupRecord, StateStore

INHIBITING_KINDS = frozenset({"Node", "StorageClass"})

DEFAULT_THRESHOLDS: dict[str, float] = {
    # A node may blip NotReady during a kubelet restart; Alertmanager users
    # typically wait a minute before paging for it.
    "KS5*": 60.0,
    # kubesteward cannot see a cluster: an API server restart or a rolling credential
    # update takes some seconds, so the watchdog waits as long as for a node.
    "KS901": 60.0,
}


@dataclass
class AlertPolicy:
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))  # code or glob -> s
    default_threshold: float = 30.0
    min_severity: Severity = Severity.WARNING
    group_by: tuple[str, ...] = ("context", "namespace", "kind", "name")  # one incident per group
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    inhibit: bool = True

    def threshold(self, code: str) -> float:
        if code in self.thresholds:
            return self.thresholds[code]
        for pattern, seconds in self.thresholds.items():
            if fnmatch.fnmatch(code, pattern):
                return seconds
        return self.default_threshold


@dataclass
class TrackedAlert:
    """The lifecycle's memory of one alert (persisted as ``AlertRecord.data``)."""

    fingerprint: str
    context: str
    state: str  # pending | firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    first_seen: str
    fired_at: str | None = None
    resolved_at: str | None = None
    pods: int = 0
    restarts: int = 0
    depends_on: list[str] = field(default_factory=list)  # "Node//n1", "StorageClass//fast"
    root: str = ""
    notified: str = ""  # "" | "firing": what the receivers were last told
    suppressed: str = ""  # "" | "silenced:<id>" | "inhibited:<fingerprint>"
    # Who observes it: "cluster" (the context's incidents) or "watchdog" (kubesteward's own view
    # of the context). Each observation clears only the alerts of its own scope.
    scope: str = "cluster"

    @property
    def code(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    def to_alert(self) -> Alert:
        status: AlertStatus = "resolved" if self.state == "resolved" else "firing"
        starts = parse_iso(self.first_seen)
        assert starts is not None
        return Alert(
            fingerprint=self.fingerprint,
            status=status,
            labels=dict(self.labels),
            annotations=dict(self.annotations),
            starts_at=starts,
            ends_at=parse_iso(self.resolved_at) if status == "resolved" else None,
            pods=self.pods,
            restarts=self.restarts,
        )

    def record(self, now: dt.datetime) -> AlertRecord:
        return AlertRecord(self.fingerprint, self.context, self.state, asdict(self), now)

    @classmethod
    def from_record(cls, record: AlertRecord) -> TrackedAlert:
        return cls(**record.data)


@dataclass
class GroupState:
    key: str
    labels: dict[str, str]
    sequence: int = 0
    active_since: str | None = None  # when the group last went from empty to having alerts to send
    last_sent: str | None = None
    last_hash: str = ""

    def record(self, now: dt.datetime) -> GroupRecord:
        return GroupRecord(self.key, asdict(self), now)


@dataclass
class Outcome:
    """What one tick decided (for logs, metrics and tests)."""

    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


class AlertBook:
    def __init__(self, policy: AlertPolicy, store: StateStore, sinks: Sequence[str]) -> None:
        self.policy = policy
        self.store = store
        self.sinks = list(sinks)
        self.alerts: dict[str, TrackedAlert] = {
            fp: TrackedAlert.from_record(r) for fp, r in store.load_alerts().items()
        }
        self.groups: dict[str, GroupState] = {
            key: GroupState(**r.data) for key, r in store.load_groups().items()
        }
        self._dirty: set[str] = set()
        self._deleted: set[str] = set()
        self._dirty_groups: set[str] = set()
        self._pending_outcome = Outcome()

    # ------------------------------------------------------------------ incidents in

    def observe(
        self, context: str, incidents: Iterable[Incident], model: ClusterModel, now: dt.datetime, *,
        scope: str = "cluster", own_ids: bool = False, held: Collection[str] = (),
    ) -> None:
        """The current incidents of one cluster: open, update and clear its alerts (of ``scope``).

        ``own_ids``: each alert's fingerprint is its incident's ``id`` (an observer whose roots are
        also the cluster's, such as drift, must not take over their alerts). ``held``: fingerprints
        this observation could not check again, kept as they are (neither updated nor cleared)."""
        seen: set[str] = set(held)
        for incident in incidents:
            if incident.severity < self.policy.min_severity:
                continue
            fp = incident.id if own_ids else incident_id(context, incident.root)
            if fp in seen:
                continue  # a second incident of one root: its alert is the first's (the worst)
            seen.add(fp)
            self._update(fp, context, incident, model, now, scope)
        for fp, alert in self.alerts.items():
            if alert.context != context or alert.scope != scope or fp in seen or alert.state == "resolved":
                continue
            if alert.state == "pending" and alert.notified != "firing":
                self._delete(fp)  # cleared before its threshold: a blip, never an alert
            else:
                alert.state = "resolved"
                alert.resolved_at = iso(now)
                self._pending_outcome.resolved.append(fp)
                self._dirty.add(fp)
        for fp in self._deleted:
            self.alerts.pop(fp, None)

    def _update(
        self, fp: str, context: str, incident: Incident, model: ClusterModel, now: dt.datetime, scope: str
    ) -> None:
        root = incident.root
        cause = incident.cause
        labels = {
            "alertname": cause.code,
            "severity": incident.severity.label,
            "context": context,
            "namespace": root.namespace,
            "kind": root.kind,
            "name": root.name,
        }
        more = f" ({len(incident.symptoms)} related findings)" if incident.symptoms else ""
        headline = CODES.get(cause.code)
        annotations = {
            # The root, not the incident's title: that names its headline finding's object, which for
            # a grouped incident is one of its pods, a different one as pods are replaced.
            "summary": f"{headline.title if headline else cause.code}: {root}",
            "description": f"{cause.object}: {cause.message}{more}",
            "remediation": cause.remediation.text,
        }
        pods, restarts, depends = _blast(model, incident)
        alert = self.alerts.get(fp)
        if alert is None or alert.state == "resolved":
            previous = alert
            alert = TrackedAlert(fp, context, "pending", labels, annotations, first_seen=iso(now) or "", scope=scope)
            if previous is not None and previous.notified == "firing":
                # Back before its resolution went out: the receivers still think it fires.
                alert.notified = "firing"
                alert.first_seen = previous.first_seen
                alert.labels, alert.annotations = previous.labels, previous.annotations
            self.alerts[fp] = alert
            self._deleted.discard(fp)
        if alert.notified == "firing":
            # Receivers know a notified alert by its labels (Alertmanager keys alerts by them) and
            # its summary: they stay as notified until it resolves, so the resolution names the
            # alert that fired even when the headline changed meanwhile (a crash loop whose pods
            # are being replaced turns into "Deployment unavailable"). The rest follows the incident.
            labels = alert.labels
            annotations["summary"] = alert.annotations.get("summary", annotations["summary"])
        changed = (
            alert.labels != labels or alert.annotations != annotations or alert.pods != pods
            or alert.restarts != restarts or alert.depends_on != depends
        )
        alert.labels, alert.annotations, alert.pods, alert.restarts = labels, annotations, pods, restarts
        alert.depends_on, alert.root = depends, str(root)
        if changed:
            self._dirty.add(fp)

    def _delete(self, fp: str) -> None:
        self._deleted.add(fp)
        self._dirty.discard(fp)

    # ------------------------------------------------------------------ time passes

    def tick(self, now: dt.datetime, silences: Sequence[Silence] = ()) -> Outcome:
        """Fire what passed its threshold, apply silences and inhibition, send what is due, commit."""
        outcome, self._pending_outcome = self._pending_outcome, Outcome()
        for fp, alert in self.alerts.items():
            if alert.state == "pending":
                since = parse_iso(alert.first_seen)
                assert since is not None
                if (now - since).total_seconds() >= self.policy.threshold(alert.code):
                    alert.state = "firing"
                    alert.fired_at = iso(now)
                    outcome.fired.append(fp)
                    self._dirty.add(fp)
        self._suppress(now, silences)
        notifications = self._flush_groups(now)
        outcome.notifications = notifications
        deleted = set(self._deleted)
        if not (self._dirty or deleted or self._dirty_groups or notifications):
            return outcome  # nothing decided: no transaction
        self.store.commit(
            alerts=[self.alerts[fp].record(now) for fp in self._dirty if fp in self.alerts],
            deleted_alerts=deleted,
            groups=[self.groups[k].record(now) for k in self._dirty_groups if k in self.groups],
            notifications=[(sink, n) for n in notifications for sink in self.sinks],
        )
        self._dirty.clear()
        self._deleted.clear()
        self._dirty_groups.clear()
        return outcome

    def _suppress(self, now: dt.datetime, silences: Sequence[Silence]) -> None:
        sources: dict[str, str] = {}
        if self.policy.inhibit:
            for fp, alert in self.alerts.items():
                if alert.state == "firing" and alert.labels.get("kind") in INHIBITING_KINDS:
                    sources.setdefault(f"{alert.context}|{alert.root}", fp)
        for fp, alert in self.alerts.items():
            reason = ""
            silence = silenced_by(silences, alert.labels, now)
            if silence is not None:
                reason = f"silenced:{silence.id}"
            else:
                for dep in alert.depends_on:
                    source = sources.get(f"{alert.context}|{dep}")
                    if source is not None and source != fp:
                        reason = f"inhibited:{source}"
                        break
            if reason != alert.suppressed:
                alert.suppressed = reason
                self._dirty.add(fp)

    def _group_key(self, alert: TrackedAlert) -> tuple[str, dict[str, str]]:
        labels = {name: alert.labels.get(name, "") for name in self.policy.group_by}
        return json.dumps(labels, sort_keys=True, separators=(",", ":")), labels

    def _flush_groups(self, now: dt.datetime) -> list[Notification]:
        members: dict[str, list[TrackedAlert]] = {}
        labels_of: dict[str, dict[str, str]] = {}
        for alert in self.alerts.values():
            key, labels = self._group_key(alert)
            labels_of[key] = labels
            if _to_send(alert):
                members.setdefault(key, []).append(alert)
        out: list[Notification] = []
        for key in set(members) | set(self.groups):
            group = self.groups.get(key)
            alerts = sorted(members.get(key, []), key=lambda a: a.fingerprint)
            if not alerts:
                if group is not None and group.active_since is not None:
                    group.active_since, group.last_sent, group.last_hash = None, None, ""
                    self._dirty_groups.add(key)
                continue
            if group is None:
                group = GroupState(key, labels_of[key])
                self.groups[key] = group
            if group.active_since is None:
                group.active_since = iso(now)
                self._dirty_groups.add(key)
            content = _content_hash(alerts)
            if not self._due(group, content, alerts, now):
                continue
            group.sequence += 1
            group.last_sent, group.last_hash = iso(now), content
            self._dirty_groups.add(key)
            status: AlertStatus = "firing" if any(a.state != "resolved" for a in alerts) else "resolved"
            out.append(
                Notification(key, dict(group.labels), status, tuple(a.to_alert() for a in alerts), group.sequence, now)
            )
            for alert in alerts:
                if alert.state == "resolved":
                    self._delete(alert.fingerprint)  # told: its lifecycle is over
                else:
                    alert.notified = "firing"
                    self._dirty.add(alert.fingerprint)
            if status == "resolved":
                group.active_since, group.last_sent, group.last_hash = None, None, ""
        for fp in self._deleted:
            self.alerts.pop(fp, None)
        return out

    def _due(self, group: GroupState, content: str, alerts: list[TrackedAlert], now: dt.datetime) -> bool:
        if group.last_sent is None:
            since = parse_iso(group.active_since)
            assert since is not None
            return (now - since).total_seconds() >= self.policy.group_wait
        elapsed = (now - (parse_iso(group.last_sent) or now)).total_seconds()
        if content != group.last_hash:
            return elapsed >= self.policy.group_interval
        return any(a.state == "firing" for a in alerts) and elapsed >= self.policy.repeat_interval

    # ------------------------------------------------------------------ views

    def counts(self, context: str) -> dict[tuple[str, str], int]:
        """(state, severity) -> active alerts, where state is pending|firing|silenced|inhibited."""
        out: dict[tuple[str, str], int] = {}
        for alert in self.alerts.values():
            if alert.context != context or alert.state == "resolved":
                continue
            state = alert.suppressed.split(":", 1)[0] if alert.suppressed and alert.state == "firing" else alert.state
            out[(state, alert.severity)] = out.get((state, alert.severity), 0) + 1
        return out


def _to_send(alert: TrackedAlert) -> bool:
    """Firing and not muted, or resolved after the receivers were told it fired."""
    if alert.state == "firing":
        return not alert.suppressed
    return alert.state == "resolved" and alert.notified == "firing"


def _content_hash(alerts: Iterable[TrackedAlert]) -> str:
    parts = [f"{a.fingerprint}:{a.state == 'resolved'}:{a.restarts}" for a in alerts]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _blast(model: ClusterModel, incident: Incident) -> tuple[int, int, list[str]]:
    """Pods affected, their total container restarts, and what the incident depends on (nodes, classes)."""
    keys: set[ObjectKey] = set()
    for item in incident.findings:
        keys.add(item.object)
        keys.update(item.related)
    pods = restarts = 0
    depends: set[str] = set()
    claims: set[tuple[str, str]] = set()
    for key in keys:
        if key.kind == "Pod":
            pods += 1
            pod = model.get(*key)
            if pod is None:
                continue
            restarts += pod_restarts(pod)
            if pod.spec.nodeName:
                depends.add(str(ObjectKey("Node", "", pod.spec.nodeName)))
            for volume in pod.spec.volumes or ():
                if volume.persistentVolumeClaim is not None:
                    claims.add((key.namespace, volume.persistentVolumeClaim.claimName))
        elif key.kind == "PersistentVolumeClaim":
            claims.add((key.namespace, key.name))
    for namespace, name in claims:
        pvc = model.pvc(namespace, name)
        if pvc is not None and pvc.spec.storageClassName:
            depends.add(str(ObjectKey("StorageClass", "", pvc.spec.storageClassName)))
    return pods, restarts, sorted(depends)

