"""A real HTTP receiver on 127.0.0.1 that records every request and answers what the test scripts.

It runs ``ThreadingHTTPServer`` in a daemon thread, so it serves sync tests
and async tests alike (an async client talks to it over a real socket while
the test's event loop keeps running). Typical use::

    with Receiver() as hook:
        hook.respond(500, times=2)          # the next 2 requests get 500, then the default (200)
        hook.respond(429, times=1, headers={"Retry-After": "3"})
        hook.respond(503)                   # from now on: 503, until told otherwise
        hook.respond(200, times=1, delay=5) # answer the next one only after 5 s (a hanging receiver)
        ...
        requests = await hook.await_requests(3)   # or hook.wait_for(3) in sync code
        assert requests[0].header("Idempotency-Key") == ...
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    received_at: float  # time.monotonic() when the request was fully read
    status: int  # what the receiver answered (or, with a delay, was about to answer)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering (released early by close())


class Receiver:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: serve HTTPS with this server context (e.g. a certificate from a test CA)."""
        self._lock = threading.Condition()
        self._requests: list[ReceivedRequest] = []
        self._script: deque[Reply] = deque()
        self._default = Reply(200, body=b"ok")
        self._closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                receiver._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        # A short poll interval: shutdown() waits up to one interval, per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="test-receiver", daemon=True
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()  # release delayed answers
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ scripting

    def respond(
        self,
        status: int,
        times: int | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        delay: float = 0.0,
    ) -> None:
        """Answer ``status`` to the next ``times`` requests (queued after earlier scripts), or from now
        on when ``times`` is None (replacing the default and dropping queued scripts)."""
        reply = Reply(status, dict(headers or {}), body, delay)
        with self._lock:
            if times is None:
                self._script.clear()
                self._default = reply
            else:
                self._script.extend([reply] * times)

    # ------------------------------------------------------------------ inspection

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Block until at least ``count`` requests arrived; AssertionError after ``timeout``."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= count, timeout):
                raise AssertionError(f"receiver got {len(self._requests)} requests, expected {count} in {timeout}s")
            return list(self._requests)

    async def await_requests(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """``wait_for`` for async tests: polls without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            requests = self.requests
            if len(requests) >= count:
                return requests
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver got {len(requests)} requests, expected {count} in {timeout}s")
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ serving

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self._lock:
            reply = self._script.popleft() if self._script else self._default
            self._requests.append(
                ReceivedRequest(
                    method=handler.command,
                    path=handler.path,
                    headers={k.lower(): v for k, v in handler.headers.items()},
                    body=body,
                    received_at=time.monotonic(),
                    status=reply.status,
                )
            )
            self._lock.notify_all()
        if reply.delay:
            self._closing.wait(reply.delay)
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
        except OSError:
            pass  # the client gave up (timeout) before the delayed answer
