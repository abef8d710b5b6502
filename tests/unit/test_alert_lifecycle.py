"""The alert lifecycle (thresholds, grouping, intervals, silences, inhibition, restarts) on a real SQLite store.

Time is passed explicitly, so these tests never sleep.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from kubesteward.alerts.lifecycle import AlertBook, AlertPolicy, Outcome
from kubesteward.findings import Finding, Remediation, Severity, Step
from kubesteward.findings.incidents import Incident
from kubesteward.model.cluster import ClusterModel, ObjectKey
from kubesteward.model.files import model_from_objects
from kubesteward.notifications.silences import Matcher, Silence
from kubesteward.state.store import StateStore

T0 = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
CTX = "prod"

FIX_IT = Remediation((Step("fix it"),))


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def incident(root: ObjectKey, code: str = "KS102", *, pods: Sequence[str] = (),
             severity: Severity = Severity.ERROR) -> Incident:
    cause = Finding(code, severity, ObjectKey("Pod", root.namespace, pods[0]) if pods else root, "broken", FIX_IT,
                    related=[ObjectKey("Pod", root.namespace, p) for p in pods])
    return Incident(id="x", severity=severity, root=root, title=f"{code}: {root}", cause=cause, pods=len(pods))


def pod(name: str, node: str, restarts: int = 0, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "app:1"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "app", "image": "app:1", "ready": False, "restartCount": restarts}]},
    }


def model_of(*objects: dict[str, Any]) -> ClusterModel:
    model, _ = model_from_objects(list(objects), context=CTX, now=T0)
    return model


WEB = ObjectKey("Deployment", "shop", "web")
API = ObjectKey("Deployment", "shop", "api")
NODE = ObjectKey("Node", "", "node-1")


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(str(tmp_path / "state.db"))


def book_for(store: StateStore, **policy: Any) -> AlertBook:
    defaults: dict[str, Any] = {"default_threshold": 30, "thresholds": {}, "group_wait": 0, "group_interval": 60,
                                "repeat_interval": 3600}
    defaults.update(policy)
    return AlertBook(AlertPolicy(**defaults), store, ["hook", "log"])


def step(book: AlertBook, seconds: float, incidents: list[Incident] | None, model: ClusterModel | None = None,
         silences: Sequence[Silence] = ()) -> Outcome:
    if incidents is not None:
        book.observe(CTX, incidents, model or ClusterModel(context=CTX), at(seconds))
    return book.tick(at(seconds), silences)


def test_fires_only_after_the_threshold_and_a_blip_never_fires(store: StateStore) -> None:
    book = book_for(store, thresholds={"KS102": 20})
    assert step(book, 0, [incident(WEB)]).notifications == []
    assert step(book, 19, [incident(WEB)]).notifications == []
    out = step(book, 20, [incident(WEB)])
    assert len(out.notifications) == 1 and out.fired
    sent = out.notifications[0]
    assert sent.status == "firing" and sent.alerts[0].labels["alertname"] == "KS102"
    assert sent.alerts[0].labels["name"] == "web" and sent.alerts[0].starts_at == at(0)

    # A second incident that clears before its 30 s default threshold: no alert at all.
    assert step(book, 25, [incident(WEB), incident(API, "KS101")]).notifications == []
    assert step(book, 40, [incident(WEB)]).notifications == []
    assert step(book, 200, [incident(WEB)]).notifications == []
    assert [a.labels["name"] for a in book.alerts.values()] == ["web"]


def test_resolution_is_notified_once_with_its_duration_and_forgotten(store: StateStore) -> None:
    book = book_for(store, default_threshold=0)
    assert len(step(book, 0, [incident(WEB)]).notifications) == 1
    out = step(book, 90, [])
    assert len(out.notifications) == 1
    resolved = out.notifications[0].alerts[0]
    assert resolved.status == "resolved" and resolved.duration_seconds == 90
    assert book.alerts == {}
    assert step(book, 200, []).notifications == []
    # Every notification went to both sinks through the outbox, exactly once each.
    assert {sink: stats["pending"] for sink, stats in store.outbox_stats().items()} == {"hook": 2, "log": 2}


def test_group_wait_collects_a_storm_into_one_notification(store: StateStore) -> None:
    book = book_for(store, default_threshold=0, group_wait=10, group_by=("context", "namespace"))
    assert step(book, 0, [incident(WEB)]).notifications == []
    assert step(book, 5, [incident(WEB), incident(API)]).notifications == []
    out = step(book, 10, [incident(WEB), incident(API)])
    assert len(out.notifications) == 1
    assert sorted(a.labels["name"] for a in out.notifications[0].alerts) == ["api", "web"]
    assert out.notifications[0].group_labels == {"context": CTX, "namespace": "shop"}


def test_changes_wait_for_group_interval_and_unchanged_groups_repeat(store: StateStore) -> None:
    book = book_for(store, default_threshold=0)
    crashing = model_of(pod("web-1", "node-1", restarts=1))
    assert len(step(book, 0, [incident(WEB, pods=["web-1"])], crashing).notifications) == 1
    more = model_of(pod("web-1", "node-1", restarts=2))
    assert step(book, 30, [incident(WEB, pods=["web-1"])], more).notifications == []  # within group_interval
    out = step(book, 60, [incident(WEB, pods=["web-1"])], more)
    assert [n.alerts[0].restarts for n in out.notifications] == [2]  # the increase, reported once
    assert step(book, 200, [incident(WEB, pods=["web-1"])], more).notifications == []
    out = step(book, 60 + 3600, [incident(WEB, pods=["web-1"])], more)
    assert len(out.notifications) == 1 and out.notifications[0].sequence == 3  # repeat_interval
    keys = {n.idempotency_key for n in out.notifications}
    assert len(keys) == 1


def test_a_silence_mutes_matching_alerts_until_it_expires(store: StateStore) -> None:
    book = book_for(store, default_threshold=0)
    silence = Silence("s1", (Matcher("name", "=", "web"),), at(-1), at(100), "me", "deploying")
    out = step(book, 0, [incident(WEB), incident(API)], silences=[silence])
    assert [a.labels["name"] for n in out.notifications for a in n.alerts] == ["api"]
    assert book.counts(CTX) == {("silenced", "error"): 1, ("firing", "error"): 1}
    assert step(book, 50, [incident(WEB), incident(API)], silences=[silence]).notifications == []
    out = step(book, 101, [incident(WEB), incident(API)], silences=[silence])
    assert [a.labels["name"] for n in out.notifications for a in n.alerts] == ["web"]


def test_a_firing_node_inhibits_the_alerts_of_the_pods_on_it(store: StateStore) -> None:
    book = book_for(store, default_threshold=0, thresholds={"KS501": 0})
    model = model_of(pod("web-1", "node-1"), pod("api-1", "node-2"))
    node_down = incident(NODE, "KS501")
    out = step(book, 0, [node_down, incident(WEB, pods=["web-1"]), incident(API, pods=["api-1"])], model)
    sent = sorted(a.labels["name"] for n in out.notifications for a in n.alerts)
    assert sent == ["api", "node-1"]
    assert book.counts(CTX)[("inhibited", "error")] == 1
    # The node recovers while web still fails: web is no longer inhibited and is notified at
    # once (its group never sent); the node's resolution waits for its group_interval.
    out = step(book, 10, [incident(WEB, pods=["web-1"]), incident(API, pods=["api-1"])], model)
    assert [(n.status, a.labels["name"]) for n in out.notifications for a in n.alerts] == [("firing", "web")]
    out = step(book, 60, [incident(WEB, pods=["web-1"]), incident(API, pods=["api-1"])], model)
    assert [(n.status, a.labels["name"]) for n in out.notifications for a in n.alerts] == [("resolved", "node-1")]


def test_a_restarted_book_remembers_and_notifies_nothing_new(store: StateStore, tmp_path: Path) -> None:
    book = book_for(store, default_threshold=0)
    assert len(step(book, 0, [incident(WEB)]).notifications) == 1
    store.close()
    again = StateStore.open(str(tmp_path / "state.db"))
    restarted = book_for(again, default_threshold=0)
    assert step(restarted, 5, [incident(WEB)]).notifications == []
    assert step(restarted, 10, []).notifications == []  # resolved, but within group_interval
    out = step(restarted, 60, [])
    assert [n.status for n in out.notifications] == ["resolved"]
    assert again.outbox_stats()["hook"]["pending"] == 2


def test_info_incidents_do_not_alert_by_default(store: StateStore) -> None:
    book = book_for(store, default_threshold=0)
    assert step(book, 0, [incident(WEB, "KS306", severity=Severity.INFO)]).notifications == []
    assert book.alerts == {}


def headed_by(root: ObjectKey, code: str, pod_name: str) -> Incident:
    """A grouped incident as ``build_incidents`` makes it: its headline finding is about one of its pods,
    and its title names that pod (not the root)."""
    cause = Finding(code, Severity.ERROR, ObjectKey("Pod", root.namespace, pod_name), f"{pod_name} broken", FIX_IT)
    return Incident(id="x", severity=Severity.ERROR, root=root, title=f"{code}: Pod/{root.namespace}/{pod_name} (+2)",
                    cause=cause, pods=3)


def test_a_resolution_names_the_alert_that_fired_though_its_pods_and_headline_changed(store: StateStore) -> None:
    book = book_for(store, default_threshold=0, group_interval=0)
    (fired,) = step(book, 0, [headed_by(WEB, "KS101", "web-aaaaa")]).notifications
    # The crash-looping pod is replaced, then a rollout turns the headline into another code.
    step(book, 10, [headed_by(WEB, "KS101", "web-bbbbb")])
    step(book, 20, [headed_by(WEB, "KS201", "web-ccccc")])
    (resolved,) = step(book, 30, []).notifications
    before, after = fired.alerts[0], resolved.alerts[0]
    assert (before.status, after.status) == ("firing", "resolved")
    assert after.fingerprint == before.fingerprint
    assert after.labels == before.labels  # what Alertmanager keys the alert by
    assert after.annotations["summary"] == before.annotations["summary"]
    assert "Deployment/shop/web" in before.annotations["summary"]  # the root, not one of its pods
    assert "web-aaaaa" not in before.annotations["summary"]
    assert "web-ccccc" in after.annotations["description"]  # the details follow the incident


def test_a_pending_alert_takes_the_headline_of_the_moment(store: StateStore) -> None:
    book = book_for(store, default_threshold=30)
    step(book, 0, [headed_by(WEB, "KS101", "web-aaaaa")])
    (fired,) = step(book, 30, [headed_by(WEB, "KS201", "web-bbbbb")]).notifications
    assert fired.alerts[0].labels["alertname"] == "KS201"  # nothing was notified yet: nothing to keep


def test_the_watchdog_and_the_clusters_incidents_clear_only_their_own_alerts(store: StateStore) -> None:
    book = book_for(store, default_threshold=0)
    blind = incident(ObjectKey("Context", "", CTX), "KS901")
    book.observe(CTX, [incident(WEB)], ClusterModel(context=CTX), at(0))
    book.observe(CTX, [blind], ClusterModel(context=CTX), at(0), scope="watchdog")
    out = book.tick(at(0))
    assert sorted(a.labels["name"] for n in out.notifications for a in n.alerts) == [CTX, "web"]
    # The cluster cannot be seen: its incidents are not observed, and its alert must not resolve.
    book.observe(CTX, [blind], ClusterModel(context=CTX), at(70), scope="watchdog")
    assert book.tick(at(70)).notifications == []
    # Seen again: the watchdog resolves; the cluster's own alert is untouched by that.
    book.observe(CTX, [], ClusterModel(context=CTX), at(140), scope="watchdog")
    book.observe(CTX, [incident(WEB)], ClusterModel(context=CTX), at(140))
    out = book.tick(at(140))
    assert [(n.status, a.status, a.labels["name"]) for n in out.notifications for a in n.alerts] == [
        ("resolved", "resolved", CTX)]
    assert [a.labels["name"] for a in book.alerts.values()] == ["web"]
