"""Secrets never leave: what enters is redacted, what leaves is scrubbed, what is written is owner-only."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from kubesteward import redaction
from kubesteward.errors import OutputError
from kubesteward.model.files import model_from_objects
from kubesteward.model.snapshot import snapshot_document
from kubesteward.private_files import create_private, open_private_append, private_directory, write_private
from kubesteward.redaction import LAST_APPLIED, REDACTED, ScrubbingStream, mask_url, redact_manifest, scrub

PLANTED = "pl4nted-s3cret-VALUE-7Q"


def last_applied(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


def secret_object() -> dict[str, Any]:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"},
            "stringData": {"password": PLANTED}}
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop",
                     "annotations": {LAST_APPLIED: last_applied(body), "team/note": f"rotate {PLANTED}",
                                     "kubesteward.io/ignore": "KS999"}},
        "type": "Opaque",
        "data": {"password": "cGw0bnRlZA=="},
        "stringData": {"password": PLANTED},
    }


def deployment_object() -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "api:1",
                                         "env": [{"name": "DB_PASSWORD", "value": PLANTED},
                                                 {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {
                                                     "name": "db", "key": "password"}}}]}]}}
    spec = {"replicas": 1, "selector": {"matchLabels": {"app": "api"}}, "template": template}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop",
                     "annotations": {LAST_APPLIED: last_applied({"kind": "Deployment", "spec": spec})}},
        "spec": spec,
    }


def test_the_model_never_holds_a_secret_value_so_a_snapshot_cannot_write_one() -> None:
    model, _ = model_from_objects([secret_object(), deployment_object()])
    text = json.dumps(snapshot_document(model))
    assert PLANTED not in text
    secret = next(item for item in snapshot_document(model)["items"] if item["kind"] == "Secret")
    annotations = secret["metadata"]["annotations"]
    assert annotations[LAST_APPLIED] == REDACTED and annotations["team/note"] == REDACTED
    assert annotations["kubesteward.io/ignore"] == "KS999"  # what it is, kept: diagnose reads it
    assert secret["keys"] == ["password"]  # key names stay: checks of references need them
    deployment = next(item for item in snapshot_document(model)["items"] if item["kind"] == "Deployment")
    assert deployment["metadata"]["annotations"][LAST_APPLIED] == REDACTED


def test_a_manifest_is_redacted_wherever_its_pod_template_sits() -> None:
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
               "spec": {"jobTemplate": {"spec": {"template": deployment_object()["spec"]["template"]}}}}
    rollout = {**deployment_object(), "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout"}
    for obj in (secret_object(), deployment_object(), cronjob, rollout):
        redacted = redact_manifest(obj)
        assert PLANTED not in json.dumps(redacted), obj["kind"]
        assert PLANTED in json.dumps(obj)  # a copy: the caller's object is left as it was
    secret = redact_manifest(secret_object())
    assert secret["stringData"]["password"] == f"{REDACTED} {redaction.digest(PLANTED)}"
    assert secret["data"]["password"] != secret_object()["data"]["password"]
    env = redact_manifest(deployment_object())["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "DB_PASSWORD", "value": f"{REDACTED} {redaction.digest(PLANTED)}"},
                   {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]


def test_a_changed_secret_has_another_digest_and_the_same_one_the_same() -> None:
    assert redaction.digest(PLANTED) == redaction.digest(PLANTED) != redaction.digest(PLANTED + "x")
    assert PLANTED not in redaction.digest(PLANTED)


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "eyJhbGciOiJSUzI1NiJ9", "Authorization: Bearer ***"),
        ("POST https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXX failed", "T000/B000",
         "hooks.slack.com/services/***"),
        ("GET http://127.0.0.1:9/hook?token=abcdef123&x=1", "abcdef123", "token=***&x=1"),
        ("postgresql://watch:hunter2secret@db:5432/ks", "hunter2secret", "postgresql://watch:***@db"),
        ("basic auth: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA", "Basic ***"),
    ],
)
def test_scrub_masks_what_looks_like_a_credential(text: str, gone: str, kept: str) -> None:
    assert gone not in scrub(text)
    assert kept in scrub(text)


def test_scrub_masks_registered_secrets_anywhere_and_leaves_short_strings_alone() -> None:
    redaction.register("a-registered-secret-value", "abc", None, "")
    assert scrub("x a-registered-secret-value y") == "x *** y"
    assert scrub("abc") == "abc"  # too short to mask wherever it appears
    redaction.register_url("https://hooks.example/ks/0123456789abcdefghijklmnop?sig=zzzsignature")
    assert "0123456789abcdefghijklmnop" not in scrub("posting to https://hooks.example/ks/0123456789abcdefghijklmnop")
    assert "zzzsignature" not in scrub("...signature zzzsignature")


def test_mask_url() -> None:
    assert mask_url("https://hooks.slack.com/services/T1/B2/C3") == "https://hooks.slack.com/services/***"
    assert mask_url("http://u:p@127.0.0.1:8080/hook?token=x") == "http://u:***@127.0.0.1:8080/hook?***"
    assert mask_url("http://127.0.0.1:[bad") == "***"
    assert mask_url("/var/log/ks.jsonl") == "/var/log/ks.jsonl"


def test_the_scrubbing_stream_scrubs_and_passes_the_terminal_through() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    inner = Tty()
    stream = ScrubbingStream(inner)
    redaction.register("stream-secret-xyz")
    stream.write("token stream-secret-xyz\n")
    assert inner.getvalue() == "token ***\n"
    assert stream.isatty() and stream.writable()


def test_files_are_written_owner_only(tmp_path: Path) -> None:
    old = os.umask(0)  # the most permissive umask: the modes must not depend on it
    try:
        directory = private_directory(tmp_path / "a" / "b")
        target = directory / "snapshot.json"
        redaction.register("file-secret-123")
        write_private(target, "x file-secret-123")
        appended = directory / "alerts.jsonl"
        with open_private_append(appended) as handle:
            handle.write("{}\n")
        database = directory / "watch.db"
        create_private(database)
    finally:
        os.umask(old)
    assert target.read_text() == "x ***"
    for path in (target, appended, database):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (tmp_path / "a", directory):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    assert not list(directory.glob(".*.tmp"))  # the temporary file was renamed into place


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda tmp: tmp / "missing" / "out.json", "does not exist"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "out.json", "is not a directory"),
    ],
)
def test_an_unwritable_path_is_one_clear_error(tmp_path: Path, make: Any, needle: str) -> None:
    with pytest.raises(OutputError) as info:
        write_private(make(tmp_path), "x")
    assert info.value.exit_code == 14
    assert needle in str(info.value)
