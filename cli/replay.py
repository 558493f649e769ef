"""Replay: a stage and everything after it reprocess a past run from retained topic data.

A replay is a new run (reason `replay`) of the same feed. It re-publishes the past run's
records from the topic that feeds the chosen stage (`jobs.deduped` for enrich, `jobs.enriched`
for route) under the new run id, then `IngestFinished` with their count, so the run ledger
closes it like any other run. Feeds are not fetched again; `refresh` bypasses the enrichment
cache (after a prompt, taxonomy or profile change). Replaying twice makes two harmless runs.

A replay takes the feed's run lock as a trigger does: it waits while a run of the feed is in
progress, and triggers wait (409) while it runs. It never archives: it reprocesses an old
snapshot, which says nothing about which jobs the feed lists today.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas import topics
from schemas.codec import CODEC, DecodeError
from schemas.records import (
    DedupedJob,
    EnrichedJob,
    IngestFinished,
    JobMerged,
    JobsUnchanged,
    Record,
    RequestReason,
    RunStarted,
)
from schemas.topics import TopicSpec
from services.api.adapters import runs_repository as runs
from services.shared.durability import DURABLE_PRODUCER
from services.shared.partitioner import partition_for
from services.shared.streaming import COMPRESSION
from services.shared.topic_admin import list_topics


class Stage(StrEnum):
    ENRICH = "enrich"
    ROUTE = "route"


SOURCE_TOPIC: dict[Stage, TopicSpec] = {
    Stage.ENRICH: topics.JOBS_DEDUPED,
    Stage.ROUTE: topics.JOBS_ENRICHED,
}


class ReplayError(RuntimeError):
    """The run to replay cannot be found, or its retained records are incomplete."""


@dataclass(frozen=True, slots=True)
class PastRun:
    run_id: str
    feed_id: int
    started_at: datetime
    emitted: int
    ingest: IngestFinished


@dataclass(frozen=True, slots=True)
class Keyed:
    key: bytes
    record: Record


def rerun(records: Sequence[Keyed], run_id: str, *, refresh: bool) -> list[Keyed]:
    """The past run's records under the new run id (one per original record, by seq)."""
    by_seq: dict[int, Keyed] = {}
    for item in records:
        record = item.record
        if isinstance(record, JobsUnchanged):  # records the run left as they were
            by_seq[record.seqs[0]] = Keyed(item.key, record.model_copy(update={"run_id": run_id}))
        elif isinstance(record, DedupedJob | EnrichedJob | JobMerged):
            changes: dict[str, Any] = {"run_id": run_id}
            if isinstance(record, DedupedJob):
                changes["refresh"] = refresh
            by_seq[record.seq] = Keyed(item.key, record.model_copy(update=changes))
    return [by_seq[seq] for seq in sorted(by_seq)]


async def replay(
    bootstrap: str,
    dsn: str,
    past: PastRun,
    stage: Stage,
    *,
    refresh: bool,
    wait_s: float = 1800.0,
    on_wait: Callable[[str], None] | None = None,
) -> str:
    """Replays `past` from `stage` on, once the feed has no run in progress (waiting up to
    `wait_s`, telling `on_wait` which run it waits for); returns the new run's id."""
    spec = SOURCE_TOPIC[stage]
    run_id = str(uuid.uuid4())
    fresh = rerun(await read_run(bootstrap, spec, past), run_id, refresh=refresh)
    check_complete(fresh, past)
    await claim_feed(dsn, past.feed_id, run_id, wait_s=wait_s, on_wait=on_wait)
    try:
        await publish(bootstrap, spec, past, run_id, fresh)
    except BaseException:
        await release_unstarted(dsn, run_id)
        raise
    return run_id


async def claim_feed(
    dsn: str,
    feed_id: int,
    run_id: str,
    *,
    wait_s: float,
    on_wait: Callable[[str], None] | None = None,
    poll_s: float = 1.0,
) -> None:
    """The feed's run lock, as the API's trigger takes it: once no run of the feed is in
    progress, the replay's run is recorded as the one in progress (reason `replay`)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            async with conn.transaction():
                await runs.lock_feed(conn, feed_id)
                running = await runs.running_run(conn, feed_id)
                if running is None:
                    await runs.insert_run(conn, run_id, feed_id, RequestReason.REPLAY.value)
                    return
            if asyncio.get_running_loop().time() >= deadline:
                raise ReplayError(
                    f"feed {feed_id} still has run {running} in progress after {wait_s:.0f} s: "
                    "nothing was replayed"
                )
            if on_wait is not None:
                on_wait(running)
            await asyncio.sleep(poll_s)
    finally:
        await conn.close()


async def release_unstarted(dsn: str, run_id: str) -> None:
    """A replay that failed before its records went out leaves no run in progress behind."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "DELETE FROM runs WHERE run_id = $1 AND status = 'RUNNING' AND emitted IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM run_outcomes WHERE run_id = $1)",
            run_id,
        )
    finally:
        await conn.close()


def check_complete(records: Sequence[Keyed], past: PastRun) -> None:
    retained = sum(_records_in(item.record) for item in records)
    if retained != past.emitted:
        raise ReplayError(
            f"run {past.run_id} emitted {past.emitted} records but {retained} are retained "
            "on the topic (retention may have dropped some, or the run left records unchanged "
            "since the feed's last run, which never reached this stage: replay --stage route, "
            "or trigger the feed with --refresh): nothing was replayed"
        )


def _records_in(record: Record) -> int:
    return len(record.seqs) if isinstance(record, JobsUnchanged) else 1


async def find_run(
    dsn: str, *, run_id: str | None, feed_id: int | None, since: datetime | None
) -> PastRun:
    """The run to replay: by id, or the feed's latest completed run (started after `since`)."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT run_id, feed_id, started_at, emitted, ingest::text AS ingest FROM runs "
            "WHERE status = 'COMPLETED' AND emitted IS NOT NULL "
            "AND ($1::text IS NULL OR run_id = $1) AND ($2::int IS NULL OR feed_id = $2) "
            "AND ($3::timestamptz IS NULL OR started_at >= $3) "
            "ORDER BY started_at DESC LIMIT 1",
            run_id,
            feed_id,
            since,
        )
    finally:
        await conn.close()
    if row is None:
        raise ReplayError("no completed run matches (runs still in progress cannot be replayed)")
    ingest = IngestFinished.model_validate_json(row["ingest"])
    return PastRun(row["run_id"], row["feed_id"], row["started_at"], row["emitted"], ingest)


async def read_run(bootstrap: str, spec: TopicSpec, past: PastRun) -> list[Keyed]:
    """Every record of the past run retained on `spec`, read from the run's start onwards."""
    # the broker's count, not the catalogue's: KAFKA_JOB_PARTITIONS may have sized the topic
    count = (await list_topics(bootstrap)).get(spec.name, spec.partitions)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(spec.name, p) for p in range(count)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times(
            dict.fromkeys(partitions, int(past.started_at.timestamp() * 1000))
        )
        found: list[Keyed] = []
        for tp in partitions:
            start = starts.get(tp)
            if start is None:
                continue  # nothing written to this partition since the run started
            consumer.seek(tp, start.offset)
            found.extend(await _read_partition(consumer, tp, ends[tp], past.run_id))
        return found
    finally:
        await consumer.stop()


async def _read_partition(
    consumer: AIOKafkaConsumer, tp: TopicPartition, end: int, run_id: str
) -> list[Keyed]:
    found: list[Keyed] = []
    while await consumer.position(tp) < end:
        batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
        for message in batch.get(tp, []):
            try:
                record = CODEC.decode(message.value)
            except DecodeError:
                continue  # unreadable messages were dead-lettered the first time round
            if getattr(record, "run_id", None) == run_id:
                found.append(Keyed(message.key or b"", record))
    return found


async def publish(
    bootstrap: str, spec: TopicSpec, past: PastRun, run_id: str, fresh: Sequence[Keyed]
) -> None:
    """Publishes the records as run `run_id`: RunStarted, the records, IngestFinished."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        **DURABLE_PRODUCER,
        compression_type=COMPRESSION,
        partitioner=partition_for,
    )
    await producer.start()
    try:
        await _send(producer, topics.RUNS_EVENTS, run_id.encode(), _started(run_id, past))
        for item in fresh:
            await producer.send(
                spec.name, value=CODEC.encode(item.record, source="replay"), key=item.key
            )
        await producer.flush()
        finished = past.ingest.model_copy(update={"run_id": run_id, "emitted": len(fresh)})
        await _send(producer, topics.RUNS_EVENTS, run_id.encode(), finished)
    finally:
        await producer.stop()


async def _send(producer: AIOKafkaProducer, spec: TopicSpec, key: bytes, record: Record) -> None:
    await producer.send_and_wait(spec.name, value=CODEC.encode(record, source="replay"), key=key)


def _started(run_id: str, past: PastRun) -> RunStarted:
    return RunStarted(
        run_id=run_id,
        feed_id=past.feed_id,
        reason=RequestReason.REPLAY,
        started_at=datetime.now(UTC),
    )
