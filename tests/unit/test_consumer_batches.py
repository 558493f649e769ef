"""The group member's bookkeeping around a rebalance, against a scripted consumer: what a poll
returns under a new assignment is processed, what was taken under the old one is not, a
batch left uncommitted on partitions still held is read again, and a revocation hands a long
batch over without waiting for the poll beside it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError

from schemas.topics import TopicSpec
from services.shared.agents import Delivery, Revoked, handing_over
from services.shared.consumer import Batching, Body, Fetched, GroupConsumer
from services.shared.health import Stage
from services.shared.retry import Sleep
from services.shared.settings import StreamSettings

TOPIC = "test.batches"
Poll = Callable[[], Awaitable[Fetched]]


def _records(partition: int, offsets: range) -> list[ConsumerRecord[bytes, bytes]]:
    return [ConsumerRecord(TOPIC, partition, o, 0, 0, b"k", b"v", None, 1, 1, ()) for o in offsets]


@dataclass
class _Consumer:
    """Answers each `getmany` with the next scripted poll; notes seeks and commits."""

    assigned: set[TopicPartition]
    polls: list[Poll]
    seeks: list[tuple[int, int]] = field(default_factory=list)
    commits: list[dict[int, int]] = field(default_factory=list)

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Fetched:
        if self.polls:
            return await self.polls.pop(0)()
        await asyncio.sleep(0.01)
        return {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp.partition, offset))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append({tp.partition: o for tp, o in offsets.items()})

    async def committed(self, tp: TopicPartition) -> int | None:
        return None

    def pause(self, *_: TopicPartition) -> None: ...

    def resume(self, *_: TopicPartition) -> None: ...


@dataclass
class _Body:
    raises: list[BaseException] = field(default_factory=list)
    seen: list[tuple[int, int]] = field(default_factory=list)

    async def __call__(self, messages: Sequence[Delivery]) -> None:
        if self.raises:
            raise self.raises.pop(0)
        self.seen.extend((m.partition, m.offset) for m in messages)


async def _no_wait(seconds: float) -> None:
    return None


def _member(
    body: Body,
    rebalance_timeout_s: float = 0.1,
    poll_s: float = 300.0,
    sleep: Sleep = _no_wait,
) -> GroupConsumer:
    settings = StreamSettings(
        bootstrap_servers="unused:9092",
        web_port=0,
        replica="t",
        data_dir="",
        session_timeout_s=6.0,
        heartbeat_interval_s=1.0,
        rebalance_timeout_s=rebalance_timeout_s,  # a revocation waits for the batch about this
        max_poll_interval_s=poll_s,  # a batch polls beside it after a third of this
    )
    spec = TopicSpec(TOPIC, (), "n", 2, 3_600_000)
    stage = Stage(TOPIC)
    return GroupConsumer(spec, "g", settings, body, Batching(5, 0.2), stage, sleep=sleep)


def _tp(partition: int) -> TopicPartition:
    return TopicPartition(TOPIC, partition)


async def test_what_a_poll_returns_across_a_rebalance_is_processed_and_committed() -> None:
    body = _Body()
    member = _member(body)
    consumer = _Consumer({_tp(0)}, [])

    async def before() -> Fetched:
        return {_tp(0): _records(0, range(0, 3))}

    async def across_a_rebalance() -> Fetched:
        # aiokafka waits out the rebalance inside the poll, then returns records of the new
        # assignment with the positions already past them.
        await member.on_revoked({_tp(0)})
        consumer.assigned = {_tp(0), _tp(1)}
        await member.on_assigned({_tp(0), _tp(1)})
        return {_tp(1): _records(1, range(40, 45))}

    consumer.polls = [before, across_a_rebalance]
    await member._one_batch(consumer)

    # Partition 0's records were taken under the old assignment: the new one restarts it at
    # its commit, so they come again. Partition 1's are processed and committed.
    assert body.seen == [(1, o) for o in range(40, 45)]
    assert consumer.commits == [{1: 45}]


async def test_a_batch_not_committed_on_partitions_still_held_is_read_again() -> None:
    body = _Body(raises=[Revoked("partition 1 is not recovered yet")])
    member = _member(body)

    async def batch() -> Fetched:
        return {_tp(0): _records(0, range(7, 9)), _tp(1): _records(1, range(3, 6))}

    consumer = _Consumer({_tp(0), _tp(1)}, [batch])
    await member._one_batch(consumer)

    assert consumer.commits == []
    assert sorted(consumer.seeks) == [(0, 7), (1, 3)]


async def test_a_batch_whose_partitions_were_reassigned_meanwhile_is_not_rewound() -> None:
    member = _member(_Body())
    consumer = _Consumer({_tp(0)}, [])

    async def revoked_under_the_batch(messages: Sequence[Delivery]) -> None:
        await member.on_revoked({_tp(0)})  # the new assignment restarts it at its commit
        raise Revoked("partition 0 was revoked")

    member._body = revoked_under_the_batch

    async def batch() -> Fetched:
        return {_tp(0): _records(0, range(7, 9))}

    consumer.polls = [batch]
    await member._one_batch(consumer)

    assert consumer.commits == [] and consumer.seeks == []


async def test_a_revocation_hands_a_long_batch_over_without_waiting_for_the_poll_beside_it() -> (
    None
):
    # aiokafka answers a poll made during a rebalance only once the rebalance is over, which
    # waits for the revocation: the revocation must wait for the batch alone, and the batch
    # (a feed read) must give up when told. Before, it waited out the rebalance timeout,
    # which put the member out of its group.
    rebalanced = asyncio.Event()
    polling = asyncio.Event()

    async def batch() -> Fetched:
        return {_tp(0): _records(0, range(7, 8))}

    async def during_the_rebalance() -> Fetched:
        polling.set()
        await rebalanced.wait()
        return {}

    async def long_batch(messages: Sequence[Delivery]) -> None:
        await asyncio.wait_for(handing_over().wait(), timeout=60)
        raise Revoked("handed over")

    member = _member(long_batch, rebalance_timeout_s=30.0, poll_s=0.03)
    consumer = _Consumer({_tp(0)}, [batch, during_the_rebalance])
    in_hand = asyncio.create_task(member._one_batch(consumer))
    await asyncio.wait_for(polling.wait(), timeout=5)

    await asyncio.wait_for(member.on_revoked({_tp(0)}), timeout=5)  # not 30 s, nor 60 s
    assert not member._abandoned
    rebalanced.set()
    await asyncio.wait_for(in_hand, timeout=5)
    assert consumer.commits == [] and consumer.seeks == []  # its next owner does it again


async def test_a_failed_batch_waits_through_the_injected_sleep_then_is_read_again() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    member = _member(_Body(raises=[RuntimeError("a bug")]), sleep=sleep)

    async def batch() -> Fetched:
        return {_tp(0): _records(0, range(7, 9))}

    consumer = _Consumer({_tp(0)}, [batch])
    await member._one_batch(consumer)

    assert waits == [0.5]  # the member's first backoff delay, not spent in real time
    assert consumer.commits == [] and consumer.seeks == [(0, 7)]


async def test_a_commit_during_a_broker_outage_waits_through_the_injected_sleep() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    member = _member(_Body(), sleep=sleep)
    outages = [KafkaConnectionError("broker down"), KafkaConnectionError("still down")]

    @dataclass
    class _Flaky(_Consumer):
        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            if outages:
                raise outages.pop(0)
            await super().commit(offsets)

    async def batch() -> Fetched:
        return {_tp(0): _records(0, range(3))}

    consumer = _Flaky({_tp(0)}, [batch])
    await member._one_batch(consumer)

    assert waits == [0.5, 1.0]
    assert consumer.commits == [{0: 3}]
