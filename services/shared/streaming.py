"""The Kafka/Faust shell every service shares: app factory, topics, decoding, dead letters."""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import faust
import faust.streams as faust_streams
from faust.types import EventT, StreamT, TopicT
from prometheus_client import Counter

from schemas.codec import CODEC, DecodeError
from schemas.records import DeadLetter, Record
from schemas.topics import TopicSpec, by_name
from services.shared import metrics
from services.shared.logs import current_run_id, logging_config
from services.shared.partitioner import partition_for
from services.shared.settings import StreamSettings

log = logging.getLogger(__name__)

Event = EventT[Any]
Stream = StreamT[Any]


# aiokafka fixes gzip and lz4 at level 9 (lz4 HC: ~30 MB/s here, most of a publish's
# CPU); zstd at its level 3 compresses ~7x faster and our JSON messages ~2x smaller.
COMPRESSION = "zstd"
PRODUCER_BATCH_BYTES = 512 * 1024  # per partition, before compression (~5x smaller after)
PRODUCER_LINGER_S = 0.005


def create_app(service: str, settings: StreamSettings, **overrides: Any) -> faust.App:
    """A Faust app with the delivery guarantees and timeouts ARCHITECTURE.md asks for."""
    data_dir = Path(settings.data_dir) / f"{service}-{settings.replica}"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap_servers}",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
        "topic_disable_leader": True,
        "topic_replication_factor": 1,
        "producer_acks": -1,
        "producer_compression_type": COMPRESSION,
        "producer_partitioner": partition_for,
        # Faust's defaults (16 KiB batches, no linger) sent 1-2 of our ~3 KB messages per
        # request: batching is most of a publisher's speed. Flushes still wait at most this.
        "producer_max_batch_size": PRODUCER_BATCH_BYTES,
        "producer_linger": PRODUCER_LINGER_S,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": settings.heartbeat_interval_s,
        "broker_rebalance_timeout": settings.rebalance_timeout_s,
        "web_enabled": True,
        "web_host": "127.0.0.1",
        "web_port": settings.web_port,
        "web_bind": "127.0.0.1",
        "datadir": str(data_dir),
        "store": "memory://",
        "logging_config": logging_config(service),
        "stream_wait_empty": False,
    }
    options.update(overrides)
    app = faust.App(f"jobstream-{service}", **options)
    _add_health_page(app, service, settings)
    _add_metrics_page(app)
    return app


def _add_metrics_page(app: faust.App) -> None:
    metrics.watch_consumer(lambda: app.monitor)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        body, content_type = metrics.exposition()
        # aiohttp refuses a charset inside content_type=, so the header carries it whole.
        return web.bytes(body, headers={"Content-Type": content_type})


def _add_health_page(app: faust.App, service: str, settings: StreamSettings) -> None:
    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        # The pid lets a supervisor tell its own process from another one on the same port.
        return web.json(
            {"status": "ok", "service": service, "replica": settings.replica, "pid": os.getpid()}
        )


def topic(app: faust.App, spec: TopicSpec) -> TopicT:
    return app.topic(
        spec.name,
        partitions=spec.partitions,
        retention=timedelta(milliseconds=spec.retention_ms),
        key_type=bytes,
        value_type=bytes,
        internal=False,
    )


class Publisher:
    """Encodes records and sends them; `flush` awaits delivery of everything sent so far.

    Records go straight to the app's producer: Faust's channel machinery around a send
    (future messages, callbacks, sensors) tripled the CPU of publishing a job.
    """

    def __init__(self, app: faust.App, source: str) -> None:
        self._app = app
        self._source = source
        self._pending: list[asyncio.Future[Any]] = []
        self._unsent: list[tuple[str, bytes, bytes, int]] = []
        # Held while queued messages are being sent: another task's flush must not go past
        # them before their futures are pending.
        self._sending_queued = asyncio.Lock()
        self._sent: dict[str, Counter] = {}

    async def send(self, spec: TopicSpec, key: str, record: Record) -> None:
        if type(record) not in spec.records and not isinstance(record, DeadLetter):
            raise TypeError(f"{record.TYPE} does not belong on {spec.name}")
        await self._submit(spec.name, key.encode(), CODEC.encode(record, source=self._source))

    def send_later(self, spec: TopicSpec, partition: int, key: bytes, value: bytes) -> None:
        """Queues an encoded message for `partition`; the next `drain` or `flush` sends it.

        For callers that cannot await, such as a table write in the middle of a handler.
        """
        self._unsent.append((spec.name, key, value, partition))

    def _counter(self, topic_name: str) -> Counter:
        counter = self._sent.get(topic_name)
        if counter is None:
            counter = self._sent[topic_name] = metrics.RECORDS_OUT.labels(topic_name)
        return counter

    async def flush(self) -> None:
        """Waits until everything sent so far is acknowledged."""
        await self.drain(keep=0)

    async def drain(self, *, keep: int) -> None:
        """Waits for all but the latest `keep` sends, which stay in flight meanwhile.

        A bulk sender that calls this every `keep` records never stalls on a full flush:
        the broker acknowledges older batches while newer ones are built.
        """
        await self._send_queued()
        cut = len(self._pending) - keep
        if cut <= 0:
            return
        # Tasks share a publisher (several agents, or an agent's concurrent actors): a sibling
        # may be waiting for some of these sends too, and must find them pending until they
        # are settled, or its own flush would return before they are acknowledged.
        waited = self._pending[:cut]
        try:
            await asyncio.gather(*waited)
        finally:
            settled = {fut for fut in waited if fut.done()}
            self._pending = [fut for fut in self._pending if fut not in settled]

    async def _send_queued(self) -> None:
        async with self._sending_queued:
            queued, self._unsent = self._unsent, []
            for topic_name, key, value, partition in queued:
                await self._submit(topic_name, key, value, partition)

    async def _submit(
        self, topic_name: str, key: bytes, value: bytes, partition: int | None = None
    ) -> None:
        """Hands one message to the producer; it stays pending until a flush settles it."""
        fut = await self._app.producer.send(topic_name, key, value, partition, None, None)
        self._pending.append(asyncio.ensure_future(fut))  # aiokafka returns a Future
        self._counter(topic_name).inc()

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None:
        await self.send(spec, key, record)
        await self.flush()


async def dead_letter(publisher: Publisher, event: Event, error: str) -> None:
    """Keeps the message whole, with the reason, on its topic's dead-letter topic."""
    message = event.message
    spec = by_name(message.topic)
    if spec.dead_letter is None:
        log.error("dropping undecodable message from %s: %s", message.topic, error)
        return
    record = DeadLetter(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        error=error[:2000],
        raw=message.value if isinstance(message.value, bytes) else b"",
        key=message.key if isinstance(message.key, bytes) else None,
    )
    await publisher.send_now(by_name(spec.dead_letter), message.topic, record)
    metrics.DEAD_LETTERS.labels(message.topic).inc()
    log.warning(
        "dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset, error
    )


async def decoded(stream: Stream, publisher: Publisher) -> AsyncIterator[tuple[Event, Record]]:
    """Yields (event, record); undecodable messages go to the dead-letter topic instead."""
    async for event in stream.events():
        metrics.RECORDS_IN.labels(event.message.topic).inc()
        try:
            record = CODEC.decode(event.value)
        except DecodeError as exc:
            await dead_letter(publisher, event, str(exc))
            continue
        current_run_id.set(getattr(record, "run_id", None))
        yield event, record


Batch = list[tuple[Event, Record]]
"""Decoded records of one `take_events` batch, each with the event it came in."""


async def process_batches(
    stream: faust.Stream[Any],
    publisher: Publisher,
    handle: Callable[[Batch], Awaitable[None]],
    *,
    size: int,
    within_s: float,
    what: str,
) -> None:
    """The body of a batching agent: decode, retry the handler, dead-letter what never works.

    The handler must be idempotent: a retried batch runs again from its first record. A batch
    that keeps failing is split into single records, so one bad record cannot sink the rest.
    """
    async for events in stream.take_events(size, within=within_s):
        good, bad = decode_batch(events)
        for event, reason in bad:
            await dead_letter(publisher, event, reason)
        if not good:
            continue
        error = await with_retries(partial(handle, good), what=f"{what} of {len(good)} records")
        if error is not None and len(good) > 1:
            await _one_by_one(publisher, handle, good, what)
        elif error is not None:
            await dead_letter(publisher, good[0][0], error)


async def _one_by_one(
    publisher: Publisher, handle: Callable[[Batch], Awaitable[None]], batch: Batch, what: str
) -> None:
    for item in batch:
        error = await with_retries(partial(handle, [item]), what=f"{what} of 1 record", attempts=2)
        if error is not None:
            await dead_letter(publisher, item[0], error)


async def process_each(
    stream: Stream,
    publisher: Publisher,
    handle: Callable[[Record], Awaitable[None]],
    *,
    what: str,
    attempts: int = 5,
) -> None:
    """The body of an agent that handles one record at a time (retried, then dead-lettered)."""
    async for event, record in decoded(stream, publisher):
        error = await with_retries(
            partial(handle, record), what=f"{what} ({record.TYPE})", attempts=attempts
        )
        if error is not None:
            await dead_letter(publisher, event, error)


def decode_batch(
    events: Iterable[Event],
) -> tuple[list[tuple[Event, Record]], list[tuple[Event, str]]]:
    """Splits a batch into decodable records and (event, error) pairs for the dead-letter topic."""
    good: list[tuple[Event, Record]] = []
    bad: list[tuple[Event, str]] = []
    received: collections.Counter[str] = collections.Counter()
    for event in events:
        received[event.message.topic] += 1
        try:
            good.append((event, CODEC.decode(event.value)))
        except DecodeError as exc:
            bad.append((event, str(exc)))
    for topic_name, count in received.items():
        metrics.RECORDS_IN.labels(topic_name).inc(count)
    return good, bad


async def with_retries(
    work: Callable[[], Awaitable[None]],
    *,
    what: str,
    attempts: int = 5,
    first_delay_s: float = 0.2,
) -> str | None:
    """Runs `work`, retrying with backoff; returns the last error text if it never succeeded.

    Agents must not let an exception escape (Faust would acknowledge the message and move on),
    so the caller dead-letters the message when this returns an error.
    """
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            await work()
            return None
        except Exception as exc:  # an agent must survive anything a handler raises
            if attempt == attempts:
                log.exception("%s failed after %d attempts", what, attempts)
                return f"{type(exc).__name__}: {exc}"
            log.warning("%s failed (attempt %d/%d): %s", what, attempt, attempts, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    return None


def run_worker(app: faust.App, service: str) -> None:
    """Runs the app until SIGTERM/SIGINT; Faust's worker stops agents and commits cleanly."""
    worker = faust.Worker(app, loglevel="INFO", logging_config=logging_config(service))
    worker.execute_from_commandline()


def close_on_shutdown(app: faust.App, *closers: Callable[[], Awaitable[None]]) -> None:
    """Closes pools and clients when the worker stops (after agents have stopped)."""

    async def close(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for closer in closers:
            await closer()

    app.on_before_shutdown.connect(close)


def message_key(event: Event) -> bytes:
    """The raw key of the message behind an event (b"" when it has none)."""
    key = event.message.key
    return key if isinstance(key, bytes) else b""


def act_on(event: Event) -> None:
    """Makes `event` the current event of this task while a batch is processed record by record.

    Faust writes a table change to the changelog partition of the current event; in a batch
    from `take_events` that would be the last event's, so each record's turn sets its own.
    Only the task-local context variable is set: the stream's own `current_event` attribute
    is read by take_events' background buffer, and changing it would corrupt the next batch.
    """
    faust_streams._current_event.set(weakref.ref(event))
