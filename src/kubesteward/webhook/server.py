"""The admission server: HTTPS on aiohttp's server (the stack every endpoint kubesteward serves uses).

``POST /validate`` and ``POST /mutate`` take AdmissionReview v1; ``GET /healthz`` says the process
serves, ``GET /readyz`` that it can judge (the rules loaded, the certificate good). Each review is
judged on a worker thread under a time budget, so a slow evaluation answers by the failure policy
before the API server's ``timeoutSeconds`` runs out, and never holds up the other requests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from kubesteward.errors import UsageError
from kubesteward.metrics.server import parse_addr
from kubesteward.policy.engine import load_rules
from kubesteward.webhook import admission
from kubesteward.webhook.admission import AdmissionPolicy, Answer, Request
from kubesteward.webhook.certs import ReloadingTLS

log = logging.getLogger("kubesteward.webhook")

DEFAULT_ADDR = "127.0.0.1:9443"
# Objects are at most ~1.5 MiB in etcd, and an update's review carries the old one too.
MAX_REVIEW_BYTES = 8 * 1024 * 1024
_JSON = "application/json"

Judge = Callable[[Request, AdmissionPolicy], Answer]


class WebhookServer:
    """A running admission server on the caller's event loop (``start``/``stop``, or ``async with``)."""

    def __init__(self, policy: AdmissionPolicy, tls: ReloadingTLS, addr: str = DEFAULT_ADDR, *,
                 reload_interval: float = 2.0, workers: int = 4) -> None:
        # Any address may be asked for (the API server must reach it); TLS is what guards it.
        self.host, self._asked_port = parse_addr(addr, allow_remote=True, what="webhook")
        self.policy = policy
        self.tls = tls
        self.port = self._asked_port
        self._reload_interval = reload_interval
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubesteward-admit")
        self._runner: web.AppRunner | None = None
        self._follow: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    async def start(self) -> None:
        load_rules()  # before the first request: its import is no part of anyone's budget
        self._runner = web.AppRunner(self._application(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._asked_port, ssl_context=self.tls.context,
                           reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise UsageError(f"cannot serve the webhook on {self.host}:{self._asked_port}: "
                             f"{exc.strerror or exc}") from None
        for address in self._runner.addresses:
            self.port = int(address[1])
            break
        self._follow = asyncio.create_task(self.tls.follow(self._reload_interval))
        log.debug("webhook: serving %s/validate and %s/mutate", self.url, self.url)

    async def stop(self) -> None:
        if self._follow is not None:
            self._follow.cancel()
            self._follow = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> WebhookServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REVIEW_BYTES)
        app.router.add_post("/validate", self._handler(admission.validate, "validate"))
        app.router.add_post("/mutate", self._handler(admission.mutate, "mutate"))
        app.router.add_get("/healthz", _ok)
        app.router.add_get("/readyz", _ok)
        app.router.add_route("*", "/{anything:.*}", _not_found)
        return app

    def _handler(self, judge: Judge, what: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(http: web.Request) -> web.StreamResponse:
            try:
                request = admission.parse_review(await http.read())
            except admission.BadReview as exc:
                return web.json_response({"error": str(exc)}, status=400)
            started = time.perf_counter()
            answer = await self._judge(judge, request, what)
            _log_decision(what, request, answer, time.perf_counter() - started)
            return web.Response(body=msgspec.json.encode(admission.response(request, answer)), content_type=_JSON)

        return handle

    async def _judge(self, judge: Judge, request: Request, what: str) -> Answer:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(self._pool, judge, request, self.policy)
        try:
            return await asyncio.wait_for(work, self.policy.budget)
        except TimeoutError:
            return admission.unjudged(self.policy, f"{what} took longer than its {self.policy.budget:g}s budget")
        except Exception as exc:  # a rule's bug: answered by the failure policy, logged for the fix
            log.exception("webhook: %s of %s failed", what, request.kind or "an object")
            return admission.unjudged(self.policy, f"{what} failed: {type(exc).__name__}")


def _log_decision(what: str, request: Request, answer: Answer, seconds: float) -> None:
    level = logging.DEBUG if answer.allowed and not answer.warnings else logging.INFO
    if not log.isEnabledFor(level):
        return
    verdict = "allowed" if answer.allowed else "denied"
    extra = f" ({len(answer.patch)} patch operations)" if answer.patch else ""
    log.log(level, "webhook: %s %s %s in %s%s: %s%s, %.1f ms", what, request.operation, request.kind or "object",
            request.namespace or "(cluster)", " [dry run]" if request.dry_run else "", verdict, extra, seconds * 1000)


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _not_found(_request: web.Request) -> web.Response:
    return web.Response(status=404, text="not found: try POST /validate, POST /mutate, GET /healthz or /readyz\n")
