"""The shared agent body: a bad record is dead-lettered alone, the rest of its batch goes on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from schemas import topics
from schemas.codec import CODEC
from schemas.records import DeadLetter, JobPosting, RawJob, Record
from schemas.topics import TopicSpec
from services.shared import streaming


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes


@dataclass
class _Event:
    message: _Message

    @property
    def value(self) -> bytes:
        return self.message.value


@dataclass
class _Stream:
    """Hands out the given batches, as Faust's take_events does."""

    batches: list[list[_Event]]

    async def take_events(self, size: int, within: float) -> AsyncIterator[list[_Event]]:
        for batch in self.batches:
            yield batch


@dataclass
class _Publisher:
    sent: list[tuple[str, Record]] = field(default_factory=list)

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None:
        self.sent.append((spec.name, record))


def _event(seq: int) -> _Event:
    raw = RawJob(
        run_id="r", feed_id=1, seq=seq, job_hash=f"h{seq}", dedupe_key="k", job=JobPosting()
    )
    value = CODEC.encode(raw, source="test")
    return _Event(_Message(topics.JOBS_RAW.name, 0, seq, b"k", value))


async def test_a_failing_record_is_dead_lettered_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_sleep(_: float) -> None:
        return None

    monkeypatch.setattr("services.shared.streaming.asyncio.sleep", no_sleep)
    handled: list[int] = []

    async def handle(batch: streaming.Batch) -> None:
        seqs = [record.seq for _, record in batch if isinstance(record, RawJob)]
        if 1 in seqs:
            raise ValueError("record 1 breaks every batch it is in")
        handled.extend(seqs)

    publisher: Any = _Publisher()
    stream: Any = _Stream([[_event(0), _event(1), _event(2)]])
    await streaming.process_batches(
        stream,
        publisher,
        handle,
        size=10,
        within_s=0.1,
        what="test",
    )
    assert handled == [0, 2]
    assert [name for name, _ in publisher.sent] == [topics.JOBS_RAW.dead_letter]
    letter = publisher.sent[0][1]
    assert isinstance(letter, DeadLetter)
    assert letter.offset == 1 and "record 1 breaks" in letter.error


async def test_an_undecodable_message_is_dead_lettered_and_the_batch_goes_on() -> None:
    handled: list[int] = []

    async def handle(batch: streaming.Batch) -> None:
        handled.extend(record.seq for _, record in batch if isinstance(record, RawJob))

    garbage = _Event(_Message(topics.JOBS_RAW.name, 0, 7, b"k", b"\xff not an envelope"))
    publisher: Any = _Publisher()
    stream: Any = _Stream([[_event(0), garbage, _event(2)]])
    await streaming.process_batches(
        stream,
        publisher,
        handle,
        size=10,
        within_s=0.1,
        what="test",
    )
    assert handled == [0, 2]
    letter = publisher.sent[0][1]
    assert isinstance(letter, DeadLetter) and letter.raw == garbage.value
    assert letter.error.startswith("malformed")
