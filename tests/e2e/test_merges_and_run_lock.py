"""Across the services: a pass-2 merge (two postings the feed titles differently, one job once
enriched), two feeds sharing dedupe keys deduplicated at once exactly as one after the other,
and a replay that waits for its feed's live run and archives nothing."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiokafka import AIOKafkaProducer

from cli import control, replay
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas import topics
from schemas.codec import CODEC
from schemas.identity import dedupe_key, job_hash
from schemas.records import (
    EmploymentType,
    IngestFinished,
    JobPosting,
    Location,
    RawJob,
    Record,
    RequestReason,
    RunStarted,
    RunStatus,
)
from schemas.report import ExecutionReport
from schemas.status import ArchiveState
from services.shared.partitioner import partition_for
from tests.e2e import router_feed as rf

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 120.0
JOB_TABLES = ("open_jobs", "manual_review_jobs", "rejected_jobs", "archive_jobs")
WARD_TEXT = (
    "<p>{company} is hiring a Registered Nurse for our 32-bed medical-surgical unit.</p><ul>"
    "<li>Three 12-hour shifts per week, rotating weekends</li><li>BLS and ACLS required</li>"
    "</ul><p>You will assess patients, administer medications and educate families.</p>"
)


def _job_xml(ref: str, title: str, company: str, city: str, state: str, text: str) -> str:
    return (
        f"  <job>\n    <title><![CDATA[{title}]]></title>\n"
        f"    <date><![CDATA[2025-09-05T14:30:00Z]]></date>\n"
        f"    <referencenumber><![CDATA[{ref}]]></referencenumber>\n"
        f"    <url><![CDATA[https://careers.example/jobs/{ref}]]></url>\n"
        f"    <company><![CDATA[{company}]]></company>\n"
        f"    <city><![CDATA[{city}]]></city>\n    <state><![CDATA[{state}]]></state>\n"
        f"    <country><![CDATA[US]]></country>\n"
        f"    <description><![CDATA[{text}]]></description>\n"
        f"    <jobtype><![CDATA[Full-time]]></jobtype>\n"
        f"    <status><![CDATA[Active]]></status>\n  </job>\n"
    )


def _feed(jobs: Sequence[str]) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<source>\n{"".join(jobs)}</source>\n'


async def _fetch(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await control.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


async def _jobs(dsn: str, feed_id: int) -> dict[str, dict[str, Any]]:
    """The feed's job rows by hash, each with the table it is in."""
    found: dict[str, dict[str, Any]] = {}
    for table in JOB_TABLES:
        for row in await _fetch(
            dsn, f"SELECT job_hash, title, location_string FROM {table} WHERE feed_id = $1", feed_id
        ):
            found[row["job_hash"]] = row | {"table": table}
    return found


async def _run_file(stack: StackInfo, name: str, path: Path) -> tuple[int, ExecutionReport]:
    feed_id = await control.ensure_feed(
        stack.dsn, name=name, source_url=str(path), mapping=rf.MAPPING
    )
    run_id = await control.request_run(stack.bootstrap, feed_id)
    return feed_id, await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)


async def test_two_postings_titled_differently_merge_in_pass_two(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    """Pass 1 keeps both ("Registered Nurse - Medical Surgical" and "RN - Medical Surgical
    (Night Shift)" are different keys); enrichment gives both the same standard title, so
    pass 2 merges the second into the first, and its city joins the kept job's locations."""
    company = f"{uuid.uuid4().hex[:8]} Cascade Medical Center"
    text = WARD_TEXT.format(company=company)
    path = tmp_path / "pass2.xml"
    path.write_text(
        _feed(
            [
                _job_xml("P2-1", "Registered Nurse - Medical Surgical", company, "Seattle", "WA",
                         text),
                _job_xml("P2-2", "RN - Medical Surgical (Night Shift)", company, "Tacoma", "WA",
                         text),
                _job_xml("P2-3", "Dishwasher", company, "Tacoma", "WA",
                         "<p>Wash dishes in a busy hospital kitchen.</p>"),
            ]
        )
    )  # fmt: skip
    feed_id, report = await _run_file(stack, f"pass2-{company[:8]}", path)

    assert report.skipped_duplicate_ai_aggregation == 1, report
    assert report.skipped_duplicate_initial_aggregation == 0
    assert report.skipped_duplicate == 1
    merges = await _fetch(
        stack.dsn,
        "SELECT outcome, merge_pass FROM run_outcomes WHERE run_id = $1 AND merge_pass IS NOT NULL",
        report.run_id,
    )
    assert merges == [{"outcome": "merged", "merge_pass": 2}]
    rows = await _jobs(stack.dsn, feed_id)
    assert len(rows) == 2, "the merged posting has no row of its own"
    (nurse,) = (r for r in rows.values() if r["title"] != "Dishwasher")
    assert sorted(nurse["location_string"].split(", ")) == ["Seattle WA US", "Tacoma WA US"]


def _raw_jobs(run_id: str, feed_id: int, company: str) -> list[RawJob]:
    """Three postings of one job (three cities) and two of another, per feed; both feeds
    share the dedupe keys (same titles and company) but not the jobs (texts differ)."""
    specs = [
        ("Registered Nurse", "Seattle", WARD_TEXT), ("Registered Nurse", "Tacoma", WARD_TEXT),
        ("Registered Nurse", "Spokane", WARD_TEXT),
        ("Porter", "Seattle", "<p>Move patients safely between wards at {company}.</p>"),
        ("Porter", "Tacoma", "<p>Move patients safely between wards at {company}.</p>"),
    ]  # fmt: skip
    raws = []
    for seq, (title, city, text) in enumerate(specs):
        job = JobPosting(
            external_job_id=f"{feed_id}-{seq}",
            title=title,
            company_name=company,
            description_html=text.format(company=f"{company} feed {feed_id}"),
            employment_type=EmploymentType.FULL_TIME,
            locations=(Location(city=city, state="WA", country="US"),),
        )
        raws.append(
            RawJob(
                run_id=run_id, feed_id=feed_id, seq=seq, job_hash=job_hash(job),
                dedupe_key=dedupe_key(job.title, job.company_name, job.employment_type), job=job,
            )
        )  # fmt: skip
    return raws


@pytest.fixture
async def producer(stack: StackInfo) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, acks="all", partitioner=partition_for
    )
    await producer.start()
    yield producer
    await producer.stop()


async def _send(
    producer: AIOKafkaProducer, spec: topics.TopicSpec, key: str, record: Record
) -> None:
    await producer.send_and_wait(
        spec.name, value=CODEC.encode(record, source="test"), key=key.encode()
    )


async def _ingest_at_once(
    producer: AIOKafkaProducer, runs: Sequence[tuple[str, int, list[RawJob]]]
) -> None:
    """Plays the ingestor for these runs, their records interleaved on jobs.raw."""
    for run_id, feed_id, _ in runs:
        started = RunStarted(
            run_id=run_id, feed_id=feed_id, reason=RequestReason.CLI,
            started_at=datetime.now(UTC),
        )  # fmt: skip
        await _send(producer, topics.RUNS_EVENTS, run_id, started)
    longest = max(len(raws) for _, _, raws in runs)
    for i in range(longest):
        for _, _, raws in runs:
            if i < len(raws):
                await _send(producer, topics.JOBS_RAW, raws[i].dedupe_key, raws[i])
    for run_id, feed_id, raws in runs:
        finished = IngestFinished(
            run_id=run_id, feed_id=feed_id, emitted=len(raws), parsed=len(raws)
        )
        await _send(producer, topics.RUNS_EVENTS, run_id, finished)


async def _locations_by_title(dsn: str, feed_id: int) -> list[tuple[str, str]]:
    rows = await _jobs(dsn, feed_id)
    return sorted((r["title"], r["location_string"]) for r in rows.values())


MERGE_COUNTERS = ("skipped_duplicate", "skipped_duplicate_initial_aggregation", "total_in_feed")


async def test_two_feeds_sharing_dedupe_keys_at_once_end_as_one_after_the_other(
    stack: StackInfo, running_pipeline: PipelineConfig, producer: AIOKafkaProducer
) -> None:
    """Their records interleave in the dedupe agent's partition; before dedupe groups were
    scoped by feed, each feed's record reset the other's group and no merge was made."""
    results: dict[str, list[Any]] = {}
    for how in ("apart", "at once"):
        company = f"{uuid.uuid4().hex[:8]} Sound Health"
        feeds = [
            await control.ensure_feed(stack.dsn, name=f"shared-{company}-{n}", source_url="/x")
            for n in (1, 2)
        ]
        runs = [(str(uuid.uuid4()), f, _raw_jobs("", f, company)) for f in feeds]
        runs = [(r, f, [j.model_copy(update={"run_id": r}) for j in raws]) for r, f, raws in runs]
        reports = []
        if how == "apart":
            for run in runs:
                await _ingest_at_once(producer, [run])
                reports.append(
                    await control.wait_for_report(stack.dsn, run[0], timeout_s=RUN_TIMEOUT_S)
                )
        else:
            await _ingest_at_once(producer, runs)
            for run in runs:
                reports.append(
                    await control.wait_for_report(stack.dsn, run[0], timeout_s=RUN_TIMEOUT_S)
                )
        results[how] = [
            ([getattr(r, c) for c in MERGE_COUNTERS], await _locations_by_title(stack.dsn, f))
            for r, f in zip(reports, feeds, strict=True)
        ]
    assert results["at once"] == results["apart"]
    counters, locations = results["at once"][0]
    assert counters == [3, 3, 5], "per feed: two nurse postings and one porter merged"
    assert [title for title, _ in locations] == ["Porter", "Registered Nurse"]
    assert re.fullmatch(r"(\w+ WA US, ){2}\w+ WA US", dict(locations)["Registered Nurse"])


class HeldFeed:
    """Serves a feed over HTTP, answering only once released: a run that stays live."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.released = asyncio.Event()
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        await asyncio.wait_for(self.released.wait(), timeout=60)
        return web.Response(text=self.text, content_type="application/xml")


@pytest.fixture
async def held_feed_server() -> AsyncIterator[tuple[HeldFeed, str]]:
    held = HeldFeed("")
    app = web.Application()
    app.router.add_get("/feed.xml", held.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield held, f"http://127.0.0.1:{port}/feed.xml"
    held.released.set()
    await runner.cleanup()


async def _wait_for_row(dsn: str, run_id: str) -> None:
    for _ in range(200):
        if await _fetch(dsn, "SELECT 1 FROM runs WHERE run_id = $1", run_id):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never started")


async def test_a_replay_during_a_live_run_of_its_feed_waits_and_archives_nothing(
    stack: StackInfo,
    running_pipeline: PipelineConfig,
    tmp_path: Path,
    held_feed_server: tuple[HeldFeed, str],
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id, first = await rf.run_feed(stack, copy, copy.write("first"))

    # The feed's next run lists two new jobs, and its fetch hangs until released.
    held, url = held_feed_server
    company = f"{copy.tag} New Clinic"
    new_jobs = [
        _job_xml(f"NEW-{n}", f"Medical Assistant {n}", company, "Reno", "NV",
                 f"<p>Room patients and take vitals, clinic {n}.</p>")
        for n in (1, 2)
    ]  # fmt: skip
    held.text = copy.text.replace("</source>", "".join(new_jobs) + "</source>")
    await control.ensure_feed(
        stack.dsn, name=f"router-e2e-{copy.tag}", source_url=url, mapping=rf.MAPPING
    )
    live = await control.request_run(stack.bootstrap, feed_id)
    await _wait_for_row(stack.dsn, live)

    past = await replay.find_run(stack.dsn, run_id=first.run_id, feed_id=None, since=None)
    waited_for: list[str] = []
    replaying = asyncio.create_task(
        replay.replay(
            stack.bootstrap, stack.dsn, past, replay.Stage.ROUTE, refresh=False, wait_s=90,
            on_wait=waited_for.append,
        )
    )  # fmt: skip
    await asyncio.sleep(3.0)
    assert not replaying.done() and set(waited_for) == {live}, "the replay waits"

    held.released.set()
    live_report = await control.wait_for_report(stack.dsn, live, timeout_s=RUN_TIMEOUT_S)
    replay_id = await asyncio.wait_for(replaying, timeout=RUN_TIMEOUT_S)
    again = await control.wait_for_report(stack.dsn, replay_id, timeout_s=RUN_TIMEOUT_S)

    assert live_report.run_status in (RunStatus.SUCCESS, RunStatus.PARTIAL)
    assert again.jobs_archived == 0 and again.archive_skipped_reason is None
    (judged,) = await _fetch(
        stack.dsn, "SELECT archive_state, started_at FROM runs WHERE run_id = $1", replay_id
    )
    assert judged["archive_state"] == ArchiveState.NOT_JUDGED
    assert judged["started_at"] >= live_report.end_time, "it ran after the live run"
    rows = await _jobs(stack.dsn, feed_id)
    added = [r for r in rows.values() if r["title"].startswith("Medical Assistant")]
    assert len(added) == 2 and all(r["table"] != "archive_jobs" for r in added), (
        "the jobs the live run added (absent from the replayed run) are not archived"
    )
