"""Hostile input never crashes: every command that reads files, flags or kubeconfigs answers bad input with one
line on stderr and a documented exit code, never a traceback nor "internal error" (70).

Table-driven for the cases people hit (and attackers try), property-based (hypothesis) for the file and
selector parsers. Nothing here needs a cluster: each failure must be found before any request (the
kubeconfigs point at a closed port, so a run that did reach the network would fail differently).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubesteward.errors import EXIT_CODES
from tests.support.cli import run_in_process

CLOSED = "https://127.0.0.1:1"
NOT_A_CERTIFICATE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_in_process(capsys, *args)


def assert_one_line(code: int, err: str, expected: int, *needles: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, err
    assert code == expected, (code, err)
    assert code in EXIT_CODES
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def kubeconfig(tmp_path: Path, *, cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
               raw: str | bytes | None = None) -> str:
    path = tmp_path / "kubeconfig"
    if raw is not None:
        path.write_bytes(raw if isinstance(raw, bytes) else raw.encode())
        return str(path)
    data = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": cluster if cluster is not None else {"server": CLOSED}}],
        "users": [{"name": "u", "user": user if user is not None else {"token": "t0ken-for-tests"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }
    path.write_text(yaml.safe_dump(data))
    return str(path)


# --------------------------------------------------------------------------- kubeconfigs

KUBECONFIGS: list[tuple[str, Callable[[Path], str], int, str]] = [
    ("CA data that is not a certificate",
     lambda t: kubeconfig(t, cluster={"server": CLOSED, "certificate-authority-data": NOT_A_CERTIFICATE.decode()}),
     3, "certificate authority"),
    ("CA data that is not base64",
     lambda t: kubeconfig(t, cluster={"server": CLOSED, "certificate-authority-data": "%%%not-base64%%%"}), 3, ""),
    ("a client certificate that is not one",
     lambda t: kubeconfig(t, user={"client-certificate-data": NOT_A_CERTIFICATE.decode(),
                                   "client-key-data": NOT_A_CERTIFICATE.decode()}), 3, "client certificate"),
    ("a CA file that does not exist",
     lambda t: kubeconfig(t, cluster={"server": CLOSED, "certificate-authority": "/nonexistent/ca.crt"}), 3, ""),
    ("a binary file", lambda t: kubeconfig(t, raw=bytes(range(256)) * 4), 3, ""),
    ("invalid YAML", lambda t: kubeconfig(t, raw="clusters: [\n"), 3, ""),
    ("a list at the top", lambda t: kubeconfig(t, raw="- a\n- b\n"), 3, ""),
    ("YAML nested 100,000 deep", lambda t: kubeconfig(t, raw="[" * 100_000 + "]" * 100_000), 3, ""),
    ("no server address", lambda t: kubeconfig(t, cluster={"insecure-skip-tls-verify": True}), 3, ""),
    ("a server that is not a URL", lambda t: kubeconfig(t, cluster={"server": "::::"}), 3, ""),
    ("a directory", lambda t: str(t), 3, ""),
    ("an exec plugin that fails",
     lambda t: kubeconfig(t, user={"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/bin/false",
                                            "interactiveMode": "Never"}}), 4, "could not be obtained"),
    ("an exec plugin that does not exist",
     lambda t: kubeconfig(t, user={"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                            "command": "/nonexistent/plugin", "interactiveMode": "Never"}}), 4, ""),
]


@pytest.mark.parametrize(("what", "make", "expected", "needle"), KUBECONFIGS, ids=[k[0] for k in KUBECONFIGS])
@pytest.mark.parametrize("command", [["diagnose"], ["status"], ["snapshot", "-o", "-"]], ids=" ".join)
def test_hostile_kubeconfigs(
    what: str, make: Callable[[Path], str], expected: int, needle: str, command: list[str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _out, err = cli(capsys, *command, "--kubeconfig", make(tmp_path), "--request-timeout", "2")
    assert_one_line(code, err, expected, needle)


# --------------------------------------------------------------------------- files given to --from-file

def deep_json(depth: int) -> str:
    return '{"kind": "List", "items": ' + "[" * depth + "]" * depth + "}"


FILES: list[tuple[str, Callable[[Path], Path], str]] = [
    ("binary", lambda t: _write(t / "x.yaml", bytes(range(256)) * 64), "binary"),
    ("not UTF-8", lambda t: _write(t / "x.yaml", b"kind: Pod\nmetadata:\n  name: \xff\xfe\n"), "not UTF-8"),
    ("JSON nested 100,000 deep", lambda t: _write(t / "x.json", ("[" * 100_000 + "]" * 100_000).encode()), "nested"),
    ("a List nested 50,000 deep", lambda t: _write(t / "x.json", deep_json(50_000).encode()), "nested"),
    ("YAML nested 100,000 deep", lambda t: _write(t / "x.yaml", b"kind: Pod\nspec: " + b"[" * 100_000), ""),
    ("invalid JSON", lambda t: _write(t / "x.json", b'{"kind": '), "invalid JSON"),
    ("invalid YAML", lambda t: _write(t / "x.yaml", b"kind: Pod\n  bad: [\n"), "invalid YAML"),
    ("empty", lambda t: _write(t / "x.yaml", b""), "no Kubernetes objects"),
    ("only scalars", lambda t: _write(t / "x.yaml", b"42\n---\nhello\n"), "no Kubernetes objects"),
    ("a Pod whose spec is a string", lambda t: _write(t / "x.yaml", b"kind: Pod\nmetadata: {name: a}\nspec: x\n"),
     "does not look like a valid object"),
    ("a Pod whose metadata is a list", lambda t: _write(t / "x.yaml", b"kind: Pod\nmetadata: [1]\n"), "valid object"),
    ("a missing file", lambda t: t / "nope.yaml", "no such file"),
    ("a directory without manifests", lambda t: _mkdir(t / "empty"), "no .json/.yaml/.yml files"),
    ("/dev/zero", lambda t: Path("/dev/zero"), "binary"),
]


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(("what", "make", "needle"), FILES, ids=[f[0] for f in FILES])
def test_hostile_files_are_invalid_input(
    what: str, make: Callable[[Path], Path], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = cli(capsys, "diagnose", "-f", str(make(tmp_path)))
    assert_one_line(code, err, 11, needle)


def test_a_config_file_that_is_binary_is_invalid_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = _write(tmp_path / "m.yaml", b"kind: Namespace\nmetadata: {name: a}\n")
    config = _write(tmp_path / ".kubesteward.yaml", bytes(range(256)))
    code, _out, err = cli(capsys, "diagnose", "-f", str(manifest), "--config", str(config))
    assert_one_line(code, err, 11, "binary")


def test_unknown_kinds_in_files_are_a_warning_line_not_silence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _write(tmp_path / "m.yaml", b"kind: Namespace\nmetadata: {name: a}\n---\n"
                      b"kind: Rollout\napiVersion: argoproj.io/v1alpha1\nmetadata: {name: r}\n---\n"
                      b"kind: Rollout\napiVersion: argoproj.io/v1alpha1\nmetadata: {name: s}\n")
    code, _out, err = cli(capsys, "diagnose", "-f", str(manifest))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "Rollout (2)" in warnings[0], err


# --------------------------------------------------------------------------- flags

FLAGS: list[tuple[list[str], str]] = [
    (["diagnose", "-l", "==="], "invalid label selector"),
    (["diagnose", "-l", "app in (a"], "invalid label selector"),
    (["diagnose", "--ignore", "KS999"], "no finding code matches 'KS999'"),
    (["diagnose", "--ignore", "KS101,XX*"], "'XX*'"),
    (["diagnose", "--only", "KS9999"], "--only"),
    (["diagnose", "--request-timeout", "-1"], "positive number of seconds"),
    (["diagnose", "--request-timeout", "nan"], "positive number of seconds"),
    (["status", "--request-timeout", "0"], "positive number of seconds"),
    (["snapshot", "-o", "-", "--request-timeout", "inf"], "positive number of seconds"),
    (["diagnose", "--fail-on", "sometimes"], "--fail-on"),
    (["diagnose", "-o", "xml"], "unknown output format"),
    (["diagnose", "--bogus"], "No such option"),
    (["explain", "KS999"], "unknown code"),
    (["nosuchcommand"], "No such command"),
    (["silence", "add", "namespace=shop", "--duration", "99999999d"], "longer than"),
    (["silence", "add", "namespace=shop", "--duration", "nan"], "duration"),
    (["silence", "add", "namespace=shop", "--duration", "1e999s"], "duration"),
    (["silence", "add", "namespace=shop", "--until", "99999-01-01"], "--until"),
    (["silence", "add", "namespace=~("], "namespace"),
    (["silence", "add", "bogus=x"], "bogus"),
    (["watch", "--once", "--group-wait", "soon"], "group-wait"),
    (["watch", "--once", "--group-by", "colour"], "colour"),
    (["watch", "--once", "--ignore", "KS999"], "KS999"),
]


@pytest.mark.parametrize(("args", "needle"), FLAGS, ids=[" ".join(f[0]) for f in FLAGS])
def test_hostile_flags_are_usage_errors_before_any_request(
    args: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBESTEWARD_STATE_URL", str(tmp_path / "state.db"))
    code, _out, err = cli(capsys, *args, *([] if args[0] in ("explain", "nosuchcommand", "silence") else
                                          ["--kubeconfig", kubeconfig(tmp_path)]))
    assert_one_line(code, err, 2, needle)


@pytest.mark.parametrize("target", ["missing/dir/snap.json", "."], ids=["into a missing directory", "onto a directory"])
def test_snapshot_into_an_unwritable_place_is_exit_14_before_reading_the_cluster(
    target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = cli(capsys, "snapshot", "-o", str(tmp_path / target), "--kubeconfig", kubeconfig(tmp_path))
    assert_one_line(code, err, 14, "cannot write")


# --------------------------------------------------------------------------- properties

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=2048))
def test_any_bytes_given_to_from_file_are_a_result_or_invalid_input(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "fuzz.yaml", content)
    code, _out, err = cli(capsys, "diagnose", "-f", str(path), "-o", "json")
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 11), (code, err)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=25,
)
_kinds = st.sampled_from(["Pod", "Deployment", "Service", "Node", "Event", "Secret", "List", "Ingress", "Job", "X"])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objects=st.lists(st.fixed_dictionaries({"kind": _kinds}, optional={
    "metadata": _json_values, "spec": _json_values, "status": _json_values, "items": _json_values,
}), min_size=1, max_size=4))
def test_objects_of_any_shape_are_a_result_or_invalid_input(
    objects: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "fuzz.json", json.dumps({"kind": "List", "items": objects}).encode())
    code, _out, err = cli(capsys, "diagnose", "-f", str(path))
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 1, 11), (code, err)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab=!,() in notin<>/.-_ 9")), max_size=24))
def test_any_selector_string_parses_or_is_refused_with_a_reason(text: str) -> None:
    from kubesteward.model.semantics.selectors import parse_selector, selector_matches

    try:
        selector = parse_selector(text)
    except ValueError as exc:
        assert str(exc).startswith("invalid label selector")
    else:
        selector_matches(selector, {"a": "b", "b": "9"})  # whatever parses can be matched
