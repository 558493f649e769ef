"""Publisher bookkeeping: a flush returns only once everything its caller sent is acknowledged.

The producer is a stand-in for the `Producer` port that hands out futures the test settles by
hand; the broker side of publishing is covered by the e2e tests.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from schemas import topics
from schemas.records import RequestReason, RunStarted
from services.shared.publisher import Publisher


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int | None, asyncio.Future[None]]] = []

    async def send(
        self, topic: str, key: bytes, value: bytes, partition: int | None
    ) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append((topic, key, partition, fut))
        return fut


def _publisher() -> tuple[Publisher, _Producer]:
    producer = _Producer()
    return Publisher(producer, "test"), producer


def _started(run_id: str) -> RunStarted:
    return RunStarted(
        run_id=run_id, feed_id=1, reason=RequestReason.CLI, started_at=datetime.now(UTC)
    )


async def _settles(task: asyncio.Task[None]) -> bool:
    await asyncio.sleep(0.01)
    return task.done()


async def test_a_flush_waits_for_its_sends_while_a_sibling_flush_waits_for_them_too() -> None:
    publisher, producer = _publisher()
    await publisher.send(topics.RUNS_EVENTS, "run-a", _started("run-a"))  # task A's
    await publisher.send(topics.RUNS_EVENTS, "run-b", _started("run-b"))  # task B's
    flush_a = asyncio.create_task(publisher.flush())  # waits for both sends
    await asyncio.sleep(0)
    flush_b = asyncio.create_task(publisher.flush())
    producer.sent[0][3].set_result(None)
    assert await _settles(flush_b) is False  # B's own send is not acknowledged yet
    producer.sent[1][3].set_result(None)
    await asyncio.wait_for(asyncio.gather(flush_a, flush_b), timeout=1)


async def test_a_flush_does_not_wait_for_what_was_sent_after_it_began() -> None:
    publisher, producer = _publisher()
    await publisher.send(topics.RUNS_EVENTS, "run-a", _started("run-a"))
    flush = asyncio.create_task(publisher.flush())
    await asyncio.sleep(0)
    await publisher.send(topics.RUNS_EVENTS, "run-b", _started("run-b"))
    producer.sent[0][3].set_result(None)
    assert await _settles(flush) is True
    later = asyncio.create_task(publisher.flush())
    assert await _settles(later) is False
    producer.sent[1][3].set_result(None)
    await asyncio.wait_for(later, timeout=1)


async def test_queued_messages_are_sent_to_their_partition_and_awaited_by_the_flush() -> None:
    publisher, producer = _publisher()
    publisher.send_later(topics.DEDUPE_PASS1_CHANGELOG, 4, b"group", b"state")
    assert producer.sent == []  # nothing leaves before a flush
    flush = asyncio.create_task(publisher.flush())
    assert await _settles(flush) is False
    ((topic, key, partition, fut),) = producer.sent
    assert (topic, key, partition) == (topics.DEDUPE_PASS1_CHANGELOG.name, b"group", 4)
    fut.set_result(None)
    await asyncio.wait_for(flush, timeout=1)


async def test_a_failed_send_fails_the_flush_once_and_is_then_forgotten() -> None:
    publisher, producer = _publisher()
    await publisher.send(topics.RUNS_EVENTS, "run-a", _started("run-a"))
    producer.sent[0][3].set_exception(RuntimeError("broker gone"))
    try:
        await publisher.flush()
    except RuntimeError as exc:
        assert str(exc) == "broker gone"
    else:
        raise AssertionError("the flush hid a failed send")
    await asyncio.wait_for(publisher.flush(), timeout=1)  # a retry starts from a clean slate
