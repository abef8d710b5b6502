"""The exporter's HTTP endpoint: /metrics, /healthz, /readyz on a loopback address.

aiohttp's server on an event loop of its own thread, so a scrape never waits
for (or blocks) the engine's event loop. Loopback only unless the caller
explicitly allows more: the metrics name namespaces and workloads, and the
endpoint has no authentication.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import logging
import threading
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from kubesteward.errors import UsageError
from kubesteward.metrics.cardinality import DEFAULT_SERIES_CAP
from kubesteward.metrics.collector import KubestewardCollector
from kubesteward.metrics.exporter import MetricsSource

log = logging.getLogger("kubesteward.metrics")

DEFAULT_METRICS_ADDR = "127.0.0.1:9808"
TEXT = "text/plain; charset=utf-8"


def parse_addr(addr: str, *, allow_remote: bool = False, what: str = "metrics") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` (127.0.0.1) or ``[IPV6]:PORT`` -> (host, port); port 0 picks a free one.
    ``what``: the endpoint, as error messages name it."""
    text = addr.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise UsageError(f"{what} address {addr!r}: expected [IPV6]:PORT")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise UsageError(f"{what} address {addr!r}: expected HOST:PORT or :PORT")
        if ":" in host:
            raise UsageError(f"{what} address {addr!r}: put an IPv6 host in brackets, e.g. [::1]:9808")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise UsageError(f"{what} address {addr!r}: port must be a number from 0 to 65535")
    # "localhost" may resolve to ::1 first, which an IPv4 socket cannot bind.
    host = "127.0.0.1" if host in ("", "localhost") else host
    if not allow_remote and not _is_loopback(host):
        raise UsageError(
            f"{what} address {addr!r} is not a loopback address; serving {what} beyond this host "
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

    def __init__(self, loop: asyncio.AbstractEventLoop, runner: web.AppRunner, thread: threading.Thread,
                 host: str, port: int) -> None:
        self._loop = loop
        self._runner = runner
        self._thread = thread
        self._closed = False
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9808`` (append ``/metrics``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
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
    """Start the exporter and return once it accepts connections.

    It is served by aiohttp's server (the stack every endpoint kubesteward serves uses) on an event loop of
    its own thread, so a scrape (computed from the live model) never waits for, or holds up, the engine's loop.
    """
    host, port = parse_addr(addr, allow_remote=allow_remote)
    registry = CollectorRegistry(auto_describe=False)  # private: never the process-wide REGISTRY
    registry.register(KubestewardCollector(source, series_cap=series_cap))
    runner = web.AppRunner(_application(source, registry), access_log=None, handle_signals=False)
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[int] = concurrent.futures.Future()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port, reuse_address=True)
            loop.run_until_complete(site.start())
        except BaseException as exc:  # the caller reports it (a port in use, an address not ours)
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(_bound_port(runner, port))
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name="kubesteward-metrics", daemon=True)
    thread.start()
    try:
        bound = started.result(timeout=30)
    except OSError as exc:
        thread.join(timeout=5)
        raise UsageError(f"cannot serve metrics on {addr}: {exc.strerror or exc}") from None
    return MetricsServer(loop, runner, thread, host, bound)


def _bound_port(runner: web.AppRunner, asked: int) -> int:
    """The port listened on (port 0 asks for a free one)."""
    for address in runner.addresses:
        return int(address[1])
    return asked


def _application(source: MetricsSource, registry: CollectorRegistry) -> web.Application:
    async def metrics(_request: web.Request) -> web.Response:
        try:
            body = generate_latest(registry)
        except Exception as exc:  # a failed scrape must be a 500 for Prometheus, not a dead server
            log.exception("metrics: scrape failed")
            return _text(500, f"scrape failed: {type(exc).__name__}: {exc}\n")
        return web.Response(status=200, body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def healthz(_request: web.Request) -> web.Response:
        if _ask(source.healthy):
            return _text(200, "ok\n")
        return _text(503, "unhealthy: the watch engine is not running\n")

    async def readyz(_request: web.Request) -> web.Response:
        return _text(*_readiness(source))

    async def not_found(_request: web.Request) -> web.Response:
        return _text(404, "not found: try /metrics, /healthz or /readyz\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)  # GET and HEAD (a HEAD answers the headers only)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_route("*", "/{anything:.*}", not_found)
    return app


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, body=text.encode(), headers={"Content-Type": TEXT})


def _readiness(source: MetricsSource) -> tuple[int, str]:
    """200 ``ok`` when every context is synced (and its drift check, if any, could run); else 503 with one
    line per context that is not, saying its state and why (``prod: unauthorized: ...``)."""
    if _ask(source.ready):
        return 200, "ok\n"
    try:
        waiting = sorted((v for v in source.clusters() if not v.ready), key=lambda v: v.context)
    except Exception:
        log.exception("metrics: listing clusters for /readyz failed")
        waiting = []
    if not waiting:
        return 503, "not ready: the watch engine is not ready\n"
    lines = [f"{v.context}: {_one_line(v.not_ready_reason)}" for v in waiting]
    return 503, "not ready:\n" + "".join(f"{line}\n" for line in lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _ask(check: Callable[[], bool]) -> bool:
    """A probe that raises is a failed probe, not a crashed request."""
    try:
        return bool(check())
    except Exception:
        log.exception("metrics: health probe failed")
        return False
