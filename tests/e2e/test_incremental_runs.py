"""Incremental re-runs (issue 15): what the feed's last run processed as it is is not enriched,
routed or written again; what changed is, in full; removed jobs still archive; a refresh, or a
new enrichment or routing version, processes everything again."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cli import control, replay
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas.codec import CODEC
from schemas.records import EnrichedJob, JobsUnchanged, RunStatus
from schemas.report import ExecutionReport
from services.shared import versions
from tests.e2e import router_feed as rf
from tests.e2e.test_merges_and_run_lock import _fetch

pytestmark = pytest.mark.e2e

# router-30 (tests/e2e/router_feed.py): 29 records, 2 closed. Closed records always take the
# full path; every other record's group is settled after a run.
RECORDS, CLOSED = 29, 2
LIVE = ("open_jobs", "manual_review_jobs", "rejected_jobs")
MOVES_EACH_RUN = {"last_seen_run", "updated_at"}


async def _run(
    stack: StackInfo, feed_id: int, *, refresh: bool = False
) -> tuple[str, ExecutionReport]:
    run_id = await control.request_run(stack.bootstrap, feed_id, refresh=refresh)
    report = await control.wait_for_report(
        stack.dsn, run_id, timeout_s=rf.RUN_TIMEOUT_S, synced=True
    )
    return run_id, report


async def _feed(stack: StackInfo, copy: rf.FeedCopy, path: Path, name: str = "incr") -> int:
    return await control.ensure_feed(
        stack.dsn, name=f"{name}-{copy.tag}", source_url=str(path), mapping=rf.MAPPING
    )


async def _rows(dsn: str, feed_id: int) -> dict[str, dict[str, dict[str, Any]]]:
    """Each job table's rows of the feed by hash, and their locations."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for table in rf.JOB_TABLES:
        rows = await _fetch(dsn, f"SELECT * FROM {table} WHERE feed_id = $1", feed_id)
        found[table] = {r["job_hash"]: r for r in rows}
    hashes = [h for rows in found.values() for h in rows]
    locations = await _fetch(
        dsn, "SELECT * FROM job_locations WHERE job_hash = ANY($1::text[])", hashes
    )
    found["job_locations"] = {f"{r['job_hash']}|{r['location_key']}": r for r in locations}
    return found


def _without(
    state: dict[str, dict[str, dict[str, Any]]], columns: set[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    def kept(row: dict[str, Any]) -> dict[str, Any]:
        return {c: v for c, v in row.items() if c not in columns}

    return {table: {k: kept(row) for k, row in rows.items()} for table, rows in state.items()}


async def _messages(stack: StackInfo, run_id: str) -> tuple[list[EnrichedJob], int]:
    """The run's enriched jobs on jobs.enriched, and how many unchanged entries it sent."""
    enriched, unchanged = [], 0
    for _, value in await rf.enriched_messages(stack.bootstrap, run_id):
        record = CODEC.decode(value)
        if isinstance(record, EnrichedJob):
            enriched.append(record)
        elif isinstance(record, JobsUnchanged):
            unchanged += len(record.seqs)
    return enriched, unchanged


def _xano_writes(report: ExecutionReport) -> int:
    return report.xano_jobs_added + report.xano_jobs_updated + report.xano_jobs_deleted


async def test_an_unchanged_rerun_writes_nothing_again_but_the_last_seen_run(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id = await _feed(stack, copy, copy.write("feed"))
    first_run, first = await _run(stack, feed_id)
    before = await _rows(stack.dsn, feed_id)

    second_run, second = await _run(stack, feed_id)
    after = await _rows(stack.dsn, feed_id)

    assert first.jobs_unchanged == 0
    assert second.run_status == first.run_status  # PARTIAL: router-30 has a malformed record
    assert second.jobs_unchanged == RECORDS - CLOSED
    assert second.skipped_closed == CLOSED
    assert second.jobs_archived == 0
    assert _xano_writes(second) == 0
    enriched, unchanged = await _messages(stack, second_run)
    assert unchanged == RECORDS - CLOSED
    assert all(job.job.closed_reason for job in enriched)  # only the closed ones travelled
    assert _without(after, MOVES_EACH_RUN) == _without(before, MOVES_EACH_RUN)
    live = [row for table in LIVE for row in after[table].values()]
    assert live and {row["last_seen_run"] for row in live} == {second_run}
    seen = {r["last_seen_run"] for r in after["job_locations"].values()}
    assert seen <= {second_run, first_run} and second_run in seen


async def test_a_changed_rerun_redoes_exactly_what_changed(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id = await _feed(stack, copy, copy.write("feed"))
    await _run(stack, feed_id)
    changed = _edited(copy.text)
    path = copy.write("feed", changed)  # the feed's URL stays; its content changes

    run_id, report = await _run(stack, feed_id)

    enriched, _ = await _messages(stack, run_id)
    titles = sorted(job.job.title for job in enriched if not job.job.closed_reason)
    # a group with a member changed goes in full: it is kept, the others merged into it
    assert titles == [
        "Customer Support Specialist",
        "Registered Nurse - Emergency Department",
        "Registered Nurse - Pediatrics",
    ]
    travelled = {"GLU-13-PDX", "GLU-13-BOI", "GLU-13-SPO", "LGH-3", "LGH-31"}
    assert report.jobs_unchanged == RECORDS - CLOSED - 1 - (len(travelled) - 1)
    assert report.jobs_archived == 2  # the removed job, and the changed one's old content
    # the tables are what a first run of the changed feed leaves, plus the archived job
    fresh = rf.own_copy(tmp_path)
    fresh_path = fresh.write("fresh", changed.replace(copy.tag, fresh.tag))
    fresh_id = await _feed(stack, fresh, fresh_path, name="incr-fresh")
    await _run(stack, fresh_id)
    incremental = rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag)
    full = rf.strip_tag(await rf.key_fields(stack.dsn, fresh_id), fresh.tag)
    archived = incremental.pop("archive_jobs")
    assert [title for title, *_ in archived] == [
        "Data Analyst",
        "Registered Nurse - Emergency Department",
    ]
    full.pop("archive_jobs")
    assert incremental == full
    assert path.exists()


def _block(text: str, ref: str) -> str:
    found = re.search(rf"  <job>\n(?:(?!</job>).)*?{ref}\]\]>(?:(?!</job>).)*</job>\n", text, re.S)
    assert found is not None
    return found.group(0)


def _edited(text: str) -> str:
    """NWR-4 removed; LGH-3's description changed; a new job (a copy of LGH-3) added; one
    of the three GLU-13 postings merged into one job moved from Boise to Nampa."""
    text = rf.without_jobs(text, ["NWR-4"])
    moved = _block(text, "GLU-13-BOI")
    text = text.replace(moved, moved.replace("Boise", "Nampa"))
    original = _block(text, "LGH-3")
    edited = original.replace("Level I emergency department", "Level II emergency department")
    added = (
        original.replace("LGH-3", "LGH-31")
        .replace("Emergency Department", "Pediatrics")
        .replace("emergency department", "pediatric unit")
    )
    return text.replace(original, edited + added)


async def test_a_refresh_processes_every_record_again(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id = await _feed(stack, copy, copy.write("feed"))
    _, first = await _run(stack, feed_id)
    before = rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag)

    run_id, refreshed = await _run(stack, feed_id, refresh=True)

    assert refreshed.jobs_unchanged == 0
    assert refreshed.cache_hits == 0
    enriched, unchanged = await _messages(stack, run_id)
    assert unchanged == 0
    assert len(enriched) > 0
    assert refreshed.jobs_auto_approved == first.jobs_auto_approved
    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == before


@pytest.mark.parametrize("stage", [versions.ENRICHMENT, versions.ROUTING])
async def test_a_new_enrichment_or_routing_version_processes_every_record_again(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path, stage: str
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id = await _feed(stack, copy, copy.write("feed"))
    await _run(stack, feed_id)
    [row] = await _fetch(stack.dsn, "SELECT version FROM pipeline_versions WHERE stage = $1", stage)
    # what an enricher (router) of another version writes when it starts
    await _set_version(stack, stage, "another-version")
    try:
        _, report = await _run(stack, feed_id)
    finally:
        await _set_version(stack, stage, row["version"])

    assert report.jobs_unchanged == 0
    assert report.jobs_auto_approved + report.jobs_manual_review + report.jobs_rejected > 0


async def _set_version(stack: StackInfo, stage: str, version: str) -> None:
    conn = await control.connect(stack.dsn)
    try:
        await versions.publish(conn, {stage: version})
    finally:
        await conn.close()


async def test_two_feeds_sharing_jobs_rerun_at_once_without_losing_anything(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    path = copy.write("shared")
    first_id = await _feed(stack, copy, path, name="incr-a")
    second_id = await _feed(stack, copy, path, name="incr-b")
    firsts = await asyncio.gather(_run(stack, first_id), _run(stack, second_id))
    before = {f: await _rows(stack.dsn, f) for f in (first_id, second_id)}

    agains = await asyncio.gather(_run(stack, first_id), _run(stack, second_id))

    for (_, first), (_, again) in zip(firsts, agains, strict=True):
        assert again.run_status == first.run_status
        assert again.jobs_unchanged == RECORDS - CLOSED
        assert again.jobs_archived == 0
        assert _xano_writes(again) == 0
    for feed_id in (first_id, second_id):
        after = await _rows(stack.dsn, feed_id)
        assert _without(after, MOVES_EACH_RUN) == _without(before[feed_id], MOVES_EACH_RUN)
    sources = await _fetch(
        stack.dsn,
        "SELECT feed_id, count(*) AS n FROM job_sources WHERE feed_id = ANY($1::int[]) "
        "AND dropped_run IS NULL GROUP BY feed_id",
        [first_id, second_id],
    )
    assert len(sources) == 2 and sources[0]["n"] == sources[1]["n"]


async def test_an_incremental_run_replays_from_routing_and_says_why_not_from_enrichment(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id = await _feed(stack, copy, copy.write("feed"))
    first_run, _ = await _run(stack, feed_id)
    second_run, _ = await _run(stack, feed_id)
    past = await replay.find_run(stack.dsn, run_id=second_run, feed_id=None, since=None)

    with pytest.raises(replay.ReplayError, match="unchanged since the feed's last run"):
        await replay.replay(stack.bootstrap, stack.dsn, past, replay.Stage.ENRICH, refresh=True)
    routed = await replay.replay(
        stack.bootstrap, stack.dsn, past, replay.Stage.ROUTE, refresh=False
    )
    again = await control.wait_for_report(stack.dsn, routed, timeout_s=rf.RUN_TIMEOUT_S)
    # the first run, all of whose records reached the topics, still replays in full
    full = await replay.find_run(stack.dsn, run_id=first_run, feed_id=None, since=None)
    refreshed = await replay.replay(
        stack.bootstrap, stack.dsn, full, replay.Stage.ENRICH, refresh=True
    )
    everything = await control.wait_for_report(stack.dsn, refreshed, timeout_s=rf.RUN_TIMEOUT_S)

    assert again.jobs_unchanged == RECORDS - CLOSED
    assert again.jobs_archived == 0
    assert everything.jobs_unchanged == 0
    assert everything.jobs_auto_approved + everything.jobs_manual_review > 0


class ChangingFeed:
    """Serves the feed over HTTP, each read the next text of `texts` (the last one again)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.reads = 0

    async def handle(self, request: web.Request) -> web.Response:
        text = self.texts[min(self.reads, len(self.texts) - 1)]
        self.reads += 1
        return web.Response(text=text, content_type="application/xml")


@pytest.fixture
async def changing_feed() -> AsyncIterator[tuple[ChangingFeed, str]]:
    served = ChangingFeed([])
    app = web.Application()
    app.router.add_get("/feed.xml", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield served, f"http://127.0.0.1:{runner.addresses[0][1]}/feed.xml"
    await runner.cleanup()


async def test_a_feed_that_changes_between_the_two_reads_fails_the_run_and_archives_nothing(
    stack: StackInfo,
    running_pipeline: PipelineConfig,
    tmp_path: Path,
    changing_feed: tuple[ChangingFeed, str],
) -> None:
    served, url = changing_feed
    copy = rf.own_copy(tmp_path)
    # GLU-13 is a group of three postings: one changed sends the others in full after the
    # first read, from a second read; by then the feed has lost one of them.
    moved = _block(copy.text, "GLU-13-BOI")
    changed = copy.text.replace(moved, moved.replace("Boise", "Nampa"))
    served.texts = [copy.text, changed, rf.without_jobs(changed, ["GLU-13-SPO"])]
    feed_id = await control.ensure_feed(
        stack.dsn, name=f"incr-{copy.tag}", source_url=url, mapping=rf.MAPPING
    )
    _, first = await _run(stack, feed_id)
    before = await _rows(stack.dsn, feed_id)

    _, failed = await _run(stack, feed_id)

    assert served.reads == 3
    assert failed.run_status == RunStatus.FAILURE
    assert failed.jobs_archived == 0
    assert any("changed between its two reads" in e for e in failed.error_summary)
    after = await _rows(stack.dsn, feed_id)
    live_after = {h for table in LIVE for h in after[table]}
    assert live_after >= {h for table in LIVE for h in before[table]}, "nothing left the board"
    _, again = await _run(stack, feed_id)  # the next run reads the feed afresh
    assert again.run_status == first.run_status
