"""Router acceptance on the real broker and database: every route, archiving, redelivery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from cli import control
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas import topics
from schemas.records import Location, RunStatus
from schemas.report import ExecutionReport
from schemas.status import JobStatus
from services.router.geo import job_geo
from tests.e2e import router_feed as rf

pytestmark = pytest.mark.e2e

REMOVED = ("HLF-8", "SIP-26", "BWT-30")  # Marketing Manager (Atlanta), Financial Analyst, Help Desk
REMOVED_TITLES = {"Marketing Manager": "Atlanta GA US", "Financial Analyst": "Hartford CT US",
                  "Help Desk Support Technician": "Tampa FL US"}  # fmt: skip
_CA = Location(state="CA", country="US")
CLOSED = "NWR-4"  # Data Analyst (Chicago): "Filled" in the second run


def _expected_after_run_2(reason_archived: str) -> dict[str, list[rf.Row]]:
    """Run 1's tables with the three removed jobs archived and the closed one rejected."""
    expected: dict[str, list[rf.Row]] = {t: [] for t in rf.JOB_TABLES}
    for table, rows in rf.EXPECTED_RUN_1.items():
        for title, status, reason, where in rows:
            if REMOVED_TITLES.get(title) == where:
                expected["archive_jobs"].append((title, JobStatus.ARCHIVED, reason_archived, where))
            elif title == "Data Analyst":
                expected["rejected_jobs"].append((title, JobStatus.REJECTED, "closed", where))
            else:
                expected[table].append((title, status, reason, where))
    return {t: sorted(rows) for t, rows in expected.items()}


async def test_every_route_lands_in_its_table(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id, report = await rf.run_feed(stack, copy, copy.write("run1"))

    fields = rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag)
    assert fields == rf.EXPECTED_RUN_1
    assert _counters(report) == {
        "run_status": RunStatus.PARTIAL,  # the malformed record is worth a look
        "total_in_feed": 29, "malformed_records": 1, "skipped_closed": 2,
        "skipped_duplicate": 5, "skipped_duplicate_initial_aggregation": 5,
        "skipped_duplicate_ai_aggregation": 0, "records_failed": 0,
        "jobs_auto_approved": 9, "jobs_manual_review": 6, "jobs_rejected": 7,
        "jobs_archived": 0, "archive_skipped_reason": None,
    }  # fmt: skip
    assert await rf.completions(stack.bootstrap, report.run_id) == 1

    conn = await control.connect(stack.dsn)
    try:
        outcomes: dict[str, int] = dict(
            await conn.fetch(  # type: ignore[arg-type]
                "SELECT outcome, count(*) FROM run_outcomes WHERE run_id = $1 GROUP BY 1",
                report.run_id,
            )
        )
        analyst = await conn.fetchrow(
            "SELECT locations, is_multi_location FROM open_jobs "
            "WHERE feed_id = $1 AND title = 'Senior Data Analyst'",
            feed_id,
        )
        points = {
            r["title"]: r["_geo"]
            for r in await conn.fetch(
                "SELECT title, _geo FROM open_jobs WHERE feed_id = $1 UNION ALL "
                "SELECT title, _geo FROM manual_review_jobs WHERE feed_id = $1",
                feed_id,
            )
        }
    finally:
        await conn.close()
    # One outcome per record; duplicates and merges are outcomes, not rows.
    assert outcomes == {"approved": 9, "manual_review": 6, "rejected": 7, "closed": 2,
                        "duplicate": 2, "merged": 3}  # fmt: skip
    assert analyst is not None and analyst["is_multi_location"]
    locations = analyst["locations"]
    locations = json.loads(locations) if isinstance(locations, str) else locations
    assert [(loc["city"], loc["state"]) for loc in locations] == [
        ("Austin", "TX"),
        ("Denver", "CO"),
    ]
    # One point per job: its city; a state shared by all its locations; else its country.
    boston = points["Registered Nurse - Cardiac ICU"]
    assert (round(boston["lat"], 2), round(boston["lng"], 2)) == (42.36, -71.06)
    assert points["Customer Support Specialist (Remote, Part Time)"] == job_geo([_CA])
    us_centre = job_geo([])
    assert points["Senior Data Analyst"] == us_centre  # merged: Texas and Colorado
    assert points["Customer Support Specialist"] == us_centre  # merged: ID, OR and WA


async def test_later_runs_archive_what_left_the_feed_and_only_when_safe(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id, first = await rf.run_feed(stack, copy, copy.write("run1"))
    before = await _rows_by_hash(stack.dsn, feed_id)

    second_text = rf.closing_job(rf.without_jobs(copy.text, REMOVED), CLOSED)
    _, second = await rf.run_feed(stack, copy, copy.write("run2", second_text))
    after = rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag)
    assert after == _expected_after_run_2("not in the feed")
    # Every other record's dedupe group is as run 1 left it: unchanged, so it is not
    # enriched or routed again (issue 15); the closed ones take the full path.
    assert _counters(second) | {"run_status": "any"} == _counters(first) | {
        "run_status": "any", "total_in_feed": 26, "skipped_closed": 3,
        "skipped_duplicate": 0, "skipped_duplicate_initial_aggregation": 0,
        "jobs_auto_approved": 0, "jobs_manual_review": 0, "jobs_rejected": 0,
        "jobs_archived": 3,
    }  # fmt: skip
    assert second.jobs_unchanged == 26 - 3
    assert second.jobs_closed == 3  # the original's name for the archived count
    # Nothing else changed: every other job's row is as run 1 left it (bar its last run).
    moved = await _rows_by_hash(stack.dsn, feed_id)
    changed = {h for h in before if _comparable(before[h]) != _comparable(moved[h])}
    titles = sorted(moved[h]["title"] for h in changed)
    assert titles == ["Data Analyst", "Financial Analyst", "Help Desk Support Technician",
                      "Marketing Manager"]  # fmt: skip
    assert all(moved[h]["last_seen_run"] == first.run_id for h in changed - _closed(moved))

    # An empty feed (a failed read: no record element, never "0 jobs, ok") and a truncated
    # one archive nothing, and their reports say why.
    _, empty = await rf.run_feed(stack, copy, copy.write("empty", rf.EMPTY_FEED))
    assert (empty.total_in_feed, empty.jobs_archived) == (0, 0)
    assert empty.run_status == RunStatus.FAILURE
    assert (empty.archive_skipped_reason or "").startswith("fetch failed: no_records: ")
    assert any("no record element found" in error for error in empty.error_summary)

    _, cut = await rf.run_feed(
        stack, copy, copy.write_truncated("cut", second_text, keep_share=0.5)
    )
    assert cut.jobs_archived == 0
    assert 0 < cut.total_in_feed < 26
    assert cut.run_status == RunStatus.PARTIAL
    assert (cut.archive_skipped_reason or "").startswith("fetch truncated: ")
    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == after


async def test_redelivered_enriched_messages_change_nothing(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id, first = await rf.run_feed(stack, copy, copy.write("run1"))
    second_text = rf.closing_job(rf.without_jobs(copy.text, REMOVED), CLOSED)
    _, second = await rf.run_feed(stack, copy, copy.write("run2", second_text))
    runs = (first.run_id, second.run_id)
    await rf.wait_until_router_caught_up(stack.bootstrap)
    before = await rf.snapshot(stack.dsn, feed_id, runs)

    # Both runs' messages, twice: the latest run's and an earlier, already archived-over one.
    messages = [m for run_id in runs for m in await rf.enriched_messages(stack.bootstrap, run_id)]
    # one per record (merges and duplicates pass this way too); run 2's unchanged records
    # are entries of one JobsUnchanged message, its closed ones travel in full
    assert len(messages) == 29 + 3 + 1
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    await producer.start()
    try:
        for _ in range(2):
            for key, value in messages:
                await producer.send(topics.JOBS_ENRICHED.name, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    await rf.wait_until_router_caught_up(stack.bootstrap)

    assert await rf.snapshot(stack.dsn, feed_id, runs) == before
    for run_id in runs:
        assert await rf.completions(stack.bootstrap, run_id) == 1


def _counters(report: ExecutionReport) -> dict[str, Any]:
    names = (
        "run_status", "total_in_feed", "malformed_records", "skipped_closed",
        "skipped_duplicate", "skipped_duplicate_initial_aggregation",
        "skipped_duplicate_ai_aggregation", "records_failed", "jobs_auto_approved",
        "jobs_manual_review", "jobs_rejected", "jobs_archived", "archive_skipped_reason",
    )  # fmt: skip
    return {n: getattr(report, n) for n in names}


async def _rows_by_hash(dsn: str, feed_id: int) -> dict[str, dict[str, Any]]:
    conn = await control.connect(dsn)
    try:
        rows: dict[str, dict[str, Any]] = {}
        for table in rf.JOB_TABLES:
            for r in await conn.fetch(f"SELECT * FROM {table} WHERE feed_id = $1", feed_id):
                rows[r["job_hash"]] = dict(r)
        return rows
    finally:
        await conn.close()


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("last_seen_run", "updated_at")}


def _closed(rows: dict[str, dict[str, Any]]) -> set[str]:
    return {h for h, r in rows.items() if r["route_reason"] == "closed"}
