"""``watch --drift-from``: drift results into KS902 incidents, and their alerts in the book (a real SQLite store).

The comparison itself is drift's (its own tests); here: which objects alert, what an alert says (paths,
never a value), what a check that could not compare an object leaves alone, and that drift alerts live
beside the cluster's alerts of the same object.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from kubesteward.alerts.lifecycle import AlertBook, AlertPolicy
from kubesteward.drift.compare import Change
from kubesteward.drift.namespaces import DriftResult, ObjectDrift, Side, Status
from kubesteward.drift.source import Opened
from kubesteward.findings import CODES, Finding, Remediation, Severity, Step
from kubesteward.findings.incidents import Incident
from kubesteward.metrics.collector import KubestewardCollector
from kubesteward.metrics.exporter import ClusterView
from kubesteward.model.cluster import ClusterModel, ObjectKey, Skipped
from kubesteward.model.coverage import Coverage
from kubesteward.state.store import StateStore
from kubesteward.watch.drift import FAILED, OK, PARTIAL, PENDING, SCOPE, DriftCheck, DriftHealth, drift_check

T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
CTX = "prod"
OPENED = Opened((Path("deploy/app.yaml"),), None, "deploy/app.yaml")
GIT = Opened((Path("/tmp/x"),), "a" * 40, "git:/srv/shop@main:deploy (aaaaaaa)")
SECRET_DIGESTS = ("sha256:0123456789abcdef", "sha256:fedcba9876543210")


def obj(kind: str, name: str, status: Status, *changes: Change, reason: str = "", group: str = "") -> ObjectDrift:
    return ObjectDrift(kind, group, name, name, status, tuple(changes), namespace="shop", reason=reason)


def result(*objects: ObjectDrift, gaps: tuple[Skipped, ...] = ()) -> DriftResult:
    full = Coverage(namespace=None, gaps=(), not_served=())
    return DriftResult(
        left=Side("", "deploy/app.yaml", full, len(objects)),
        right=Side(CTX, "", Coverage(namespace=None, gaps=gaps, not_served=()), len(objects)),
        objects=objects, kinds=("ConfigMap",),
    )


COLOR = Change("/data/color", "changed", "blue", "red")
PASSWORD = Change("/data/password", "changed", *SECRET_DIGESTS, secret=True)


def test_each_drifted_or_missing_object_is_one_ks902_incident_naming_paths_not_values() -> None:
    check = drift_check(CTX, result(
        obj("ConfigMap", "settings", "drifted", COLOR),
        obj("Secret", "creds", "drifted", PASSWORD),
        obj("Deployment", "web", "missing", group="apps"),
        obj("Service", "web", "in-sync"),
    ), OPENED)
    assert check.health == DriftHealth(OK, "", None, 4, 3)
    by_name = {(i.root.kind, i.root.name): i for i in check.incidents}
    assert set(by_name) == {("ConfigMap", "settings"), ("Secret", "creds"), ("Deployment", "web")}
    for item in check.incidents:
        assert item.cause.code == "KS902" and item.severity == Severity.WARNING
        assert item.root.namespace == "shop"
    settings = by_name["ConfigMap", "settings"].cause
    assert settings.message == "differs from deploy/app.yaml: /data/color changed"
    assert "blue" not in repr(settings) and "red" not in settings.message
    creds = by_name["Secret", "creds"].cause
    assert creds.evidence["changes"] == ["/data/password"]
    assert not any(digest in repr(creds) for digest in SECRET_DIGESTS)  # not even the digests
    assert by_name["Deployment", "web"].cause.message == "missing from the cluster"
    # The steps name the manifests the watch compares with.
    assert "kubesteward drift -f deploy/app.yaml" in settings.remediation.text


def test_an_alert_lists_at_most_five_paths_and_says_how_many_more() -> None:
    changes = [Change(f"/data/k{i}", "changed", "a", "b") for i in range(7)]
    [item] = drift_check(CTX, result(obj("ConfigMap", "big", "drifted", *changes)), GIT).incidents
    assert item.cause.message.endswith("/data/k4 changed and 2 more")
    assert item.cause.evidence["revision"] == "a" * 40 and len(item.cause.evidence["changes"]) == 7
    assert "<file>" in item.cause.remediation.text  # a Git source has no file to name


def test_objects_that_could_not_be_compared_are_held_and_make_the_check_partial() -> None:
    refused = obj("ConfigMap", "bad", "error", reason="the API server refused its dry run: invalid")
    check = drift_check(CTX, result(obj("ConfigMap", "settings", "drifted", COLOR), refused,
                                    gaps=(Skipped("Secret", "forbidden"),)), OPENED)
    assert check.health.state == PARTIAL and check.observed
    assert "not covered: Secret" in check.health.reason and "1 not compared: ConfigMap/shop/bad" in check.health.reason
    assert len(check.held) == 1 and [i.root.name for i in check.incidents] == ["settings"]


def test_codes_explain_ks902() -> None:
    code = CODES["KS902"]
    assert code.area == "kubesteward" and code.severity == Severity.WARNING
    assert "--self-heal" in code.remediation.text


# --------------------------------------------------------------------------- in the alert book


@pytest.fixture
def book(tmp_path: Path) -> AlertBook:
    policy = AlertPolicy(default_threshold=0, thresholds={}, group_wait=0, group_interval=0, repeat_interval=3600)
    return AlertBook(policy, StateStore.open(str(tmp_path / "state.db")), ["hook"])


def observe(book: AlertBook, check: DriftCheck, seconds: float) -> list[tuple[str, str, str]]:
    """Observe a drift check as the watch does; the (status, kind, name) of the alerts notified."""
    now = T0 + dt.timedelta(seconds=seconds)
    if check.observed:
        active = [fp for fp, alert in book.alerts.items() if alert.scope == SCOPE]
        book.observe(CTX, check.incidents, ClusterModel(), now, scope=SCOPE, own_ids=True,
                     held=check.holding(active))
    return [(a.status, a.labels["kind"], a.labels["name"]) for n in book.tick(now).notifications for a in n.alerts]


def test_drift_alerts_fire_resolve_and_hold_when_a_check_could_not_look(book: AlertBook) -> None:
    drifted = drift_check(CTX, result(obj("ConfigMap", "settings", "drifted", COLOR)), OPENED)
    assert observe(book, drifted, 0) == [("firing", "ConfigMap", "settings")]
    # The source could not be read: nothing is known, nothing resolves.
    assert observe(book, DriftCheck(CTX, DriftHealth(FAILED, "invalid YAML")), 10) == []
    # The object's dry run was refused this time: it is held as it was.
    held = drift_check(CTX, result(obj("ConfigMap", "settings", "error", reason="refused")), OPENED)
    assert observe(book, held, 20) == []
    assert [a.state for a in book.alerts.values()] == ["firing"]
    # It matches again: resolved.
    assert observe(book, drift_check(CTX, result(obj("ConfigMap", "settings", "in-sync")), OPENED), 30) == [
        ("resolved", "ConfigMap", "settings")
    ]


def test_an_object_that_leaves_the_manifests_resolves_its_alert(book: AlertBook) -> None:
    assert observe(book, drift_check(CTX, result(obj("ConfigMap", "old", "missing")), OPENED), 0) == [
        ("firing", "ConfigMap", "old")
    ]
    assert observe(book, drift_check(CTX, result(), OPENED), 10) == [("resolved", "ConfigMap", "old")]


def test_a_drift_alert_and_a_cluster_alert_of_one_object_are_two_alerts(book: AlertBook) -> None:
    web = ObjectKey("Deployment", "shop", "web")
    crash = Finding("KS101", Severity.ERROR, web, "crash loop", Remediation((Step("fix it"),)))
    cluster = Incident(id="x", severity=Severity.ERROR, root=web, title="crash", cause=crash)
    book.observe(CTX, [cluster], ClusterModel(), T0)
    drifted = drift_check(CTX, result(obj("Deployment", "web", "drifted", Change("/spec/replicas", "changed", 2, 3),
                                          group="apps")), OPENED)
    observe(book, drifted, 0)
    assert sorted(a.code for a in book.alerts.values()) == ["KS101", "KS902"]
    # Each observation clears only its own: the drift is gone, the crash loop is not (one group: the same object).
    assert sorted(observe(book, drift_check(CTX, result(), OPENED), 10)) == [
        ("firing", "Deployment", "web"), ("resolved", "Deployment", "web")
    ]
    assert [a.code for a in book.alerts.values() if a.state != "resolved"] == ["KS101"]


def test_a_failed_drift_check_makes_the_context_not_ready_and_says_why() -> None:
    view = ClusterView(context=CTX, model=None, synced=True, state="synced", drift_state=FAILED,
                       drift_reason="deploy/app.yaml:3: invalid YAML")
    assert not view.ready and view.not_ready_reason == "drift check failed: deploy/app.yaml:3: invalid YAML"
    # Partial (RBAC, a refused dry run) is ready, as a context that may list only some kinds is synced.
    assert ClusterView(context=CTX, model=None, synced=True, state="synced", drift_state=PARTIAL).ready
    assert ClusterView(context=CTX, model=None, synced=True, state="synced").ready


def test_the_drift_check_state_is_exported_only_for_a_watch_with_a_drift_source() -> None:
    registry = CollectorRegistry()
    views = [ClusterView(context="a", model=None, synced=True, state="synced", drift_state=FAILED),
             ClusterView(context="b", model=None, synced=True, state="synced")]

    class Source:
        def clusters(self) -> list[ClusterView]:
            return views

        def sink_stats(self) -> dict[str, dict[str, int]]:
            return {}

        def healthy(self) -> bool:
            return True

        def ready(self) -> bool:
            return False

    registry.register(KubestewardCollector(Source()))
    text = generate_latest(registry).decode()
    series = {line.split(" ")[0]: line.split(" ")[1] for line in text.splitlines()
              if line.startswith("kubesteward_drift_check_state{")}
    assert series == {f'kubesteward_drift_check_state{{context="a",state="{state}"}}': "1.0" if state == FAILED
                      else "0.0" for state in (PENDING, OK, PARTIAL, FAILED)}


def test_an_owned_object_that_left_the_manifests_is_an_incident_too() -> None:
    extra = obj("ConfigMap", "old", "extra", reason="owned by app shop, no longer in the manifests")
    [item] = drift_check(CTX, result(extra), OPENED).incidents
    assert item.cause.message == "still in the cluster: owned by app shop, no longer in the manifests " \
        "(sync --prune deletes it)"


def test_an_alert_of_an_object_out_of_the_manifests_resolves_only_when_everything_could_be_read(
    book: AlertBook,
) -> None:
    owned = obj("Deployment", "old", "extra", reason="owned by app shop, no longer in the manifests", group="apps")
    assert observe(book, drift_check(CTX, result(owned), OPENED), 0) == [("firing", "Deployment", "old")]
    # The app's Deployments could not be listed this time: whether it is still there is unknown.
    unread = drift_check(CTX, result(obj("ConfigMap", "settings", "in-sync"),
                                     gaps=(Skipped("Deployment", "forbidden"),)), OPENED)
    assert observe(book, unread, 10) == []
    assert [a.state for a in book.alerts.values()] == ["firing"]
    assert observe(book, drift_check(CTX, result(obj("ConfigMap", "settings", "in-sync")), OPENED), 20) == [
        ("resolved", "Deployment", "old")]
