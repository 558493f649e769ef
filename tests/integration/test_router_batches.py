"""The router's batched writes on real PostgreSQL: a job seen again unchanged only has its
last-seen run moved, and ends exactly as a full rewrite would leave it; anything else is
written whole, moves keep a job in one table, and numbers read as they were sent."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from cli.stack import StackInfo
from schemas.job_tables import JOB_COLUMNS, TABLES
from schemas.records import (
    EmploymentType,
    EnrichedJob,
    Enrichment,
    EnrichmentStatus,
    IngestFinished,
    JobPosting,
    Location,
    RequestReason,
    RunStarted,
    RunStatus,
    Salary,
    SalaryPeriod,
)
from schemas.report import ExecutionReport
from services.router import completion
from services.router.adapters import jobs_repository as jobs
from services.router.adapters import ledger_repository as ledger
from services.router.batch import PartFailedError, route_batch
from services.router.config import SafetyLimits, Thresholds
from services.shared import metrics
from services.shared.database import Conn, Database, PoolConnections
from services.shared.settings import Secret

pytestmark = pytest.mark.integration

THRESHOLDS = Thresholds()


@pytest.fixture(scope="module")
async def pool(stack: StackInfo) -> AsyncIterator[asyncpg.Pool]:
    db = Database(Secret(stack.dsn), min_size=1, max_size=2)
    try:
        yield await db.pool()
    finally:
        await db.close()


@pytest.fixture
async def feed_id(pool: asyncpg.Pool) -> int:
    """A feed per test: a run of one test that the routers' stall sweep completes (and so
    archives from its feed) cannot reach another test's jobs."""
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "INSERT INTO feeds (name, source_url) VALUES ('router batches', 'test://') "
                "RETURNING id"
            )
        )


def _job(
    tag: str, n: int, run_id: str, *, feed_id: int, seq: int, confidence: float
) -> EnrichedJob:
    posting = JobPosting(
        external_job_id=f"{tag}-{n}",
        title=f"Registered Nurse {n}",
        company_name=f"Batch Health {tag}",
        description_html=f"<p>Care for patients, job {n}.</p>",
        employment_type=EmploymentType.FULL_TIME,
        locations=(Location(city="Boston", state="MA", country="US"),),
        salary=Salary(min=61234.57, max=70000.1, period=SalaryPeriod.YEARLY, currency="USD"),
    )
    enrichment = Enrichment(
        ai_title=posting.title,
        ai_description="Nursing.",
        tasks=("assess patients",),
        skills=("BLS",),
        confidence=confidence,
    )
    return EnrichedJob(
        run_id=run_id,
        feed_id=feed_id,
        seq=seq,
        job_hash=f"batch-{tag}-{n}",
        job=posting,
        status=EnrichmentStatus.SUCCESS,
        enrichment=enrichment,
    )


def _run(tag: str, feed_id: int, confidences: Sequence[float]) -> list[EnrichedJob]:
    run_id = str(uuid.uuid4())
    return [
        _job(tag, n, run_id, feed_id=feed_id, seq=n, confidence=c)
        for n, c in enumerate(confidences)
    ]


async def route_run(pool: asyncpg.Pool, records: Sequence[EnrichedJob]) -> None:
    """Routes one run's records as one batch, the run opened first as the ingestor would
    (the session's routers sweep every run in the database: each must have its report)."""
    first = records[0]
    async with pool.acquire() as conn:
        await ledger.run_started(
            conn,
            RunStarted(
                run_id=first.run_id,
                feed_id=first.feed_id,
                reason=RequestReason.CLI,
                started_at=datetime.now(UTC),
            ),
        )
        await ledger.ingest_finished(
            conn,
            IngestFinished(
                run_id=first.run_id,
                feed_id=first.feed_id,
                emitted=len(records),
                parsed=len(records),
            ),
        )
    await route_batch(PoolConnections(pool), records, thresholds=THRESHOLDS)


async def _rows(pool: asyncpg.Pool, tag: str) -> dict[str, dict[str, Any]]:
    """Every stored row of the tag's jobs, by hash, with the table it is in."""
    rows: dict[str, dict[str, Any]] = {}
    async with pool.acquire() as conn:
        for table in TABLES.values():
            for r in await conn.fetch(f"SELECT * FROM {table} WHERE job_hash LIKE $1", f"%{tag}%"):
                assert r["job_hash"] not in rows, "a job lives in exactly one table"
                rows[r["job_hash"]] = dict(r) | {"table": table}
    return rows


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("last_seen_run", "updated_at")}


def _count_unchanged(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many jobs each placing statement found unchanged (recorded as it runs)."""
    counts: list[int] = []
    original = jobs.place_prepared

    async def spy(conn: Conn, placing: jobs.Placing) -> None:
        counts.append(len(placing.unchanged))
        await original(conn, placing)

    monkeypatch.setattr(jobs, "place_prepared", spy)
    return counts


async def test_a_job_seen_again_unchanged_ends_as_a_full_rewrite_would_leave_it(
    pool: asyncpg.Pool, feed_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    confidences = [95.0, 70.0, 20.0] * 3  # open, manual review, rejected
    await route_run(pool, _run(tag, feed_id, confidences))
    first = await _rows(pool, tag)
    assert len(first) == 9 and all(r["row_digest"] for r in first.values())

    unchanged = _count_unchanged(monkeypatch)
    second_run = _run(tag, feed_id, confidences)
    await route_run(pool, second_run)
    assert sum(unchanged) == 9  # no row written whole
    second = await _rows(pool, tag)
    assert {h: _comparable(r) for h, r in second.items()} == {
        h: _comparable(r) for h, r in first.items()
    }
    assert {r["last_seen_run"] for r in second.values()} == {second_run[0].run_id}

    # The same run once more, every row written whole: the same rows.
    async with pool.acquire() as conn:
        for table in TABLES.values():
            await conn.execute(
                f"UPDATE {table} SET row_digest = NULL WHERE job_hash LIKE $1", f"%{tag}%"
            )
    unchanged.clear()
    third_run = _run(tag, feed_id, confidences)
    await route_run(pool, third_run)
    assert sum(unchanged) == 0
    third = await _rows(pool, tag)
    assert {h: _comparable(r) for h, r in third.items()} == {
        h: _comparable(r) for h, r in second.items()
    }


async def test_changed_rows_and_moves_are_written_whole(
    pool: asyncpg.Pool, feed_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    tag = uuid.uuid4().hex[:8]
    await route_run(pool, _run(tag, feed_id, [95.0, 95.0, 95.0]))
    hashes = sorted(await _rows(pool, tag))
    # Someone else edits a row (and, as every writer must, drops its digest).
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE open_jobs SET title = 'edited', row_digest = NULL WHERE job_hash = $1",
            hashes[0],
        )
    unchanged = _count_unchanged(monkeypatch)
    # Job 1 moves to review (lower confidence), job 2 is unchanged.
    await route_run(pool, _run(tag, feed_id, [95.0, 70.0, 95.0]))
    assert sum(unchanged) == 1
    rows = await _rows(pool, tag)
    assert rows[hashes[0]]["title"] == "Registered Nurse 0"  # rewritten
    assert rows[hashes[1]]["table"] == "manual_review_jobs"  # moved, and only there
    assert rows[hashes[2]]["table"] == "open_jobs"


async def test_a_part_that_fails_rolls_back_alone_and_the_retry_completes_the_batch(
    pool: asyncpg.Pool, feed_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is written as parts in transactions of their own: when one fails, the batch
    fails, the other parts stay written, and routing the batch again routes each record once."""
    tag = uuid.uuid4().hex[:8]
    records = _run(tag, feed_id, [95.0, 70.0, 20.0] * 10)
    original = jobs.place_prepared
    failures = [RuntimeError("the database went away")]

    async def fail_once(conn: Conn, placing: jobs.Placing) -> None:
        if failures:
            raise failures.pop()
        await original(conn, placing)

    monkeypatch.setattr(jobs, "place_prepared", fail_once)
    with pytest.raises(PartFailedError, match="went away") as failed:
        await route_run(pool, records)
    written = await _rows(pool, tag)
    assert 0 < len(written) < len(records), "one part committed, the other rolled back"
    assert {r.job_hash for r in failed.value.committed.routed} == set(written)

    await route_batch(PoolConnections(pool), records, thresholds=THRESHOLDS)
    rows = await _rows(pool, tag)
    assert len(rows) == len(records)
    assert {h: _comparable(r) for h, r in rows.items() if h in written} == {
        h: _comparable(r) for h, r in written.items()
    }, "the part written first was not routed again"
    async with pool.acquire() as conn:
        outcomes = await conn.fetchval(
            "SELECT count(*) FROM run_outcomes WHERE run_id = $1", records[0].run_id
        )
    assert outcomes == len(records)


async def test_numbers_and_json_read_as_sent(pool: asyncpg.Pool, feed_id: int) -> None:
    tag = uuid.uuid4().hex[:8]
    await route_run(pool, _run(tag, feed_id, [87.65]))
    (row,) = (await _rows(pool, tag)).values()
    assert row["ai_confidence_score"] == Decimal("87.65")
    assert (row["salary_min"], row["salary_max"]) == (Decimal("61234.57"), Decimal("70000.1"))
    assert row["locations"] == [
        {"city": "Boston", "state": "MA", "country": "US", "postal_code": None}
    ]
    assert row["ai_job_tasks"] == ["assess patients"] and row["ai_top_tags"] == []
    assert row["_geo"] is not None and row["location_string"] == "Boston MA US"


async def test_a_run_known_only_from_its_jobs_can_still_be_closed_as_stalled(
    pool: asyncpg.Pool, feed_id: int
) -> None:
    """Outcomes that arrive without RunStarted (a dead ingestor) still leave a closable run."""
    run_id = f"orphan-{uuid.uuid4()}"
    async with pool.acquire() as conn:
        await ledger.ensure_runs(conn, {run_id: feed_id})
    labels = {"feed": str(feed_id), "status": RunStatus.FAILURE, "closed_by": "stall"}
    before = metrics.REGISTRY.get_sample_value("jobstream_runs_completed_total", labels) or 0.0
    done = await completion.complete_run(
        PoolConnections(pool), run_id, limits=SafetyLimits(), stalled_after_s=0.0
    )
    assert done is not None and done.status is RunStatus.FAILURE and done.archived == 0
    # what the "run failed or stalled" alert watches (deploy/prometheus/alerts.yml)
    assert metrics.REGISTRY.get_sample_value("jobstream_runs_completed_total", labels) == before + 1
    async with pool.acquire() as conn:
        report = await ledger.report(conn, run_id)
    assert report.run_status == RunStatus.FAILURE
    assert any("stalled" in error for error in report.error_summary)


async def test_the_report_type_has_a_field_for_every_report_column(pool: asyncpg.Pool) -> None:
    """`ExecutionReport` is the table: a migration that adds a column must add the field."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'execution_reports'"
        )
    assert {r["column_name"] for r in rows} == {f.name for f in fields(ExecutionReport)}


async def test_service_connections_never_jit_compile(pool: asyncpg.Pool) -> None:
    """While a growing table's statistics lag, plan costs swell past `jit_above_cost`: the
    location fold then spent 80 ms to 1.3 s a batch compiling itself (see SERVER_SETTINGS)."""
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW jit") == "off"


async def test_the_job_input_type_lists_the_job_columns_in_order(pool: asyncpg.Pool) -> None:
    """`job_input` (a migration) and JOB_COLUMNS (code) must not drift apart."""
    async with pool.acquire() as conn:
        names = await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'job_input'::regclass "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        )
    assert [r["attname"] for r in names] == [*JOB_COLUMNS, "row_digest"]


async def test_the_four_job_tables_have_the_same_columns(pool: asyncpg.Pool) -> None:
    """A move copies a job's row between tables by JOB_COLUMNS: a migration that changes one
    job table must change all four alike (0001 creates them from one definition)."""
    shapes = set()
    async with pool.acquire() as conn:
        for table in TABLES.values():
            rows = await conn.fetch(
                "SELECT column_name, data_type, is_nullable, "
                "replace(column_default, $1, 'TABLE') AS column_default "
                "FROM information_schema.columns WHERE table_name = $1 ORDER BY column_name",
                table,
            )
            shapes.add(tuple(tuple(row) for row in rows))
    assert len(shapes) == 1
    (columns,) = shapes
    assert {name for name, *_ in columns} >= {"id", *JOB_COLUMNS, "row_digest", "updated_at"}
