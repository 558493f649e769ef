"""Publishing records: encoded, sent straight to the app's producer, flushed when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol

from prometheus_client import Counter

from schemas.codec import CODEC
from schemas.records import DeadLetter, Record
from schemas.topics import TopicSpec
from services.shared import metrics


class Producer(Protocol):
    """Where a `Publisher` hands its encoded messages (the app's producer in a service)."""

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int | None
    ) -> Awaitable[object]:
        """Queues one message; the awaitable it returns settles when the broker acks it."""
        ...


class Publisher:
    """Encodes records and sends them; `flush` awaits delivery of everything sent so far.

    Records go straight to the app's producer: Faust's channel machinery around a send
    (future messages, callbacks, sensors) tripled the CPU of publishing a job.
    """

    def __init__(self, producer: Producer, source: str) -> None:
        self._producer = producer
        self._source = source
        self._pending: list[asyncio.Future[object]] = []
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
        fut = await self._producer.send(topic_name, key, value, partition)
        self._pending.append(asyncio.ensure_future(fut))
        self._counter(topic_name).inc()

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None:
        await self.send(spec, key, record)
        await self.flush()
