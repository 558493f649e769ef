"""The Kafka/Faust shell every service shares: the app factory, agents and the worker.

Faust runs the shell (web pages, timers, the producer, the worker's lifecycle); each agent
consumes its topic through its own consumer-group member (`consumer.GroupConsumer`) and
handles batches with the shared body (`agents.BatchBody`): outages pause it, only poison is
dead-lettered, and offsets are committed after the batch's outputs are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust

from schemas.records import Record
from schemas.topics import TopicSpec
from services.shared import faust_compat, metrics
from services.shared.agents import (
    Batch,
    BatchBody,
    Delivery,
    Handler,
    Interrupted,
    Revoked,
    handing_over,
    with_retries,
)
from services.shared.consumer import Batching, GroupConsumer
from services.shared.health import STAGES
from services.shared.logs import logging_config
from services.shared.partitioner import partition_for
from services.shared.publisher import Publisher
from services.shared.settings import StreamSettings
from services.shared.state import PartitionedState, partitioned_state
from services.shared.web import add_pages

__all__ = [
    "COMPRESSION",
    "Batch",
    "Delivery",
    "Interrupted",
    "Publisher",
    "Revoked",
    "app_publisher",
    "close_on_shutdown",
    "consume",
    "create_app",
    "each_record",
    "handing_over",
    "open_on_startup",
    "run_worker",
    "state_for",
    "stopping",
    "with_retries",
]

log = logging.getLogger(__name__)

# aiokafka fixes gzip and lz4 at level 9, most of a publish's CPU; zstd at its level 3 is
# faster and smaller on our JSON (bench/HISTORY.md).
COMPRESSION = "zstd"
PRODUCER_BATCH_BYTES = 512 * 1024  # per partition, before compression
PRODUCER_LINGER_S = 0.005
STOP_GRACE_S = 20.0  # how long a stopping agent may take to finish and commit its batch


@dataclass(slots=True)
class _Lifecycle:
    service: str
    settings: StreamSettings
    consumers: list[GroupConsumer] = field(default_factory=list)
    openers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    finished: dict[str, asyncio.Event] = field(default_factory=dict)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


_LIFECYCLES: weakref.WeakKeyDictionary[faust.App, _Lifecycle] = weakref.WeakKeyDictionary()


def create_app(service: str, settings: StreamSettings, **overrides: Any) -> faust.App:
    """A Faust app that serves the pages and produces; agents are added with `consume`."""
    data_dir = Path(settings.data_dir) / f"{service}-{settings.replica}"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap_servers}",
        "key_serializer": "raw",
        "value_serializer": "raw",
        "topic_disable_leader": True,
        "topic_replication_factor": settings.replication_factor,
        "producer_acks": -1,  # idempotent too: faust_compat.idempotent_producer
        "producer_compression_type": COMPRESSION,
        "producer_partitioner": partition_for,
        # Faust's defaults (16 KiB batches, no linger) sent 1-2 of our ~3 KB messages per
        # request: batching is most of a publisher's speed. Flushes still wait at most this.
        "producer_max_batch_size": PRODUCER_BATCH_BYTES,
        "producer_linger": PRODUCER_LINGER_S,
        "web_enabled": True,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        "web_bind": settings.web_host,
        "datadir": str(data_dir),
        "store": "memory://",
        "logging_config": logging_config(service),
    }
    options.update(overrides)
    app = faust.App(f"jobstream-{service}", **options)
    faust_compat.shell_only(app)
    faust_compat.idempotent_producer(app)
    lifecycle = _LIFECYCLES[app] = _Lifecycle(service, settings)
    add_pages(app, service, settings.replica)
    app.on_before_shutdown.connect(_shutdown_of(lifecycle))
    return app


def app_publisher(app: faust.App, source: str) -> Publisher:
    """A `Publisher` on the app's producer, stamping `source` on what it sends."""
    return Publisher(faust_compat.AppProducer(app), source)


def group_of(service: str, spec: TopicSpec) -> str:
    """The consumer group of a service's agent on `spec`: one group per (service, topic)."""
    return f"jobstream-{service}.{spec.name}"


def consume(
    app: faust.App,
    spec: TopicSpec,
    handle: Handler,
    publisher: Publisher,
    *,
    what: str,
    size: int,
    within_s: float,
    state: PartitionedState | None = None,
    members: int = 1,
) -> list[GroupConsumer]:
    """Adds an agent on `spec`: `members` group members in this process, each handing its
    batches to `handle` through the shared body."""
    lifecycle = _LIFECYCLES[app]
    group = group_of(lifecycle.service, spec)
    stage = STAGES.stage(spec.name)
    stage.group = group
    body = BatchBody(what, handle, publisher, stage)
    legacy = f"jobstream-{lifecycle.service}"  # the Faust app's group, before these
    added = [
        GroupConsumer(
            spec,
            group,
            lifecycle.settings,
            body,
            Batching(size, within_s),
            stage,
            state,
            legacy_group=legacy,
        )
        for _ in range(members)
    ]
    for consumer in added:
        lifecycle.consumers.append(consumer)
        done = lifecycle.finished[f"{group}#{len(lifecycle.consumers)}"] = asyncio.Event()
        app.task(_runner(consumer, done))
    return added


def _runner(consumer: GroupConsumer, done: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await consumer.run()
        finally:
            done.set()

    return run


def each_record(handle: Callable[[Record], Awaitable[None]]) -> Handler:
    """A batch handler that handles its records one at a time, in order."""

    async def handle_batch(batch: Batch) -> None:
        for _, record in batch:
            await handle(record)

    return handle_batch


def state_for(app: faust.App, changelog: TopicSpec, publisher: Publisher) -> PartitionedState:
    """Dedupe state on `changelog`, forgetting what expired (checked every minute)."""
    lifecycle = _LIFECYCLES[app]
    state = partitioned_state(changelog, publisher, lifecycle.settings.bootstrap_servers)

    @app.timer(interval=FORGET_EVERY_S)  # type: ignore[untyped-decorator]
    async def forget_stale_state() -> None:
        forgotten = state.forget_stale()
        if forgotten:
            log.info(
                "%s: forgot %d groups not written for %.0f s",
                changelog.name,
                forgotten,
                state.ttl_s,
            )

    return state


FORGET_EVERY_S = 60.0


def _lags() -> Iterator[tuple[str, int, int]]:
    for lifecycle in list(_LIFECYCLES.values()):
        for consumer in lifecycle.consumers:
            for partition, lag in consumer.lag().items():
                yield consumer.spec.name, partition, lag


metrics.watch_consumers(_lags)


def _shutdown_of(lifecycle: _Lifecycle) -> Callable[..., Awaitable[None]]:
    async def shut_down(sender: Any, /, *args: Any, **kwargs: Any) -> None:
        """Agents first (each finishes and commits its batch, or gives up one that cannot
        finish soon: see `stopping`), then pools and clients."""
        lifecycle.stopping.set()
        for consumer in lifecycle.consumers:
            await consumer.stop()
        waits = [done.wait() for done in lifecycle.finished.values()]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), timeout=STOP_GRACE_S)
            except TimeoutError:
                log.warning(
                    "agents did not stop within %.0f s; their batches will be processed again",
                    STOP_GRACE_S,
                )
        for closer in lifecycle.closers:
            await closer()

    return shut_down


def stopping(app: faust.App) -> asyncio.Event:
    """Set once the worker begins to stop. A handler whose batch may run long (a feed read)
    waits on it to give the batch up at once (`Interrupted`): delivered what it sent, left
    uncommitted, done again after the restart, rather than cut off when the grace ends."""
    return _LIFECYCLES[app].stopping


def close_on_shutdown(app: faust.App, *closers: Callable[[], Awaitable[None]]) -> None:
    """Closes pools and clients when the worker stops (after the agents have stopped)."""
    _LIFECYCLES[app].closers.extend(closers)


def open_on_startup(app: faust.App, *openers: Callable[[], Awaitable[None]]) -> None:
    """Opens pools (checking the schema) when the worker starts, before any agent runs."""
    _LIFECYCLES[app].openers.extend(openers)


def run_worker(app: faust.App, service: str) -> None:
    """Runs the app until SIGTERM/SIGINT; agents finish and commit their batch first.

    The start-up step comes first, on the worker's loop: a service that cannot open what it
    needs (an unmigrated database, say) exits at once with the reason, before joining Kafka.
    """
    worker = faust.Worker(app, loglevel="INFO", logging_config=logging_config(service))
    try:
        worker.loop.run_until_complete(_open_all(_LIFECYCLES[app]))
    except Exception as error:
        sys.exit(f"jobstream {service} did not start: {error}")
    worker.execute_from_commandline()


async def _open_all(lifecycle: _Lifecycle) -> None:
    for opener in lifecycle.openers:
        await opener()
