"""One job, many sources (issue #19), across the services: the same jobs through two feeds
are one job each with two sources and one Xano record; the second feed's run writes nothing
to Xano; a job leaves the board (and Xano, once) only when both feeds have dropped it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from cli import control, replay
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas.records import RunStatus
from schemas.report import ExecutionReport
from tests.e2e import router_feed as rf
from tests.e2e.test_merges_and_run_lock import _feed, _fetch
from tests.e2e.test_walking_skeleton import _xano_records

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 120.0


def _job_xml(ref: str, n: int, company: str) -> str:
    """Job `n` as feed `ref` lists it: its own reference and apply URL, the same content."""
    return (
        f"  <job>\n    <title><![CDATA[Lab Technician {n}]]></title>\n"
        f"    <date><![CDATA[2025-09-05T14:30:00Z]]></date>\n"
        f"    <referencenumber><![CDATA[{ref}-{n}]]></referencenumber>\n"
        f"    <url><![CDATA[https://{ref}.example/jobs/{n}]]></url>\n"
        f"    <company><![CDATA[{company}]]></company>\n"
        f"    <city><![CDATA[Denver]]></city>\n    <state><![CDATA[CO]]></state>\n"
        f"    <country><![CDATA[US]]></country>\n"
        f"    <description><![CDATA[<p>Run assays in lab {n}: samples, QC and reports.</p>]]>"
        f"</description>\n"
        f"    <jobtype><![CDATA[Full-time]]></jobtype>\n"
        f"    <status><![CDATA[Active]]></status>\n  </job>\n"
    )


def _write_feed(path: Path, ref: str, company: str, jobs: range | list[int]) -> Path:
    path.write_text(_feed([_job_xml(ref, n, company) for n in jobs]))
    return path


async def _feed_id(stack: StackInfo, name: str, path: Path) -> int:
    return await control.ensure_feed(
        stack.dsn, name=name, source_url=str(path), mapping=rf.MAPPING, bypass_filters=True
    )


async def _run(stack: StackInfo, feed_id: int) -> ExecutionReport:
    run_id = await control.request_run(stack.bootstrap, feed_id)
    return await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S, synced=True)


async def _replayed(stack: StackInfo, run_id: str) -> ExecutionReport:
    past = await replay.find_run(stack.dsn, run_id=run_id, feed_id=None, since=None)
    new_run = await replay.replay(
        stack.bootstrap, stack.dsn, past, replay.Stage.ROUTE, refresh=False
    )
    return await control.wait_for_report(stack.dsn, new_run, timeout_s=RUN_TIMEOUT_S, synced=True)


async def _records(config: PipelineConfig, feed_ids: tuple[int, ...]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for feed_id in feed_ids:
        found.extend(await asyncio.to_thread(_xano_records, config, feed_id))
    return sorted(found, key=lambda r: str(r.get("job_hash")))


async def _sources(dsn: str, company: str) -> dict[str, set[int]]:
    """job_hash -> the feeds listing it (not dropped), for the jobs of `company`."""
    rows = await _fetch(
        dsn,
        "SELECT s.job_hash, s.feed_id, s.dropped_run FROM job_sources s "
        "WHERE s.job_hash IN (SELECT job_hash FROM open_jobs WHERE company_name = $1 "
        "UNION ALL SELECT job_hash FROM archive_jobs WHERE company_name = $1)",
        company,
    )
    listed: dict[str, set[int]] = {}
    for r in rows:
        listed.setdefault(r["job_hash"], set())
        if r["dropped_run"] is None:
            listed[r["job_hash"]].add(r["feed_id"])
    return listed


async def _tables(dsn: str, company: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in rf.JOB_TABLES:
        rows = await _fetch(dsn, f"SELECT count(*) AS n FROM {table} WHERE company_name = $1",
                            company)  # fmt: skip
        counts[table] = int(rows[0]["n"])
    return counts


async def test_a_job_two_feeds_list_is_one_record_until_both_drop_it(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    company = f"{uuid.uuid4().hex[:8]} Assay Labs"
    feed_a = await _feed_id(stack, f"src-a-{company[:8]}",
                            _write_feed(tmp_path / "a.xml", "a", company, range(4)))  # fmt: skip
    feed_b = await _feed_id(stack, f"src-b-{company[:8]}",
                            _write_feed(tmp_path / "b.xml", "b", company, range(4)))  # fmt: skip
    both = (feed_a, feed_b)

    first = await _run(stack, feed_a)
    assert (first.run_status, first.jobs_new, first.xano_jobs_added) == (RunStatus.SUCCESS, 4, 4)
    on_board = await _records(running_pipeline, both)
    assert len(on_board) == 4

    second = await _run(stack, feed_b)
    assert second.run_status == RunStatus.SUCCESS
    assert (second.jobs_new, second.jobs_known_elsewhere, second.jobs_updated) == (0, 4, 0)
    assert (second.xano_jobs_added, second.xano_jobs_updated, second.xano_jobs_deleted) == (0,) * 3
    # the same records (ids, creation times, fields): the run wrote nothing to Xano
    assert await _records(running_pipeline, both) == on_board, "one record per job, untouched"
    sources = await _sources(stack.dsn, company)
    assert len(sources) == 4 and all(feeds == {feed_a, feed_b} for feeds in sources.values())
    stats = await _fetch(stack.dsn, "SELECT * FROM feeds WHERE id = $1", feed_b)
    assert stats[0]["last_run_jobs_known_elsewhere"] == 4

    # replaying either feed's run (from routing, as new runs) changes nothing
    for past in (second, first):
        again = await _replayed(stack, past.run_id)
        assert (again.jobs_new, again.jobs_updated, again.jobs_dropped) == (0, 0, 0)
        assert (again.xano_jobs_added, again.xano_jobs_updated, again.xano_jobs_deleted) == (0,) * 3
    assert await _records(running_pipeline, both) == on_board
    assert await _sources(stack.dsn, company) == sources

    # feed A (the owner) drops job 0: feed B still lists it, so it stays, in Xano too
    _write_feed(tmp_path / "a.xml", "a", company, range(1, 4))
    a_drops = await _run(stack, feed_a)
    assert (a_drops.jobs_dropped, a_drops.jobs_archived, a_drops.xano_jobs_deleted) == (1, 0, 0)
    assert await _tables(stack.dsn, company) == {
        "open_jobs": 4, "manual_review_jobs": 0, "rejected_jobs": 0, "archive_jobs": 0,
    }  # fmt: skip
    assert len(await _records(running_pipeline, both)) == 4

    # feed B drops it too: archived, and removed from Xano once
    _write_feed(tmp_path / "b.xml", "b", company, range(1, 4))
    b_drops = await _run(stack, feed_b)
    assert (b_drops.jobs_dropped, b_drops.jobs_archived, b_drops.xano_jobs_deleted) == (1, 1, 1)
    assert await _tables(stack.dsn, company) == {
        "open_jobs": 3, "manual_review_jobs": 0, "rejected_jobs": 0, "archive_jobs": 1,
    }  # fmt: skip
    left = await _records(running_pipeline, both)
    assert left == [r for r in on_board if r["job_hash"] in {r["job_hash"] for r in left}]
    assert len(left) == 3


async def test_two_feeds_run_at_once_give_one_job_and_one_record_each(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    company = f"{uuid.uuid4().hex[:8]} Assay Labs"
    feed_a = await _feed_id(stack, f"src-a-{company[:8]}",
                            _write_feed(tmp_path / "a.xml", "a", company, range(6)))  # fmt: skip
    feed_b = await _feed_id(stack, f"src-b-{company[:8]}",
                            _write_feed(tmp_path / "b.xml", "b", company, range(6)))  # fmt: skip
    report_a, report_b = await asyncio.gather(_run(stack, feed_a), _run(stack, feed_b))

    assert report_a.jobs_new + report_b.jobs_new == 6
    assert report_a.jobs_known_elsewhere + report_b.jobs_known_elsewhere == 6
    assert await _tables(stack.dsn, company) == {
        "open_jobs": 6, "manual_review_jobs": 0, "rejected_jobs": 0, "archive_jobs": 0,
    }  # fmt: skip
    sources = await _sources(stack.dsn, company)
    assert len(sources) == 6 and all(feeds == {feed_a, feed_b} for feeds in sources.values())
    records = await _records(running_pipeline, (feed_a, feed_b))
    assert len(records) == 6 and len({r["job_hash"] for r in records}) == 6
    assert report_a.xano_jobs_added + report_b.xano_jobs_added == 6
