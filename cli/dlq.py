"""Dead letters: read them back, and put them on their source topic again after a fix.

A dead-letter topic holds each message a service could not process, whole, with the reason
(`schemas.records.DeadLetter`). `redrive` republishes the original bytes with the original
key to the partition they came from, so the service handles them as if they had just
arrived; it records each letter it re-drove (`dead_letter_redrives`) and never re-drives a
letter twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cli import control
from schemas import topics
from schemas.codec import CODEC, DecodeError
from schemas.records import DeadLetter
from schemas.topics import TopicSpec
from services.shared.durability import DURABLE_PRODUCER
from services.shared.partitioner import partition_for
from services.shared.streaming import COMPRESSION


class DlqError(RuntimeError):
    """A dead-letter operation the user asked for cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Letter:
    """One dead letter, where it sits, and what the service had been given."""

    dlq_topic: str
    dlq_offset: int
    letter: DeadLetter
    run_id: str | None
    record_type: str | None  # None when the original message cannot be decoded
    redriven: bool = False


def dead_letter_topics(topic: str | None) -> list[TopicSpec]:
    """All dead-letter topics, or the one for `topic` (a source or a dead-letter topic)."""
    if topic is None:
        return list(topics.DEAD_LETTER_TOPICS)
    for spec in topics.DEAD_LETTER_TOPICS:
        if topic in (spec.name, spec.name.removesuffix(".dlq")):
            return [spec]
    names = ", ".join(s.name for s in topics.DEAD_LETTER_TOPICS)
    raise DlqError(f"no dead-letter topic for {topic!r} (one of {names})")


async def read_letters(
    bootstrap: str, dsn: str, *, topic: str | None = None, run_id: str | None = None
) -> list[Letter]:
    """Every letter on the chosen topics (of `run_id`, if given), oldest first per topic."""
    specs = dead_letter_topics(topic)
    found = await _read(bootstrap, specs)
    redriven = await _redriven(dsn)
    return [
        replace(letter, redriven=(letter.dlq_topic, letter.dlq_offset) in redriven)
        for letter in found
        if run_id is None or letter.run_id == run_id
    ]


async def _read(bootstrap: str, specs: Sequence[TopicSpec]) -> list[Letter]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(spec.name, p) for spec in specs for p in range(spec.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        letters: list[Letter] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=1000)
            for messages in fetched.values():
                letters.extend(_letter(m.topic, m.offset, m.value or b"") for m in messages)
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return sorted(letters, key=lambda letter: (letter.dlq_topic, letter.dlq_offset))
    finally:
        await consumer.stop()


def _letter(dlq_topic: str, offset: int, value: bytes) -> Letter:
    record = CODEC.decode(value)
    if not isinstance(record, DeadLetter):
        raise DlqError(f"{dlq_topic}@{offset} holds a {record.TYPE}, not a DeadLetter")
    try:
        original = CODEC.decode(record.raw)
    except DecodeError:
        return Letter(dlq_topic, offset, record, None, None)
    return Letter(dlq_topic, offset, record, getattr(original, "run_id", None), original.TYPE)


async def _redriven(dsn: str) -> set[tuple[str, int]]:
    conn = await control.connect(dsn)
    try:
        rows = await conn.fetch("SELECT dlq_topic, dlq_offset FROM dead_letter_redrives")
        return {(r["dlq_topic"], r["dlq_offset"]) for r in rows}
    finally:
        await conn.close()


async def redrive(bootstrap: str, dsn: str, letters: Sequence[Letter]) -> list[Letter]:
    """Puts each letter not yet re-driven back where it came from; returns those it sent.

    A letter is recorded once the broker has acknowledged it: a redrive cut short sends the
    unrecorded ones again next time (the services handle a record twice as once).
    """
    todo = [letter for letter in letters if not letter.redriven]
    if not todo:
        return []
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **DURABLE_PRODUCER,
        compression_type=COMPRESSION,
        partitioner=partition_for,
    )
    await producer.start()
    conn = await control.connect(dsn)
    sent: list[Letter] = []
    try:
        for letter in todo:
            dead = letter.letter
            await producer.send_and_wait(
                dead.topic, dead.raw, key=dead.key, partition=dead.partition
            )
            inserted = await conn.fetchval(
                "INSERT INTO dead_letter_redrives (dlq_topic, dlq_offset, source_topic, "
                "source_partition, source_offset, run_id) VALUES ($1, $2, $3, $4, $5, $6) "
                "ON CONFLICT DO NOTHING RETURNING true",
                letter.dlq_topic,
                letter.dlq_offset,
                dead.topic,
                dead.partition,
                dead.offset,
                letter.run_id,
            )
            if inserted:
                sent.append(letter)
    finally:
        await conn.close()
        await producer.stop()
    return sent
