"""The findings package: structured remediations, their rendering in every format, and the one
fingerprint that a diagnosis's incident ids and watch's alerts share."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kubesteward.alerts.lifecycle import AlertBook, AlertPolicy
from kubesteward.checks.engine import run_checks
from kubesteward.findings import Finding, Remediation, Severity, Step, finding, fix
from kubesteward.findings.catalogue import CODES
from kubesteward.findings.catalogue.networking import (
    INGRESS_SERVICE_MISSING,
    SERVICE_NAMED_PORT_MISSING,
    SERVICE_NO_READY_ENDPOINTS,
)
from kubesteward.findings.fingerprint import incident_id
from kubesteward.findings.incidents import build_incidents
from kubesteward.model.cluster import ClusterModel, ObjectKey
from kubesteward.model.coverage import coverage_of
from kubesteward.model.files import model_from_objects
from kubesteward.reporting.markdown import code_span, markdown_report
from kubesteward.reporting.sarif import sarif_document
from kubesteward.reporting.schema import cluster_doc
from kubesteward.state.store import StateStore
from kubesteward.watch.evaluate import IncrementalEvaluator
from kubesteward.watch.health import Health, watchdog_incident
from tests.support.cli import run_in_process
from tests.unit.test_remediations import NOW, broken_shop

CTX = "prod"
POD = ObjectKey("Pod", "shop", "web-1")
SERVICE = ObjectKey("Service", "shop", "web")


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore.open(str(tmp_path / "state.db"))


def shop() -> ClusterModel:
    model, _ = model_from_objects(broken_shop(), context=CTX, now=NOW)
    return model


# --------------------------------------------------------------------------- the remediation


def test_a_step_renders_as_its_sentence_and_its_command() -> None:
    remediation = Remediation((Step("Read the log", "kubectl logs web-1 -n shop"), Step("Fix the error it shows")))
    assert remediation.first.rendered() == "Read the log: `kubectl logs web-1 -n shop`"
    assert remediation.text == "- Read the log: `kubectl logs web-1 -n shop`\n- Fix the error it shows"
    assert remediation.documents() == [
        {"text": "Read the log", "command": "kubectl logs web-1 -n shop"}, {"text": "Fix the error it shows", "command": None},
    ]
    with pytest.raises(ValueError, match="at least one step"):
        Remediation(())


def test_personalising_fills_sentences_and_commands_in_one_place() -> None:
    steps = Remediation((
        Step("Describe <pod> in <ns>", "kubectl describe pod <pod> -n <ns>"),
        Step("Pods of the selector", "kubectl get pods -n <ns> -l <selector>"),
        Step("Make <class> the default", "kubectl annotate ingressclass <class> x=y"),
    ))
    filled = steps.personalised(POD, {"selector": "tier in (a,b)"})
    assert filled.steps == (
        Step("Describe web-1 in shop", "kubectl describe pod web-1 -n shop"),
        Step("Pods of the selector", "kubectl get pods -n shop -l 'tier in (a,b)'"),  # shell-quoted
        Step("Make <class> the default", "kubectl annotate ingressclass <class> x=y"),  # the reader's choice
    )
    assert steps.personalised(POD, {}, {"pod": "other"}).first.command == "kubectl describe pod other -n shop"  # fill first
    nothing = Remediation((Step("Fix it"),))
    assert nothing.placeholders == ()  # found once (define does it for the catalogue) ...
    assert nothing.personalised(POD, {}) is nothing  # ... so the hot path copies nothing without placeholders
    assert steps.placeholders == ("pod", "ns", "selector", "class") and filled.placeholders == ("class",)


def test_a_finding_leads_with_its_concrete_step() -> None:
    code = CODES["KS101"]
    led = fix(code, Step("Read why web-1 crashed", "kubectl logs web-1 -n shop --previous"), instead_of_first=True)
    assert led.steps == (Step("Read why web-1 crashed", "kubectl logs web-1 -n shop --previous"), *code.remediation.steps[1:])
    kept = fix(code, Step("Look at it first"))
    assert kept.steps == (Step("Look at it first"), *code.remediation.steps)
    item = finding(code, POD, "crash", evidence={"container": "app"}, remediation=kept)
    assert item.remediation.steps[1].command == "kubectl logs web-1 -n shop -c app --previous"


def test_an_analyzer_writes_the_command_only_it_can_know() -> None:
    # The OOM-killed container of a Deployment: its limit raised in the workload's template, not in the pod.
    [oom] = [f for f in run_checks(shop()).findings if f.code == "KS102" and f.object.name == "web-1-0"]
    assert oom.remediation.first == Step(
        "Raise `resources.limits.memory` of container app above 64Mi (its real peak plus headroom), or bound its memory use",
        "kubectl set resources deployment/web -n shop -c app --limits=memory=128Mi",
    )


def test_every_code_has_steps_and_says_what_it_runs_as_a_command() -> None:
    assert len(CODES) >= 63
    for code in CODES.values():
        assert code.remediation.steps, code.code
        for step in code.remediation.steps:
            assert step.text and step.text == step.text.strip() and step.text[-1] not in ".:;,", (code.code, step)
            assert step.command is None or (step.command.strip() == step.command and "\n" not in step.command)
    # Most steps carry a command a reader can run as it stands.
    steps = [s for c in CODES.values() for s in c.remediation.steps]
    assert sum(1 for s in steps if s.command) > len(steps) / 2


# --------------------------------------------------------------------------- every format


def test_json_keeps_the_remediation_text_and_adds_its_steps() -> None:
    model = shop()
    report = run_checks(model)
    doc = json.loads(json.dumps(cluster_doc(report, coverage_of(model))))
    item = next(f for f in doc["findings"] if f["code"] == "KS214")
    found = next(f for f in report.findings if f.code == "KS214")
    assert item["remediation"] == found.remediation.text
    assert item["remediationSteps"][0] == {
        "text": "Create the headless Service it names, selecting its pods",
        "command": "kubectl create service clusterip db-headless -n shop --clusterip=None -o yaml --dry-run=client "
                   "| kubectl set selector --local -f - app=db -o yaml | kubectl apply -f -",
    }
    assert all(set(step) == {"text", "command"} for f in doc["findings"] for step in f["remediationSteps"])
    assert doc["incidents"][0]["cause"]["remediationSteps"]


def test_sarif_and_markdown_list_the_steps_with_their_commands() -> None:
    model = shop()
    report = run_checks(model)
    sarif = sarif_document([report], {}, [coverage_of(model)])
    [run] = sarif["runs"]
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "KS214")
    assert rule["help"]["text"] == CODES["KS214"].remediation.text
    assert rule["help"]["markdown"].startswith("1. Create the headless Service it names, selecting its pods: `kubectl create")
    result = next(r for r in run["results"] if r["ruleId"] == "KS214")
    assert result["properties"]["remediationSteps"][1]["command"] == "kubectl delete statefulset db -n shop --cascade=orphan"

    text = markdown_report([report], [coverage_of(model)])
    assert "- **Fix**:\n  1. " in text
    assert "  2. Or, if the Service exists under another name" in text
    assert ": `kubectl delete statefulset db -n shop --cascade=orphan`" in text
    assert code_span("kubectl get pods") == "`kubectl get pods`"
    assert code_span("echo `date` now") == "``echo `date` now``" and code_span("echo `date`") == "`` echo `date` ``"


def test_explain_numbers_the_steps_with_each_command_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_in_process(capsys, "explain", "KS214")
    assert code == 0, err
    lines = out.splitlines()
    first = lines.index("1. Create the headless Service it names, selecting its pods")
    assert lines[first + 1].startswith("   kubectl create service clusterip <service> -n <ns> --clusterip=None")
    assert "2. Or, if the Service exists under another name, point `spec.serviceName` at it" in " ".join(out.split())
    assert "   kubectl delete statefulset <name> -n <ns> --cascade=orphan" in lines


def test_an_alert_carries_the_text_of_its_steps(store: StateStore) -> None:
    model = shop()
    report = run_checks(model)
    book = AlertBook(AlertPolicy(), store, ["log"])
    book.observe(CTX, report.incidents, model, dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC))
    incident = next(i for i in report.incidents if i.cause.code == "KS214")
    assert book.alerts[incident.id].annotations["remediation"] == incident.cause.remediation.text


# --------------------------------------------------------------------------- one fingerprint


def test_a_diagnosis_and_a_watch_evaluation_of_one_model_give_one_id(store: StateStore) -> None:
    model = shop()
    diagnosed = run_checks(model).incidents
    # What watch does with the same model: its evaluator, incidents, then the alert book.
    evaluated = build_incidents(model, IncrementalEvaluator().full(model))
    book = AlertBook(AlertPolicy(min_severity=Severity.INFO), store, ["log"])
    book.observe(CTX, evaluated, model, dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC))
    assert len(diagnosed) >= 5
    assert [i.id for i in diagnosed] == [i.id for i in evaluated]
    assert set(book.alerts) == {i.id for i in diagnosed}
    assert all(i.id == incident_id(CTX, i.root) for i in diagnosed)
    # The watchdog's incident too: its id is the fingerprint of its alert.
    blind = watchdog_incident(CTX, Health("unreachable", "connection refused"))
    book.observe(CTX, [blind], ClusterModel(context=CTX), dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC), scope="watchdog")
    assert blind.id in book.alerts and book.alerts[blind.id].root == "Context/prod"


def test_two_incidents_of_one_root_keep_apart_and_watch_alerts_for_the_first(store: StateStore) -> None:
    # A Service's own trouble (a named port no pod defines) beside a chain that ends at it: its no-ready-endpoints
    # symptom points at the pods' Deployment, and an Ingress naming it heads that group.
    deployment = ObjectKey("Deployment", "shop", "web")
    ingress = ObjectKey("Ingress", "shop", "front")
    findings: list[Finding] = [
        finding(SERVICE_NO_READY_ENDPOINTS, SERVICE, "no ready endpoints", cause=deployment),
        finding(SERVICE_NAMED_PORT_MISSING, SERVICE, "targetPort http names no port"),
        finding(INGRESS_SERVICE_MISSING, ingress, "backend", cause=SERVICE),
    ]
    incidents = build_incidents(ClusterModel(context=CTX), findings)
    assert [i.root for i in incidents] == [SERVICE, SERVICE]
    first, second = incidents
    assert first.id == incident_id(CTX, SERVICE) and second.id == incident_id(CTX, SERVICE, second.cause.code)
    book = AlertBook(AlertPolicy(), store, ["log"])
    book.observe(CTX, incidents, ClusterModel(context=CTX), dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC))
    assert list(book.alerts) == [first.id]
    assert book.alerts[first.id].labels["alertname"] == first.cause.code
