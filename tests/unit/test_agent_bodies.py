"""The shared agent body: outages pause and are waited out, only poison is dead-lettered."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg.exceptions as pg
import pytest
from aiokafka.errors import KafkaConnectionError

from schemas import topics
from schemas.codec import CODEC
from schemas.records import DeadLetter, JobPosting, RawJob, Record
from schemas.topics import TopicSpec
from services.shared.agents import Batch, BatchBody, Delivery, Handler, Revoked
from services.shared.health import Stage
from services.shared.metrics import REGISTRY
from services.shared.retry import Backoff


@dataclass
class _Sender:
    sent: list[tuple[str, Record]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)  # raised by the next sends

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((spec.name, record))


@dataclass
class _Sleeps:
    """Records each wait and lets the test look at the stage while the body is paused."""

    stage: Stage
    waited: list[float] = field(default_factory=list)
    paused_while_waiting: list[bool] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.waited.append(delay)
        self.paused_while_waiting.append(self.stage.paused_for is not None)


def _message(seq: int) -> Delivery:
    raw = RawJob(
        run_id="r", feed_id=1, seq=seq, job_hash=f"h{seq}", dedupe_key="k", job=JobPosting()
    )
    return Delivery(topics.JOBS_RAW.name, 0, seq, b"k", CODEC.encode(raw, source="test"))


def _seqs(batch: Batch) -> list[int]:
    return [record.seq for _, record in batch if isinstance(record, RawJob)]


def _body(name: str, handle: Handler, sender: _Sender) -> tuple[BatchBody, Stage, _Sleeps]:
    stage = Stage(name, assigned=True)
    sleeps = _Sleeps(stage)
    body = BatchBody("test", handle, sender, stage, sleep=sleeps, backoff=Backoff(0.5, 4.0))
    return body, stage, sleeps


def _paused_gauge(stage: str) -> float | None:
    return REGISTRY.get_sample_value("jobstream_stage_paused", {"stage": stage})


async def test_a_failing_record_is_dead_lettered_alone() -> None:
    handled: list[int] = []

    async def handle(batch: Batch) -> None:
        if 1 in _seqs(batch):
            raise ValueError("record 1 breaks every batch it is in")
        handled.extend(_seqs(batch))

    sender = _Sender()
    body, stage, _ = _body("poison", handle, sender)
    await body([_message(0), _message(1), _message(2)])
    assert handled == [0, 2]
    assert [name for name, _ in sender.sent] == [topics.JOBS_RAW.dead_letter]
    letter = sender.sent[0][1]
    assert isinstance(letter, DeadLetter)
    assert letter.offset == 1 and "ValueError: record 1 breaks" in letter.error
    assert stage.paused_for is None


async def test_an_undecodable_message_is_dead_lettered_and_the_batch_goes_on() -> None:
    handled: list[int] = []

    async def handle(batch: Batch) -> None:
        handled.extend(_seqs(batch))

    garbage = Delivery(topics.JOBS_RAW.name, 0, 7, b"k", b"\xff not an envelope")
    sender = _Sender()
    body, _, _ = _body("undecodable", handle, sender)
    await body([_message(0), garbage, _message(2)])
    assert handled == [0, 2]
    letter = sender.sent[0][1]
    assert isinstance(letter, DeadLetter) and letter.raw == garbage.value
    assert letter.error.startswith("malformed")


@pytest.mark.parametrize(
    "outage",
    [
        ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
        pg.CannotConnectNowError("the database system is starting up"),
        pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        pg.SerializationError("could not serialize access"),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_an_outage_pauses_the_stage_until_it_ends_and_dead_letters_nothing(
    outage: Exception,
) -> None:
    tries: list[list[int]] = []

    async def handle(batch: Batch) -> None:
        tries.append(_seqs(batch))
        if len(tries) <= 12:  # far beyond any fixed number of attempts
            raise outage

    sender = _Sender()
    body, stage, sleeps = _body(f"outage-{type(outage).__name__}", handle, sender)
    await body([_message(0), _message(1)])
    assert sender.sent == []
    assert tries == [[0, 1]] * 13  # the whole batch each time: never split, never skipped
    assert all(sleeps.paused_while_waiting)
    assert sleeps.waited[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]  # backoff, capped
    assert stage.paused_for is None and stage.ready


async def test_the_paused_gauge_shows_the_stage_while_it_waits() -> None:
    seen: list[float] = []

    async def handle(batch: Batch) -> None:
        if not seen:
            raise ConnectionResetError("reset by peer")

    async def sleep(_: float) -> None:
        seen.append(_paused_gauge("gauge") or 0.0)

    stage = Stage("gauge", assigned=True)
    body = BatchBody("test", handle, _Sender(), stage, sleep=sleep)
    await body([_message(0)])
    assert seen == [1.0] and _paused_gauge("gauge") == 0.0


async def test_an_outage_while_a_split_batch_is_retried_alone_still_pauses() -> None:
    calls: list[list[int]] = []

    async def handle(batch: Batch) -> None:
        calls.append(_seqs(batch))
        if len(batch) > 1:
            raise ValueError("bad batch")
        if len(calls) < 6:
            raise OSError("database went away")

    sender = _Sender()
    body, _, _ = _body("split-outage", handle, sender)
    await body([_message(0), _message(1)])
    assert sender.sent == []  # the single record was never taken for poison
    assert calls[:2] == [[0, 1], [0, 1]] and calls[-2:] == [[0], [1]]


async def test_a_dead_letter_waits_out_a_broker_outage() -> None:
    async def handle(batch: Batch) -> None:
        raise ValueError("poison")

    sender = _Sender(failures=[KafkaConnectionError("broker down")] * 3)
    body, stage, sleeps = _body("dlq-outage", handle, sender)
    await body([_message(4)])
    assert len(sender.sent) == 1 and stage.paused_for is None
    assert sum(sleeps.paused_while_waiting) == 3


async def test_a_revoked_partition_abandons_the_batch_without_dead_letters() -> None:
    async def handle(batch: Batch) -> None:
        raise Revoked("partition 0 was revoked")

    sender = _Sender()
    body, _, _ = _body("revoked", handle, sender)
    with pytest.raises(Revoked):
        await body([_message(0), _message(1)])
    assert sender.sent == []
