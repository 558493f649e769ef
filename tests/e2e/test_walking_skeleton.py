"""The sample feed through all four services on the real broker and database, into Xano."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cli import control
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from schemas import topics
from schemas.codec import CODEC
from schemas.records import DeadLetter, RequestReason, RunStarted, RunStatus
from schemas.report import ExecutionReport
from schemas.status import RunState, SyncStatus

pytestmark = pytest.mark.e2e

SAMPLE_FEED = PROJECT_ROOT / "examples" / "feeds" / "sample-feed.xml"
SAMPLE_MAPPING = json.loads(
    (PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json").read_text()
)
RUN_TIMEOUT_S = 120.0


def _xano_records(config: PipelineConfig, feed_id: int) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{config.xano_port}/__admin/records?feed_id={feed_id}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    return list(body["records"] if isinstance(body, dict) else body)


def _own_copy_of_the_sample(tmp_path: Path) -> Path:
    """The sample with this test's own company names: job identity is content, so two tests
    running the same content would share (and move) the same job rows."""
    tag = uuid.uuid4().hex[:8]
    copy = tmp_path / f"sample-{tag}.xml"
    # Only non-empty names: the empty shell must stay empty.
    text = re.sub(r"(<company>(?:<!\[CDATA\[)?)(?=\w)", rf"\g<1>{tag} ", SAMPLE_FEED.read_text())
    copy.write_text(text)
    return copy


async def _run_sample(stack: StackInfo, tmp_path: Path) -> tuple[int, ExecutionReport]:
    feed = _own_copy_of_the_sample(tmp_path)
    feed_id = await control.ensure_feed(
        stack.dsn, name=feed.stem, source_url=str(feed), mapping=SAMPLE_MAPPING
    )
    run_id = await control.request_run(stack.bootstrap, feed_id)
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S, synced=True)
    return feed_id, report


async def test_the_sample_feed_reaches_postgres_and_xano(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    feed_id, report = await _run_sample(stack, tmp_path)
    conn = await asyncpg.connect(stack.dsn)
    try:
        run = await conn.fetchrow("SELECT * FROM runs WHERE run_id = $1", report.run_id)
        outcomes = {
            r["outcome"]: r["n"]
            for r in await conn.fetch(
                "SELECT outcome, count(*) AS n FROM run_outcomes WHERE run_id = $1 GROUP BY 1",
                report.run_id,
            )
        }
        open_rows = await conn.fetch(
            "SELECT job_hash, title, locations FROM open_jobs WHERE feed_id = $1", feed_id
        )
        placed = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table} WHERE feed_id = $1", feed_id)
            for table in ("open_jobs", "manual_review_jobs", "rejected_jobs")
        }
    finally:
        await conn.close()

    # Every record the ingestor emitted has exactly one recorded outcome.
    assert run is not None
    assert run["status"] == RunState.COMPLETED
    assert sum(outcomes.values()) == run["emitted"] == report.total_in_feed == 7
    assert report.malformed_records == 2  # the </titel> record and the empty shell
    assert outcomes["closed"] == 1  # "Expired"
    assert outcomes["merged"] == 1  # Austin + Denver: one job, two locations
    routed = outcomes.get("approved", 0) + outcomes.get("manual_review", 0)
    routed += outcomes.get("rejected", 0)
    assert routed == 5
    assert placed["open_jobs"] == outcomes.get("approved", 0)
    assert placed["manual_review_jobs"] == outcomes.get("manual_review", 0)
    assert placed["rejected_jobs"] == outcomes.get("rejected", 0) + outcomes["closed"]

    analyst = [r for r in open_rows if r["title"] == "Senior Data Analyst"]
    assert len(analyst) == 1
    cities = sorted(loc["city"] for loc in json.loads(analyst[0]["locations"]))
    assert cities == ["Austin", "Denver"]
    assert any("Registered Nurse" in r["title"] for r in open_rows)

    # Xano mirrors open_jobs exactly, and says so in the report.
    xano = _xano_records(running_pipeline, feed_id)
    assert sorted(r["job_hash"] for r in xano) == sorted(r["job_hash"] for r in open_rows)
    assert report.xano_status == SyncStatus.SYNCED
    assert report.xano_jobs_added == len(open_rows)
    assert report.run_status == RunStatus.PARTIAL  # a malformed record is worth a look


async def test_a_second_run_of_the_same_feed_enriches_nothing_again(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    feed_id, first = await _run_sample(stack, tmp_path)
    run_id = await control.request_run(stack.bootstrap, feed_id)
    second = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S, synced=True)
    # every record but the closed one is unchanged (issue 15): not even the cache is asked
    placed = first.jobs_auto_approved + first.jobs_manual_review + first.jobs_rejected
    assert second.jobs_unchanged == placed + first.skipped_duplicate
    assert second.skipped_closed == first.skipped_closed
    assert second.cache_hits == second.api_calls_gemini == 0
    assert second.jobs_archived == 0
    assert (second.xano_jobs_added, second.xano_jobs_deleted) == (0, 0)
    assert len(_xano_records(running_pipeline, feed_id)) == first.jobs_auto_approved


async def test_an_unknown_feed_closes_its_run_as_a_failure_with_the_reason(
    stack: StackInfo, running_pipeline: PipelineConfig
) -> None:
    run_id = await control.request_run(stack.bootstrap, 987_654_321)
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)
    assert report.run_status == RunStatus.FAILURE
    assert any("987654321 does not exist" in e for e in report.error_summary)
    assert report.jobs_archived == 0


async def test_a_run_that_stops_making_progress_is_closed_as_a_failure(
    stack: StackInfo, running_pipeline: PipelineConfig
) -> None:
    # A run whose ingestor died before IngestFinished: only RunStarted ever arrives.
    started = RunStarted(
        run_id=str(uuid.uuid4()),
        feed_id=424_242,
        reason=RequestReason.CLI,
        started_at=datetime.now(UTC),
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
    await producer.start()
    try:
        value = CODEC.encode(started, source="test")
        await producer.send_and_wait(topics.RUNS_EVENTS.name, value=value, key=b"k")
    finally:
        await producer.stop()
    report = await control.wait_for_report(stack.dsn, started.run_id, timeout_s=RUN_TIMEOUT_S)
    assert report.run_status == RunStatus.FAILURE
    assert any("stalled" in e for e in report.error_summary)
    assert report.jobs_archived == 0


async def test_an_undecodable_message_lands_on_the_dead_letter_topic(
    stack: StackInfo, running_pipeline: PipelineConfig
) -> None:
    dlq = topics.JOBS_RAW.dead_letter
    assert dlq is not None
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(dlq, 0)
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        await consumer.position(partition)
        marker = f"garbage-{uuid.uuid4().hex}".encode()
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topics.JOBS_RAW.name, value=marker, key=b"k")
        finally:
            await producer.stop()
        letter = await asyncio.wait_for(_next_dead_letter(consumer, marker), timeout=60)
    finally:
        await consumer.stop()
    assert letter.topic == topics.JOBS_RAW.name
    assert letter.raw == marker
    assert letter.error.startswith("malformed: not JSON")


async def _next_dead_letter(consumer: AIOKafkaConsumer, marker: bytes) -> DeadLetter:
    async for message in consumer:
        record = CODEC.decode(message.value)
        if isinstance(record, DeadLetter) and record.raw == marker:
            return record
    raise AssertionError("the consumer stopped")
