"""The consumer-group member every agent runs, on the real broker: a member joining mid-way
takes partitions over without a record lost, a member taking over a departed member's
partitions while it polls loses none of them, a batch longer than the poll interval keeps
the member in its group (its batch is neither lost nor done twice), and a batch that would
run for long (a feed read) is handed over at a rebalance instead of holding the group up."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cli.stack import StackInfo
from schemas.topics import TopicSpec
from services.shared.agents import Delivery, Revoked, handing_over
from services.shared.consumer import Batching, GroupConsumer
from services.shared.health import Stage
from services.shared.settings import StreamSettings

pytestmark = pytest.mark.integration


@dataclass
class _Recorder:
    """A body that notes every message it is given, slowly."""

    delay_s: float = 0.0
    first_delay_s: float = 0.0
    seen: list[tuple[int, int]] = field(default_factory=list)
    busy: asyncio.Event = field(default_factory=asyncio.Event)  # set after 100 records

    async def __call__(self, messages: Sequence[Delivery]) -> None:
        delay = self.first_delay_s if not self.seen else self.delay_s
        await asyncio.sleep(delay)
        self.seen.extend((m.partition, m.offset) for m in messages)
        if len(self.seen) >= 100:
            self.busy.set()


@dataclass
class _LongFirstBatch:
    """A body whose first batch runs for `hold_s` (a feed read) unless a rebalance takes it
    away: then it gives the batch up, as the ingestor does. Later batches are quick."""

    hold_s: float
    seen: list[tuple[int, int]] = field(default_factory=list)
    handed_over: list[tuple[int, int]] = field(default_factory=list)
    holding: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, messages: Sequence[Delivery]) -> None:
        batch = [(m.partition, m.offset) for m in messages]
        if not self.holding.is_set():
            self.holding.set()
            try:
                await asyncio.wait_for(handing_over().wait(), timeout=self.hold_s)
            except TimeoutError:
                pass  # held to the end: done
            else:
                self.handed_over.extend(batch)
                raise Revoked("handed over to the partition's next owner")
        self.seen.extend(batch)


@pytest.fixture
async def topic(stack: StackInfo) -> AsyncIterator[TopicSpec]:
    spec = TopicSpec(f"test.consumer.{uuid.uuid4().hex[:8]}", (), "n", 6, 3_600_000)
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(spec.name, spec.partitions, 1)])
        yield spec
        await admin.delete_topics([spec.name])
    finally:
        await admin.close()


def _settings(bootstrap: str, **changes: float) -> StreamSettings:
    return StreamSettings(
        bootstrap_servers=bootstrap,
        web_port=0,
        replica="t",
        data_dir="",
        session_timeout_s=changes.get("session_timeout_s", 6.0),
        heartbeat_interval_s=changes.get("heartbeat_interval_s", 1.0),
        rebalance_timeout_s=changes.get("rebalance_timeout_s", 6.0),
        max_poll_interval_s=changes.get("max_poll_interval_s", 300.0),
    )


async def _produce(bootstrap: str, spec: TopicSpec, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for n in range(count):
            await producer.send(spec.name, f"v{n}".encode(), key=f"k{n}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _committed_to_end(bootstrap: str, group: str, spec: TopicSpec) -> bool:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        for tp in tps:
            if (await consumer.committed(tp) or 0) < ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()


async def _wait_committed(bootstrap: str, group: str, spec: TopicSpec, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await _committed_to_end(bootstrap, group, spec):
        assert asyncio.get_running_loop().time() < deadline, "offsets never reached the end"
        await asyncio.sleep(0.5)


def _member(
    spec: TopicSpec, group: str, settings: StreamSettings, body: _Recorder, size: int
) -> GroupConsumer:
    return GroupConsumer(spec, group, settings, body, Batching(size, 0.1), Stage(spec.name))


async def test_a_member_joining_mid_way_loses_no_record(stack: StackInfo, topic: TopicSpec) -> None:
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    settings = _settings(stack.bootstrap)
    await _produce(stack.bootstrap, topic, 600)
    first, second = _Recorder(delay_s=0.1), _Recorder(delay_s=0.1)
    members = [_member(topic, group, settings, first, 25)]
    running = [asyncio.create_task(members[0].run())]
    try:
        await asyncio.wait_for(first.busy.wait(), timeout=60)
        members.append(_member(topic, group, settings, second, 25))
        running.append(asyncio.create_task(members[1].run()))
        await _wait_committed(stack.bootstrap, group, topic, timeout_s=120)
    finally:
        for member in members:
            await member.stop()
        await asyncio.wait_for(asyncio.gather(*running), timeout=30)
    processed = set(first.seen) | set(second.seen)
    assert len(processed) == 600  # every offset of every partition, once at least
    assert second.seen, "the second member never got a partition"


async def test_partitions_taken_over_while_polling_lose_no_record(
    stack: StackInfo, topic: TopicSpec
) -> None:
    # The member is idle, polling, when the group hands it a departed member's partitions:
    # that same poll returns their first records, fetched under the new assignment. (They
    # were once dropped as "fetched before the rebalance", and the next commit skipped them.)
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    settings = _settings(stack.bootstrap)
    await _produce(stack.bootstrap, topic, 600)
    other = AIOKafkaConsumer(
        topic.name,
        bootstrap_servers=stack.bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await other.start()
    body = _Recorder()
    member = _member(topic, group, settings, body, 50)
    task = asyncio.create_task(member.run())
    try:
        # Until the member has done its share and waits on its own drained partitions.
        deadline = asyncio.get_running_loop().time() + 60
        while not (member.committed and sum(member.lag().values()) == 0 and body.seen):
            assert asyncio.get_running_loop().time() < deadline, "the member never settled"
            await asyncio.sleep(0.2)
        assert len(other.assignment()) == 3, "the other member holds no partition"
        await other.stop()  # leaves: its partitions, none committed, go to the member
        await _wait_committed(stack.bootstrap, group, topic, timeout_s=60)
    finally:
        await member.stop()
        await asyncio.wait_for(task, timeout=30)
    assert len(set(body.seen)) == 600


async def test_a_batch_longer_than_the_poll_interval_keeps_its_member_in_the_group(
    stack: StackInfo, topic: TopicSpec
) -> None:
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    settings = _settings(stack.bootstrap, max_poll_interval_s=3.0)
    await _produce(stack.bootstrap, topic, 12)
    body = _Recorder(first_delay_s=8.0)  # an outage or a long feed run, in the first batch
    member = _member(topic, group, settings, body, 50)
    task = asyncio.create_task(member.run())
    try:
        await _wait_committed(stack.bootstrap, group, topic, timeout_s=60)
    finally:
        await member.stop()
        await asyncio.wait_for(task, timeout=30)
    assert sorted(body.seen) == sorted(set(body.seen))  # nothing done twice
    assert len(body.seen) == 12


async def test_a_new_group_starts_where_the_faust_group_it_replaces_stopped(
    stack: StackInfo, topic: TopicSpec
) -> None:
    legacy, group = f"legacy-{uuid.uuid4().hex[:8]}", f"test-group-{uuid.uuid4().hex[:8]}"
    await _produce(stack.bootstrap, topic, 30)  # what the old agents already handled
    old = AIOKafkaConsumer(
        bootstrap_servers=stack.bootstrap, group_id=legacy, enable_auto_commit=False
    )
    await old.start()
    try:
        tps = [TopicPartition(topic.name, p) for p in range(topic.partitions)]
        ends: dict[TopicPartition, int] = await old.end_offsets(tps)
        old.assign(tps)
        await old.commit({tp: end for tp, end in ends.items() if end > 0})
    finally:
        await old.stop()
    await _produce(stack.bootstrap, topic, 5)  # arrived since the upgrade
    body = _Recorder()
    member = GroupConsumer(
        topic,
        group,
        _settings(stack.bootstrap),
        body,
        Batching(50, 0.1),
        Stage(topic.name),
        legacy_group=legacy,
    )
    task = asyncio.create_task(member.run())
    try:
        await _wait_committed(stack.bootstrap, group, topic, timeout_s=60)
    finally:
        await member.stop()
        await asyncio.wait_for(task, timeout=30)
    assert len(body.seen) == 5
    assert all(offset >= ends[TopicPartition(topic.name, p)] for p, offset in body.seen)


async def _stable_members(bootstrap: str, group: str) -> tuple[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    _, _, state, _, _, members = described.groups[0][:6]
    return str(state), len(members)


@pytest.mark.parametrize("polling", [False, True], ids=["batch-young", "batch-polling"])
async def test_a_long_batch_is_handed_over_and_the_group_settles_at_once(
    stack: StackInfo, topic: TopicSpec, polling: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # The first member is in a batch that would run for minutes when the second joins: once
    # a poll interval (while the member polls beside its batch: a poll made during a
    # rebalance returns only after it) and once before. The batch must give up at the
    # revocation, in time for its member to rejoin: the group settles with both members
    # and the record is done by its partition's next owner, once.
    group = f"test-group-{uuid.uuid4().hex[:8]}"
    settings = _settings(stack.bootstrap, max_poll_interval_s=3.0 if polling else 300.0)
    await _produce(stack.bootstrap, topic, 60)
    caplog.set_level(logging.WARNING, logger="services.shared.consumer")
    first, second = _LongFirstBatch(hold_s=300.0), _Recorder()
    members = [
        GroupConsumer(topic, group, settings, first, Batching(1, 0.0), Stage(topic.name)),
        _member(topic, group, settings, second, 10),
    ]
    running = [asyncio.create_task(members[0].run())]
    try:
        await asyncio.wait_for(first.holding.wait(), timeout=60)
        await asyncio.sleep(2.0 if polling else 0.5)  # polling starts after a third of 3 s
        running.append(asyncio.create_task(members[1].run()))
        # Well before the batch's 300 s: only a hand-over lets the offsets reach the end.
        await _wait_committed(stack.bootstrap, group, topic, timeout_s=60)
        assert await _stable_members(stack.bootstrap, group) == ("Stable", 2)
    finally:
        for member in members:
            await member.stop()
        await asyncio.wait_for(asyncio.gather(*running), timeout=30)
    assert len(first.handed_over) == 1
    done = first.seen + second.seen
    assert sorted(done) == sorted(set(done)) and len(done) == 60  # each record once
    assert first.handed_over[0] in done
    # The revocation never gave up waiting (its member would have been put out of the group).
    assert "still running at a rebalance" not in caplog.text
