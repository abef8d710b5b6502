"""The one place that keeps secrets out of everything kubesteward prints, writes, logs and sends.

Secrets cross two borders, and each has one rule here that every path goes through:

- **In**, as objects read from a cluster or a file: :func:`redact_annotations` (called by the model's
  ``strip_values`` for every object a LIST, a watch or a file yields) and :func:`redact_manifest`
  (for whole manifests kept as plain data). Secret values, the annotations of Secrets,
  ``kubectl.kubernetes.io/last-applied-configuration`` (it carries a Secret's ``data`` and a
  workload's env values) and env values are replaced before anything can keep them. The slim
  model does not decode Secret values or env values at all.
- **Out**, as text: :func:`scrub`, applied to the CLI's stdout and stderr (:class:`ScrubbingStream`),
  so to every log line, and to every file and payload kubesteward writes. It masks credentials
  registered where they entered (:func:`register`: a kubeconfig's token or password, a sink's URL
  and signing secret) and what looks like one (bearer tokens, secret query parameters, Slack
  webhook paths, URL passwords), wherever it ended up: an error message that quotes a URL, a log
  line of a library.

Nothing here imports the rest of kubesteward: every layer may use it.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections.abc import Mapping
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
REDACTED = "<redacted>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Annotations of a Secret that say what it is, not what it holds; kubesteward reads the first.
_SAFE_SECRET_ANNOTATIONS = frozenset(
    {"kubesteward.io/ignore", "kubernetes.io/service-account.name", "kubernetes.io/service-account.uid"}
)
# Shorter strings are too likely to occur by chance in output to be masked wherever they appear.
_MIN_SECRET_LENGTH = 6
# A URL path segment this long is an opaque token (Teams, Discord, Slack webhook ids), not a word.
_TOKENISH = 16

_registered: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole
_lock = threading.Lock()

# (literals one of which must occur, pattern, replacement). The literal test is cheap and usually false, so a
# multi-megabyte output is not scanned by every pattern.
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    # As in an Authorization header: capitalised, then a token with a character prose words lack.
    (("Bearer ", "Basic "),
     re.compile(r"\b(Bearer|Basic) +(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{16,}"), r"\1 " + MASK),
    (("hooks.slack.com/services/",), re.compile(r"(hooks\.slack\.com/services/)[^\s\"'<>]+"), r"\1" + MASK),
    (("?", "&", ";"),
     re.compile(r"(?i)([?&;](?:access_token|token|secret|key|apikey|api_key|api-key|password|passwd|sig|signature|"
                r"auth|code|client_secret)=)[^&\s\"'<>#]+"), r"\1" + MASK),
    (("@",), re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@\"'<>]+:)[^\s@/\"'<>]+@"), r"\1" + MASK + "@"),
)


def register(*values: str | None) -> None:
    """Remember credentials so that :func:`scrub` masks them wherever they appear."""
    global _ordered
    fresh = {v for v in values if v and len(v) >= _MIN_SECRET_LENGTH} - _registered
    if not fresh:
        return
    with _lock:
        _registered.update(fresh)
        _ordered = tuple(sorted(_registered, key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with every registered credential and everything shaped like one masked."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    for triggers, pattern, replacement in _PATTERNS:
        if any(literal in text for literal in triggers):
            text = pattern.sub(replacement, text)
    return text


def mask_url(url: str) -> str:
    """A URL safe to show: no password, no query values, no token-like path segments.

    Slack incoming-webhook URLs are secrets in their path, so everything after
    ``/services/`` is masked whatever its length.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return url  # a file path (jsonl): nothing secret in it
    netloc = parts.hostname or ""
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username:
        netloc = f"{parts.username}:{MASK}@{netloc}" if parts.password else f"{parts.username}@{netloc}"
    path = parts.path
    if "/services/" in path:
        path = path[: path.index("/services/") + len("/services/")] + MASK
    else:
        path = "/".join(MASK if len(seg) >= _TOKENISH else seg for seg in path.split("/"))
    return urlunsplit((parts.scheme, netloc, path, MASK if parts.query else "", ""))


def register_url(url: str) -> None:
    """Register the secret parts of a URL (password, query values, token-like path segments)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        register(url)
        return
    register(parts.password)
    for pair in parts.query.split("&"):
        register(pair.partition("=")[2])
    segments = parts.path.split("/")
    if "services" in segments:  # Slack: everything after /services/ is the secret
        register("/".join(segments[segments.index("services") + 1 :]))
    register(*(seg for seg in segments if len(seg) >= _TOKENISH))


def digest(value: str | bytes) -> str:
    """A short, stable fingerprint of a secret value: says *whether* it changed, never what it is."""
    raw = value.encode() if isinstance(value, str) else value
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:12]


def redact_annotations(annotations: dict[str, str], *, secret: bool = False) -> dict[str, str]:
    """``annotations`` (changed in place and returned) without values that may hold secrets:
    the last-applied configuration of any object, and every annotation of a Secret but those
    that only say what it is."""
    for key in annotations:
        if key == LAST_APPLIED or (secret and key not in _SAFE_SECRET_ANNOTATIONS):
            annotations[key] = REDACTED
    return annotations


def redact_manifest(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a manifest (plain data) safe to show or write: a Secret's ``data`` and
    ``stringData`` values replaced by their :func:`digest`, annotations as in
    :func:`redact_annotations`, every container env ``value`` replaced by its digest too, wherever
    the pod template sits (Pods, workloads, CronJobs, custom resources)."""
    is_secret = obj.get("kind") == "Secret"
    copied: dict[str, Any] = _redact_tree(obj, is_secret)
    if is_secret:
        for field in ("data", "stringData"):
            values = copied.get(field)
            if isinstance(values, dict):
                copied[field] = {k: f"{REDACTED} {digest(str(v))}" for k, v in values.items()}
    return copied


def _redact_tree(node: Any, is_secret: bool) -> Any:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "annotations" and isinstance(value, Mapping):
                out[key] = redact_annotations({str(k): str(v) for k, v in value.items()}, secret=is_secret)
            elif key == "env" and isinstance(value, list):
                out[key] = [_redact_env(entry) for entry in value]
            else:
                out[key] = _redact_tree(value, is_secret)
        return out
    if isinstance(node, list):
        return [_redact_tree(item, is_secret) for item in node]
    return node


def _redact_env(entry: Any) -> Any:
    # With its digest, as a Secret's values: drift tells a changed value from an unchanged one.
    if isinstance(entry, Mapping) and "value" in entry:
        return {**entry, "value": f"{REDACTED} {digest(str(entry['value']))}"}
    return entry


class ScrubbingStream(io.TextIOBase):
    """A text stream that passes every write through :func:`scrub` (stdout and stderr of the CLI).

    Everything else (``isatty``, ``fileno``, ``encoding``) is the wrapped stream's, so terminals
    are still detected.
    """

    def __init__(self, wrapped: TextIO) -> None:
        super().__init__()
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        self.wrapped.write(scrub(text))
        return len(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.wrapped.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.wrapped.errors

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)
