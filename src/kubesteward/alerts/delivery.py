"""The outbox worker: delivers every enqueued notification to its sink, in order, at least once.

The alert lifecycle never talks to a sink. It writes notifications into the
state store's outbox in the same transaction as the state change that caused
them; this worker reads the outbox and delivers. So a crash, a dead receiver
or a restart delays a notification but never loses it.

Per sink, strictly in enqueue order (oldest first), so a receiver sees a
group's "firing" before its "resolved". A failed notification blocks the
notifications behind it on the same sink until its retry time: head-of-line
blocking is the price of that order. Sinks are independent of each other.

Retries use full-jitter exponential backoff capped at ``backoff_max`` (5 s
by default: an outage of the receiver must not be followed by minutes of
silence once it is back, and one request per sink every few seconds is no
load); a receiver's ``Retry-After`` wins when it is longer. Errors the
receiver calls permanent (a 4xx) are retried too, every ``reject_delay``
(5 min): the fix is usually a configuration change on the receiving side,
and nothing is ever dropped. Delivery is at-least-once; receivers drop
duplicates by ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from kubesteward.alerts.ratelimit import TokenBucket
from kubesteward.alerts.sinks.base import DeliveryError, Sink
from kubesteward.notifications.types import Notification
from kubesteward.state.store import OutboxItem, StateStore

log = logging.getLogger("kubesteward.alerts")

Clock = Callable[[], dt.datetime]

# ``due(sink, now + HORIZON)`` returns the oldest undelivered rows even when the
# first of them is still backing off, which is how the worker keeps the order
# across restarts without remembering anything in memory.
_HORIZON = dt.timedelta(days=36500)
_STORE_RETRY_S = 5.0  # pause of one sink's loop after the state store itself failed
DEFAULT_BACKOFF_MAX = 5.0  # longest pause between two attempts of a retryable failure
DEFAULT_REJECT_DELAY = 300.0  # pause after a failure the receiver calls permanent (4xx)
_MAX_EXPONENT = 60  # 2**60 * base is far beyond any cap; avoids float overflow on a very old row


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Backlog:
    """What one sink still has to deliver: undelivered notifications and the error that holds them."""

    sink: str
    pending: int
    last_error: str | None


@dataclass
class DeliveryStats:
    """Counters of one sink since the worker started. ``last_error`` is cleared by the next success."""

    delivered: int = 0
    failures: int = 0
    last_error: str | None = None


def backoff_delay(attempts: int, base: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempts)] (``attempts`` = failures so far)."""
    return rng() * min(cap, base * 2.0 ** min(attempts, _MAX_EXPONENT))


class _SinkWorker:
    """One sink's mutable delivery state."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.bucket = TokenBucket(sink.rate_limit) if sink.rate_limit is not None else None
        # run() and drain() may both want a sink (drain at shutdown); one at a time keeps the order.
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()


class Deliverer:
    """Delivers the outbox of ``store`` to ``sinks``; one asyncio task per sink.

    ``run(stop)`` is the daemon loop; ``drain(timeout)`` delivers what is due now
    (``watch --once`` and shutdown). ``wake()`` after enqueuing avoids waiting
    for the next poll. The store is synchronous and called through
    ``asyncio.to_thread``; the worker never closes it.
    """

    def __init__(
        self,
        store: StateStore,
        sinks: Sequence[Sink],
        *,
        backoff_base: float = 1.0,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        reject_delay: float = DEFAULT_REJECT_DELAY,
        clock: Clock = _utcnow,
        batch: int = 50,
        poll_interval: float = 10.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        names = [sink.name for sink in sinks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"sink names must be unique (they key the outbox): {', '.join(duplicates)}")
        if backoff_base <= 0 or backoff_max < backoff_base or reject_delay <= 0 or batch < 1 or poll_interval <= 0:
            raise ValueError(
                "need 0 < backoff_base <= backoff_max, reject_delay > 0, batch >= 1 and poll_interval > 0"
            )
        self.store = store
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.reject_delay = reject_delay
        self.batch = batch
        self.poll_interval = poll_interval
        self._clock = clock
        self._rng = rng
        self._workers = [_SinkWorker(sink) for sink in sinks]
        self.stats: dict[str, DeliveryStats] = {sink.name: DeliveryStats() for sink in sinks}
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def sinks(self) -> list[Sink]:
        return [w.sink for w in self._workers]

    # ------------------------------------------------------------------ control

    def wake(self) -> None:
        """New rows were enqueued: look now instead of at the next poll. Safe from any thread."""
        loop = self._loop
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_all)
        else:
            self._wake_all()

    def _wake_all(self) -> None:
        for worker in self._workers:
            worker.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then let in-flight sends finish (each bounded by its sink's timeout)."""
        self._loop = asyncio.get_running_loop()
        if not self._workers:
            await stop.wait()
            return
        tasks = [
            asyncio.create_task(self._run_sink(worker, stop), name=f"kubesteward-deliver-{worker.sink.name}")
            for worker in self._workers
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def drain(self, timeout: float) -> bool:
        """Deliver everything due now, retrying within ``timeout``; True when no due row is left.

        Returns False when ``timeout`` ran out, or when a failed row's next
        attempt lies beyond it; that row stays in the outbox for the next run.
        A send in flight at the deadline is cancelled (and re-sent later:
        at-least-once). State-store errors propagate.
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        deadline = loop.time() + timeout
        never = asyncio.Event()

        async def drain_sink(worker: _SinkWorker) -> bool:
            while True:
                async with worker.lock:
                    delay = await self._pump(worker, never)
                if delay is None:
                    return True
                if delay > deadline - loop.time():
                    return False
                if delay > 0:
                    await asyncio.sleep(delay)

        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(drain_sink(w) for w in self._workers), return_exceptions=True), timeout
            )
        except TimeoutError:
            return False
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return all(results)

    def backlog(self) -> list[Backlog]:
        """The sinks that still have undelivered notifications in the outbox, with the error that
        holds the oldest back (the one delivery waits for). Reads the store: not on the event loop."""
        stats = self.store.outbox_stats()
        out = []
        for worker in self._workers:
            name = worker.sink.name
            pending = stats.get(name, {}).get("pending", 0)
            if pending:
                head = self.store.due(name, self._clock() + _HORIZON, 1)
                out.append(Backlog(name, pending, head[0].last_error if head else None))
        return out

    async def aclose(self) -> None:
        """Close every sink (HTTP connection pools). The store stays open: it is the caller's."""
        await asyncio.gather(*(w.sink.aclose() for w in self._workers), return_exceptions=True)

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ the loop

    async def _run_sink(self, worker: _SinkWorker, stop: asyncio.Event) -> None:
        name = worker.sink.name
        while not stop.is_set():
            worker.wake.clear()  # a wake() during the pass below triggers another pass
            try:
                async with worker.lock:
                    delay = await self._pump(worker, stop)
            except Exception as exc:  # the store failed (locked, disk, network): keep the daemon alive
                log.warning("sink %s: delivery paused, state store failed: %s", name, exc)
                delay = min(_STORE_RETRY_S, self.backoff_max)
            if delay == 0:
                continue
            await self._first(stop.wait(), worker.wake.wait(), timeout=self.poll_interval if delay is None else delay)

    async def _pump(self, worker: _SinkWorker, stop: asyncio.Event) -> float | None:
        """Deliver due rows of one sink in order.

        Returns None when nothing is pending, 0 to look again at once, or the
        seconds until the head row may be retried.
        """
        sink = worker.sink
        items = await asyncio.to_thread(self.store.due, sink.name, self._clock() + _HORIZON, self.batch)
        if not items:
            return None
        for item in items:
            if stop.is_set():
                return 0
            wait = (item.next_attempt_at - self._clock()).total_seconds()
            if wait > 0:
                return wait  # the head row is backing off: everything behind it waits (order)
            if worker.bucket is not None and not await self._first(worker.bucket.acquire(), stop.wait()):
                return 0  # stopped while waiting for a token: nothing was sent
            error = await self._attempt(sink, item.notification)
            if error is None:
                await asyncio.to_thread(self.store.mark_delivered, item.id, self._clock())
                stats = self.stats[sink.name]
                stats.delivered += 1
                stats.last_error = None
                continue
            return await self._failed(worker, item, error)
        return 0

    async def _attempt(self, sink: Sink, notification: Notification) -> DeliveryError | None:
        try:
            # The sink's own timeout should fire first; this bounds sinks that have none.
            await asyncio.wait_for(sink.send(notification), timeout=sink.timeout)
        except DeliveryError as exc:
            return exc
        except TimeoutError:
            return DeliveryError(f"no answer within {sink.timeout:g}s")
        except Exception as exc:  # a bug in a (third-party) sink must not lose the notification
            return DeliveryError(f"{type(exc).__name__}: {exc}")
        return None

    async def _failed(self, worker: _SinkWorker, item: OutboxItem, error: DeliveryError) -> float:
        if error.retryable:
            delay = backoff_delay(item.attempts, self.backoff_base, self.backoff_max, self._rng)
        else:
            delay = self.reject_delay
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        message = str(error)
        next_attempt = self._clock() + dt.timedelta(seconds=delay)
        await asyncio.to_thread(self.store.mark_failed, item.id, message, next_attempt)
        stats = self.stats[worker.sink.name]
        stats.failures += 1
        stats.last_error = message
        kind = "failed" if error.retryable else "rejected (not retryable; retried anyway, nothing is dropped)"
        log.warning(
            "sink %s: notification %s %s on attempt %d; next try in %.1fs: %s",
            worker.sink.name,
            item.idempotency_key[:12],
            kind,
            item.attempts + 1,
            delay,
            message,
        )
        return delay

    @staticmethod
    async def _first(primary: Awaitable[object], other: Awaitable[object], *, timeout: float | None = None) -> bool:
        """Wait for whichever of two awaitables finishes first (or ``timeout``); cancel the other.

        Returns whether ``primary`` finished.
        """
        tasks = [asyncio.ensure_future(primary), asyncio.ensure_future(other)]
        try:
            await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return tasks[0].done() and not tasks[0].cancelled()
