"""A fault-injecting HTTP proxy in front of the REAL kube-apiserver.

It is not a fake: every request it does not deliberately fail is forwarded
to the sandbox's apiserver with the sandbox's admin credentials, and the
real answer is relayed. Tests point a client at ``proxy.url`` (plain HTTP on
127.0.0.1) and script faults: "answer the next 2 requests with 429", "fail
every request with 503", "drop the connection", "expire the next continue
token with 410".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from kubesteward.cluster import CircuitBreaker, KubeClient, RetryPolicy
from kubesteward.cluster.connection import ClusterConfig
from kubesteward.cluster.transport import ssl_context

Matcher = Callable[[str, str], bool]
FORWARD = -1  # a fault's status that still forwards the request (after its delay)


@dataclass
class Fault:
    status: int  # 0 means: close the connection without answering; FORWARD: answer for real
    remaining: int  # -1: forever
    match: Matcher
    delay: float = 0.0  # seconds to hold the request first (a slow API server)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"injected fault"}'


class FaultProxy:
    def __init__(self, upstream: ClusterConfig, port: int = 0) -> None:
        """``port`` 0 picks a free one; a given port lets a test bring up an API server where a
        kubeconfig already points (a cluster that was down)."""
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path+query) of every request received
        self.injected = 0
        self._lock = threading.Lock()
        # The same TLS set-up (CA, client certificate) the product's client uses.
        self._client = httpx.Client(base_url=upstream.host, verify=ssl_context(upstream), timeout=30.0)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up on a stalled request: nothing to report

        self._server = Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    # ---------------------------------------------------------------- scripting

    def fail(
        self,
        status: int,
        times: int = -1,
        *,
        match: Matcher = lambda method, path: True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        delay: float = 0.0,
    ) -> None:
        fault = Fault(status=status, remaining=times, match=match, headers=headers or {}, delay=delay)
        if body is not None:
            fault.body = body
        with self._lock:
            self.faults.append(fault)

    def stall(self, seconds: float, times: int = -1, *, match: Matcher = lambda method, path: True) -> None:
        """Hold matching requests for ``seconds``, then forward them as usual."""
        self.fail(FORWARD, times, match=match, delay=seconds)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def count(self, method: str | None = None, contains: str = "") -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if (method is None or m == method) and contains in p)

    # ---------------------------------------------------------------- serving

    def _pick_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.remaining != 0 and fault.match(method, path):
                    if fault.remaining > 0:
                        fault.remaining -= 1
                    self.injected += 1
                    return fault
        return None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        fault = self._pick_fault(method, handler.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status != FORWARD:
            if fault.status == 0:
                handler.close_connection = True
                handler.connection.close()
                return
            handler.send_response(fault.status)
            for key, value in {"Content-Type": "application/json", **fault.headers}.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(fault.body)))
            handler.end_headers()
            handler.wfile.write(fault.body)
            return
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() in ("content-type", "accept")
        }
        token = self.upstream.authorization()
        if token:
            headers["Authorization"] = token
        upstream = self._client.request(method, handler.path, content=body, headers=headers)
        handler.send_response(upstream.status_code)
        for key, value in upstream.headers.items():
            if key.lower() in ("content-type", "retry-after", "warning"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(upstream.content)))
        handler.end_headers()
        handler.wfile.write(upstream.content)


def client_via(
    proxy: FaultProxy, policy: RetryPolicy, breaker: CircuitBreaker | None = None, timeout: float = 30.0
) -> KubeClient:
    """A client that reaches the real apiserver only through the fault proxy (which adds the credentials)."""
    return KubeClient(ClusterConfig(context="via-proxy", host=proxy.url), retry=policy, breaker=breaker, timeout=timeout)
