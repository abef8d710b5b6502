"""The exporter's HTTP endpoint: /metrics, /healthz, /readyz on a loopback address.

A small threaded ``http.server`` on its own thread, so a scrape never waits
for (or blocks) the engine's event loop. Loopback only unless the caller
explicitly allows more: the metrics name namespaces and workloads, and the
endpoint has no authentication.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from kubesteward.errors import UsageError
from kubesteward.metrics.cardinality import DEFAULT_SERIES_CAP
from kubesteward.metrics.collector import KubestewardCollector
from kubesteward.metrics.exporter import MetricsSource

log = logging.getLogger("kubesteward.metrics")

DEFAULT_METRICS_ADDR = "127.0.0.1:9808"
TEXT = "text/plain; charset=utf-8"


def parse_addr(addr: str, *, allow_remote: bool = False) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (127.0.0.1) or ``[IPV6]:PORT`` -> (host, port); port 0 picks a free one."""
    text = addr.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise UsageError(f"metrics address {addr!r}: expected [IPV6]:PORT")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise UsageError(f"metrics address {addr!r}: expected HOST:PORT or :PORT")
        if ":" in host:
            raise UsageError(f"metrics address {addr!r}: put an IPv6 host in brackets, e.g. [::1]:9808")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"metrics address {addr!r}: port must be a number from 0 to 65535")
    # "localhost" may resolve to ::1 first, which an IPv4 socket cannot bind.
    host = "127.0.0.1" if host in ("", "localhost") else host
    if not allow_remote and not _is_loopback(host):
        raise UsageError(
            f"metrics address {addr!r} is not a loopback address; serving metrics beyond this host "
            "must be allowed explicitly"
        )
    return host, int(port_text)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: we do not resolve it to guess


class MetricsServer:
    """A running exporter. ``close()`` stops it and frees the port (also on ``with`` exit)."""

    def __init__(self, httpd: _HTTPServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        self._closed = False
        bound = httpd.server_address
        self.host: str = str(bound[0])
        self.port: int = int(bound[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9808`` (append ``/metrics``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()  # returns once serve_forever has left its loop
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(
    source: MetricsSource,
    addr: str = DEFAULT_METRICS_ADDR,
    *,
    allow_remote: bool = False,
    series_cap: int = DEFAULT_SERIES_CAP,
) -> MetricsServer:
    """Start the exporter on a background thread and return once it accepts connections."""
    host, port = parse_addr(addr, allow_remote=allow_remote)
    registry = CollectorRegistry(auto_describe=False)  # private: never the process-wide REGISTRY
    registry.register(KubestewardCollector(source, series_cap=series_cap))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        httpd = _HTTPServer((host, port), family, source, registry)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {addr}: {exc.strerror or exc}") from None
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="kubesteward-metrics", daemon=True
    )
    thread.start()
    return MetricsServer(httpd, thread)


class _HTTPServer(ThreadingHTTPServer):
    # Request threads must not keep the process alive after the engine stops.
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], family: int, source: MetricsSource, registry: CollectorRegistry
    ) -> None:
        self.address_family = family
        self.source = source
        self.registry = registry
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "kubesteward-metrics"

    def do_GET(self) -> None:
        self._respond(*self._route(self.path.split("?", 1)[0]))

    def do_HEAD(self) -> None:
        self._respond(*self._route(self.path.split("?", 1)[0]), body_allowed=False)

    def _route(self, path: str) -> tuple[int, str, bytes]:
        source = self.server.source
        if path == "/metrics":
            try:
                return 200, CONTENT_TYPE_PLAIN_0_0_4, generate_latest(self.server.registry)
            except Exception as exc:  # a failed scrape must be a 500 for Prometheus, not a dead thread
                log.exception("metrics: scrape failed")
                return 500, TEXT, f"scrape failed: {type(exc).__name__}: {exc}\n".encode()
        if path == "/healthz":
            ok = _ask(source.healthy)
            return (200, TEXT, b"ok\n") if ok else (503, TEXT, b"unhealthy: the watch engine is not running\n")
        if path == "/readyz":
            return self._readiness(source)
        return 404, TEXT, b"not found: try /metrics, /healthz or /readyz\n"

    def _readiness(self, source: MetricsSource) -> tuple[int, str, bytes]:
        """200 ``ok`` when every context is synced; else 503 with one line per context that is not,
        saying its state and why (``prod: unauthorized: ...``)."""
        if _ask(source.ready):
            return 200, TEXT, b"ok\n"
        try:
            waiting = sorted((v for v in source.clusters() if v.current_state != "synced"), key=lambda v: v.context)
        except Exception:
            log.exception("metrics: listing clusters for /readyz failed")
            waiting = []
        if not waiting:
            return 503, TEXT, b"not ready: the watch engine is not ready\n"
        lines = [f"{v.context}: {v.current_state}" + (f": {_one_line(v.reason)}" if v.reason else "") for v in waiting]
        return 503, TEXT, ("not ready:\n" + "".join(f"{line}\n" for line in lines)).encode()

    def _respond(self, status: int, content_type: str, body: bytes, *, body_allowed: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body_allowed:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Scrapes arrive every few seconds; the default writes each to stderr.
        log.debug("metrics: %s - " + format, self.address_string(), *args)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _ask(check: Callable[[], bool]) -> bool:
    """A probe that raises is a failed probe, not a crashed request."""
    try:
        return bool(check())
    except Exception:
        log.exception("metrics: health probe failed")
        return False
