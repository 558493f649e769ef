"""A job Gemini refuses, the whole way: the real google-genai client against the emulator,
the enricher with its cache on real PostgreSQL, and the router. The refused job goes to
manual review with Gemini's reason; it is not retried in a loop, not dead-lettered, not
cached (its next run asks again), and its batch-mates are enriched as usual."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from emulators.gemini import RunningEmulator, create_app, serve
from schemas.identity import job_hash
from schemas.profile import load_profile
from schemas.records import DedupedJob, EnrichedJob, EnrichmentStatus, JobPosting
from schemas.status import JobStatus
from schemas.taxonomy import load_taxonomy
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.service import Enricher
from services.shared.database import Database
from tests.integration.test_router_batches import route_run

pytestmark = pytest.mark.integration


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(create_app()) as running:
        faults = [
            {"kind": "blocked_prompt", "title_contains": "Blasting", "times": None},
            {"kind": "safety", "title_contains": "Demolition", "times": None},
        ]
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{running.base_url}/__admin/faults", json={"faults": faults}) as armed,
        ):
            assert armed.status == 200, await armed.text()
        yield running


@pytest.fixture
async def enricher(emulator: RunningEmulator, database: Database) -> AsyncIterator[Enricher]:
    taxonomy = load_taxonomy()
    settings = GeminiSettings(api_key="test-key", base_url=emulator.base_url, batch_size=10)
    backend = GeminiBackend(
        settings, taxonomy, load_profile(), gate=CallGate.create(4, 1000, 10**7)
    )
    yield Enricher(backend, taxonomy, database)
    await backend.aclose()


POSTINGS = [
    ("Software Engineer", "Acme Software", "Build our platform in Python."),
    ("Blasting Technician", "Quarry Works", "Handle explosives at the quarry."),
    ("Registered Nurse", "St. Mary Hospital", "Care for patients on the ward."),
    ("Demolition Operative", "Wreckers Ltd", "Take down old buildings safely."),
]


async def test_a_refused_job_goes_to_manual_review_with_the_reason_and_is_not_cached(
    database: Database, enricher: Enricher, emulator: RunningEmulator
) -> None:
    pool = await database.pool()
    feed_id = int(
        await pool.fetchval(
            "INSERT INTO feeds (name, source_url) VALUES ($1, 'test://refusals') RETURNING id",
            f"refusals-{uuid.uuid4().hex[:6]}",
        )
    )
    run_id = str(uuid.uuid4())
    salt = uuid.uuid4().hex[:8]  # new content per test run: the cache must really miss
    records = []
    for seq, (title, company, text) in enumerate(POSTINGS, start=1):
        posting = JobPosting(
            title=title, company_name=company, description_html=f"<p>{text} Ref {salt}.</p>"
        )
        records.append(
            DedupedJob(
                run_id=run_id, feed_id=feed_id, seq=seq, job_hash=job_hash(posting), job=posting
            )
        )

    outputs = [o for o in await enricher.enrich(records) if isinstance(o, EnrichedJob)]
    statuses = [o.status for o in outputs]
    assert statuses == [
        EnrichmentStatus.SUCCESS,
        EnrichmentStatus.FAILED,
        EnrichmentStatus.SUCCESS,
        EnrichmentStatus.FAILED,
    ]
    await route_run(pool, outputs)

    rows = {
        row["job_hash"]: row
        for row in await pool.fetch(
            "SELECT job_hash, route_reason, status FROM manual_review_jobs "
            "WHERE job_hash = ANY($1)",
            [r.job_hash for r in records],
        )
    }
    blasting, demolition = rows[records[1].job_hash], rows[records[3].job_hash]
    assert blasting["route_reason"] == (
        "enrichment failed: enrichment: prompt blocked by Gemini (blockReason SAFETY)"
    )
    assert demolition["route_reason"] == (
        "enrichment failed: enrichment: answer stopped by Gemini (finishReason SAFETY)"
    )
    assert blasting["status"] == demolition["status"] == JobStatus.ENRICHMENT_FAILED

    # split out, never looped on: the refused job was asked alone exactly once per stage-1 pass
    alone = [r["ids"] for r in emulator.state.requests if r["stage"] == "enriched_jobs"]
    assert alone.count(["J2"]) == 1 and alone.count(["J4"]) == 1
    # not cached: the next run asks Gemini again; the others are cached
    cached = await pool.fetch(
        "SELECT job_hash FROM enrichment_cache WHERE job_hash = ANY($1)",
        [r.job_hash for r in records],
    )
    assert {row["job_hash"] for row in cached} == {records[0].job_hash, records[2].job_hash}
