"""A job a reviewer approves reaches Xano with its searchable text: stage 3 ran when the job
was enriched, although its confidence sent it to review, not to Xano.

The whole way on real parts: the enricher (Gemini backend, real google-genai client, the
emulator), the router's batch on PostgreSQL, the API's approval, the syncer's publish to the
Xano emulator.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cli.stack import StackInfo
from emulators.gemini import create_app, serve
from emulators.xano.server import RunningEmulator
from schemas.identity import job_hash
from schemas.profile import load_profile
from schemas.records import (
    DedupedJob,
    EmploymentType,
    EnrichedJob,
    IngestFinished,
    JobPosting,
    RequestReason,
    RunStarted,
)
from schemas.taxonomy import load_taxonomy
from services.api.app import build
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.service import Enricher
from services.router.adapters import ledger_repository as ledger
from services.router.batch import route_batch
from services.router.config import Thresholds
from services.shared.database import Database, PoolConnections
from services.shared.settings import Secret
from services.syncer.adapters.xano import XanoClient
from services.syncer.service import Syncer
from tests.integration.api_support import api_dsn
from tests.integration.syncer_support import in_xano, xano_settings
from tests.integration.test_api import AUTH, api_settings

__all__ = ["api_dsn"]  # a fixture, imported for pytest

pytestmark = pytest.mark.integration


@pytest.fixture
async def api_database(api_dsn: str) -> AsyncIterator[Database]:
    db = Database(Secret(api_dsn))
    yield db
    await db.close()


@pytest.mark.parametrize("stage_3_fails", [False, True], ids=["stage-3-ok", "stage-3-failed"])
async def test_a_reviewer_approved_job_reaches_xano_with_its_searchable_text(
    stack: StackInfo,
    api_dsn: str,
    api_database: Database,
    emulator: RunningEmulator,
    stage_3_fails: bool,
) -> None:
    """With stage 3 failed, the job is indexed on its stage-1 keywords until its next run."""
    pool = await api_database.pool()
    feed_id = int(
        await pool.fetchval(
            "INSERT INTO feeds (name, source_url) VALUES ($1, 'test://review') RETURNING id",
            f"review-{uuid.uuid4().hex[:6]}",
        )
    )
    salt = uuid.uuid4().hex[:8]
    # a health job the audience rubric rates "adjacent": manual review, not auto-approval
    posting = JobPosting(
        external_job_id=salt,
        title="Medical Billing Specialist",
        company_name="Riverside Health",
        description_html=f"<p>Process patient claims and payments. Ref {salt}.</p>",
        employment_type=EmploymentType.FULL_TIME,
    )
    run_id = str(uuid.uuid4())
    record = DedupedJob(
        run_id=run_id, feed_id=feed_id, seq=1, job_hash=job_hash(posting), job=posting
    )
    taxonomy = load_taxonomy()
    async with serve(create_app()) as gemini:
        if stage_3_fails:
            fault = {"kind": "malformed_json", "stage": "searchable_jobs", "times": None}
            async with aiohttp.ClientSession() as http:
                armed = await http.post(f"{gemini.base_url}/__admin/faults", json=fault)
                assert armed.status == 200
        settings = GeminiSettings(api_key="k", base_url=gemini.base_url, max_attempts=1)
        backend = GeminiBackend(
            settings, taxonomy, load_profile(), gate=CallGate.create(4, 1000, 10**7)
        )
        try:
            outputs = await Enricher(backend, taxonomy, api_database).enrich([record])
        finally:
            await backend.aclose()
    enriched = outputs[0]
    assert isinstance(enriched, EnrichedJob) and enriched.enrichment is not None
    assert enriched.enrichment.searchable_text, "stage 3 ran for a job below auto-approval"
    if stage_3_fails:
        assert gemini.state.counters["fault_malformed_json"] > 0
        title = enriched.enrichment.ai_title
        assert enriched.enrichment.searchable_text.startswith(title)  # stage-1 keywords

    async with pool.acquire() as conn:
        await ledger.run_started(
            conn,
            RunStarted(
                run_id=run_id, feed_id=feed_id, reason=RequestReason.CLI,
                started_at=datetime.now(UTC),
            ),
        )  # fmt: skip
        await ledger.ingest_finished(
            conn, IngestFinished(run_id=run_id, feed_id=feed_id, emitted=1, parsed=1)
        )
    await route_batch(PoolConnections(pool), [enriched], thresholds=Thresholds())
    in_review = await pool.fetchval(
        "SELECT count(*) FROM manual_review_jobs WHERE job_hash = $1", record.job_hash
    )
    assert in_review == 1, "the job waits for a reviewer"

    async with TestClient(TestServer(build(api_settings(stack, api_dsn)))) as client:
        path = f"/review/{quote(record.job_hash, safe='')}/approve"
        answer = await client.post(path, json={"reviewer": "ana"}, headers=AUTH)
        assert answer.status == 200, await answer.text()
    async with XanoClient(xano_settings(emulator.base_url)) as xano:
        assert await Syncer(api_database, xano).publish_one(record.job_hash)
    [sent] = in_xano(emulator, feed_id)
    assert sent["searchable_text"] == enriched.enrichment.searchable_text
