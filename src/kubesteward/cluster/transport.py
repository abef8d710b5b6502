"""The one HTTP transport to an API server: aiohttp connection pools, one attempt, retries, typed errors.

- one bounded pool for requests and an unbounded one for watch streams (HTTP parsed in C);
- retries with full-jitter backoff on 429 (honouring Retry-After), 5xx, connection resets and
  timeouts, bounded in attempts and total time, and never a blind retry of a non-idempotent write;
- a circuit breaker per cluster so a dead API fails fast;
- every failure a typed, one-line :class:`~kubesteward.errors.ClusterError`;
- one DEBUG line per request (``kubesteward -vv``) with every query value that could identify
  something masked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from kubesteward.cluster.connection import ClusterConfig
from kubesteward.cluster.retry import CircuitBreaker, CircuitOpen, RetryPolicy, parse_retry_after
from kubesteward.errors import (
    ClusterError,
    ConfigError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    ServerError,
    Timeout,
    Unauthorized,
    Unreachable,
)

# One DEBUG line per request (`kubesteward -vv`): method, path, status, time.
_http_log = logging.getLogger("kubesteward.http")

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

Params = Mapping[str, str | int]


@dataclass(frozen=True)
class Response:
    """A fully read HTTP response (every request of :meth:`Transport.request` is read whole)."""

    status_code: int
    content: bytes
    headers: Mapping[str, str]
    reason_phrase: str = ""

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return msgspec.json.decode(self.content)


# An answer the caller knows to be final whatever its status (an eviction a disruption budget
# refuses is a 429 that no retry can change): the error to raise for it, or None.
FinalAnswer = Callable[[Response], ClusterError | None]


class Transport:
    """Requests to one cluster context: pools, retries, breaker, typed errors."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_connections: int = 16,
    ) -> None:
        # 16 connections: fewer TLS handshakes than 32, and an API server with
        # few cores serves fewer LISTs at once (8 was slower again).
        self.config = config
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.timeout = timeout
        self._ssl = ssl_context(config) if config.host.startswith("https://") else None
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._timeout = self._client_timeout(timeout)
        # Created on first use, inside the event loop (aiohttp asks for that).
        self._session: aiohttp.ClientSession | None = None
        self._stream_session: aiohttp.ClientSession | None = None

    @property
    def context(self) -> str:
        return self.config.context

    async def aclose(self) -> None:
        for session in (self._session, self._stream_session):
            if session is not None:
                await session.close()
        self._session = self._stream_session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        timeout: float | None = None,
        final: FinalAnswer | None = None,
    ) -> Response:
        """Send one request with retries; return a 2xx response or raise a typed error.

        ``idempotent`` (default: by method) says whether a request the server may have acted on
        can be sent again; ``final`` names answers that are not retried whatever their status.
        """
        if idempotent is None:
            idempotent = method.upper() in _IDEMPOTENT
        response = await self._send_with_retries(method, path, params, content, headers, idempotent, timeout, final)
        if response.status_code >= 400:
            raise self.error_from(response.status_code, response.content, response.reason_phrase)
        return response

    async def _send_with_retries(
        self,
        method: str,
        path: str,
        params: Params | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        idempotent: bool,
        timeout: float | None,
        final: FinalAnswer | None,
    ) -> Response:
        policy = self.retry
        deadline = time.monotonic() + policy.total
        attempt = 0
        last: ClusterError | None = None
        while True:
            try:
                self.breaker.check()
            except CircuitOpen:
                cause = f" (last error: {last})" if last else ""
                raise Unreachable(
                    f"API server {self.config.host} keeps failing; failing fast for "
                    f"{self.breaker.cooldown:.0f}s{cause}",
                    context=self.context,
                ) from None
            request_headers = dict(headers or {})
            token = self.config.authorization()
            if token:
                request_headers["Authorization"] = token
            retryable = False
            retry_after: float | None = None
            try:
                response = await self._send(method, path, params, content, request_headers, timeout)
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # The request never reached the server: safe to retry any method.
                retryable = True
                last = Unreachable(f"cannot connect to {self.config.host}: {_connect_reason(exc)}", context=self.context)
                self.breaker.record_failure()
            except TimeoutError as exc:  # aiohttp's read timeouts are TimeoutErrors too
                retryable = idempotent
                last = Timeout(f"{method} {path} timed out: {reason(exc)}", context=self.context)
                self.breaker.record_failure()
            except aiohttp.ClientError as exc:
                # Reset or protocol error mid-flight: the server may have acted.
                retryable = idempotent
                last = Unreachable(f"connection to {self.config.host} failed: {reason(exc)}", context=self.context)
                self.breaker.record_failure()
            else:
                status = response.status_code
                refusal = final(response) if final is not None and status >= 400 else None
                if refusal is not None:
                    self.breaker.record_success()  # the API answered
                    raise refusal
                if status == 429 or status >= 500:
                    # 429 means "not processed", so even a POST may be retried.
                    retryable = status == 429 or idempotent
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    last = ServerError(
                        f"{method} {path}: {status} {status_message(response.content, response.reason_phrase)}",
                        context=self.context, status=status,
                    )
                    if status >= 500:
                        self.breaker.record_failure()
                    if not retryable:
                        return response
                else:
                    self.breaker.record_success()
                    return response
            attempt += 1
            if not retryable or attempt >= policy.max_attempts:
                raise _with_attempts(last, attempt)
            delay = policy.delay(attempt)
            if retry_after is not None:
                delay = max(delay, retry_after)
            if time.monotonic() + delay > deadline:
                raise _with_attempts(last, attempt)
            await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        params: Params | None,
        content: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
    ) -> Response:
        """One attempt, read whole. The URL is the host (which may carry a path
        prefix, as behind Rancher) plus the API path, never a join that drops it."""
        started = time.monotonic()
        async with self._requests().request(
            method,
            self.config.host + path,
            params={key: str(value) for key, value in params.items()} if params else None,
            data=content,
            headers=headers,
            timeout=self._timeout if timeout is None else self._client_timeout(timeout),
            server_hostname=self.config.tls_server_name,
        ) as response:
            body = await response.read()
        if _http_log.isEnabledFor(logging.DEBUG):
            _http_log.debug("%s %s%s -> %d (%d bytes, %.0f ms)", method, path, loggable_query(params),
                            response.status, len(body), (time.monotonic() - started) * 1000)
        return Response(response.status, body, response.headers, response.reason or "")

    async def stream(self, path: str, params: Mapping[str, str], *, read_timeout: float) -> aiohttp.ClientResponse:
        """Open a long response (a watch) on the stream pool: one attempt, no retries (the caller
        knows from where to resume). The caller reads it and must close it."""
        headers = {}
        token = self.config.authorization()
        if token:
            headers["Authorization"] = token
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=read_timeout)
        try:
            response = await self._streams().get(
                self.config.host + path, params=params, headers=headers, timeout=timeout,
                server_hostname=self.config.tls_server_name,
            )
        except TimeoutError:
            raise Timeout(f"watch {path}: no answer within {self.timeout:.0f}s", context=self.context) from None
        except aiohttp.ClientError as exc:
            raise Unreachable(f"watch {path}: cannot connect to {self.config.host}: {reason(exc)}",
                              context=self.context) from None
        if response.status >= 400:
            try:
                raise self.error_from(response.status, await response.read(), response.reason or "")
            finally:
                response.close()
        return response

    def error_from(self, status: int, content: bytes, reason_phrase: str) -> ClusterError:
        """The typed error of an answer with status >= 400, one line."""
        message = status_message(content, reason_phrase)
        cls = _ERRORS.get(status, ServerError)
        label = _LABELS.get(status, "invalid" if cls is Invalid else "error")
        if status == 401:
            message = f"the server at {self.config.host} rejected the credentials of context {self.context!r}"
        return cls(f"{label} ({status}): {message}", context=self.context, status=status)

    def open_streams(self) -> None:
        """Get the watch connection pool ready now (the first watch otherwise does it)."""
        self._streams()

    def _client_timeout(self, timeout: float) -> aiohttp.ClientTimeout:
        """``timeout`` bounds each phase (a free connection, each read), not the
        whole exchange: a big LIST page that keeps arriving is not cut off."""
        return aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=min(self._connect_timeout, timeout), sock_read=timeout
        )

    def _requests(self) -> aiohttp.ClientSession:
        """The pool of every request but watches: at most ``max_connections``."""
        if self._session is None:
            self._session = self._new_session(self._max_connections)
        return self._session

    def _streams(self) -> aiohttp.ClientSession:
        """The pool watches stream on: its own and unbounded, because each
        watch holds its connection for minutes and must not starve requests.

        The transport is aiohttp for both: it parses HTTP in C (llhttp),
        where a pure-Python HTTP reader cost more CPU than the rest of the
        watch engine per event (docs/ARCHITECTURE.md, dependencies).
        """
        if self._stream_session is None:
            self._stream_session = self._new_session(0)
        return self._stream_session

    def _new_session(self, limit: int) -> aiohttp.ClientSession:
        auth = None
        if self.config.username and self.config.password:
            auth = aiohttp.BasicAuth(self.config.username, self.config.password)
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False, limit=limit),
            headers={"User-Agent": "kubesteward", "Accept": "application/json"},
            auth=auth,
            timeout=self._timeout,
            trust_env=False,  # proxies come from the kubeconfig, never from ambient env
        )


_ERRORS: dict[int, type[ClusterError]] = {
    400: Invalid,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    415: Invalid,  # a patch type the kind does not take (strategic merge on a custom resource)
    422: Invalid,
}
_LABELS = {401: "unauthorized", 403: "forbidden", 404: "not found", 409: "conflict", 410: "gone"}

# Query parameters whose values say how a request reads or writes, never who or what it names: shown
# at -vv. Any other value (a continue token, whatever a future caller adds) is masked.
_SHOWN_PARAMS = frozenset({
    "limit", "watch", "resourceVersion", "resourceVersionMatch", "timeoutSeconds", "allowWatchBookmarks",
    "labelSelector", "fieldSelector", "fieldManager", "dryRun", "force", "propagationPolicy", "gracePeriodSeconds",
})


def loggable_query(params: Params | None) -> str:
    """``?name=value&…`` for a log line, each value not in :data:`_SHOWN_PARAMS` masked."""
    if not params:
        return ""
    return "?" + "&".join(f"{key}={value if key in _SHOWN_PARAMS else '***'}" for key, value in params.items())


def ssl_context(config: ClusterConfig) -> ssl.SSLContext:
    """The TLS settings of a context; :class:`ConfigError` naming what is wrong with its certificates."""
    try:
        context = ssl.create_default_context(cafile=config.ca_file) if config.ca_file else ssl.create_default_context()
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"the certificate authority of this context is not a usable PEM certificate "
            f"({reason(exc)})", context=config.context,
        ) from None
    if not config.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if config.cert_file:
        try:
            context.load_cert_chain(config.cert_file, config.key_file)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(
                f"the client certificate or key of this context is not usable ({reason(exc)})",
                context=config.context,
            ) from None
    return context


def status_message(content: bytes, reason_phrase: str) -> str:
    """The human message of a ``Status`` body in one line, or a trimmed body.

    A multi-line message (server-side apply lists its conflicting fields as ``- .data.a`` lines)
    is joined, so no field it names is lost.
    """
    try:
        body = json.loads(content)
        if isinstance(body, dict) and body.get("message"):
            return _one_line(str(body["message"]))
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        pass
    text = content.decode(errors="replace").strip().splitlines()
    return text[0][:200] if text else reason_phrase


def _one_line(message: str) -> str:
    """``a:`` / ``- x`` / ``- y`` / ``b`` as ``a: x, y; b``."""
    text = ""
    for line in (raw.strip() for raw in message.splitlines()):
        if line.startswith("- "):
            text += (" " if text.endswith(":") else ", ") + line[2:]
        elif line:
            text += ("; " if text else "") + line
    return text


def status_causes(content: bytes) -> list[dict[str, Any]]:
    """The ``details.causes`` of a ``Status`` body (empty when there is none)."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return []
    details = body.get("details") if isinstance(body, dict) else None
    causes = details.get("causes") if isinstance(details, dict) else None
    return [cause for cause in causes if isinstance(cause, dict)] if isinstance(causes, list) else []


def reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _connect_reason(exc: BaseException) -> str:
    """Why a connection failed, without aiohttp's repr of our SSL context."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return reason(exc.certificate_error)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return reason(exc.os_error)
    return reason(exc) if str(exc) else "connection timed out"


def _with_attempts(error: ClusterError | None, attempts: int) -> ClusterError:
    assert error is not None
    if attempts > 1:
        error.args = (f"{error.args[0]} (after {attempts} attempts)",)
    return error
