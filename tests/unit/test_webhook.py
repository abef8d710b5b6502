"""The admission webhook without a cluster: AdmissionReview in and out (the real rule engine), what is
judged and what is left alone, the JSON Patch, the certificates (a real CA chain, files owner-only),
the HTTPS server with verified TLS, certificate rotation without a restart, the time budget under
both failure policies, and the configurations `install` applies."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import ssl
import stat
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from kubesteward.errors import UsageError
from kubesteward.findings import Severity, define, steps
from kubesteward.findings.codes import CODES
from kubesteward.findings.remediation import Step
from kubesteward.model.semantics.pod_templates import unpointer
from kubesteward.policy import RULES, PolicyContext, Violation, load_rules, object_rule, parse_policy_config
from kubesteward.policy.fixes import Fix, apply_fixes
from kubesteward.webhook import admission
from kubesteward.webhook.admission import AdmissionPolicy
from kubesteward.webhook.certs import ReloadingTLS, TLSFiles, ensure_certificates, service_names
from kubesteward.webhook.install import Registration, configurations
from kubesteward.webhook.server import WebhookServer

UNKNOWN_SUPPRESSION = {"ignore.kubesteward.io/KS999": "a code that does not exist"}


def pod(namespace: str = "shop", annotations: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": namespace, "annotations": annotations or {}, **extra},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                     "env": [{"name": "PASSWORD", "value": "hunter2-very-secret"}]}]}}


def review(obj: dict[str, Any] | None, *, operation: str = "CREATE", namespace: str = "shop", dry_run: bool = False,
           sub_resource: str = "", old: dict[str, Any] | None = None) -> bytes:
    request: dict[str, Any] = {"uid": "0f1e2d", "operation": operation, "namespace": namespace, "dryRun": dry_run,
                               "object": obj, "oldObject": old}
    if sub_resource:
        request["subResource"] = sub_resource
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


def policy(rules: dict[str, str] | None = None, *, only: tuple[str, ...] = ("KS89*",), **kwargs: Any) -> AdmissionPolicy:
    """The machinery's rules only by default (``only=()``: the whole production profile), so these tests
    of the webhook's mechanics do not change with every new rule."""
    return AdmissionPolicy(parse_policy_config({"rules": rules} if rules else None, "test", only=only), **kwargs)


def answer(judge: Any, body: bytes, chosen: AdmissionPolicy) -> dict[str, Any]:
    request = admission.parse_review(body)
    result: dict[str, Any] = admission.response(request, judge(request, chosen))
    return result


# -- validation ------------------------------------------------------------------------------------


def test_warning_rules_become_admission_warnings_and_the_request_is_allowed() -> None:
    out = answer(admission.validate, review(pod(annotations=UNKNOWN_SUPPRESSION)), policy())
    assert out["apiVersion"] == "admission.k8s.io/v1" and out["kind"] == "AdmissionReview"
    assert out["response"]["uid"] == "0f1e2d"
    assert out["response"]["allowed"] is True
    assert out["response"]["warnings"] == [
        "KS891 annotation ignore.kubesteward.io/KS999 names no rule: it suppresses nothing"]


def test_error_rules_deny_with_every_code_and_message() -> None:
    both = {**UNKNOWN_SUPPRESSION, "ignore.kubesteward.io/KS890": ""}  # no reason, and an unknown code
    out = answer(admission.validate, review(pod(annotations=both)), policy({"KS890": "error", "KS891": "error"}))
    response = out["response"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 403 and response["status"]["reason"] == "Forbidden"
    message = response["status"]["message"]
    assert message.startswith("kubesteward policy: ")
    assert "KS890 annotation ignore.kubesteward.io/KS890 suppresses nothing: it gives no reason" in message
    assert "KS891 annotation ignore.kubesteward.io/KS999 names no rule" in message


def test_under_the_production_profile_a_bare_pod_is_refused_until_mutated() -> None:
    production = policy(only=())
    bare = pod()
    del bare["spec"]["containers"][0]["env"]  # a literal PASSWORD is an error no mutation fixes (KS753)
    refused = answer(admission.validate, review(bare), production)["response"]
    assert refused["allowed"] is False
    assert "KS701 container app has no memory request" in refused["status"]["message"]
    assert "KS702 container app has no memory limit" in refused["status"]["message"]
    assert any(w.startswith("KS706 ") for w in refused["warnings"])
    # The API server applies the mutation first: what validation then sees lacks none of it.
    patch = answer(admission.mutate, review(bare), production)["response"]["patch"]
    operations = json.loads(base64.b64decode(patch))
    mutated = apply_fixes(bare, [Fix(unpointer(op["path"]), op["value"], "") for op in operations])
    admitted = answer(admission.validate, review(mutated), production)["response"]
    assert admitted["allowed"] is True
    assert not {w.split()[0] for w in admitted["warnings"]} & {"KS700", "KS740", "KS745"}


def test_a_dry_run_is_answered_as_the_real_request_would_be() -> None:
    chosen = policy({"KS891": "error"})
    real = answer(admission.validate, review(pod(annotations=UNKNOWN_SUPPRESSION)), chosen)
    dry = answer(admission.validate, review(pod(annotations=UNKNOWN_SUPPRESSION), dry_run=True), chosen)
    assert dry == real and dry["response"]["allowed"] is False


@pytest.mark.parametrize(("namespace", "operation", "sub_resource", "deleting", "kind"), [
    ("kube-system", "CREATE", "", False, "Pod"),  # exempt by default
    ("webhooks", "CREATE", "", False, "Pod"),  # the server's own namespace
    ("shop", "UPDATE", "", False, "Pod"),  # a pod's updates (labels, finalizers)
    ("shop", "CREATE", "ephemeralcontainers", False, "Pod"),
    ("shop", "UPDATE", "", True, "Deployment"),  # being deleted: finalizers must be able to go
    ("shop", "DELETE", "", False, "Pod"),
])
def test_what_is_not_judged_is_allowed_as_it_is(namespace: str, operation: str, sub_resource: str, deleting: bool,
                                                kind: str) -> None:
    obj = pod(namespace, UNKNOWN_SUPPRESSION, **({"deletionTimestamp": "2026-12-03T00:00:00Z"} if deleting else {}))
    obj["kind"] = kind
    chosen = policy({"KS891": "error"}).with_exempt("webhooks")
    body = review(None if operation == "DELETE" else obj, operation=operation, namespace=namespace,
                  sub_resource=sub_resource)
    for judge in (admission.validate, admission.mutate):
        assert answer(judge, body, chosen)["response"] == {"uid": "0f1e2d", "allowed": True}


def test_a_workload_update_is_judged_when_more_than_its_metadata_changes() -> None:
    before = pod(annotations=UNKNOWN_SUPPRESSION)
    before["kind"] = "Deployment"
    changed = copy.deepcopy(before)
    changed["spec"]["containers"][0]["image"] = "nginx:1.28"
    out = answer(admission.validate, review(changed, operation="UPDATE", old=before), policy({"KS891": "error"}))
    assert out["response"]["allowed"] is False
    # A controller's revision annotation on an object made before the rule: not refused, not mutated.
    relabelled = copy.deepcopy(before)
    relabelled["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "2"
    relabelled["status"] = {"observedGeneration": 2}
    for judge in (admission.validate, admission.mutate):
        out = answer(judge, review(relabelled, operation="UPDATE", old=before), policy({"KS891": "error"}))
        assert out["response"] == {"uid": "0f1e2d", "allowed": True}


def test_rules_see_the_object_redacted_and_in_the_requests_namespace() -> None:
    obj = pod()
    del obj["metadata"]["namespace"]
    seen = admission.subject(admission.parse_review(review(obj, namespace="shop")))
    assert seen["metadata"]["namespace"] == "shop"
    assert "hunter2-very-secret" not in json.dumps(seen)


def test_not_an_admission_review_is_a_bad_review() -> None:
    for body in (b"{", b"[]", b'{"kind": "AdmissionReview", "request": {}}', b'{"kind": "Pod"}'):
        with pytest.raises(admission.BadReview):
            admission.parse_review(body)


def test_judging_that_failed_is_answered_by_the_failure_policy() -> None:
    request = admission.parse_review(review(pod()))
    refused = admission.response(request, admission.unjudged(policy(failure_policy="Fail"), "too slow"))["response"]
    assert refused["allowed"] is False and refused["status"]["code"] == 500 and "too slow" in refused["status"]["message"]
    let_through = admission.response(request, admission.unjudged(policy(failure_policy="Ignore"), "too slow"))
    assert let_through["response"]["allowed"] is True
    assert let_through["response"]["warnings"] == ["kubesteward policy not applied: too slow"]


# -- mutation --------------------------------------------------------------------------------------


def test_the_mutation_is_a_base64_json_patch_of_the_safe_fixes_with_an_escaped_annotation() -> None:
    out = answer(admission.mutate, review(pod()), policy())["response"]
    assert out["allowed"] is True and out["patchType"] == "JSONPatch"
    operations = json.loads(base64.b64decode(out["patch"]))
    paths = [op["path"] for op in operations]
    assert paths == ["/spec/containers/0/resources", "/spec/containers/0/securityContext", "/spec/securityContext",
                     "/metadata/annotations/kubesteward.io~1mutated"]
    assert operations[-1]["value"].startswith("container app: no cpu request")
    assert "hunter2" not in json.dumps(operations)


def test_what_a_controller_makes_is_not_mutated_but_its_pods_are() -> None:
    owner = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "1", "controller": True}]
    replicaset = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": "web-5d4f", "namespace": "shop", "ownerReferences": owner},
                  "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}
    # Changed behind its back, the ReplicaSet's template would never match its Deployment's again.
    assert answer(admission.mutate, review(replicaset), policy())["response"] == {"uid": "0f1e2d", "allowed": True}
    owned_pod = pod(ownerReferences=[{**owner[0], "kind": "ReplicaSet", "name": "web-5d4f"}])
    assert answer(admission.mutate, review(owned_pod), policy())["response"]["patchType"] == "JSONPatch"


def test_nothing_to_fix_means_no_patch() -> None:
    obj = pod()
    obj["spec"]["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    obj["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    obj["spec"]["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": False}
    assert answer(admission.mutate, review(obj), policy())["response"] == {"uid": "0f1e2d", "allowed": True}


# -- certificates ----------------------------------------------------------------------------------


def test_generated_certificates_are_a_real_chain_for_the_names_asked_and_owner_only(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls", service_names("policy", "kubesteward"))
    assert files.ca is not None
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    serving = x509.load_pem_x509_certificate(files.cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    san = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    assert set(san.get_values_for_type(x509.DNSName)) == {
        "localhost", "kubesteward", "kubesteward.policy", "kubesteward.policy.svc", "kubesteward.policy.svc.cluster.local"}
    for path in (tmp_path / "tls").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700


def test_the_ca_is_kept_and_the_serving_certificate_renewed_only_when_a_name_is_missing(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path, ["a.example"])
    assert first.ca is not None
    ca_pem, cert_pem = first.ca.read_bytes(), first.cert.read_bytes()
    ensure_certificates(tmp_path, ["a.example"])
    assert first.cert.read_bytes() == cert_pem
    again = ensure_certificates(tmp_path, ["b.example"])
    assert again.ca is not None and again.ca.read_bytes() == ca_pem and again.cert.read_bytes() != cert_pem
    assert again.ca_bundle() == ca_pem


# -- the server ------------------------------------------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WebhookServer, TLSFiles]]:
    files = ensure_certificates(tmp_path / "tls")
    server = WebhookServer(policy({"KS891": "error"}), ReloadingTLS(files), "127.0.0.1:0", reload_interval=0.05)
    async with server:
        yield server, files


def client_context(files: TLSFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca))  # verifies the chain and the IP address
    return context


async def serial_served(server: WebhookServer, files: TLSFiles) -> int:
    _reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=client_context(files))
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return int(x509.load_der_x509_certificate(der).serial_number)


async def test_the_server_answers_reviews_over_verified_https(served: tuple[WebhookServer, TLSFiles]) -> None:
    server, files = served
    async with httpx.AsyncClient(verify=client_context(files), base_url=server.url) as client:
        assert (await client.get("/healthz")).text == "ok\n"
        assert (await client.get("/readyz")).status_code == 200
        denied = (await client.post("/validate", content=review(pod(annotations=UNKNOWN_SUPPRESSION)))).json()
        assert denied["response"]["allowed"] is False and "KS891" in denied["response"]["status"]["message"]
        mutated = (await client.post("/mutate", content=review(pod()))).json()
        assert mutated["response"]["patchType"] == "JSONPatch"
        assert (await client.post("/validate", content=b"not json")).status_code == 400
        assert (await client.get("/nothing")).status_code == 404


async def test_a_rotated_certificate_is_served_without_a_restart(served: tuple[WebhookServer, TLSFiles]) -> None:
    server, files = served
    before = await serial_served(server, files)
    old_cert, old_key = files.cert.read_bytes(), files.key.read_bytes()
    files.cert.unlink()  # ensure_certificates then signs a new one with the same CA
    ensure_certificates(files.cert.parent)
    fresh = int(x509.load_pem_x509_certificate(files.cert.read_bytes()).serial_number)
    assert fresh != before
    await _until(lambda: server.tls.reloads >= 1)
    assert await serial_served(server, files) == fresh
    # Half a rotation (a certificate without its key) keeps the last good pair until the key comes.
    files.cert.write_bytes(old_cert)
    await asyncio.sleep(0.3)
    assert server.tls.reloads == 1 and await serial_served(server, files) == fresh
    files.key.write_bytes(old_key)
    await _until(lambda: server.tls.reloads >= 2)
    assert await serial_served(server, files) == before


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


SLOW = "KS897"  # a test-only rule, registered for the budget tests and removed after them


@pytest.fixture
def slow_rule() -> Iterator[None]:
    load_rules()
    code = define(SLOW, "test: slow to judge", area="policy", severity=Severity.ERROR, explanation="test rule",
                  remediation=steps(Step("Be quicker")))

    @object_rule(code, kinds=["Pod"])
    def slow(obj: Any, ctx: PolicyContext) -> list[Violation]:
        time.sleep(3)
        return []

    try:
        yield
    finally:
        RULES.pop(SLOW, None)
        CODES.pop(SLOW, None)


@pytest.mark.parametrize("failure_policy", ["Fail", "Ignore"])
async def test_an_evaluation_past_its_budget_is_answered_by_the_failure_policy(
        slow_rule: None, tmp_path: Path, failure_policy: Any) -> None:
    files = ensure_certificates(tmp_path)
    server = WebhookServer(policy(failure_policy=failure_policy, budget=0.1), ReloadingTLS(files), "127.0.0.1:0")
    async with server, httpx.AsyncClient(verify=client_context(files), base_url=server.url) as client:
        started = time.monotonic()
        out = (await client.post("/validate", content=review(pod()))).json()["response"]
        assert time.monotonic() - started < 2  # answered at the budget, not when the rule finished
    if failure_policy == "Fail":
        assert out["allowed"] is False and "longer than its 0.1s budget" in out["status"]["message"]
    else:
        assert out["allowed"] is True and "longer than its 0.1s budget" in out["warnings"][0]


def test_a_port_in_use_is_a_usage_error(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)

    async def twice() -> None:
        async with WebhookServer(policy(), ReloadingTLS(files), "127.0.0.1:0") as first:
            with pytest.raises(UsageError, match="cannot serve the webhook"):
                await WebhookServer(policy(), ReloadingTLS(files), f"127.0.0.1:{first.port}").start()

    asyncio.run(twice())


# -- the configurations ----------------------------------------------------------------------------


def test_configurations_carry_the_ca_the_exemptions_and_the_failure_policy() -> None:
    registration = Registration(ca_bundle=b"-----PEM-----", url="https://127.0.0.1:9443/", failure_policy="Ignore",
                                timeout_seconds=7, exempt=("kube-system", "policy"), resources=("argoproj.io/rollouts",))
    validating, mutating = configurations(registration)
    assert (validating["kind"], mutating["kind"]) == ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
    hook = validating["webhooks"][0]
    assert hook["clientConfig"] == {"url": "https://127.0.0.1:9443/validate",
                                    "caBundle": base64.b64encode(b"-----PEM-----").decode()}
    assert mutating["webhooks"][0]["clientConfig"]["url"] == "https://127.0.0.1:9443/mutate"
    assert hook["failurePolicy"] == "Ignore" and hook["timeoutSeconds"] == 7 and hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["namespaceSelector"] == {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "policy"]}]}
    rules = {(tuple(r["apiGroups"]), tuple(r["operations"])): r["resources"] for r in hook["rules"]}
    assert rules[(("",), ("CREATE",))] == ["pods"]
    assert rules[(("apps",), ("CREATE", "UPDATE"))] == ["daemonsets", "deployments", "replicasets", "statefulsets"]
    assert rules[(("batch",), ("CREATE", "UPDATE"))] == ["cronjobs", "jobs"]
    assert rules[(("argoproj.io",), ("CREATE", "UPDATE"))] == ["rollouts"]
    assert {r["scope"] for r in hook["rules"]} == {"*"}
    assert mutating["webhooks"][0]["reinvocationPolicy"] == "IfNeeded"


def test_a_configuration_for_some_namespaces_sees_no_cluster_scoped_object() -> None:
    registration = Registration(ca_bundle=b"x", service=("policy", "kubesteward"), namespaces=("team-a",))
    (validating, _mutating) = configurations(registration)
    hook = validating["webhooks"][0]
    assert hook["clientConfig"]["service"] == {"namespace": "policy", "name": "kubesteward", "path": "/validate",
                                               "port": 443}
    assert hook["namespaceSelector"]["matchExpressions"][0] == {
        "key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a"]}
    assert {r["scope"] for r in hook["rules"]} == {"Namespaced"}


@pytest.mark.parametrize("kwargs", [
    {"url": "http://127.0.0.1:9443"},
    {"url": "https://127.0.0.1:9443", "service": ("a", "b")},
    {},
    {"url": "https://127.0.0.1:9443", "timeout_seconds": 31},
    {"url": "https://127.0.0.1:9443", "resources": ("rollouts",)},
    {"url": "https://127.0.0.1:9443", "validating": False, "mutating": False},
])
def test_a_registration_that_cannot_work_is_a_usage_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        Registration(ca_bundle=b"x", **kwargs)


# -- the command line ------------------------------------------------------------------------------


def test_install_dry_run_prints_both_configurations_with_the_generated_ca(capsys: Any, tmp_path: Path) -> None:
    import yaml

    from tests.support.cli import run_in_process

    code, out, err = run_in_process(capsys, "webhook", "install", "--url", "https://127.0.0.1:9443",
                                    "--cert-dir", str(tmp_path), "-n", "team-a", "--dry-run")
    assert code == 0, err
    validating, mutating = yaml.safe_load_all(out)
    assert validating["kind"] == "ValidatingWebhookConfiguration" and mutating["kind"] == "MutatingWebhookConfiguration"
    bundle = validating["webhooks"][0]["clientConfig"]["caBundle"]
    assert base64.b64decode(bundle) == (tmp_path / "ca.crt").read_bytes()
    assert validating["webhooks"][0]["failurePolicy"] == "Fail"  # the documented default


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["install", "--dry-run"], 2, "--url"),
    (["install", "--url", "http://127.0.0.1:9443", "--dry-run"], 2, "HTTPS only"),
    (["install", "--service", "just-a-name", "--dry-run"], 2, "NAMESPACE/NAME"),
    (["install", "--url", "https://127.0.0.1:9443", "--failure-policy", "Sometimes", "--dry-run"], 2, "Fail or Ignore"),
    (["serve", "--tls-cert", "/nonexistent/tls.crt"], 2, "go together"),
    (["serve", "--tls-cert", "/nonexistent/tls.crt", "--tls-key", "/nonexistent/tls.key"], 3, "cannot load"),
    (["serve", "--listen", "127.0.0.1:99999"], 2, "webhook address"),
])
def test_a_bad_invocation_is_one_clear_line(capsys: Any, tmp_path: Path, args: list[str], code: int,
                                            needle: str) -> None:
    from tests.support.cli import run_in_process

    exit_code, _out, err = run_in_process(capsys, "webhook", *args, "--cert-dir", str(tmp_path))
    assert exit_code == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
