"""Remediations name what their finding knows: the object, its namespace, the names its evidence
holds (pods, containers, selectors, Services), never a placeholder the reader must fill in."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from kubesteward.checks.engine import load_analyzers, run_checks
from kubesteward.findings import CODES, Finding
from kubesteward.findings.remediation import personalise
from kubesteward.model.cluster import ObjectKey
from kubesteward.model.files import model_from_objects

DOCS = Path(__file__).parents[2] / "docs"
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
OLD = "2026-11-01T09:00:00Z"
NS = "shop"
Obj = dict[str, Any]

# What no finding can know, so it stays for the reader to choose: which class to make the
# default, the probe's port (probes are not decoded), a key to add, the CNI's namespace.
READERS_CHOICE = {"class", "port", "key", "file", "cni-namespace", "cni-pod", "user"}


def meta(kind: str, name: str, *, labels: dict[str, str] | None = None, owner: tuple[str, str] | None = None) -> Obj:
    m: Obj = {"name": name, "namespace": NS, "uid": f"uid-{kind}-{name}", "creationTimestamp": OLD}
    if labels:
        m["labels"] = labels
    if owner:
        m["ownerReferences"] = [{"kind": owner[0], "name": owner[1], "uid": f"uid-{owner[0]}-{owner[1]}", "controller": True}]
    return m


def unready(reason: str, last: Obj | None = None) -> Obj:
    status: Obj = {"name": "app", "ready": False, "restartCount": 9, "state": {"waiting": {"reason": reason}}}
    if last:
        status["lastState"] = {"terminated": {**last, "finishedAt": OLD}}
    return {"phase": "Running", "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": OLD}],
            "containerStatuses": [status]}


def template(labels: dict[str, str]) -> Obj:
    return {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]}}


def broken_shop() -> list[Obj]:
    """A namespace where most things are broken, each in its own way."""
    web = {"app": "web"}
    db = {"app": "db"}
    return [
        {"kind": "Node", "metadata": {"name": "node-1", "uid": "uid-node-1"},
         "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        # An OOMKilled Deployment behind a Service and an Ingress.
        {"kind": "Deployment", "metadata": meta("Deployment", "web"),
         "spec": {"replicas": 2, "selector": {"matchLabels": web}, "template": template(web)},
         "status": {"replicas": 2, "availableReplicas": 0, "conditions": [
             {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "lastTransitionTime": OLD}]}},
        {"kind": "ReplicaSet", "metadata": meta("ReplicaSet", "web-1", owner=("Deployment", "web")),
         "spec": {"replicas": 2, "selector": {"matchLabels": web}, "template": template(web)}},
        *[{"kind": "Pod", "metadata": meta("Pod", f"web-1-{i}", labels=web, owner=("ReplicaSet", "web-1")),
           "spec": {"nodeName": "node-1", "containers": [{"name": "app", "resources": {"limits": {"memory": "64Mi"}}}]},
           "status": unready("CrashLoopBackOff", {"reason": "OOMKilled", "exitCode": 137})} for i in range(2)],
        {"kind": "Service", "metadata": meta("Service", "web"), "spec": {"selector": web, "ports": [{"port": 80}]}},
        {"kind": "EndpointSlice", "metadata": meta("EndpointSlice", "web-x", labels={"kubernetes.io/service-name": "web"}),
         "endpoints": [{"conditions": {"ready": False}}]},
        # A crash-looping bare pod that also reads a ConfigMap that is gone.
        {"kind": "Pod", "metadata": meta("Pod", "worker"),
         "spec": {"nodeName": "node-1", "containers": [{"name": "app", "envFrom": [{"configMapRef": {"name": "worker-config"}}]}]},
         "status": unready("CrashLoopBackOff", {"reason": "Error", "exitCode": 1})},
        # A StatefulSet whose governing Service does not exist, with an unready pod.
        {"kind": "StatefulSet", "metadata": meta("StatefulSet", "db"),
         "spec": {"replicas": 1, "serviceName": "db-headless", "selector": {"matchLabels": db}, "template": template(db)},
         "status": {"replicas": 1, "readyReplicas": 0, "currentReplicas": 1}},
        {"kind": "Pod", "metadata": meta("Pod", "db-0", labels=db, owner=("StatefulSet", "db")),
         "spec": {"nodeName": "node-1", "containers": [{"name": "app"}]},
         "status": unready("CrashLoopBackOff", {"reason": "Error", "exitCode": 2})},
        # Configuration errors: a selector matching nothing, an Ingress to nowhere, an HPA without target.
        {"kind": "Service", "metadata": meta("Service", "shop"), "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80}]}},
        {"kind": "Ingress", "metadata": meta("Ingress", "front"), "spec": {"ingressClassName": "nginx", "rules": [{"http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "gone", "port": {"number": 80}}}}]}}]}},
        {"kind": "IngressClass", "metadata": {"name": "nginx", "uid": "uid-nginx"}, "spec": {"controller": "x"}},
        {"kind": "HorizontalPodAutoscaler", "metadata": meta("HorizontalPodAutoscaler", "api"),
         "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "api", "apiVersion": "apps/v1"}, "maxReplicas": 3}},
        {"kind": "ConfigMap", "metadata": meta("ConfigMap", "unrelated")},
    ]


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"<([a-z][a-z0-9_+-]*)>", text))


def diagnose() -> list[Finding]:
    model, ignored = model_from_objects(broken_shop(), now=NOW)
    assert not ignored
    return run_checks(model).findings


def test_remediations_name_the_objects_their_findings_know() -> None:
    findings = diagnose()
    found = {(f.code, f.object.name) for f in findings}
    # The fixture is broken in the ways this test is about (else it would prove nothing).
    assert {("KS102", "web-1-0"), ("KS201", "web"), ("KS302", "web"), ("KS101", "worker"), ("KS104", "worker"),
            ("KS206", "db"), ("KS214", "db"), ("KS301", "shop"), ("KS310", "front"), ("KS601", "api")} <= found
    left = {(f.code, f.object.name): placeholders(f.remediation.text) - READERS_CHOICE for f in findings}
    assert {k: v for k, v in left.items() if v} == {}
    by = {(f.code, f.object.name): f.remediation.text for f in findings}
    steps = {(f.code, f.object.name): f.remediation.steps for f in findings}
    assert "`kubectl rollout status deployment/web -n shop`" in by["KS201", "web"]
    # Its pods, then the one that fails (steps of their own since remediations are structured).
    commands = [s.command for s in steps["KS201", "web"]]
    assert commands[commands.index("kubectl get pods -n shop -l app=web") + 1] == "kubectl describe pod web-1-0 -n shop"
    assert "`kubectl describe pod worker -n shop`" in by["KS101", "worker"]
    assert by["KS101", "worker"].count("--previous`") == 1  # the concrete first step is not repeated in general terms
    assert "`kubectl top pod web-1-0 -n shop --containers`" in by["KS102", "web-1-0"]
    assert "kubectl create configmap worker-config -n shop" in by["KS104", "worker"]
    assert any(s.command == "kubectl describe pod db-0 -n shop" and "lowest" in s.text for s in steps["KS206", "db"])
    assert "kubectl get service shop -n shop -o jsonpath" in by["KS301", "shop"]
    assert "kubectl get ingress front -n shop -o yaml" in by["KS310", "front"]
    assert any(s.command == "kubectl get deployment -n shop" and "real name" in s.text for s in steps["KS601", "api"])


def test_a_statefulset_without_its_governing_service_says_how_to_create_it() -> None:
    [f] = [f for f in diagnose() if f.code == "KS214"]
    assert f.object == ObjectKey("StatefulSet", NS, "db") and f.cause == ObjectKey("Service", NS, "db-headless")
    assert f.evidence == {"service": "db-headless"} and f.related == [ObjectKey("Pod", NS, "db-0")]
    assert f.remediation.first.rendered() == (
        "Create the headless Service it names, selecting its pods: `kubectl create service clusterip db-headless -n shop "
        "--clusterip=None -o yaml --dry-run=client | kubectl set selector --local -f - app=db -o yaml | kubectl apply -f -`"
    )


def test_no_finding_shows_a_step_ending_on_a_colon() -> None:
    steps = {(f.code, f.object.name): f.remediation.first.rendered() for f in diagnose()}
    assert len(steps) >= 10 and not {k: v for k, v in steps.items() if v.rstrip().endswith(":")}


def test_filled_values_are_shell_quoted_and_unknown_placeholders_stay() -> None:
    text = "kubectl get pods -n <ns> -l <selector>; kubectl annotate ingressclass <class> x=y; kubectl describe pod <pod> -n <ns>"
    filled = personalise(text, ObjectKey("Deployment", NS, "web"), {"selector": "tier in (a,b)"}, {"pod": "web-1"})
    assert filled == "kubectl get pods -n shop -l 'tier in (a,b)'; kubectl annotate ingressclass <class> x=y; kubectl describe pod web-1 -n shop"


def test_the_catalogue_leaves_to_findings_only_what_they_fill() -> None:
    # Each placeholder of the catalogue is one a finding fills, or the reader's choice: a new code
    # with a placeholder of its own must also fill it (or be listed here as the reader's).
    load_analyzers()
    fillable = {"name", "ns", "namespace", "pod", "container", "image", "node", "selector", "service", "secret",
                "ingress", "policy", "pvc", "volume", "claim", "configmap", "replica_set", "serviceaccount", "job",
                "cronjob", "workload", "target", "target_kind", "replicas", "target_port"}
    unknown = {c.code: placeholders(c.remediation.text) - fillable - READERS_CHOICE for c in CODES.values()}
    assert {k: v for k, v in unknown.items() if v} == {}


def test_the_documented_code_list_is_the_catalogue() -> None:
    load_analyzers()
    documented = dict(re.findall(r"^\| (KS[1-7]\d\d) \| \w+ \| (.+) \|$", (DOCS / "codes.md").read_text(), re.M))
    assert documented == {c.code: c.title for c in CODES.values() if re.fullmatch(r"KS[1-7]\d\d", c.code)}
    assert documented["KS214"] == "StatefulSet's governing Service does not exist"
