"""Cost accounting and the per-run cost ceiling, the whole way: the enricher (the Gemini
backend's real google-genai client against the emulator, the cache and the run's spending on
real PostgreSQL), the router and the run's completion, the execution report, the metrics and
the console's run page.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cli.stack import StackInfo
from emulators.gemini import RunningEmulator, create_app, serve
from schemas.identity import job_hash
from schemas.profile import load_profile
from schemas.records import DedupedJob, EnrichedJob, EnrichmentStatus, JobPosting, RunStatus
from schemas.report import ExecutionReport, money
from schemas.taxonomy import Taxonomy, load_taxonomy
from schemas.usage import LLM_PAUSED, StageUsage, combined, overall
from services.api.app import build
from services.enricher.app import count_llm_usage
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.backends.gemini.pricing import load_price
from services.enricher.service import Enricher
from services.router import completion
from services.router.config import SafetyLimits
from services.shared import metrics
from services.shared.database import Database, PoolConnections
from services.shared.settings import Secret
from tests.integration.api_support import api_dsn
from tests.integration.test_api import AUTH, api_settings
from tests.integration.test_router_batches import route_run

__all__ = ["api_dsn"]  # a fixture, imported for pytest

pytestmark = pytest.mark.integration

CEILING_USD = 0.0001  # less than one batch of the emulator's answers costs


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(create_app()) as running:
        yield running


@pytest.fixture
async def database(api_dsn: str) -> AsyncIterator[Database]:
    db = Database(Secret(api_dsn))
    yield db
    await db.close()


async def _enricher(
    emulator: RunningEmulator, taxonomy: Taxonomy, db: Database, ceiling: float | None = None
) -> tuple[Enricher, GeminiBackend]:
    # batches of two: later prompts repeat a system prompt, which the emulator serves from
    # its implicit cache, so cached input tokens are part of the picture
    settings = GeminiSettings(api_key="k", base_url=emulator.base_url, batch_size=2)
    backend = GeminiBackend(
        settings, taxonomy, load_profile(), gate=CallGate.create(4, 1000, 10**7)
    )
    return Enricher(backend, taxonomy, db, cost_ceiling_usd=ceiling), backend


async def _feed(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval(
            "INSERT INTO feeds (name, source_url) VALUES ($1, 'test://cost') RETURNING id",
            f"cost-{uuid.uuid4().hex[:6]}",
        )
    )


def _jobs(run_id: str, feed_id: int, titles: list[str], first_seq: int = 1) -> list[DedupedJob]:
    salt = uuid.uuid4().hex[:8]  # new content per test run: the cache must really miss
    records = []
    for seq, title in enumerate(titles, start=first_seq):
        posting = JobPosting(
            title=title,
            company_name="Mercy General Hospital",
            description_html=f"<p>We are hiring a {title} for our hospital. Ref {salt}.</p>" * 3,
        )
        records.append(
            DedupedJob(
                run_id=run_id, feed_id=feed_id, seq=seq, job_hash=job_hash(posting), job=posting
            )
        )
    return records


TITLES = ["Registered Nurse", "ICU Nurse", "Hospital Pharmacist", "Medical Receptionist"]


async def _enriched(enricher: Enricher, records: list[DedupedJob]) -> list[EnrichedJob]:
    return [o for o in await enricher.enrich(records) if isinstance(o, EnrichedJob)]


async def _close(pool: asyncpg.Pool, outputs: list[EnrichedJob]) -> ExecutionReport:
    await route_run(pool, outputs)
    run_id = outputs[0].run_id
    done = await completion.complete_run(PoolConnections(pool), run_id, limits=SafetyLimits())
    assert done is not None
    row = await pool.fetchrow("SELECT * FROM execution_reports WHERE run_id = $1", run_id)
    assert row is not None
    return ExecutionReport.from_row(dict(row))


async def _run_page(stack: StackInfo, api_dsn: str, run_id: str) -> str:
    async with TestClient(TestServer(build(api_settings(stack, api_dsn)))) as client:
        page = await client.get(f"/console/runs/{run_id}", headers=AUTH)
        assert page.status == 200
        return html.unescape(await page.text())


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or None) or 0.0


async def test_tokens_by_kind_and_the_runs_cost_in_report_metrics_and_console(
    stack: StackInfo, api_dsn: str, database: Database, emulator: RunningEmulator,
    taxonomy: Taxonomy,
) -> None:  # fmt: skip
    enricher, backend = await _enricher(emulator, taxonomy, database)
    pool = await database.pool()
    run_id = str(uuid.uuid4())
    try:
        outputs = await _enriched(enricher, _jobs(run_id, await _feed(pool), TITLES))
    finally:
        await backend.aclose()
    assert all(o.status is EnrichmentStatus.SUCCESS for o in outputs), [o.error for o in outputs]

    # every token Gemini reported is charged to exactly one job, under its stage and kind
    counters = emulator.state.counters
    by_stage = combined(o.llm_usage for o in outputs)
    assert set(by_stage) == {"enrichment", "job_function", "searchable_text"}
    assert by_stage["enrichment"].calls == counters["stage_enriched_jobs"]
    assert by_stage["job_function"].calls == counters["stage_selections"]
    assert by_stage["searchable_text"].calls == counters["stage_searchable_jobs"]
    run = overall(by_stage)
    assert run.calls == counters["requests"]
    assert run.input == counters["prompt_tokens"]
    assert run.cached_input == counters["cached_tokens"] > 0
    assert run.output == counters["candidates_tokens"]
    assert run.thinking == 0  # the emulator's model does not think
    price = load_price("gemini-3.5-flash-lite")
    assert run.cost_usd == pytest.approx(price.cost_usd(run.model_copy(update={"cost_usd": 0})))
    assert run.cost_usd > 0

    # the metrics, by kind and by stage
    before = {
        k: _sample("jobstream_llm_tokens_total", direction=k) for k in ("input", "cached_input")
    }
    cost_before = _sample("jobstream_llm_cost_usd_total", stage="enrichment")
    count_llm_usage(list(outputs))
    assert _sample("jobstream_llm_tokens_total", direction="input") - before["input"] == run.input
    cached = _sample("jobstream_llm_tokens_total", direction="cached_input")
    assert cached - before["cached_input"] == run.cached_input
    spent = _sample("jobstream_llm_cost_usd_total", stage="enrichment") - cost_before
    assert spent == pytest.approx(by_stage["enrichment"].cost_usd)

    # the report: the run's tokens by kind, its cost, and each stage's share
    report = await _close(pool, outputs)
    assert (report.api_calls_gemini, report.gemini_input_tokens) == (run.calls, run.input)
    assert report.gemini_cached_input_tokens == run.cached_input
    assert report.gemini_output_tokens == run.output
    assert report.gemini_thinking_tokens == 0
    assert report.gemini_total_tokens == run.input + run.output
    assert report.llm_cost_usd == pytest.approx(run.cost_usd)
    assert report.llm_paused_jobs == 0
    stages = {s: StageUsage(**u) for s, u in report.llm_usage_by_stage.items()}
    assert stages.keys() == by_stage.keys()
    for stage, used in by_stage.items():
        assert stages[stage].model_copy(update={"cost_usd": 0}) == used.model_copy(
            update={"cost_usd": 0}
        )
        assert stages[stage].cost_usd == pytest.approx(used.cost_usd)

    # the console's run page: tokens by kind, the cost, and the table by stage
    page = await _run_page(stack, api_dsn, run_id)
    assert "LLM cached input tokens" in page and "LLM thinking tokens" in page
    assert f'LLM cost (USD)</th><td class="num">{money(run.cost_usd)}' in page
    assert "LLM usage by stage" in page and "job function" in page
    assert money(by_stage["searchable_text"].cost_usd) in page


async def test_a_run_over_its_cost_ceiling_stops_calling_the_llm_and_says_so(
    stack: StackInfo, api_dsn: str, database: Database, emulator: RunningEmulator,
    taxonomy: Taxonomy,
) -> None:  # fmt: skip
    enricher, backend = await _enricher(emulator, taxonomy, database, ceiling=CEILING_USD)
    pool = await database.pool()
    feed_id = await _feed(pool)
    run_id, other_run = str(uuid.uuid4()), str(uuid.uuid4())
    paused_before = _sample("jobstream_llm_paused_jobs_total")
    try:
        # the first batch spends more than the ceiling: calls already made are not undone
        first = await _enriched(enricher, _jobs(run_id, feed_id, TITLES[:2]))
        assert all(o.status is EnrichmentStatus.SUCCESS for o in first)
        assert overall(combined(o.llm_usage for o in first)).cost_usd > CEILING_USD
        requests = emulator.state.counters["requests"]

        # the next batch of that run: no LLM call for its new jobs; a job the cache knows
        # still comes from the cache; another run's jobs are not held by this run's ceiling
        later = _jobs(run_id, feed_id, TITLES[2:], first_seq=3)
        first_job_again = DedupedJob(
            run_id=run_id, feed_id=feed_id, seq=5, job_hash=first[0].job_hash, job=first[0].job
        )
        others = _jobs(other_run, feed_id, ["Night Nurse"])
        second = await _enriched(enricher, [*later, first_job_again, *others])
        held = [o for o in second if o.run_id == run_id and o.seq in (3, 4)]
        assert [o.status for o in held] == [EnrichmentStatus.FAILED] * 2
        for job in held:
            assert job.error and job.error.startswith(LLM_PAUSED)
            assert f"of its {money(CEILING_USD)} LLM cost ceiling" in job.error
            assert job.llm_calls == 0 and not job.llm_usage
        cached = next(o for o in second if o.seq == 5)
        # (its own run stored it, so it is no cache hit, but no call either)
        assert cached.status is EnrichmentStatus.SUCCESS and cached.llm_calls == 0
        other = next(o for o in second if o.run_id == other_run)
        assert other.status is EnrichmentStatus.SUCCESS and other.llm_calls > 0
        one_job = {"enriched_jobs", "selections", "searchable_jobs"}
        sent = list(emulator.state.requests)[requests:]
        assert {r["stage"] for r in sent} == one_job and all(len(r["ids"]) == 1 for r in sent)
        count_llm_usage(list(second))
        assert _sample("jobstream_llm_paused_jobs_total") - paused_before == 2

        # the report says so; the held jobs wait, unpublished, in review with the reason
        report = await _close(pool, [*first, *held, cached])
        assert report.llm_paused_jobs == 2 and report.run_status is RunStatus.PARTIAL
        note = next(n for n in report.error_summary if n.startswith("LLM calls paused"))
        assert note.startswith("LLM calls paused: 2 jobs not enriched, the run spent $")
        assert f"of its {money(CEILING_USD)} LLM cost ceiling" in note
        placed = await pool.fetch(
            "SELECT job_hash, route_reason FROM manual_review_jobs WHERE job_hash = ANY($1)",
            [o.job_hash for o in held],
        )
        assert len(placed) == 2
        reasons = [r["route_reason"] for r in placed]
        assert all(r.startswith(f"enrichment failed: {LLM_PAUSED}") for r in reasons), reasons
        page = await _run_page(stack, api_dsn, run_id)
        assert 'jobs not sent to the LLM (cost ceiling)</th><td class="num">2' in page
        assert note in page

        # nothing was cached for them: the feed's next run sends them to the LLM
        next_run = str(uuid.uuid4())
        retried = await _enriched(
            enricher,
            [DedupedJob(run_id=next_run, feed_id=feed_id, seq=n, job_hash=o.job_hash, job=o.job)
             for n, o in enumerate(held, start=1)],
        )  # fmt: skip
        assert all(o.status is EnrichmentStatus.SUCCESS for o in retried)
        assert sum(o.llm_calls for o in retried) == 3  # one request per stage, both jobs
        assert all(o.llm_usage and overall(o.llm_usage).input > 0 for o in retried)
    finally:
        await backend.aclose()
