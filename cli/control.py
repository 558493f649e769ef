"""Talking to a running pipeline: register feeds, request runs, read their reports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas import topics
from schemas.codec import CODEC
from schemas.records import FeedRequested, RequestReason
from schemas.report import ExecutionReport
from services.shared.durability import DURABLE_PRODUCER
from services.shared.postgres import set_json_codecs


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await set_json_codecs(conn)
    return conn


async def ensure_feed(
    dsn: str,
    *,
    name: str,
    source_url: str,
    mapping: Mapping[str, Any] | None = None,
    company_name: str | None = None,
    bypass_filters: bool = False,
) -> int:
    """The id of the feed with this name, created (or its source updated) as given."""
    conn = await connect(dsn)
    try:
        feed_id = await conn.fetchval("SELECT id FROM feeds WHERE name = $1", name)
        if feed_id is None:
            feed_id = await conn.fetchval(
                "INSERT INTO feeds (name, source_url, mapping, company_name, bypass_filters) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                name, source_url, mapping, company_name, bypass_filters,
            )  # fmt: skip
        else:
            await conn.execute(
                "UPDATE feeds SET source_url = $2, mapping = $3, bypass_filters = $4, "
                "updated_at = now() WHERE id = $1",
                feed_id, source_url, mapping, bypass_filters,
            )  # fmt: skip
        return int(feed_id)
    finally:
        await conn.close()


async def request_run(
    bootstrap: str,
    feed_id: int,
    *,
    reason: RequestReason = RequestReason.CLI,
    refresh: bool = False,
) -> str:
    """Publishes FeedRequested and waits for the broker's acknowledgement; returns the run id.
    `refresh`: every record takes the full path and bypasses the enrichment cache."""
    run_id = str(uuid.uuid4())
    record = FeedRequested(
        run_id=run_id,
        feed_id=feed_id,
        reason=reason,
        requested_at=datetime.now(UTC),
        refresh=refresh,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **DURABLE_PRODUCER)
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.FEEDS_REQUESTED.name,
            value=CODEC.encode(record, source="cli"),
            key=str(feed_id).encode(),
        )
    finally:
        await producer.stop()
    return run_id


async def wait_for_report(
    dsn: str, run_id: str, *, timeout_s: float, synced: bool = False
) -> ExecutionReport:
    """Polls the run's report until the run has finished (and, with `synced`, reached Xano)."""
    conn = await connect(dsn)
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            row = await conn.fetchrow("SELECT * FROM execution_reports WHERE run_id = $1", run_id)
            report = None if row is None else ExecutionReport.from_row(dict(row))
            if report is not None and report.finished and (report.synced or not synced):
                return report
            if asyncio.get_running_loop().time() > deadline:
                state = report.run_status if report else "not started"
                raise TimeoutError(f"run {run_id} did not finish in {timeout_s:.0f} s ({state})")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def table_counts(dsn: str, feed_id: int) -> dict[str, int]:
    """How many of the feed's jobs each of the four job tables holds."""
    conn = await connect(dsn)
    try:
        counts = {}
        for table in ("open_jobs", "manual_review_jobs", "rejected_jobs", "archive_jobs"):
            query = f"SELECT count(*) FROM {table} WHERE feed_id = $1"
            counts[table] = int(await conn.fetchval(query, feed_id))
        return counts
    finally:
        await conn.close()
