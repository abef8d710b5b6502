"""Alert sinks against a real HTTP receiver on 127.0.0.1, a real file, a real rich console."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import os
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from kubesteward import __version__
from kubesteward.alerts.ratelimit import RateLimit, TokenBucket, parse_duration
from kubesteward.alerts.sinks import (
    SINK_TYPES,
    DeliveryError,
    SinkSpec,
    build_sink,
    build_sinks,
    mask_url,
    parse_sink_spec,
    register_sink,
)
from kubesteward.alerts.sinks.alertmanager import AlertmanagerSink
from kubesteward.alerts.sinks.console import ConsoleSink
from kubesteward.alerts.sinks.jsonl import JsonlSink
from kubesteward.alerts.sinks.slack import MAX_BLOCKS, SlackSink, slack_message
from kubesteward.alerts.sinks.webhook import WebhookSink, sign, verify_signature
from kubesteward.errors import UsageError
from kubesteward.notifications.types import Alert, Notification, iso
from tests.support.receiver import Receiver

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SLACK_TOKEN = "xoxbSECRETtokenPART123456"
SLACK_URL = f"https://hooks.slack.com/services/T0001/B0002/{SLACK_TOKEN}"


def make_alert(
    name: str = "checkout", *, status: str = "firing", severity: str = "error", namespace: str = "shop"
) -> Alert:
    return Alert(
        fingerprint=f"fp-{name}",
        status=status,  # type: ignore[arg-type]
        labels={
            "alertname": "KS102",
            "severity": severity,
            "context": "prod",
            "namespace": namespace,
            "kind": "Deployment",
            "name": name,
        },
        annotations={"summary": f"{name} is crash-looping <OOMKilled>", "remediation": "raise memory limit"},
        starts_at=T0,
        ends_at=T0 + dt.timedelta(minutes=5, seconds=3) if status == "resolved" else None,
        pods=2,
    )


def make_notification(
    sequence: int = 1, *, alerts: tuple[Alert, ...] | None = None, status: str = "firing"
) -> Notification:
    alerts = alerts if alerts is not None else (make_alert(status=status),)
    return Notification(
        group_key='{}:{alertname="KS102"}',
        group_labels={"alertname": "KS102"},
        status=status,  # type: ignore[arg-type]
        alerts=alerts,
        sequence=sequence,
        created_at=T0,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def sink_of(text: str, env: Mapping[str, str] | None = None) -> Any:
    return build_sink(parse_sink_spec(text), env or {})


# --------------------------------------------------------------------- spec parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("console", SinkSpec("console")),
        ("console=stdout", SinkSpec("console", target="stdout")),
        ("jsonl=/var/log/ks.jsonl", SinkSpec("jsonl", target="/var/log/ks.jsonl")),
        (
            "webhook=http://127.0.0.1:8080/hook,secret-env=KS_HOOK_SECRET,rate=10/1m",
            SinkSpec(
                "webhook",
                target="http://127.0.0.1:8080/hook",
                options={"secret-env": "KS_HOOK_SECRET"},
                rate_limit=RateLimit(10, 60.0, 10),
            ),
        ),
        ("slack:ops=" + SLACK_URL, SinkSpec("slack", name="ops", target=SLACK_URL)),
        (
            "alertmanager=http://127.0.0.1:9093,timeout=5s,rate=2/1s,burst=5",
            SinkSpec("alertmanager", target="http://127.0.0.1:9093", rate_limit=RateLimit(2, 1.0, 5), timeout=5.0),
        ),
        ("webhook:a-1.b=http://x/?q=1", SinkSpec("webhook", name="a-1.b", target="http://x/?q=1")),
        ("  console , timeout=250ms ", SinkSpec("console", timeout=0.25)),
    ],
)
def test_parse_good_specs(text: str, expected: SinkSpec) -> None:
    assert parse_sink_spec(text) == expected


def test_instance_name() -> None:
    assert parse_sink_spec("webhook=http://x/").instance_name == "webhook"
    assert parse_sink_spec("webhook:ops=http://x/").instance_name == "webhook:ops"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("pager=http://x/", "unknown sink type 'pager' (known: alertmanager, console, jsonl, slack, webhook"),
        ("Webhook=http://x/", "expected TYPE[:NAME][=TARGET]"),
        ("webhook:=http://x/", "expected TYPE[:NAME][=TARGET]"),
        ("webhook=", "empty target"),
        ("webhook=http://x/,rate", "'rate' is not option=value"),
        ("webhook=http://x/,rate=", "is not option=value"),
        ("webhook=http://x/,rate=ten/1m", "not a rate"),
        ("webhook=http://x/,rate=0/1m", "at least 1"),
        ("webhook=http://x/,rate=1/0s", "must be positive"),
        ("webhook=http://x/,rate=1/1fortnight", "bad duration"),
        ("webhook=http://x/,timeout=soon", "bad duration"),
        ("webhook=http://x/,burst=3", "burst needs rate"),
        ("webhook=http://x/,rate=1/1s,rate=2/1s", "given twice"),
        ("webhook=http://x/,rate=1/1s,burst=0", "burst must be at least 1"),
    ],
)
def test_parse_bad_specs(text: str, reason: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_sink_spec(text)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "env", "reason"),
    [
        ("webhook", {}, "needs a target: webhook=<URL>"),
        ("webhook=ftp://x/", {}, "must be an http(s) URL"),
        ("webhook=http://x/,secret-env=KS_HOOK", {}, "secret-env=KS_HOOK: that environment variable is not set"),
        ("webhook=http://x/,colour=red", {}, "unknown option 'colour'"),
        ("slack=http://x/,secret-env=X", {"X": "y"}, "unknown option 'secret-env'"),
        ("jsonl", {}, "needs a target: jsonl=<file path>"),
        ("console=/dev/tty", {}, "stderr or stdout"),
    ],
)
def test_build_rejects_bad_specs(text: str, env: dict[str, str], reason: str) -> None:
    with pytest.raises(UsageError, match=re.escape(reason)):
        sink_of(text, env)


def test_build_rejects_a_directory_for_jsonl(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        sink_of(f"jsonl={tmp_path}")


def test_build_sinks_needs_unique_names(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="two sinks named 'jsonl'"):
        build_sinks([f"jsonl={tmp_path}/a", f"jsonl={tmp_path}/b"], {})
    sinks = build_sinks([f"jsonl={tmp_path}/a", f"jsonl:b={tmp_path}/b", "console"], {})
    assert [s.name for s in sinks] == ["jsonl", "jsonl:b", "console"]


def test_a_registered_type_is_parsed_and_built() -> None:
    class Null:
        def __init__(self, name: str) -> None:
            self.name = name
            self.rate_limit: RateLimit | None = None
            self.timeout = 1.0

        async def send(self, notification: Notification) -> None:
            return None

        async def aclose(self) -> None:
            return None

    @register_sink("null-test")
    def build_null(spec: SinkSpec, env: Mapping[str, str]) -> Null:
        spec.check_options()
        return Null(spec.instance_name)

    try:
        assert sink_of("null-test:x").name == "null-test:x"
    finally:
        del SINK_TYPES["null-test"]


# --------------------------------------------------------------------- secrets


def test_mask_url() -> None:
    assert mask_url(SLACK_URL) == "https://hooks.slack.com/services/***"
    assert mask_url("http://127.0.0.1:8080/hook") == "http://127.0.0.1:8080/hook"
    assert mask_url("https://user:pw@example.com/hook?token=abc") == "https://user:***@example.com/hook?***"
    assert mask_url("https://example.com/hooks/0123456789abcdef0123/x") == "https://example.com/hooks/***/x"
    assert mask_url("/var/log/ks.jsonl") == "/var/log/ks.jsonl"


def test_no_secret_in_reprs_or_errors() -> None:
    spec = parse_sink_spec("slack:ops=" + SLACK_URL)
    slack = build_sink(spec, {})
    hook = sink_of("webhook=http://127.0.0.1:1/h", {"KUBESTEWARD_WEBHOOK_SECRET": "s3cr3t-value"})
    for text in (repr(spec), str(spec), repr(slack), str(slack), repr(hook), str(hook)):
        assert SLACK_TOKEN not in text
        assert "s3cr3t-value" not in text
    assert "hooks.slack.com/services/***" in repr(slack)
    assert "signed=True" in repr(hook)
    with pytest.raises(UsageError) as info:
        parse_sink_spec("slack=" + SLACK_URL + ",bogus")
    assert SLACK_TOKEN not in str(info.value)
    with pytest.raises(UsageError) as info:
        parse_sink_spec(SLACK_URL)  # forgot the "slack=" prefix
    assert SLACK_TOKEN not in str(info.value)


async def test_slack_errors_do_not_leak_the_url() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = sink_of(f"slack=http://127.0.0.1:{port}/services/T1/B2/{SLACK_TOKEN}")
    try:
        with pytest.raises(DeliveryError) as info:
            await sink.send(make_notification())
        assert info.value.retryable and info.value.status is None
        assert SLACK_TOKEN not in str(info.value)
    finally:
        await sink.aclose()


# --------------------------------------------------------------------- webhook


async def test_webhook_sends_the_canonical_body_signed(receiver: Receiver) -> None:
    secret = "hook-secret"
    sink = sink_of(f"webhook={receiver.url}/hook,secret-env=KS_HOOK", {"KS_HOOK": secret})
    notification = make_notification()
    try:
        await sink.send(notification)
    finally:
        await sink.aclose()
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.body == notification.body()
    assert request.json()["idempotencyKey"] == notification.idempotency_key
    assert request.header("Content-Type") == "application/json"
    assert request.header("Idempotency-Key") == notification.idempotency_key
    assert request.header("User-Agent") == f"kubesteward/{__version__}"
    timestamp, signature = request.header("X-Kubesteward-Timestamp"), request.header("X-Kubesteward-Signature")
    assert timestamp is not None and signature is not None and signature.startswith("sha256=")
    assert abs(int(timestamp) - time.time()) < 60
    assert verify_signature(secret, timestamp, request.body, signature)
    assert not verify_signature("wrong-secret", timestamp, request.body, signature)
    assert not verify_signature(secret, timestamp, request.body + b" ", signature)
    assert not verify_signature(secret, str(int(timestamp) + 1), request.body, signature)  # timestamp is signed
    assert not verify_signature(secret, timestamp, request.body, signature, now=int(timestamp) + 301)
    assert verify_signature(secret, timestamp, request.body, signature, now=int(timestamp) + 299)
    assert not verify_signature(secret, "not-a-number", request.body, signature)


def test_signature_recipe_matches_hmac() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k", 1700000000, body) == f"sha256={expected}"


async def test_webhook_secret_defaults_to_env_and_is_optional(receiver: Receiver) -> None:
    signed = sink_of(receiver_spec := f"webhook={receiver.url}/", {"KUBESTEWARD_WEBHOOK_SECRET": "dflt"})
    plain = sink_of(receiver_spec, {})
    assert isinstance(signed, WebhookSink) and signed.signed and not plain.signed
    try:
        await signed.send(make_notification(1))
        await plain.send(make_notification(2))
    finally:
        await signed.aclose()
        await plain.aclose()
    first, second = receiver.requests
    assert verify_signature(
        "dflt", first.header("X-Kubesteward-Timestamp") or "", first.body, first.header("X-Kubesteward-Signature") or ""
    )
    assert second.header("X-Kubesteward-Signature") is None and second.header("X-Kubesteward-Timestamp") is None


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (500, {}, True, None),
        (502, {}, True, None),
        (503, {"Retry-After": "12"}, True, 12.0),
        (429, {"Retry-After": "7"}, True, 7.0),
        (429, {}, True, None),
        (408, {}, True, None),
        (425, {}, True, None),
        (400, {}, False, None),
        (401, {}, False, None),
        (404, {}, False, None),
        (500, {"Retry-After": "9"}, True, None),  # Retry-After is honoured on 429/503 only
    ],
)
async def test_webhook_status_mapping(
    receiver: Receiver, status: int, headers: dict[str, str], retryable: bool, retry_after: float | None
) -> None:
    receiver.respond(status, times=1, headers=headers, body=b"nope\nsecond line")
    sink = sink_of(f"webhook={receiver.url}/")
    try:
        with pytest.raises(DeliveryError) as info:
            await sink.send(make_notification())
        await sink.send(make_notification())  # the default answer is 200 again
    finally:
        await sink.aclose()
    error = info.value
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, retry_after)
    assert f"HTTP {status}: nope second line" in str(error)


async def test_webhook_timeout_is_retryable(receiver: Receiver) -> None:
    receiver.respond(200, times=1, delay=3)
    sink = sink_of(f"webhook={receiver.url}/,timeout=200ms")
    started = time.monotonic()
    try:
        with pytest.raises(DeliveryError, match="timed out after 0.2s") as info:
            await sink.send(make_notification())
    finally:
        await sink.aclose()
    assert info.value.retryable and info.value.status is None
    assert time.monotonic() - started < 2


# --------------------------------------------------------------------- slack


def test_slack_message_shape() -> None:
    firing = make_notification(alerts=(make_alert("a"), make_alert("b", severity="warning")))
    message = slack_message(firing)
    assert set(message) == {"text", "blocks"}
    header, *sections = message["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert "FIRING:2" in header["text"]["text"] and "alertname=KS102" in header["text"]["text"]
    assert [s["type"] for s in sections] == ["section", "section"]
    first = sections[0]["text"]
    assert first["type"] == "mrkdwn"
    assert ":red_circle:" in first["text"] and "*KS102*" in first["text"] and "`shop/Deployment/a`" in first["text"]
    assert "&lt;OOMKilled&gt;" in first["text"] and "<OOMKilled>" not in first["text"]  # mrkdwn escaped
    assert "*Fix:* raise memory limit" in first["text"]
    assert ":large_orange_circle:" in sections[1]["text"]["text"]
    assert (
        message["text"].startswith("FIRING:2 alertname=KS102: KS102 shop/Deployment/a")
        and "(+1 more)" in message["text"]
    )

    resolved = slack_message(make_notification(status="resolved", alerts=(make_alert(status="resolved"),)))
    assert "RESOLVED:1" in resolved["blocks"][0]["text"]["text"]
    assert ":white_check_mark:" in resolved["blocks"][1]["text"]["text"]
    assert "resolved after 5m3s" in resolved["blocks"][1]["text"]["text"]


def test_slack_caps_blocks_and_summarises_the_rest() -> None:
    alerts = tuple(make_alert(f"app{i}", status="resolved" if i % 4 == 0 else "firing") for i in range(60))
    blocks = slack_message(make_notification(alerts=alerts))["blocks"]
    assert len(blocks) == MAX_BLOCKS
    shown = MAX_BLOCKS - 2
    assert "app47" in blocks[-2]["text"]["text"]
    hidden = alerts[shown:]
    resolved = sum(1 for a in hidden if a.status == "resolved")
    assert blocks[-1] == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": f"…and {len(hidden)} more alerts ({len(hidden) - resolved} firing, {resolved} resolved)",
            }
        ],
    }
    exact = slack_message(make_notification(alerts=alerts[: MAX_BLOCKS - 1]))["blocks"]
    assert len(exact) == MAX_BLOCKS and exact[-1]["type"] == "section"  # fits without a summary


async def test_slack_posts_the_message(receiver: Receiver) -> None:
    sink = sink_of(f"slack:ops={receiver.url}/services/T1/B2/{SLACK_TOKEN}")
    assert isinstance(sink, SlackSink) and sink.name == "slack:ops"
    notification = make_notification()
    try:
        await sink.send(notification)
        receiver.respond(404, times=1, body=b"no_service")
        with pytest.raises(DeliveryError) as info:
            await sink.send(notification)
    finally:
        await sink.aclose()
    request = receiver.requests[0]
    assert request.path == f"/services/T1/B2/{SLACK_TOKEN}"
    assert request.json() == slack_message(notification)
    assert request.header("Idempotency-Key") == notification.idempotency_key
    assert not info.value.retryable and "no_service" in str(info.value) and SLACK_TOKEN not in str(info.value)


# --------------------------------------------------------------------- alertmanager

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def assert_postable_alerts(payload: Any) -> None:
    """The Alertmanager API v2 ``postableAlerts`` shape (openapi: alertmanager/api/v2/openapi.yaml)."""
    assert isinstance(payload, list) and payload
    for alert in payload:
        assert set(alert) <= {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        for key in ("labels", "annotations"):
            assert isinstance(alert[key], dict)
            assert all(isinstance(k, str) and _LABEL.fullmatch(k) and isinstance(v, str) for k, v in alert[key].items())
        assert alert["labels"].get("alertname")
        assert _RFC3339.fullmatch(alert["startsAt"])
        if "endsAt" in alert:
            assert _RFC3339.fullmatch(alert["endsAt"])
        assert isinstance(alert["generatorURL"], str)


async def test_alertmanager_posts_v2_alerts(receiver: Receiver) -> None:
    sink = sink_of(f"alertmanager={receiver.url}/am/")
    assert isinstance(sink, AlertmanagerSink)
    firing = make_alert("a", namespace="")  # cluster-scoped: empty label dropped
    resolved = make_alert("b", status="resolved")
    notification = make_notification(alerts=(firing, resolved))
    try:
        await sink.send(notification)
    finally:
        await sink.aclose()
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/am/api/v2/alerts")
    payload = request.json()
    assert_postable_alerts(payload)
    first, second = payload
    assert first["labels"] == {
        "alertname": "KS102",
        "severity": "error",
        "context": "prod",
        "kind": "Deployment",
        "name": "a",
    }
    assert first["annotations"]["summary"] == "a is crash-looping <OOMKilled>"
    assert first["startsAt"] == "2026-03-01T12:00:00Z"
    # Firing: valid until the sent time + ttl (4h15m), so Alertmanager keeps it between repeats.
    sent = notification.created_at
    assert first["endsAt"] == iso(sent + dt.timedelta(hours=4, minutes=15))
    assert second["endsAt"] == "2026-03-01T12:05:03Z"
    assert second["labels"]["namespace"] == "shop"


async def test_alertmanager_ttl_option(receiver: Receiver) -> None:
    sink = sink_of(f"alertmanager={receiver.url},ttl=10m")
    notification = make_notification(alerts=(make_alert("a"),))
    try:
        await sink.send(notification)
    finally:
        await sink.aclose()
    (alert,) = receiver.requests[0].json()
    assert alert["endsAt"] == iso(notification.created_at + dt.timedelta(minutes=10))
    with pytest.raises(UsageError, match="ttl"):
        sink_of(f"alertmanager={receiver.url},ttl=soon")


# --------------------------------------------------------------------- jsonl


async def test_jsonl_appends_one_line_each_and_skips_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "alerts.jsonl"
    sink = sink_of(f"jsonl={path}")
    assert isinstance(sink, JsonlSink)
    first, second = make_notification(1), make_notification(2)
    await sink.send(first)
    await sink.send(second)
    await sink.send(first)  # a re-send after a crash before mark_delivered
    lines = path.read_bytes().splitlines()
    assert lines == [first.body(), second.body()]
    assert [json.loads(line) for line in lines] == [first.to_json(), second.to_json()]


async def test_jsonl_repairs_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_bytes(b'{"idempotencyKey": "tor')  # the process died mid-write
    sink = JsonlSink("jsonl", path)
    notification = make_notification(3)
    await sink.send(notification)
    lines = path.read_bytes().split(b"\n")
    assert lines == [b'{"idempotencyKey": "tor', notification.body(), b""]


async def test_jsonl_only_looks_at_recent_lines(tmp_path: Path) -> None:
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink("jsonl", path, tail_bytes=2000)
    old = make_notification(1)
    await sink.send(old)
    for seq in range(2, 12):
        await sink.send(make_notification(seq))
    await sink.send(old)  # beyond the tail window: written again (bounded cost beats perfect dedup)
    assert path.read_bytes().splitlines().count(old.body()) == 2


async def test_jsonl_write_failure_is_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    sink = JsonlSink("jsonl", blocker / "alerts.jsonl")  # parent is a file
    with pytest.raises(DeliveryError) as info:
        await sink.send(make_notification())
    assert info.value.retryable


# --------------------------------------------------------------------- console


async def test_console_renders_compactly() -> None:
    out = io.StringIO()
    sink = ConsoleSink(console=Console(file=out, width=200, color_system=None))
    await sink.send(make_notification(alerts=(make_alert("a"), make_alert("b", status="resolved"))))
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "● FIRING:1 alertname=KS102"
    assert lines[1].split() == ["error", "KS102", "shop/Deployment/a", "a", "is", "crash-looping", "<OOMKilled>"]
    assert "resolved" in lines[2] and "shop/Deployment/b" in lines[2] and "(after 5m3s)" in lines[2]
    assert "[" not in text  # no rich markup interpreted or leaked


async def test_console_shows_a_hostile_summary_as_text_on_a_terminal() -> None:
    out = io.StringIO()
    sink = ConsoleSink(console=Console(file=out, width=300, force_terminal=True, color_system="standard"))
    alert = dataclasses.replace(make_alert("a"), annotations={"summary": "x \x1b[2J\x1b]0;pwned\x07 \x9bm [red]y[/]"})
    await sink.send(make_notification(alerts=(alert,)))
    text = out.getvalue()
    assert "\x1b[2J" not in text and "\x1b]" not in text and "\x9b" not in text and "\x07" not in text
    assert "\\x1b[2J" in text and "[red]y[/]" in text


async def test_console_never_fails() -> None:
    out = io.StringIO()
    sink = ConsoleSink(console=Console(file=out))
    out.close()
    await sink.send(make_notification())  # a closed terminal: logged, not raised


# --------------------------------------------------------------------- rate limit


def test_parse_duration_and_rate() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2") == 2
    assert RateLimit.parse("10/1m") == RateLimit(10, 60.0, 10)
    assert RateLimit.parse("2/1s", burst=1).burst == 1
    with pytest.raises(ValueError):
        parse_duration("-1s")


async def test_token_bucket_arithmetic() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(RateLimit(2, 1.0, 2), clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await bucket.acquire()
    assert slept == pytest.approx([0.5, 0.5, 0.5])
    now[0] += 10  # a long quiet time refills only up to the burst
    assert bucket.delay() == 0
    await bucket.acquire()
    await bucket.acquire()
    assert bucket.delay() == pytest.approx(0.5)


def _test_ca(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA and a certificate for 127.0.0.1 it signed (openssl, from Debian), as a server context."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
            "-subj", "/CN=kubesteward test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "1", "-extfile", "san.ext")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "server.pem", directory / "server.key")
    return directory / "ca.pem", server


async def test_https_sinks_trust_the_system_store_read_when_they_first_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI imports aiohttp with the system store hidden (its import-time default contexts serve no
    cluster); a sink must build its own context when it first sends, from the store as it is then."""
    ca, server = _test_ca(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # "the system store" of this test: trusts the test CA only
    with Receiver(tls=server) as hook:
        sink = sink_of(f"webhook={hook.url}/hook")
        try:
            await sink.send(make_notification())
        finally:
            await sink.aclose()
        assert [r.path for r in hook.requests] == ["/hook"]
    monkeypatch.setenv("SSL_CERT_FILE", os.devnull)  # a store that trusts nothing: refused, retryable
    with Receiver(tls=server) as hook:
        sink = sink_of(f"webhook={hook.url}/hook")
        try:
            with pytest.raises(DeliveryError) as refused:
                await sink.send(make_notification())
        finally:
            await sink.aclose()
        assert refused.value.retryable and "certificate" in str(refused.value).lower()
