"""Alert sinks: where ``kubesteward watch`` delivers notifications, chosen by ``--sink`` specs.

Spec syntax (one ``--sink`` each)::

    TYPE[:NAME][=TARGET][,option=value...]

    console                                   # coloured lines on stderr (console=stdout for stdout)
    jsonl=/var/log/kubesteward.jsonl          # one JSON notification per line, fsynced
    webhook=http://127.0.0.1:8080/hook,secret-env=KS_HOOK_SECRET,rate=10/1m
    slack:ops=https://hooks.slack.com/services/T000/B000/XXXX
    alertmanager=http://127.0.0.1:9093,timeout=5s

``NAME`` distinguishes two sinks of one type; the instance name (``webhook``
or ``webhook:ops``) is the outbox column, so keep it stable across restarts.
Common options: ``rate=N/period`` (token bucket; ``burst=K``, default N) and
``timeout=5s``. The target may not contain a comma (write ``%2C`` in URLs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from kubesteward.alerts.ratelimit import RateLimit, parse_duration
from kubesteward.alerts.sinks import alertmanager, console, jsonl, slack, webhook  # noqa: F401 - registers the types
from kubesteward.alerts.sinks.base import (
    DEFAULT_TIMEOUT,
    SINK_TYPES,
    DeliveryError,
    Sink,
    SinkFactory,
    SinkSpec,
    mask_url,
    register_sink,
)
from kubesteward.errors import UsageError
from kubesteward.redaction import register_url

__all__ = [
    "SINK_TYPES",
    "DeliveryError",
    "Sink",
    "SinkFactory",
    "SinkSpec",
    "build_sink",
    "build_sinks",
    "mask_url",
    "parse_sink_spec",
    "register_sink",
]

_HEAD = re.compile(r"(?P<type>[a-z][a-z0-9-]*)(?::(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*))?")
_OPTION = re.compile(r"[a-z][a-z0-9-]*")


def _display(text: str) -> str:
    """The spec as it may appear in an error message: its target masked (Slack URLs are secrets)."""
    head, sep, rest = text.partition("=")
    if not sep:
        return mask_url(head.split(",")[0]) + ("," + text.split(",", 1)[1] if "," in text else "")
    target, comma, options = rest.partition(",")
    return f"{head}={mask_url(target)}{comma}{options}"


def parse_sink_spec(text: str) -> SinkSpec:
    """Parse one ``--sink`` value; raise :class:`UsageError` (one line) when it is malformed."""
    text = text.strip()

    def bad(reason: str) -> UsageError:
        return UsageError(f"bad --sink {_display(text)!r}: {reason}")

    if not text:
        raise UsageError("bad --sink '': empty (expected TYPE[:NAME][=TARGET][,option=value...])")
    head, *pieces = text.split(",")
    type_and_name, has_target, target = head.partition("=")
    type_and_name, target = type_and_name.strip(), target.strip()
    match = _HEAD.fullmatch(type_and_name)
    if match is None:
        raise bad("expected TYPE[:NAME][=TARGET][,option=value...], e.g. webhook=http://127.0.0.1:8080/hook")
    sink_type = match["type"]
    if sink_type not in SINK_TYPES:
        raise bad(f"unknown sink type {sink_type!r} (known: {', '.join(sorted(SINK_TYPES))})")
    if has_target and not target:
        raise bad("empty target after '='")

    options: dict[str, str] = {}
    for piece in pieces:
        key, has_value, value = piece.partition("=")
        key, value = key.strip(), value.strip()
        if not has_value or not _OPTION.fullmatch(key) or not value:
            raise bad(f"{piece!r} is not option=value (targets may not contain ',': write %2C)")
        if key in options:
            raise bad(f"option {key!r} given twice")
        options[key] = value

    try:
        timeout = parse_duration(options.pop("timeout")) if "timeout" in options else DEFAULT_TIMEOUT
        burst = options.pop("burst", None)
        burst_n = int(burst) if burst is not None else None
        if burst_n is not None and burst_n < 1:
            raise ValueError("burst must be at least 1")
        rate = options.pop("rate", None)
        if rate is None and burst_n is not None:
            raise ValueError("burst needs rate=N/period")
        rate_limit = RateLimit.parse(rate, burst_n) if rate is not None else None
    except ValueError as exc:
        raise bad(str(exc)) from None

    return SinkSpec(
        type=sink_type,
        name=match["name"],
        target=target if has_target else None,
        options=options,
        rate_limit=rate_limit,
        timeout=timeout,
    )


def build_sink(spec: SinkSpec, env: Mapping[str, str] | None = None) -> Sink:
    """Construct the sink of a parsed spec. ``env`` (default ``os.environ``) supplies secrets."""
    factory = SINK_TYPES.get(spec.type)
    if factory is None:
        raise spec.error(f"unknown sink type (known: {', '.join(sorted(SINK_TYPES))})")
    if spec.target and "://" in spec.target:
        register_url(spec.target)  # its token-like parts are masked in every log line and output
    return factory(spec, os.environ if env is None else env)


def build_sinks(texts: Iterable[str], env: Mapping[str, str] | None = None) -> list[Sink]:
    """Parse and build every ``--sink``; instance names must be unique (they key the outbox)."""
    specs = [parse_sink_spec(text) for text in texts]
    seen: set[str] = set()
    for spec in specs:
        if spec.instance_name in seen:
            raise UsageError(
                f"two sinks named {spec.instance_name!r}: name them, e.g. {spec.type}:ops=… and {spec.type}:dev=…"
            )
        seen.add(spec.instance_name)
    return [build_sink(spec, env) for spec in specs]
