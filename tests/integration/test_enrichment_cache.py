"""Re-running the same jobs costs no LLM call: the enricher's PostgreSQL cache answers them.

The real path: `Enricher` with the Gemini backend (real google-genai client) pointed at the
Gemini emulator on loopback, and the real `Database` on the test stack's PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import aiohttp
import pytest

from cli.stack import StackInfo
from emulators.gemini import RunningEmulator, create_app, serve
from schemas.identity import job_hash
from schemas.profile import load_profile
from schemas.records import DedupedJob, EnrichedJob, EnrichmentStatus, JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.service import Enricher
from services.shared.database import Database
from services.shared.settings import Secret

TITLES = ("Registered Nurse - ICU", "Senior Software Engineer", "CDL-A Truck Driver")


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(create_app()) as running:
        yield running


@pytest.fixture
async def enricher(
    stack: StackInfo, emulator: RunningEmulator, taxonomy: Taxonomy
) -> AsyncIterator[Enricher]:
    settings = GeminiSettings(api_key="test-key", base_url=emulator.base_url, batch_size=2)
    backend = GeminiBackend(
        settings, taxonomy, load_profile(), gate=CallGate.create(4, 1000, 10_000_000)
    )
    db = Database(Secret(stack.dsn))
    yield Enricher(backend, taxonomy, db)
    await backend.aclose()
    await db.close()


def deduped(run_id: str, salt: str) -> list[DedupedJob]:
    jobs = []
    for seq, title in enumerate(TITLES, start=1):
        # a fresh salt per test run: the first pass must really miss the cache
        posting = JobPosting(
            title=title,
            company_name="Cache Test Co",
            # the content hash reads the HTML description
            description_html=f"<p>We hire a {title}. Reference {salt}.</p>" * 3,
        )
        jobs.append(
            DedupedJob(run_id=run_id, feed_id=1, seq=seq, job_hash=job_hash(posting), job=posting)
        )
    return jobs


def enriched(outputs: Sequence[object]) -> list[EnrichedJob]:
    assert all(isinstance(o, EnrichedJob) for o in outputs)
    return [o for o in outputs if isinstance(o, EnrichedJob)]


async def test_the_second_run_makes_no_llm_request_and_reports_cache_hits(
    enricher: Enricher, emulator: RunningEmulator
) -> None:
    salt = uuid.uuid4().hex

    first = enriched(await enricher.enrich(deduped("run-1", salt)))
    requests_after_first = emulator.state.counters["requests"]
    second = enriched(await enricher.enrich(deduped("run-2", salt)))

    assert [o.status for o in first] == [EnrichmentStatus.SUCCESS] * len(TITLES)
    assert requests_after_first > 0 and not any(o.cache_hit for o in first)
    assert sum(o.llm_calls for o in first) == requests_after_first

    assert emulator.state.counters["requests"] == requests_after_first  # zero new requests
    assert [o.status for o in second] == [EnrichmentStatus.SUCCESS] * len(TITLES)
    assert all(o.cache_hit for o in second)
    assert sum(o.llm_calls + o.input_tokens + o.output_tokens for o in second) == 0
    assert [o.run_id for o in second] == ["run-2"] * len(TITLES)
    # the cached answer is the one the LLM gave, for the same job
    assert [o.enrichment for o in second] == [o.enrichment for o in first]


async def test_a_batch_redelivered_within_its_run_is_not_counted_as_cache_hits(
    enricher: Enricher, emulator: RunningEmulator
) -> None:
    """After a crash the same run's batch comes again: its stored answers are that run's own
    work (no new LLM call, but no "cache hit" either), so the report matches a run without it."""
    salt = uuid.uuid4().hex
    first = enriched(await enricher.enrich(deduped("run-1", salt)))
    requests_after_first = emulator.state.counters["requests"]

    again = enriched(await enricher.enrich(deduped("run-1", salt)))

    assert emulator.state.counters["requests"] == requests_after_first
    assert not any(o.cache_hit for o in again)
    assert [o.enrichment for o in again] == [o.enrichment for o in first]
    later = enriched(await enricher.enrich(deduped("run-2", salt)))
    assert all(o.cache_hit for o in later)


async def test_a_refresh_request_bypasses_the_cache(
    enricher: Enricher, emulator: RunningEmulator
) -> None:
    salt = uuid.uuid4().hex
    await enricher.enrich(deduped("run-1", salt))
    before = emulator.state.counters["requests"]

    again = [j.model_copy(update={"refresh": True}) for j in deduped("run-2", salt)]
    outputs = enriched(await enricher.enrich(again))

    assert emulator.state.counters["requests"] > before
    assert not any(o.cache_hit for o in outputs)


async def test_a_failed_stage_3_is_retried_by_the_next_run_not_cached(
    enricher: Enricher, emulator: RunningEmulator
) -> None:
    salt = uuid.uuid4().hex
    async with aiohttp.ClientSession() as http:
        fault = {"kind": "malformed_json", "stage": "searchable_jobs", "times": None}
        assert (await http.post(f"{emulator.base_url}/__admin/faults", json=fault)).status == 200
        first = enriched(await enricher.enrich(deduped("run-1", salt)))
        await http.delete(f"{emulator.base_url}/__admin/faults")

    # the jobs are enriched and routable, indexed on their stage-1 keywords for now
    assert [o.status for o in first] == [EnrichmentStatus.SUCCESS] * len(TITLES)
    assert all(o.enrichment and o.enrichment.searchable_text for o in first)
    asked = emulator.state.counters["stage_searchable_jobs"]

    second = enriched(await enricher.enrich(deduped("run-2", salt)))
    assert not any(o.cache_hit for o in second)  # the incomplete answers were not cached
    assert emulator.state.counters["stage_searchable_jobs"] > asked  # stage 3 asked again
    assert all(o.enrichment and o.enrichment.searchable_text for o in second)

    third = enriched(await enricher.enrich(deduped("run-3", salt)))
    assert all(o.cache_hit for o in third)  # a whole answer is
    assert [o.enrichment for o in third] == [o.enrichment for o in second]
