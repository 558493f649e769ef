"""A consumer-group member that hands batches to an agent body and commits only what it did.

Faust 0.15's stream path lost records across a rebalance (events fetched under the old
generation were skipped, and their re-fetched copies dropped as already read), so the
services consume through aiokafka directly, with the at-least-once order kept by hand: take
a batch, run the body (which works, publishes and awaits the broker's acknowledgements),
then commit the offsets after the batch. On assignment a partition starts from its committed
offset; a revocation waits for the batch in hand, so it is committed before another replica
takes the partition over; a batch the replica lost the partition under is never committed.

A batch that may run long (a feed read) must not hold a rebalance up: the revocation tells
it to give up (`agents.handing_over`), and its partition's next owner does it again. The
revocation must also return well within the rebalance timeout, or the broker puts this
member out of the group, and its rejoin starts another rebalance: two members each holding
a long batch in turn would never let the group settle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from schemas.topics import TopicSpec
from services.shared.agents import Delivery, Interrupted, Revoked, hand_over_on
from services.shared.failures import describe, is_retriable
from services.shared.health import Stage
from services.shared.retry import Backoff, Sleep
from services.shared.settings import StreamSettings

log = logging.getLogger(__name__)

Body = Callable[[Sequence[Delivery]], Awaitable[None]]
Fetched = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class BatchConsumer(Protocol):
    """What a batch is taken, committed and rewound through (an `AIOKafkaConsumer`)."""

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Fetched: ...

    def assignment(self) -> set[TopicPartition]: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...

    def pause(self, *partitions: TopicPartition) -> None: ...

    def resume(self, *partitions: TopicPartition) -> None: ...


class Recoverable:
    """State kept per partition that must follow the assignment (see `state.py`)."""

    async def recover(self, partitions: set[int]) -> None:
        raise NotImplementedError

    def drop(self, partitions: set[int]) -> None:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Batching:
    size: int  # records per batch at most
    within_s: float  # how long a batch waits to fill once it has its first record


class GroupConsumer:
    """Consumes one topic as a member of `group`, batch by batch (see the module docstring)."""

    def __init__(
        self,
        spec: TopicSpec,
        group: str,
        settings: StreamSettings,
        body: Body,
        batching: Batching,
        stage: Stage,
        state: Recoverable | None = None,
        legacy_group: str | None = None,
        *,
        sleep: Sleep = asyncio.sleep,  # what it waits out outages and failed batches with
    ) -> None:
        self.spec = spec
        self.group = group
        self._legacy_group = legacy_group
        self._settings = settings
        self._body = body
        self._batching = batching
        self._stage = stage
        self._state = state
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._in_hand: asyncio.Future[None] | None = None  # the batch being done and committed
        self._handover = asyncio.Event()  # set by a revocation: the batch in hand gives up
        self._epoch = 0  # bumped by every revocation: records fetched before it are stale
        self._abandoned = False  # a revocation could not wait for the batch in hand
        self._to_recover: set[int] = set()
        self._backoff = Backoff(0.5, 10.0)
        self._sleep = sleep
        self.committed: dict[int, int] = {}

    def _new_consumer(self) -> AIOKafkaConsumer:
        s = self._settings
        return AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=self.group,
            client_id=f"{self.group}-{s.replica}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._batching.size,
            session_timeout_ms=int(s.session_timeout_s * 1000),
            heartbeat_interval_ms=int(s.heartbeat_interval_s * 1000),
            rebalance_timeout_ms=int(s.rebalance_timeout_s * 1000),
            max_poll_interval_ms=int(s.max_poll_interval_s * 1000),
        )

    async def run(self) -> None:
        """Consumes until `stop`; a batch in hand is finished and committed first."""
        await self._until_broker_answers(self._seed_from_legacy_group)
        consumer = self._consumer = self._new_consumer()
        consumer.subscribe([self.spec.name], listener=_Listener(self))
        await self._until_broker_answers(consumer.start)
        try:
            while not self._stopping.is_set():
                await self._one_batch(consumer)
        finally:
            self._stage.assigned = False
            await consumer.stop()  # leaves the group: the others take over at once

    async def _until_broker_answers(self, step: Callable[[], Awaitable[None]]) -> None:
        for delay in self._backoff.delays():
            try:
                await step()
                return
            except (KafkaError, OSError) as exc:
                log.warning("%s: broker unavailable (%s), retrying", self.group, describe(exc))
                await self._sleep(delay)

    async def stop(self) -> None:
        self._stopping.set()

    def lag(self) -> dict[int, int]:
        """Per partition: messages between the partition's end and our committed offset."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lags: dict[int, int] = {}
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is not None:
                lags[tp.partition] = max(0, end - self.committed.get(tp.partition, 0))
        return lags

    async def _one_batch(self, consumer: BatchConsumer) -> None:
        records = await self._take(consumer)
        if not records:
            return
        self._handover = asyncio.Event()
        self._abandoned = False
        # A task of its own, which a revocation waits for (and the poll below does not hold).
        batch = self._in_hand = asyncio.ensure_future(
            self._settle(consumer, records, self._epoch)  # the assignment the records are of
        )
        try:
            await self._polling_until_done(consumer, batch)
        finally:
            self._in_hand = None

    async def _settle(
        self, consumer: BatchConsumer, records: list[ConsumerRecord[bytes, bytes]], epoch: int
    ) -> None:
        """Processes the batch, then commits it, or reads it again if it was not done."""
        if await self._process(consumer, records):
            await self._commit(consumer, records)
        elif epoch == self._epoch:
            # Not committed, its partitions still ours and their positions past it: read
            # it again. (A rebalance restarts every partition at its committed offset.)
            self._rewind(consumer, records)

    async def _polling_until_done(
        self, consumer: BatchConsumer, batch: asyncio.Future[None]
    ) -> None:
        """Polls (with every partition paused) while a long batch runs: a feed run or a stage
        paused by an outage may outlast the poll interval, and a member that does not poll for
        that long is put out of its group and its batch done again. A poll made during a
        rebalance returns only once the rebalance is over: the revocation waits for the
        batch's own task, never for this poll (which would wait for the revocation)."""
        await asyncio.wait({batch}, timeout=self._settings.max_poll_interval_s / 3)
        while not batch.done():
            paused = consumer.assignment()
            consumer.pause(*paused)
            try:
                fetched = await consumer.getmany(timeout_ms=1000)
            finally:
                consumer.resume(*(paused & consumer.assignment()))
            # Records of a partition assigned meanwhile: read again once the batch is done.
            for tp, part in fetched.items():
                consumer.seek(tp, min(r.offset for r in part))
        await batch

    async def _take(self, consumer: BatchConsumer) -> list[ConsumerRecord[bytes, bytes]]:
        """Up to `size` records of the current assignment, waiting at most `within_s` after
        the first one arrived.

        A rebalance during a poll makes what was taken before it stale: the new assignment
        restarts every partition at its committed offset. Not what that poll returned:
        aiokafka returns only records of the assignment in force (it waits out a rebalance
        in progress) and moves the positions past them, so they must be kept, or they are
        skipped for good once a later batch of the partition is committed.
        """
        loop = asyncio.get_running_loop()
        taken: list[ConsumerRecord[bytes, bytes]] = []
        epoch = self._epoch
        deadline: float | None = None
        while len(taken) < self._batching.size and not self._stopping.is_set():
            wait_s = 0.5 if deadline is None else deadline - loop.time()
            if wait_s <= 0:
                break
            fetched = await consumer.getmany(
                timeout_ms=int(wait_s * 1000), max_records=self._batching.size - len(taken)
            )
            if epoch != self._epoch:
                taken, epoch, deadline = [], self._epoch, None
            for part in fetched.values():
                taken.extend(part)
            if taken and deadline is None:
                deadline = loop.time() + self._batching.within_s
            if deadline is None:
                return []  # an idle poll: let the caller look at `_stopping`
        return taken

    async def _process(
        self, consumer: BatchConsumer, records: list[ConsumerRecord[bytes, bytes]]
    ) -> bool:
        """Runs the body; False when the batch must not be committed."""
        hand_over_on(self._handover)  # this task's: see `agents.handing_over`
        if self._to_recover and self._state is not None:
            recovering, self._to_recover = self._to_recover, set()
            await self._state.recover(recovering)
        try:
            await self._body([_delivery(r) for r in records])
        except Interrupted as interrupted:
            log.warning("%s: batch given up at the stop, uncommitted: %s", self.group, interrupted)
            return False
        except Revoked as revoked:
            log.warning("%s: batch not committed, a partition is not held: %s", self.group, revoked)
            return False
        except Exception:
            # The body dead-letters poison and waits out outages: this is a bug. Go back to
            # the batch's first offsets and try it again rather than skip it.
            log.exception("%s: batch failed unexpectedly; it will be fetched again", self.group)
            await self._sleep(next(self._backoff.delays()))
            return False
        return not self._abandoned

    def _rewind(self, consumer: BatchConsumer, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        for tp, offset in first.items():
            if tp in consumer.assignment():
                consumer.seek(tp, offset)

    async def _commit(
        self, consumer: BatchConsumer, records: list[ConsumerRecord[bytes, bytes]]
    ) -> None:
        """Commits past the batch; waits out a broker outage, gives up on a rebalance."""
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        for delay in self._backoff.delays():
            mine = {tp: o for tp, o in offsets.items() if tp in consumer.assignment()}
            if not mine:
                return
            try:
                await consumer.commit(mine)
            except (CommitFailedError, IllegalStateError) as exc:
                log.warning(
                    "%s: offsets not committed (%s); the records will be processed again",
                    self.group,
                    describe(exc),
                )
                return
            except Exception as exc:
                if not is_retriable(exc) or self._stopping.is_set():
                    log.warning("%s: commit failed: %s", self.group, describe(exc))
                    return
                self._stage.pause(describe(exc))
                await self._sleep(delay)
            else:
                self._stage.resume()
                self.committed.update({tp.partition: o for tp, o in mine.items()})
                return

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._epoch += 1
        self._stage.assigned = False
        batch = self._in_hand
        if batch is not None and not batch.done():
            # Finish (and commit) the batch in hand while this replica still owns it; a long
            # one gives up now. Both within the time the broker waits for this member.
            self._handover.set()
            done, _ = await asyncio.wait({batch}, timeout=self._revocation_wait_s())
            if not done:
                log.warning(
                    "%s: batch still running at a rebalance; it will not be committed", self.group
                )
                self._abandoned = True
        partitions = {tp.partition for tp in revoked}
        if self._state is not None:
            self._state.drop(partitions)
        self._to_recover -= partitions
        for partition in partitions:
            self.committed.pop(partition, None)

    def _revocation_wait_s(self) -> float:
        """How long a revocation may wait for the batch in hand: the broker waits the rebalance
        timeout from the first member's rejoin, which this one hears of a heartbeat later."""
        s = self._settings
        return max(s.rebalance_timeout_s / 2, s.rebalance_timeout_s - 2 * s.heartbeat_interval_s)

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        partitions = {tp.partition for tp in assigned}
        self._to_recover |= partitions
        consumer = self._consumer
        if consumer is not None:
            for tp in assigned:
                offset = await consumer.committed(tp)
                if offset is not None:
                    self.committed[tp.partition] = offset
        self._stage.partitions = sorted(partitions)
        self._stage.assigned = True
        log.info("%s: assigned partitions %s", self.group, sorted(partitions))

    async def _seed_from_legacy_group(self) -> None:
        """A group that never committed starts where the group of the Faust agents it replaces
        stopped (one per service), not at the start of the retention: an upgrade must not run
        every feed requested in the last week again. Done before joining, so no fetch races it.
        """
        if not self._legacy_group:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=self._settings.bootstrap_servers)
        await admin.start()
        try:
            if _of_topic(await admin.list_consumer_group_offsets(self.group), self.spec.name):
                return
            legacy = _of_topic(
                await admin.list_consumer_group_offsets(self._legacy_group), self.spec.name
            )
        finally:
            await admin.close()
        if legacy:
            await self._commit_as_seed(legacy)

    async def _commit_as_seed(self, offsets: dict[TopicPartition, int]) -> None:
        seeder = AIOKafkaConsumer(
            bootstrap_servers=self._settings.bootstrap_servers,
            group_id=self.group,
            enable_auto_commit=False,
        )
        await seeder.start()
        try:
            seeder.assign(list(offsets))
            await seeder.commit(offsets)
            log.info(
                "%s starts where %s stopped: %s",
                self.group,
                self._legacy_group,
                {tp.partition: o for tp, o in offsets.items()},
            )
        except KafkaError as exc:  # another replica is in the group already: it seeded it
            log.info("%s: not seeded from %s (%s)", self.group, self._legacy_group, describe(exc))
        finally:
            await seeder.stop()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: GroupConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner.on_assigned(assigned)


def _of_topic(
    offsets: Mapping[TopicPartition, OffsetAndMetadata], topic: str
) -> dict[TopicPartition, int]:
    return {
        tp: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0
    }


def _delivery(record: ConsumerRecord[bytes, bytes]) -> Delivery:
    return Delivery(record.topic, record.partition, record.offset, record.key, record.value or b"")
