"""The generic webhook sink, and the HTTP delivery the Slack and Alertmanager sinks share.

The webhook POSTs the canonical notification JSON (``Notification.body()``)
with an ``Idempotency-Key`` header and, when a secret is configured, an
HMAC-SHA256 signature over ``"<timestamp>." + body``. Putting the timestamp
inside the signed content lets a receiver refuse replays of an old, validly
signed request (see :func:`verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import ssl
import time
from collections.abc import Mapping

import aiohttp

from kubesteward import __version__
from kubesteward.alerts.ratelimit import RateLimit
from kubesteward.alerts.sinks.base import DeliveryError, SinkSpec, mask_url, register_sink
from kubesteward.cluster.retry import parse_retry_after
from kubesteward.notifications.types import Notification
from kubesteward.redaction import register

# One DEBUG line per delivery attempt (`kubesteward -vv`), the URL masked.
_http_log = logging.getLogger("kubesteward.http")

SIGNATURE_HEADER = "X-Kubesteward-Signature"
TIMESTAMP_HEADER = "X-Kubesteward-Timestamp"
DEFAULT_SECRET_ENV = "KUBESTEWARD_WEBHOOK_SECRET"
USER_AGENT = f"kubesteward/{__version__}"

# Statuses after which the same request can succeed later. Any other 4xx means
# the receiver rejects this request as it is (bad URL, auth, payload).
RETRYABLE_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_ERROR_BODY_CHARS = 200


def sign(secret: str | bytes, timestamp: int | str, body: bytes) -> str:
    """The ``X-Kubesteward-Signature`` value: ``sha256=<hex HMAC-SHA256(secret, "<ts>." + body)>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str | bytes,
    timestamp: str,
    body: bytes,
    header: str,
    tolerance_s: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """Check a received webhook: the signature matches and the timestamp is recent.

    ``timestamp`` and ``header`` are the raw ``X-Kubesteward-Timestamp`` and
    ``X-Kubesteward-Signature`` values, ``body`` the raw request bytes (before
    any JSON parsing: re-serialising would change them). Constant-time compare.
    """
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), header.strip())


def _system_trust() -> ssl.SSLContext:
    """The system's trust store, read when an HTTPS sink first sends: the CLI imports aiohttp with it
    hidden (aiohttp's import-time default contexts serve no cluster; see cli.main._system_ca_bundle_unread)."""
    return ssl.create_default_context()


class HttpSink:
    """POST one payload per notification; map the answer onto :class:`DeliveryError`.

    Subclasses choose the payload (:meth:`payload`) and extra headers
    (:meth:`headers`). 2xx is success; 408/425/429/5xx and transport errors
    are retryable (``Retry-After`` honoured on 429/503); other statuses are not.
    """

    kind = "http"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.name = name
        self.rate_limit = rate_limit
        self.timeout = timeout
        self._url = url
        # Made on first use: aiohttp wants a running event loop (the sink is built before it runs).
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The sink's connection pool, on the one HTTP client library kubesteward uses (aiohttp)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(ssl=_system_trust() if self._url.startswith("https:") else False),
                # Receivers are often beyond a corporate proxy: HTTPS_PROXY/NO_PROXY apply, as with curl.
                trust_env=True,
            )
        return self._session

    @property
    def display_url(self) -> str:
        return mask_url(self._url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.display_url!r})"

    __str__ = __repr__

    def payload(self, notification: Notification) -> bytes:
        raise NotImplementedError

    def headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "Idempotency-Key": notification.idempotency_key}

    async def send(self, notification: Notification) -> None:
        body = self.payload(notification)
        started = time.monotonic()
        try:
            async with self._client().post(
                self._url, data=body, headers=self.headers(notification, body),
                allow_redirects=False,  # a redirected POST would silently change meaning
            ) as response:
                status = response.status
                retry_header = response.headers.get("Retry-After")
                text = await response.text(errors="replace")
        except TimeoutError as exc:
            raise DeliveryError(f"POST {self.display_url}: timed out after {self.timeout:g}s") from exc
        except aiohttp.ClientError as exc:
            # aiohttp's messages can quote the URL; never let a token reach a log.
            message = str(exc).replace(self._url, self.display_url) or type(exc).__name__
            raise DeliveryError(f"POST {self.display_url}: {message}") from exc
        _http_log.debug("POST %s -> %d (%d bytes, %.0f ms)", self.display_url, status, len(body),
                        (time.monotonic() - started) * 1000)
        if 200 <= status < 300:
            return
        retryable = status in RETRYABLE_STATUSES
        retry_after = parse_retry_after(retry_header) if status in _RETRY_AFTER_STATUSES else None
        detail = " ".join(text[:_ERROR_BODY_CHARS].split())
        raise DeliveryError(
            f"POST {self.display_url}: HTTP {status}" + (f": {detail}" if detail else ""),
            retryable=retryable,
            status=status,
            retry_after=retry_after,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookSink(HttpSink):
    """The generic webhook: canonical notification JSON, optionally HMAC-signed."""

    kind = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        secret: str | None = None,
        timeout: float,
        rate_limit: RateLimit | None = None,
    ) -> None:
        super().__init__(name, url, timeout=timeout, rate_limit=rate_limit)
        self._secret = secret

    @property
    def signed(self) -> bool:
        return self._secret is not None

    def __repr__(self) -> str:
        return f"WebhookSink(name={self.name!r}, url={self.display_url!r}, signed={self.signed})"

    __str__ = __repr__

    def payload(self, notification: Notification) -> bytes:
        return notification.body()

    def headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        headers = super().headers(notification, body)
        if self._secret is not None:
            timestamp = int(time.time())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        return headers


@register_sink("webhook")
def build_webhook(spec: SinkSpec, env: Mapping[str, str]) -> WebhookSink:
    spec.check_options({"secret-env"})
    url = spec.require_url()
    secret_env = spec.options.get("secret-env")
    if secret_env is not None:
        secret = env.get(secret_env)
        if not secret:
            raise spec.error(f"secret-env={secret_env}: that environment variable is not set or empty")
    else:
        secret = env.get(DEFAULT_SECRET_ENV) or None
    register(secret)  # the signing key: masked wherever it might be quoted
    return WebhookSink(spec.instance_name, url, secret=secret, timeout=spec.timeout, rate_limit=spec.rate_limit)
