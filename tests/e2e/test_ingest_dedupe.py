"""Ingest and pass-1 dedupe on the real broker: repeatable runs, and a killed dedupe worker.

The feeds are generated (`bench.feedgen`) with known exact and multi-location duplicates,
each test with its own seed so that its jobs (identity is content) are its own.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from bench.feedgen import Truth, write_feed
from cli import control, pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from cli.stack.processes import is_alive
from schemas import topics
from schemas.codec import CODEC
from schemas.records import JobPosting, RawJob, RunStatus
from schemas.status import RunState
from services.ingestor import handlers
from services.ingestor.feeds import FeedReader, ParsedJob
from services.shared.partitioner import partition_for
from tests.feed_sources import local_settings

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 120.0
JOB_TABLES = ("open_jobs", "manual_review_jobs", "rejected_jobs")
Outcomes = dict[int, tuple[str, int | None, str | None]]  # seq -> outcome, merge pass, hash


async def _feed(stack: StackInfo, tmp_path: Path, jobs: int) -> tuple[int, Truth]:
    path, truth = _generated(tmp_path, jobs)
    feed_id = await control.ensure_feed(stack.dsn, name=path.stem, source_url=str(path))
    return feed_id, truth


def _generated(tmp_path: Path, jobs: int) -> tuple[Path, Truth]:
    seed = random.SystemRandom().randrange(1 << 30)
    path = tmp_path / f"generated-{seed}.xml"
    return path, write_feed(path, jobs, seed=seed)


async def _outcomes(dsn: str, run_id: str) -> Outcomes:
    conn = await control.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT seq, outcome, merge_pass, job_hash FROM run_outcomes WHERE run_id = $1",
            run_id,
        )
    finally:
        await conn.close()
    return {r["seq"]: (r["outcome"], r["merge_pass"], r["job_hash"]) for r in rows}


async def _fetch(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await control.connect(dsn)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def _pass1(outcomes: Outcomes, kind: str) -> set[int]:
    return {
        seq
        for seq, (outcome, merge_pass, _) in outcomes.items()
        if (outcome, merge_pass) == (kind, 1)
    }


def _kept(outcomes: Outcomes) -> dict[int, str | None]:
    """Records pass 1 kept, with their job hash: everything that is not a pass-1 merge."""
    return {seq: h for seq, (_, merge_pass, h) in outcomes.items() if merge_pass != 1}


async def _jobs_of_feed(dsn: str, feed_id: int) -> dict[str, list[str]]:
    """Each stored job of the feed (any of the three tables) with its sorted location keys."""
    found: dict[str, list[str]] = {}
    for table in JOB_TABLES:
        for row in await _fetch(
            dsn, f"SELECT job_hash, locations FROM {table} WHERE feed_id = $1", feed_id
        ):
            places = row["locations"] or []
            found[row["job_hash"]] = sorted(f"{p.get('city')}|{p.get('state')}" for p in places)
    return found


async def test_runs_of_the_same_feed_keep_the_same_jobs(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    """Run again unchanged, a feed's records all come out unchanged (issue 15); run again
    in full (`--refresh`), pass 1 makes the same decisions as the first time. Either way the
    feed's jobs stay the same rows with the same merged locations."""
    feed_id, truth = await _feed(stack, tmp_path, 400)
    runs = []
    jobs_after = []
    for refresh in (False, False, True):
        run_id = await control.request_run(stack.bootstrap, feed_id, refresh=refresh)
        report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)
        assert report.run_status == RunStatus.SUCCESS, report.error_summary
        runs.append(await _outcomes(stack.dsn, run_id))
        jobs_after.append(await _jobs_of_feed(stack.dsn, feed_id))
    first, unchanged, full = runs
    assert len(first) == len(unchanged) == len(full) == truth.jobs
    assert {outcome for outcome, _, _ in unchanged.values()} == {"unchanged"}
    # pass 1 finds exactly the duplicates the generator planted, on every full run
    for outcomes in (first, full):
        assert _pass1(outcomes, "duplicate") == set(truth.exact)
        assert _pass1(outcomes, "merged") == set(truth.multi)
    assert _kept(first) == _kept(full)
    assert jobs_after[0] == jobs_after[1] == jobs_after[2]  # same rows, same merged locations
    assert len(jobs_after[0]) == truth.jobs - len(truth.exact) - len(truth.multi)
    assert any(len(places) > 1 for places in jobs_after[0].values())


async def test_a_dedupe_worker_killed_mid_run_loses_no_job(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    feed_id, truth = await _feed(stack, tmp_path, 2000)
    run_id = await control.request_run(stack.bootstrap, feed_id)
    done_at_kill = await _kill_ingestor_once_running(stack.dsn, running_pipeline, run_id)
    assert done_at_kill < truth.jobs  # the kill landed mid-run
    await asyncio.to_thread(pipeline.start, running_pipeline, timeout_s=90.0)

    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)
    (run,) = await _fetch(stack.dsn, "SELECT status, emitted FROM runs WHERE run_id = $1", run_id)
    outcomes = await _outcomes(stack.dsn, run_id)
    assert report.run_status == RunStatus.SUCCESS and run["status"] == RunState.COMPLETED
    # every record has exactly one outcome (the ledger's key is (run_id, seq))
    assert run["emitted"] == truth.jobs
    assert sorted(outcomes) == list(range(truth.jobs))
    # and redelivery after the restart did not change a single pass-1 decision
    assert _pass1(outcomes, "duplicate") == set(truth.exact)
    assert _pass1(outcomes, "merged") == set(truth.multi)


async def test_dedupe_state_outlives_a_restart_of_the_worker(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    """A group's first job, processed and committed before a restart, still decides the
    duplicate that comes after: the restarted worker recovers the group from the changelog."""
    path, _ = _generated(tmp_path, 1)
    feed_id = await control.ensure_feed(stack.dsn, name=path.stem, source_url=str(path))
    run_id = f"restart-{uuid.uuid4()}"
    job = await _only_job(path)
    first, again = (handlers.raw_job(run_id, feed_id, seq, job) for seq in (0, 1))
    await _publish(stack.bootstrap, first)
    await _wait_for_outcomes(stack.dsn, run_id, 1)
    # A graceful stop commits the first job's offset: it is not redelivered after the start.
    await asyncio.to_thread(pipeline.stop, running_pipeline, ["ingestor-0"])
    await asyncio.to_thread(pipeline.start, running_pipeline, ["ingestor-0"], timeout_s=90.0)
    await _publish(stack.bootstrap, again)
    outcomes = await _wait_for_outcomes(stack.dsn, run_id, 2)
    assert outcomes[1][:2] == ("duplicate", 1)


async def _only_job(path: Path) -> JobPosting:
    reader = FeedReader(str(path), mapping=None, settings=local_settings())
    jobs = [item.job async for item in reader if isinstance(item, ParsedJob)]
    return jobs[0]


async def _publish(bootstrap: str, raw: RawJob) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, partitioner=partition_for)
    await producer.start()
    try:
        value = CODEC.encode(raw, source="test")
        await producer.send_and_wait(topics.JOBS_RAW.name, value, key=raw.dedupe_key.encode())
    finally:
        await producer.stop()


async def _wait_for_outcomes(dsn: str, run_id: str, count: int) -> Outcomes:
    deadline = asyncio.get_running_loop().time() + RUN_TIMEOUT_S
    while len(outcomes := await _outcomes(dsn, run_id)) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(outcomes)} of {count} outcomes"
        await asyncio.sleep(0.1)
    return outcomes


def _wait_until_gone(pid: int) -> None:
    while is_alive(pid):
        time.sleep(0.05)


async def _kill_ingestor_once_running(dsn: str, config: PipelineConfig, run_id: str) -> int:
    """SIGKILL the ingestor (feed reader and dedupe agent) as soon as the run is under way."""
    deadline = asyncio.get_running_loop().time() + 30
    while not await _fetch(dsn, "SELECT 1 FROM runs WHERE run_id = $1", run_id):
        assert asyncio.get_running_loop().time() < deadline, "the run never started"
        await asyncio.sleep(0.05)
    pid = pipeline.running(config)["ingestor-0"]
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(_wait_until_gone, pid)
    (row,) = await _fetch(dsn, "SELECT count(*) AS n FROM run_outcomes WHERE run_id = $1", run_id)
    return int(row["n"])
