"""Typed errors, each mapped to one clear line and a documented exit code.

The CLI prints ``str(error)`` and exits with ``error.exit_code``; the table
of codes lives in the README ("Exit codes") and in ``EXIT_CODES`` below.
"""

from __future__ import annotations


class KubestewardError(Exception):
    """Base of every expected failure. ``str()`` is a one-line message."""

    exit_code = 1

    def __init__(self, message: str, *, context: str | None = None) -> None:
        self.context = context
        prefix = f"[{context}] " if context else ""
        super().__init__(prefix + message)


class UsageError(KubestewardError):
    exit_code = 2


class ConfigError(KubestewardError):
    """Bad or missing kubeconfig, unknown context."""

    exit_code = 3


class ClusterError(KubestewardError):
    """An API call failed. ``status`` is the HTTP status when there was one."""

    exit_code = 10

    def __init__(self, message: str, *, context: str | None = None, status: int | None = None) -> None:
        self.status = status
        super().__init__(message, context=context)


class Unauthorized(ClusterError):
    exit_code = 4


class Forbidden(ClusterError):
    exit_code = 5


class NotFound(ClusterError):
    exit_code = 6


class Conflict(ClusterError):
    exit_code = 7


class DisruptionBlocked(Conflict):
    """An eviction a PodDisruptionBudget refuses (its 429): retrying now cannot change that, so it is
    not retried; the message names the budget and what it needs."""


class Unreachable(ClusterError):
    exit_code = 8


class Timeout(ClusterError):
    exit_code = 9


class ServerError(ClusterError):
    """5xx or 429 that outlived the retry budget."""

    exit_code = 10


class Invalid(ClusterError):
    """The API rejected the request (400/422), or an unknown kind."""

    exit_code = 11


class Gone(ClusterError):
    """410: a continue token or watch resourceVersion expired."""

    exit_code = 10


class InputError(KubestewardError):
    """Invalid YAML/JSON input files."""

    exit_code = 11


class SandboxFailure(KubestewardError):
    exit_code = 12


class StateError(KubestewardError):
    """The watch state store (SQLite file or PostgreSQL URL) cannot be opened or written."""

    exit_code = 13


class DeliveryIncomplete(KubestewardError):
    """``watch --once`` ended with notifications still in the outbox (a sink failed); the next run sends them."""

    exit_code = 15


class OutputError(KubestewardError):
    """A file kubesteward was asked to write cannot be written (missing directory, a directory in the way,
    no permission, disk full)."""

    exit_code = 14


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "findings at or above --fail-on; generic failure",
    2: "usage error (bad flag or argument)",
    3: "configuration error: bad or missing kubeconfig, unknown context",
    4: "unauthorized (401): credentials rejected, or a credential plugin (exec) failed",
    5: "forbidden (403): RBAC denies the request; or, under --fail-on, a partial result (some kinds or "
    "namespaces could not be read) without --allow-partial",
    6: "not found (404)",
    7: "conflict (409) that outlived its retries, or an eviction a PodDisruptionBudget refuses",
    8: "API server unreachable (connection refused, DNS, TLS, circuit open)",
    9: "timeout",
    10: "server error (5xx/429) after retries",
    11: "invalid input: the API rejected the request, invalid YAML, unknown kind",
    12: "sandbox failure (build or start of the local control plane); kustomize or helm cannot be built or run",
    13: "state store unavailable (watch/silence database: bad URL, unreachable, unwritable)",
    14: "cannot write an output file (missing directory, a directory in the way, no permission, disk full)",
    15: "watch --once could not deliver every notification (still queued for the next run)",
    70: "internal error (a bug: rerun with -v for the traceback)",
    130: "interrupted",
}
