"""Backfills through the emulated Batch API: the wire contract through the real google-genai
client, and a 5,000-job backfill whose driving process is SIGKILLed and started again."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from asyncio.subprocess import Process
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import DEVNULL
from typing import Any

import asyncpg
import orjson
import pytest

from cli import control
from cli.main import main
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from emulators.gemini import RunningEmulator, create_app, serve
from schemas.codec import CODEC
from schemas.records import EnrichedJob, EnrichmentStatus, RunStatus
from schemas.usage import LLM_PAUSED, combined, overall
from services.enricher import backfill
from services.enricher.backends.gemini.pricing import load_price
from services.enricher.backends.gemini.prompts import enrich_prompt
from services.enricher.backends.gemini.schemas import Stage
from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.backfill import store
from services.enricher.backfill.batch_api import BatchApi, Line
from services.enricher.backfill.driver import Driver
from services.enricher.backfill.stages import Item, Ref
from services.enricher.config import EnricherSettings
from tests.conftest import TEST_SERVICES_BASE_PORT
from tests.e2e.router_feed import enriched_messages

JOBS = 5000
REVIEW_SHARE = 10  # every tenth job sits in manual review


@pytest.fixture
async def gemini() -> AsyncIterator[RunningEmulator]:
    async with serve(create_app(batch_latency_s=0.2)) as running:
        yield running


def _env(stack: StackInfo, gemini: RunningEmulator, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": stack.dsn,
        "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap,
        "ENRICHMENT_BACKEND": "gemini",
        "GEMINI_API_KEY": "test-key",
        "GEMINI_BASE_URL": gemini.base_url,
        "BACKFILL_POLL_S": "0.1",
        **extra,
    }


def _settings(env: dict[str, str]) -> EnricherSettings:
    return EnricherSettings.from_env(env)


@asynccontextmanager
async def _planned(
    settings: EnricherSettings, conn: asyncpg.Connection, backfill_id: int
) -> AsyncIterator[tuple[Driver, dict[Ref, Item], list[store.BatchRow]]]:
    """A driver of the backfill, its items by ref and its waiting items planned into batches
    (none submitted): a test plays the driver's steps from there."""
    async with backfill._parts(settings) as parts:
        driver = Driver(backfill_id, parts, backfill.plan_for(settings))
        items = {item.ref: item for item in await store.items(conn, backfill_id)}
        batches: list[store.BatchRow] = []
        found = await store.get(conn, backfill_id)
        assert found is not None
        await driver._plan_waiting(conn, items, batches, found.token)
        yield driver, items, batches


async def _seed(dsn: str, feed_id: int, count: int) -> None:
    """`count` live jobs of the feed, one company each (no two merge on pass 2)."""
    columns = ("job_hash", "feed_id", "route", "status", "title", "company_name", "description")
    rows = {
        table: [
            (
                f"bf-{feed_id}-{index}",
                feed_id,
                "manual_review" if table == "manual_review_jobs" else "open",
                "active",
                f"Senior data analyst {feed_id}-{index}",
                f"Acme Insurance {index}",
                f"<p>Analyse claims data for an insurer, job {index}. SQL and Python.</p>",
            )
            for index in range(count)
            if (index % REVIEW_SHARE == 0) == (table == "manual_review_jobs")
        ]
        for table in ("open_jobs", "manual_review_jobs")
    }
    conn = await asyncpg.connect(dsn)
    try:
        for table, records in rows.items():
            await conn.copy_records_to_table(table, records=records, columns=columns)
    finally:
        await conn.close()


async def _fetchval(dsn: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def test_the_batch_api_round_trip_through_the_real_client(gemini: RunningEmulator) -> None:
    api = BatchApi(GeminiSettings(api_key="k", base_url=gemini.base_url))
    try:
        from schemas.records import JobPosting

        job = JobPosting(title="Nurse", company_name="St Mary", description_html="<p>Care</p>")
        line = Line("r0", Stage.ENRICH, "system", enrich_prompt([("J1", job)], 6000))
        name = await api.submit("jobstream-test-1", [line])
        assert await api.find("jobstream-test-1") == name
        assert await api.find("jobstream-test-2") is None
        status = await api.status(name)
        while not status.done:
            await asyncio.sleep(0.05)
            status = await api.status(name)
        assert status.state == "JOB_STATE_SUCCEEDED" and status.results_file
        answers = await api.results(status.results_file)
    finally:
        await api.aclose()
    answer = answers["r0"]
    assert not isinstance(answer, str) and answer.text is not None
    assert orjson.loads(answer.text)["enriched_jobs"][0]["id"] == "J1"
    assert answer.input_tokens > 0 and answer.output_tokens > 0


async def test_a_batch_created_before_a_crash_is_found_again_not_sent_twice(
    stack: StackInfo, gemini: RunningEmulator
) -> None:
    """The crash window between creating a batch and recording its name: the next driver
    finds the batch by its display name and creates nothing."""
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, 30)
    env = _env(stack, gemini, BACKFILL_LINES_PER_BATCH="100")
    settings = _settings(env)
    backfill_id = await backfill.create(settings, feed_id, batch_api=True)
    conn = await asyncpg.connect(stack.dsn)
    try:
        async with _planned(settings, conn, backfill_id) as (driver, items, batches):
            first = batches[0]
            # the driver of before the crash: created the batch, died before recording it
            await store.mark_batch(conn, backfill_id, first.number, "submitting", None)
            lines = [
                driver._line(first, index, [items[ref] for ref in request])
                for index, request in enumerate(first.requests)
            ]
            await driver._parts.api.submit(first.display_name, lines)
            assert await driver.run()
    finally:
        await conn.close()
    names = Counter(b.display_name for b in gemini.batches.batches.values())
    assert names[first.display_name] == 1
    assert all(count == 1 for count in names.values())
    asked = gemini.batches.asked
    assert sum(n for key, n in asked.items() if key.startswith("enriched_jobs|")) == 30
    assert max(asked.values()) == 1


async def test_server_errors_expired_batches_and_rejected_items_end_as_online_would(
    stack: StackInfo, gemini: RunningEmulator
) -> None:
    """A request line the server failed (500) is sent again in a later batch and succeeds; an
    expired batch's jobs go out again; an item the model got wrong fails with its reason."""
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, 12)
    gemini.state.faults.arm(
        [
            {"kind": "internal", "stage": "enriched_jobs", "title_contains": "-3", "times": 1},
            {"kind": "bad_ids", "stage": "enriched_jobs", "title_contains": "-7", "times": 1},
        ]
    )
    gemini.batches.endings.append("BATCH_STATE_EXPIRED")
    env = _env(stack, gemini)
    settings = _settings(env)
    backfill_id = await backfill.create(settings, feed_id, batch_api=True)
    assert await backfill.drive(settings, backfill_id, backfill.plan_for(settings))

    run_id = await _fetchval(
        stack.dsn, "SELECT run_id FROM backfill_runs WHERE backfill_id = $1", backfill_id
    )
    records = [CODEC.decode(value) for _, value in await enriched_messages(stack.bootstrap, run_id)]
    by_title = {r.job.title: r for r in records if isinstance(r, EnrichedJob)}
    assert len(by_title) == 12
    failed = by_title[f"Senior data analyst {feed_id}-7"]
    assert failed.status is EnrichmentStatus.FAILED
    assert failed.error and failed.error.startswith("enrichment: ")
    retried = by_title[f"Senior data analyst {feed_id}-3"]
    assert retried.status is EnrichmentStatus.SUCCESS
    assert [r for r in by_title.values() if r.status is not EnrichmentStatus.SUCCESS] == [failed]
    states = Counter(b.state for b in gemini.batches.batches.values())
    assert states == {
        "BATCH_STATE_EXPIRED": 1,
        "BATCH_STATE_SUCCEEDED": states["BATCH_STATE_SUCCEEDED"],
    }
    asked = Counter(
        n for key, n in gemini.batches.asked.items() if key.startswith("enriched_jobs|")
    )
    # job 3's request went out twice (the 500 and its retry); the expired batch ran nothing
    assert sum(asked.values()) == 12 and asked[2] == 10 and asked[1] == 2


DRIVERS = {
    # the enricher service drives unfinished backfills in the background (worker.py)
    "enricher": (["-m", "services.enricher"], JOBS),
    # the driver on its own, as `jobstream backfill --resume ID` runs it
    "driver": (["-m", "services.enricher.backfill"], 1000),
}


def _driver_env(stack: StackInfo, gemini: RunningEmulator, tmp_path: Path) -> dict[str, str]:
    return _env(
        stack,
        gemini,
        BACKFILL_LINES_PER_BATCH="40",
        WEB_PORT=str(TEST_SERVICES_BASE_PORT + 45),
        REPLICA_ID="backfill",
        FAUST_DATA_DIR=str(tmp_path / "faust"),
        KAFKA_SESSION_TIMEOUT_S="6",
        KAFKA_HEARTBEAT_INTERVAL_S="0.5",
    )


async def _status(dsn: str, backfill_id: int) -> str:
    status: str = await _fetchval(
        dsn, "SELECT status FROM backfills WHERE backfill_id = $1", backfill_id
    )
    return status


async def _until_completed(dsn: str, backfill_id: int, process: Process, timeout_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while await _status(dsn, backfill_id) != "completed":
        assert process.returncode in (None, 0), "the driver failed"
        assert asyncio.get_running_loop().time() < deadline, "the backfill did not complete"
        await asyncio.sleep(0.2)


async def _stop(process: Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=60)
        except TimeoutError:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("driver", list(DRIVERS))
async def test_a_backfill_survives_sigkill_of_its_driver_and_applies_every_job_once(
    stack: StackInfo,
    gemini: RunningEmulator,
    running_pipeline: PipelineConfig,
    tmp_path: Path,
    driver: str,
) -> None:
    arguments, jobs = DRIVERS[driver]
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, jobs)
    env = _driver_env(stack, gemini, tmp_path)
    backfill_id = await backfill.create(_settings(env), feed_id, batch_api=True)
    command = [*arguments, *([str(backfill_id)] if driver == "driver" else [])]
    # the emulator serves from this event loop: the driver runs beside it, never blocking it
    first = await asyncio.create_subprocess_exec(
        sys.executable, *command, env=env, stdout=DEVNULL, stderr=DEVNULL
    )
    try:
        # mid-backfill: some batches answered and stored, others created and running
        deadline = asyncio.get_running_loop().time() + 240
        while await _fetchval(
            stack.dsn,
            "SELECT count(*) FILTER (WHERE state = 'done') < 4 "
            "OR count(*) FILTER (WHERE state = 'submitted') = 0 "
            "FROM backfill_batches WHERE backfill_id = $1",
            backfill_id,
        ):
            assert first.returncode is None, "the driver ended before it could be killed"
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        await asyncio.wait_for(first.wait(), timeout=30)
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    assert await _status(stack.dsn, backfill_id) == "running"

    second = await asyncio.create_subprocess_exec(
        sys.executable, *command, env=env, stdout=DEVNULL, stderr=DEVNULL
    )
    try:
        await _until_completed(stack.dsn, backfill_id, second, timeout_s=600)
    finally:
        await _stop(second)
    await _check_applied_once(stack, gemini, feed_id, backfill_id, jobs)


async def _check_applied_once(
    stack: StackInfo, gemini: RunningEmulator, feed_id: int, backfill_id: int, jobs: int
) -> None:
    # nothing sent twice: every batch created once, every job asked once per stage
    batches = gemini.batches
    names = Counter(b.display_name for b in batches.batches.values())
    assert all(count == 1 for count in names.values())
    planned = await _fetchval(
        stack.dsn, "SELECT count(*) FROM backfill_batches WHERE backfill_id = $1", backfill_id
    )
    assert len(names) == planned
    by_stage: Counter[str] = Counter()
    for key, count in batches.asked.items():
        by_stage[key.partition("|")[0]] += count
    enrich_asks = [n for key, n in batches.asked.items() if key.startswith("enriched_jobs|")]
    assert len(enrich_asks) == jobs and set(enrich_asks) == {1}
    assert by_stage["searchable_jobs"] == jobs

    # every job enriched exactly once: one jobs.enriched record per job, one outcome each
    run_id = await _fetchval(
        stack.dsn, "SELECT run_id FROM backfill_runs WHERE backfill_id = $1", backfill_id
    )
    records = [CODEC.decode(value) for _, value in await enriched_messages(stack.bootstrap, run_id)]
    seqs = Counter(r.seq for r in records if isinstance(r, EnrichedJob))
    assert len(seqs) == jobs and set(seqs.values()) == {1}
    assert all(isinstance(r, EnrichedJob) and r.status is EnrichmentStatus.SUCCESS for r in records)
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=180)
    assert report.total_in_feed == jobs
    outcomes = await _fetchval(
        stack.dsn, "SELECT count(*) FROM run_outcomes WHERE run_id = $1", run_id
    )
    assert outcomes == jobs
    version = await _fetchval(
        stack.dsn, "SELECT version FROM backfills WHERE backfill_id = $1", backfill_id
    )
    stale = await _fetchval(
        stack.dsn,
        "SELECT count(*) FROM (SELECT enrichment_version FROM open_jobs WHERE feed_id = $1 "
        "UNION ALL SELECT enrichment_version FROM manual_review_jobs WHERE feed_id = $1 "
        "UNION ALL SELECT enrichment_version FROM rejected_jobs WHERE feed_id = $1) j "
        "WHERE enrichment_version IS DISTINCT FROM $2",
        feed_id,
        version,
    )
    assert stale == 0


async def test_without_the_batch_api_a_backfill_is_a_refresh_run_of_the_online_enricher(
    stack: StackInfo, running_pipeline: PipelineConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, 40)
    monkeypatch.setenv("DATABASE_URL", stack.dsn)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.bootstrap)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("ENRICHMENT_BACKEND", raising=False)

    exit_code = await asyncio.to_thread(main, ["backfill", "--feed", str(feed_id)])

    assert exit_code == 0
    run_id = await _fetchval(stack.dsn, "SELECT run_id FROM runs WHERE feed_id = $1", feed_id)
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=180)
    assert report.total_in_feed == 40 and report.cache_hits == 0
    unenriched = await _fetchval(
        stack.dsn,
        "SELECT count(*) FROM (SELECT enrichment_version FROM open_jobs WHERE feed_id = $1 "
        "UNION ALL SELECT enrichment_version FROM manual_review_jobs WHERE feed_id = $1 "
        "UNION ALL SELECT enrichment_version FROM rejected_jobs WHERE feed_id = $1) j "
        "WHERE enrichment_version IS NULL",
        feed_id,
    )
    assert unenriched == 0


async def test_a_batch_api_backfill_needs_the_gemini_backend(
    stack: StackInfo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", stack.dsn)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("ENRICHMENT_BACKEND", raising=False)

    assert await asyncio.to_thread(main, ["backfill", "--all", "--batch-api"]) == 1
    assert "needs the gemini backend" in capsys.readouterr().err

    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    assert await asyncio.to_thread(main, ["backfill", "--resume", "999999999"]) == 1
    assert "there is no backfill 999999999" in capsys.readouterr().err


async def test_a_run_published_again_after_a_crash_is_applied_once(
    stack: StackInfo,
    gemini: RunningEmulator,
    running_pipeline: PipelineConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The driver dies after publishing a feed's records and before its IngestFinished: the
    next one publishes the run again under the same run id, the router applies each job
    once, and the run's LLM spending counts each job once."""
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, 200)
    env = _env(stack, gemini)
    settings = _settings(env)
    from services.enricher.backfill import driver

    backfill_id = await backfill.create(settings, feed_id, batch_api=True)
    plan = backfill.plan_for(settings)

    def crash(**_: Any) -> None:
        raise RuntimeError("killed before the run's IngestFinished")

    with monkeypatch.context() as patched:
        patched.setattr(driver, "IngestFinished", crash)
        with pytest.raises(RuntimeError, match="killed"):
            await backfill.drive(settings, backfill_id, plan)
    run_id = await _fetchval(
        stack.dsn, "SELECT run_id FROM backfill_runs WHERE backfill_id = $1", backfill_id
    )
    assert await backfill.drive(settings, backfill_id, plan)

    assert (
        await _fetchval(
            stack.dsn, "SELECT run_id FROM backfill_runs WHERE backfill_id = $1", backfill_id
        )
        == run_id
    )
    records = [CODEC.decode(value) for _, value in await enriched_messages(stack.bootstrap, run_id)]
    sent = Counter(r.seq for r in records if isinstance(r, EnrichedJob))
    assert len(sent) == 200 and set(sent.values()) == {2}  # every record published twice
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=180)
    assert report.total_in_feed == 200 and report.run_status == RunStatus.SUCCESS
    assert report.jobs_auto_approved + report.jobs_manual_review + report.jobs_rejected == 200
    outcomes = await _fetchval(
        stack.dsn, "SELECT count(*) FROM run_outcomes WHERE run_id = $1", run_id
    )
    assert outcomes == 200
    assert len(gemini.batches.batches) == 3  # one batch per stage: nothing asked twice
    # the run's spending is its jobs' cost, counted once though published twice
    cost = (
        overall(combined(r.llm_usage for r in records if isinstance(r, EnrichedJob))).cost_usd / 2
    )
    spent = await _fetchval(
        stack.dsn, "SELECT cost_usd FROM run_llm_spend WHERE run_id = $1", run_id
    )
    assert cost > 0 and spent == pytest.approx(cost)


async def test_a_backfill_reports_every_token_by_kind_and_its_cost_at_the_batch_api_price(
    stack: StackInfo, gemini: RunningEmulator, running_pipeline: PipelineConfig
) -> None:
    """Every token the emulated Batch API reported reaches the jobs' usage, the run's report
    and its spending, priced at half the standard rate."""
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, 60)
    gemini.state.faults.arm([{"kind": "thoughts", "stage": "enriched_jobs", "times": None}])
    settings = _settings(_env(stack, gemini))
    backfill_id = await backfill.create(settings, feed_id, batch_api=True)
    assert await backfill.drive(settings, backfill_id, backfill.plan_for(settings))

    run_id = await _fetchval(
        stack.dsn, "SELECT run_id FROM backfill_runs WHERE backfill_id = $1", backfill_id
    )
    records = [CODEC.decode(value) for _, value in await enriched_messages(stack.bootstrap, run_id)]
    enriched = [r for r in records if isinstance(r, EnrichedJob)]
    assert len(enriched) == 60 and all(r.status is EnrichmentStatus.SUCCESS for r in enriched)
    by_stage = combined(r.llm_usage for r in enriched)
    assert {"enrichment", "searchable_text"} <= set(by_stage)
    run = overall(by_stage)
    counters = gemini.state.counters
    assert run.calls == counters["requests"]
    assert run.input == counters["prompt_tokens"] > 0
    assert run.cached_input == counters["cached_tokens"] > 0
    assert run.output == counters["candidates_tokens"] > 0
    assert run.thinking == counters["thoughts_tokens"] > 0
    standard = load_price(settings.gemini.model if settings.gemini else "")
    unpriced = run.model_copy(update={"cost_usd": 0})
    assert run.cost_usd == pytest.approx(standard.cost_usd(unpriced) / 2)
    assert sum(r.llm_calls for r in enriched) == run.calls

    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=180)
    assert report.total_in_feed == 60
    assert report.api_calls_gemini == run.calls
    assert (report.gemini_input_tokens, report.gemini_output_tokens) == (run.input, run.output)
    assert report.gemini_cached_input_tokens == run.cached_input
    assert report.gemini_thinking_tokens == run.thinking
    assert report.llm_cost_usd == pytest.approx(run.cost_usd)
    assert set(report.llm_usage_by_stage) == set(by_stage)
    spent = await _fetchval(
        stack.dsn, "SELECT cost_usd FROM run_llm_spend WHERE run_id = $1", run_id
    )
    assert spent == pytest.approx(run.cost_usd)


async def test_a_backfill_usage_survives_a_restart_of_its_driver(
    stack: StackInfo, gemini: RunningEmulator
) -> None:
    """The tokens of a batch read before a crash are stored with its answers: the jobs'
    usage after the restart still adds up to everything the Batch API reported."""
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, 30)
    settings = _settings(_env(stack, gemini, BACKFILL_LINES_PER_BATCH="1"))
    backfill_id = await backfill.create(settings, feed_id, batch_api=True)
    conn = await asyncpg.connect(stack.dsn)
    try:
        async with _planned(settings, conn, backfill_id) as (driver, items, batches):
            assert len(batches) == 3  # 30 jobs in prompts of 10, one prompt per batch
            for batch in batches:
                await driver._submit(conn, batch, items)
            collected = False
            while not collected:
                await asyncio.sleep(0.05)
                rows = await store.batches(conn, backfill_id)
                collected = await driver._collect(conn, rows[0], items)
        # the driver is gone; its batch's usage is in PostgreSQL
        stored = await store.items(conn, backfill_id)
        assert sum(overall(i.usage).calls for i in stored) == 1
        assert sum(overall(i.usage).input for i in stored) > 0
    finally:
        await conn.close()
    assert await backfill.drive(settings, backfill_id, backfill.plan_for(settings))
    conn = await asyncpg.connect(stack.dsn)
    try:
        stored = await store.items(conn, backfill_id)
    finally:
        await conn.close()
    total = overall(combined(i.usage for i in stored))
    counters = gemini.state.counters
    assert total.calls == counters["requests"]
    assert (total.input, total.output) == (counters["prompt_tokens"], counters["candidates_tokens"])


async def test_a_backfill_over_its_cost_ceiling_starts_no_more_jobs_and_says_so(
    stack: StackInfo, gemini: RunningEmulator, running_pipeline: PipelineConfig
) -> None:
    """Under LLM_RUN_COST_CEILING_USD a feed's jobs start one Batch API job at a time; once
    the feed has spent its ceiling the rest are not sent, fail with the reason, and the
    report says so. Jobs already started finish their stages."""
    feed_id = random.randint(10**6, 10**7)
    await _seed(stack.dsn, feed_id, 50)
    env = _env(stack, gemini, BACKFILL_LINES_PER_BATCH="1", LLM_RUN_COST_CEILING_USD="0.0000001")
    settings = _settings(env)
    backfill_id = await backfill.create(settings, feed_id, batch_api=True)
    assert await backfill.drive(settings, backfill_id, backfill.plan_for(settings))

    # one stage-1 prompt of 10 jobs went out; the ceiling was spent by it
    enrich_asks = [n for key, n in gemini.batches.asked.items() if key.startswith("enriched_jobs|")]
    assert enrich_asks == [1] * 10
    searchable = sum(n for k, n in gemini.batches.asked.items() if k.startswith("searchable_jobs|"))
    assert searchable == 10
    run_id = await _fetchval(
        stack.dsn, "SELECT run_id FROM backfill_runs WHERE backfill_id = $1", backfill_id
    )
    records = [CODEC.decode(value) for _, value in await enriched_messages(stack.bootstrap, run_id)]
    enriched = [r for r in records if isinstance(r, EnrichedJob)]
    done = [r for r in enriched if r.status is EnrichmentStatus.SUCCESS]
    paused = [r for r in enriched if r.status is EnrichmentStatus.FAILED]
    assert (len(done), len(paused)) == (10, 40)
    assert all(r.error and r.error.startswith(LLM_PAUSED) for r in paused)
    assert all(not r.llm_usage and r.llm_calls == 0 for r in paused)
    assert "LLM_RUN_COST_CEILING_USD" in (paused[0].error or "")
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=180)
    assert report.llm_paused_jobs == 40
    assert any(
        note.startswith("LLM calls paused: 40 jobs not enriched, the backfill spent")
        for note in report.error_summary
    ), report.error_summary
    assert report.llm_cost_usd == pytest.approx(
        overall(combined(r.llm_usage for r in done)).cost_usd
    )
