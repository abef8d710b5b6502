"""What every sink is: the protocol, its delivery error, its parsed spec and the type registry.

The registry lives here rather than in the package ``__init__`` so built-in
sink modules can register themselves without a circular import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from kubesteward.alerts.ratelimit import RateLimit
from kubesteward.errors import UsageError
from kubesteward.notifications.types import Notification
from kubesteward.redaction import mask_url as mask_url  # the sinks import it from here

DEFAULT_TIMEOUT = 10.0
COMMON_OPTIONS = frozenset({"rate", "burst", "timeout"})


class DeliveryError(Exception):
    """A notification could not be delivered.

    ``retryable`` says whether the same request may succeed later (timeouts,
    5xx, 429); ``status`` is the HTTP status when there was an answer and
    ``retry_after`` the receiver's ``Retry-After`` in seconds. The delivery
    worker retries non-retryable errors too, only much later: a receiver's
    misconfiguration gets fixed, and the outbox never drops a notification.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class Sink(Protocol):
    """Where notifications go. One instance per ``--sink`` spec.

    ``name`` is the instance name and the outbox's ``sink`` column, so it must
    stay stable across restarts ("webhook", or "webhook:ops" when named).
    ``timeout`` bounds one ``send`` (the delivery worker enforces it too).
    """

    name: str
    rate_limit: RateLimit | None
    timeout: float

    async def send(self, notification: Notification) -> None:
        """Deliver one notification or raise :class:`DeliveryError`."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class SinkSpec:
    """A parsed ``TYPE[:NAME][=TARGET][,option=value...]``.

    ``options`` holds the type-specific options; the common ones (``rate``,
    ``burst``, ``timeout``) are already parsed into fields. The repr masks the
    target, which may be a Slack webhook URL (a bearer secret).
    """

    type: str
    name: str | None = None
    target: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def instance_name(self) -> str:
        return self.type if self.name is None else f"{self.type}:{self.name}"

    def __repr__(self) -> str:
        target = None if self.target is None else mask_url(self.target)
        return (
            f"SinkSpec(type={self.type!r}, name={self.name!r}, target={target!r}, options={dict(self.options)!r}, "
            f"rate_limit={self.rate_limit!r}, timeout={self.timeout!r})"
        )

    __str__ = __repr__

    def error(self, message: str) -> UsageError:
        return UsageError(f"sink {self.instance_name}: {message}")

    def require_target(self, what: str) -> str:
        if not self.target:
            raise self.error(f"needs a target: {self.type}=<{what}>")
        return self.target

    def check_options(self, allowed: Iterable[str] = ()) -> None:
        known = COMMON_OPTIONS | set(allowed)
        for key in self.options:
            if key not in known:
                raise self.error(f"unknown option {key!r} (known: {', '.join(sorted(known))})")

    def require_url(self) -> str:
        url = self.require_target("URL")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(f"target must be an http(s) URL, got {mask_url(url)!r}")
        return url


SinkFactory = Callable[[SinkSpec, Mapping[str, str]], Sink]
F = TypeVar("F", bound=SinkFactory)

# type name -> factory(spec, environment). Third-party sinks register with
# ``@register_sink("name")`` before the CLI parses ``--sink``.
SINK_TYPES: dict[str, SinkFactory] = {}


def register_sink(type_name: str) -> Callable[[F], F]:
    if not re.fullmatch(r"[a-z][a-z0-9-]*", type_name):
        raise ValueError(f"bad sink type name {type_name!r}")

    def decorate(factory: F) -> F:
        SINK_TYPES[type_name] = factory
        return factory

    return decorate


# ------------------------------------------------------------- shared rendering


def alert_object(labels: Mapping[str, str]) -> str:
    """``namespace/Kind/name`` of an alert's root object (``Kind/name`` when cluster-scoped)."""
    kind, name, namespace = labels.get("kind", ""), labels.get("name", ""), labels.get("namespace", "")
    ref = f"{kind}/{name}" if kind else name
    return f"{namespace}/{ref}" if namespace else ref


def group_title(notification: Notification) -> str:
    """``FIRING:2 alertname=KS102 namespace=shop``: status, count and group labels, one line."""
    count = len(notification.firing) if notification.status == "firing" else len(notification.alerts)
    labels = " ".join(f"{k}={v}" for k, v in sorted(notification.group_labels.items()) if v)
    return f"{notification.status.upper()}:{count}" + (f" {labels}" if labels else "")
