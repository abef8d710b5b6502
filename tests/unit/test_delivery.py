"""The outbox worker against a real SQLite state store and real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubesteward.alerts.delivery import Backlog, Deliverer, backoff_delay
from kubesteward.alerts.ratelimit import RateLimit
from kubesteward.alerts.sinks import Sink, build_sink, parse_sink_spec
from kubesteward.notifications.types import Alert, Notification
from kubesteward.state.store import StateStore
from tests.support.receiver import ReceivedRequest, Receiver


def make_notification(sequence: int, group: str = "g") -> Notification:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)  # due at once
    alert = Alert(
        fingerprint=f"fp-{group}",
        status="firing",
        labels={"alertname": "KS101", "severity": "error", "namespace": "shop", "kind": "Pod", "name": group},
        annotations={"summary": f"{group} crash-looping"},
        starts_at=now,
    )
    return Notification(
        group_key=group,
        group_labels={"alertname": "KS101"},
        status="firing",
        alerts=(alert,),
        sequence=sequence,
        created_at=now,
    )


def enqueue(store: StateStore, sink: str, sequences: range, group: str = "g") -> list[Notification]:
    notifications = [make_notification(seq, group) for seq in sequences]
    assert store.commit(notifications=[(sink, n) for n in notifications]) == len(notifications)
    return notifications


def webhook(url: str, options: str = "") -> Sink:
    return build_sink(parse_sink_spec(f"webhook={url}/{options}"), {})


def delivered_keys(requests: list[ReceivedRequest]) -> list[str | None]:
    """Idempotency keys of the requests the receiver accepted (2xx), in arrival order."""
    return [r.header("Idempotency-Key") for r in requests if r.ok]


def keys(notifications: list[Notification]) -> list[str | None]:
    return [n.idempotency_key for n in notifications]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "state.db")


@pytest.fixture
def store(db: str) -> Iterator[StateStore]:
    with StateStore.open(db) as s:
        yield s


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
async def hook(receiver: Receiver) -> AsyncIterator[Sink]:
    sink = webhook(receiver.url)
    yield sink
    await sink.aclose()


async def test_failures_then_success_deliver_each_exactly_once_in_order(
    store: StateStore, receiver: Receiver, hook: Sink
) -> None:
    receiver.respond(500, times=3)
    deliverer = Deliverer(store, [hook], poll_interval=60, backoff_base=0.01, backoff_max=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        sent = enqueue(store, "webhook", range(1, 6))
        deliverer.wake()
        await receiver.await_requests(3 + 5)
        sent += enqueue(store, "webhook", range(6, 8))
        deliverer.wake()
        await receiver.await_requests(3 + 7)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)

    requests = receiver.requests
    assert delivered_keys(requests) == keys(sent)  # in order, each exactly once, none lost
    assert [r.header("Idempotency-Key") for r in requests[:4]] == [sent[0].idempotency_key] * 4  # head blocked the rest
    assert [r.status for r in requests[:4]] == [500, 500, 500, 200]
    stats = deliverer.stats["webhook"]
    assert (stats.delivered, stats.failures, stats.last_error) == (7, 3, None)
    assert store.outbox_stats()["webhook"] == {"pending": 0, "delivered": 7, "failed_attempts": 3}
    assert store.due("webhook", dt.datetime.now(dt.UTC)) == []


async def test_restart_sends_only_what_was_not_delivered(db: str, receiver: Receiver) -> None:
    receiver.respond(200, delay=0.15)  # slow receiver, so the stop lands mid-way
    with StateStore.open(db) as first_store:
        sent = enqueue(first_store, "webhook", range(1, 7))
        sink = webhook(receiver.url)
        stop = asyncio.Event()
        task = asyncio.create_task(Deliverer(first_store, [sink], backoff_base=0.01, backoff_max=0.05).run(stop))
        await receiver.await_requests(2)
        stop.set()
        await asyncio.wait_for(task, 5)  # returns after the in-flight send finished
        await sink.aclose()
    before = len(receiver.requests)
    assert 2 <= before < 6
    assert delivered_keys(receiver.requests) == keys(sent[:before])

    receiver.respond(200)
    with StateStore.open(db) as second_store:  # the "restarted" process
        assert second_store.outbox_stats()["webhook"]["pending"] == 6 - before
        sink = webhook(receiver.url)
        async with Deliverer(second_store, [sink], backoff_base=0.01, backoff_max=0.05) as deliverer:
            assert await deliverer.drain(5)
        assert second_store.outbox_stats()["webhook"]["pending"] == 0
    assert delivered_keys(receiver.requests) == keys(sent)  # the rest, once each, in order


async def test_order_survives_a_restart_during_backoff(db: str, receiver: Receiver) -> None:
    receiver.respond(500, times=1)
    with StateStore.open(db) as store:
        first, second = enqueue(store, "webhook", range(1, 3))
        sink = webhook(receiver.url)
        # rng=1: the first retry is exactly backoff_base (0.6 s) away, beyond this drain's timeout.
        async with Deliverer(store, [sink], backoff_base=0.6, backoff_max=5, rng=lambda: 1.0) as deliverer:
            assert not await deliverer.drain(0.2)
        assert len(receiver.requests) == 1
    started = time.monotonic()
    with StateStore.open(db) as store:
        sink = webhook(receiver.url)
        async with Deliverer(
            store, [sink], backoff_base=0.01, backoff_max=0.05
        ) as deliverer:  # fresh memory: only the store knows
            assert await deliverer.drain(5)
    requests = receiver.requests
    assert delivered_keys(requests) == keys([first, second])  # the newer row did not overtake the failed one
    assert requests[1].received_at - requests[0].received_at >= 0.55
    assert time.monotonic() - started < 3


async def test_rate_limit_delays_and_drops_nothing(store: StateStore, receiver: Receiver) -> None:
    sink = webhook(receiver.url, ",rate=2/1s")
    assert sink.rate_limit == RateLimit(2, 1.0, 2)
    sent = enqueue(store, "webhook", range(1, 6))
    started = time.monotonic()
    async with Deliverer(store, [sink], backoff_base=0.01, backoff_max=0.05) as deliverer:
        assert await deliverer.drain(10)
    elapsed = time.monotonic() - started
    requests = receiver.requests
    assert delivered_keys(requests) == keys(sent)
    assert len(requests) == 5
    assert elapsed >= 1.4  # 2 at once (burst), then one per 0.5 s
    assert requests[-1].received_at - requests[0].received_at >= 1.4


async def test_a_hanging_receiver_times_out_and_is_retried(store: StateStore, receiver: Receiver) -> None:
    receiver.respond(503, times=1, delay=5)
    sink = webhook(receiver.url, ",timeout=300ms")
    (sent,) = enqueue(store, "webhook", range(1, 2))
    started = time.monotonic()
    async with Deliverer(store, [sink], backoff_base=0.01, backoff_max=0.05) as deliverer:
        assert await deliverer.drain(5)
        assert time.monotonic() - started < 2
        stats = deliverer.stats["webhook"]
    assert [r.header("Idempotency-Key") for r in receiver.requests] == [sent.idempotency_key] * 2
    assert [r.status for r in receiver.requests] == [503, 200]
    assert (stats.delivered, stats.failures) == (1, 1)


class StuckSink:
    """A real sink with no timeout of its own whose first send never returns."""

    def __init__(self) -> None:
        self.name = "stuck"
        self.rate_limit: RateLimit | None = None
        self.timeout = 0.2
        self.calls = 0
        self.delivered: list[str] = []

    async def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.calls == 1:
            await asyncio.Event().wait()
        self.delivered.append(notification.idempotency_key)

    async def aclose(self) -> None:
        return None


async def test_the_worker_bounds_a_sink_without_timeout(store: StateStore) -> None:
    sink = StuckSink()
    sent = enqueue(store, "stuck", range(1, 3))
    async with Deliverer(store, [sink], backoff_base=0.01, backoff_max=0.05) as deliverer:
        assert await deliverer.drain(3)
        assert deliverer.stats["stuck"].failures == 1
    assert sink.delivered == keys(sent)
    assert store.outbox_stats()["stuck"] == {"pending": 0, "delivered": 2, "failed_attempts": 1}


async def test_not_retryable_is_retried_after_the_reject_delay_and_logged(
    store: StateStore, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.respond(400, times=1, body=b"bad payload")
    secret_url = f"{receiver.url}/hooks/0123456789abcdefSECRET"
    sink = build_sink(parse_sink_spec(f"webhook={secret_url}"), {})
    (sent,) = enqueue(store, "webhook", range(1, 2))
    with caplog.at_level(logging.WARNING, logger="kubesteward.alerts"):
        async with Deliverer(store, [sink], backoff_base=0.01, backoff_max=0.05, reject_delay=0.4) as deliverer:
            assert await deliverer.drain(5)
    first, second = receiver.requests
    assert (first.status, second.status) == (400, 200)
    assert second.received_at - first.received_at >= 0.35  # the reject delay, not the 0.01 s base
    (record,) = [r for r in caplog.records if r.name == "kubesteward.alerts"]
    line = record.getMessage()
    assert "\n" not in line and "not retryable" in line and "HTTP 400: bad payload" in line
    assert "0123456789abcdefSECRET" not in line


async def test_retry_after_wins_over_a_shorter_backoff(store: StateStore, receiver: Receiver, hook: Sink) -> None:
    receiver.respond(429, times=1, headers={"Retry-After": "1"})
    enqueue(store, "webhook", range(1, 2))
    async with Deliverer(store, [hook], backoff_base=0.01, backoff_max=0.05) as deliverer:
        assert await deliverer.drain(5)
    first, second = receiver.requests
    assert second.received_at - first.received_at >= 0.9


async def test_drain_gives_up_when_the_retry_lies_beyond_its_timeout(
    store: StateStore, receiver: Receiver, hook: Sink
) -> None:
    receiver.respond(500)
    enqueue(store, "webhook", range(1, 3))
    started = time.monotonic()
    deliverer = Deliverer(store, [hook], backoff_base=5, backoff_max=10, rng=lambda: 1.0)
    assert not await deliverer.drain(1)
    assert time.monotonic() - started < 0.9  # did not sleep into a hopeless wait
    assert len(receiver.requests) == 1  # the second row waits behind the first
    assert store.outbox_stats()["webhook"] == {"pending": 2, "delivered": 0, "failed_attempts": 1}
    assert deliverer.stats["webhook"].last_error is not None and "HTTP 500" in deliverer.stats["webhook"].last_error


async def test_sinks_are_independent(store: StateStore, receiver: Receiver) -> None:
    with Receiver() as broken:
        broken.respond(503)
        good = build_sink(parse_sink_spec(f"webhook:good={receiver.url}/"), {})
        bad = build_sink(parse_sink_spec(f"webhook:bad={broken.url}/"), {})
        notifications = [make_notification(seq) for seq in range(1, 4)]
        store.commit(notifications=[(sink, n) for n in notifications for sink in ("webhook:good", "webhook:bad")])
        async with Deliverer(store, [good, bad], backoff_base=5, backoff_max=10, rng=lambda: 1.0) as deliverer:
            assert not await deliverer.drain(1)
        assert delivered_keys(receiver.requests) == keys(notifications)
        assert len(broken.requests) == 1
    stats = store.outbox_stats()
    assert stats["webhook:good"]["pending"] == 0 and stats["webhook:bad"]["pending"] == 3


async def test_wake_from_the_loop_and_from_another_thread(store: StateStore, receiver: Receiver, hook: Sink) -> None:
    deliverer = Deliverer(
        store, [hook], poll_interval=60, backoff_base=0.01, backoff_max=0.05
    )  # only wake() can trigger a pass in time
    stop = asyncio.Event()
    task = asyncio.create_task(deliverer.run(stop))
    try:
        await asyncio.sleep(0.1)  # the worker found nothing and sleeps
        sent = enqueue(store, "webhook", range(1, 2))
        deliverer.wake()
        await receiver.await_requests(1, timeout=2)
        sent += enqueue(store, "webhook", range(2, 3))
        await asyncio.to_thread(deliverer.wake)
        await receiver.await_requests(2, timeout=2)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert delivered_keys(receiver.requests) == keys(sent)


async def test_stop_interrupts_a_rate_limit_wait(store: StateStore, receiver: Receiver) -> None:
    sink = webhook(receiver.url, ",rate=1/1h")
    enqueue(store, "webhook", range(1, 4))
    stop = asyncio.Event()
    async with Deliverer(store, [sink], backoff_base=0.01, backoff_max=0.05) as deliverer:
        task = asyncio.create_task(deliverer.run(stop))
        await receiver.await_requests(1)
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 2)  # did not wait an hour for the next token
    assert len(receiver.requests) == 1
    assert store.outbox_stats()["webhook"]["pending"] == 2


def test_backoff_is_full_jitter_and_capped() -> None:
    assert backoff_delay(0, 1.0, 300.0, rng=lambda: 1.0) == 1.0
    assert backoff_delay(3, 1.0, 300.0, rng=lambda: 1.0) == 8.0
    assert backoff_delay(20, 1.0, 300.0, rng=lambda: 1.0) == 300.0
    assert backoff_delay(10_000, 1.0, 300.0, rng=lambda: 0.5) == 150.0  # no overflow on a very old row
    assert backoff_delay(3, 1.0, 300.0, rng=lambda: 0.0) == 0.0


def test_sink_names_must_be_unique(store: StateStore, tmp_path: Path) -> None:
    a = build_sink(parse_sink_spec(f"jsonl={tmp_path}/a"), {})
    b = build_sink(parse_sink_spec(f"jsonl={tmp_path}/b"), {})
    with pytest.raises(ValueError, match="unique"):
        Deliverer(store, [a, b])


async def test_after_a_long_outage_the_next_attempt_is_within_the_default_cap(
    store: StateStore, receiver: Receiver, hook: Sink
) -> None:
    """A sink that failed for a long time is retried within seconds, not minutes: delivery resumes
    soon after the receiver is back."""
    receiver.respond(503)
    (sent,) = enqueue(store, "webhook", range(1, 2))
    (row,) = store.due("webhook", dt.datetime.now(dt.UTC), 1)
    for _ in range(12):  # twelve failures already: an uncapped backoff would be over an hour
        store.mark_failed(row.id, "HTTP 503", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    # rng=1: the longest delay full jitter can draw.
    deliverer = Deliverer(store, [hook], rng=lambda: 1.0)
    before = dt.datetime.now(dt.UTC)
    assert not await deliverer.drain(0.5)
    (row,) = store.due("webhook", before + dt.timedelta(days=1), 1)
    assert row.attempts == 13 and row.idempotency_key == sent.idempotency_key
    assert dt.timedelta(seconds=4.9) <= row.next_attempt_at - before <= dt.timedelta(seconds=5.5)


async def test_backlog_names_each_sink_still_holding_notifications_and_why(
    store: StateStore, receiver: Receiver, hook: Sink
) -> None:
    receiver.respond(503, body=b"maintenance")
    enqueue(store, "webhook", range(1, 3))
    with Receiver() as fine:
        good = build_sink(parse_sink_spec(f"webhook:good={fine.url}/"), {})
        store.commit(notifications=[("webhook:good", make_notification(1, "other"))])
        deliverer = Deliverer(store, [hook, good], backoff_base=5, backoff_max=10, rng=lambda: 1.0)
        assert not await deliverer.drain(1)
        await good.aclose()
    (backlog,) = deliverer.backlog()
    assert backlog == Backlog("webhook", 2, backlog.last_error)
    assert backlog.last_error is not None and "HTTP 503: maintenance" in backlog.last_error
