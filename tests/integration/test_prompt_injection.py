"""Prompt injection, the whole way: postings that try to steer the model go through the
enricher (the Gemini backend's real google-genai client, against the emulator scripted to
answer as a model that obeyed them, the trust checks, the cache on real PostgreSQL), the
router and the run's completion; none is auto-approved, and why is in the execution report
and on the console's review queue and job page.

The same set runs against the real model in `tests/live/test_gemini_injection_live.py`.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cli.stack import StackInfo
from emulators.gemini import RunningEmulator, create_app, serve
from schemas.identity import job_hash
from schemas.profile import load_profile
from schemas.records import (
    DedupedJob,
    EnrichedJob,
    JobPosting,
    RunStatus,
)
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.api.app import build
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import CallGate
from services.enricher.backends.offline.backend import OfflineBackend
from services.enricher.service import Enricher
from services.enricher.trust import TrustChecks
from services.router import completion
from services.router.config import SafetyLimits
from services.shared.database import Database, PoolConnections
from services.shared.settings import Secret
from tests.injection_set import ATTEMPTS, GOOD_CONTROLS, STEERED_CONTROL, emulator_overrides
from tests.integration.api_support import api_dsn
from tests.integration.test_api import AUTH, api_settings
from tests.integration.test_router_batches import route_run

__all__ = ["api_dsn"]  # a fixture, imported for pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(create_app()) as running:
        async with aiohttp.ClientSession() as http:
            armed = await http.post(
                f"{running.base_url}/__admin/faults", json={"faults": emulator_overrides()}
            )
            assert armed.status == 200, await armed.text()
        yield running


@pytest.fixture
async def database(api_dsn: str) -> AsyncIterator[Database]:
    db = Database(Secret(api_dsn))
    yield db
    await db.close()


@pytest.fixture
async def enricher(
    emulator: RunningEmulator, taxonomy: Taxonomy, database: Database
) -> AsyncIterator[Enricher]:
    settings = GeminiSettings(api_key="test-key", base_url=emulator.base_url, batch_size=20)
    profile = load_profile()
    backend = GeminiBackend(settings, taxonomy, profile, gate=CallGate.create(4, 1000, 10**7))
    checks = TrustChecks(OfflineBackend(taxonomy, profile), max_gap=20)
    yield Enricher(backend, taxonomy, database, checks=checks)
    await backend.aclose()


def _deduped(run_id: str, feed_id: int, postings: list[JobPosting]) -> list[DedupedJob]:
    salt = uuid.uuid4().hex[:8]  # new content per test run: the cache must really miss
    records = []
    for seq, posting in enumerate(postings, start=1):
        salted = posting.model_copy(update={"external_job_id": f"{salt}-{seq}"})
        salted = salted.model_copy(
            update={"description_html": f"{posting.description_html}<p>Ref {salt}.</p>"}
        )
        records.append(
            DedupedJob(
                run_id=run_id, feed_id=feed_id, seq=seq, job_hash=job_hash(salted), job=salted
            )
        )
    return records


async def _route_and_close(pool: asyncpg.Pool, outputs: list[EnrichedJob]) -> None:
    await route_run(pool, outputs)
    first = outputs[0]
    done = await completion.complete_run(PoolConnections(pool), first.run_id, limits=SafetyLimits())
    assert done is not None, "the run completes once every job has its outcome"


async def _placed(pool: asyncpg.Pool, hashes: list[str]) -> dict[str, tuple[str, str]]:
    """Per job hash: (its table, its route reason)."""
    rows = await pool.fetch(
        "SELECT 'open' AS t, job_hash, route_reason FROM open_jobs WHERE job_hash = ANY($1) "
        "UNION ALL SELECT 'review', job_hash, route_reason FROM manual_review_jobs "
        "WHERE job_hash = ANY($1) UNION ALL SELECT 'rejected', job_hash, route_reason "
        "FROM rejected_jobs WHERE job_hash = ANY($1)",
        hashes,
    )
    return {row["job_hash"]: (row["t"], row["route_reason"]) for row in rows}


async def test_no_injected_job_is_auto_approved_and_the_reasons_are_shown(
    stack: StackInfo, api_dsn: str, database: Database, enricher: Enricher
) -> None:
    pool = await database.pool()
    feed_id = int(
        await pool.fetchval(
            "INSERT INTO feeds (name, source_url) VALUES ($1, 'test://injection') RETURNING id",
            f"injection-{uuid.uuid4().hex[:6]}",
        )
    )
    run_id = str(uuid.uuid4())
    postings = [a.posting for a in ATTEMPTS] + [*GOOD_CONTROLS, STEERED_CONTROL]
    records = _deduped(run_id, feed_id, postings)
    outputs = [o for o in await enricher.enrich(records) if isinstance(o, EnrichedJob)]
    assert all(o.enrichment is not None for o in outputs), [o.error for o in outputs]

    # what the model answered is what the emulator was scripted to answer
    by_seq = {o.seq: o for o in outputs}
    assert by_seq[1].enrichment is not None and by_seq[1].enrichment.confidence == 100

    await _route_and_close(pool, outputs)
    placed = await _placed(pool, [r.job_hash for r in records])

    for attempt, record in zip(ATTEMPTS, records, strict=False):
        table, reason = placed[record.job_hash]
        assert table != "open", f"{attempt.name}: auto-approved ({reason})"
        assert table == "review", f"{attempt.name}: {table} ({reason})"
        assert reason.startswith("held for review: "), reason
        for check in attempt.caught_by:
            assert check in reason, f"{attempt.name}: {check!r} not in {reason!r}"
    good = records[len(ATTEMPTS) : len(ATTEMPTS) + len(GOOD_CONTROLS)]
    assert [placed[r.job_hash][0] for r in good] == ["open"] * len(GOOD_CONTROLS), [
        placed[r.job_hash] for r in good
    ]
    # clean output: the hidden markup was stored sanitised, links only to web addresses
    hidden = records[[a.name for a in ATTEMPTS].index("hidden markup rewrites the job")]
    stored = await pool.fetchval(
        "SELECT description FROM manual_review_jobs WHERE job_hash = $1", hidden.job_hash
    )
    assert "Operate forklifts" in stored and "style" not in stored and "display" not in stored
    steered_table, steered_reason = placed[records[-1].job_hash]
    assert steered_table == "review" and "model and checks disagree" in steered_reason

    # the report names the checks and how many jobs each held
    report = await pool.fetchrow(
        "SELECT run_status, jobs_auto_approved, jobs_manual_review, error_summary "
        "FROM execution_reports WHERE run_id = $1",
        run_id,
    )
    assert report is not None
    assert (report["run_status"], report["jobs_auto_approved"]) == (
        RunStatus.SUCCESS,
        len(GOOD_CONTROLS),
    )
    notes = _json_list(report["error_summary"])
    held = len(ATTEMPTS) + 1
    assert any(n.endswith("held for review: model and checks disagree") for n in notes), notes
    assert any("held for review: the posting addresses the model" in n for n in notes), notes
    assert f"{held - 3} jobs held for review: model and checks disagree" in notes, notes

    # the console shows each held job's reason in the queue and on its page
    async with TestClient(TestServer(build(api_settings(stack, api_dsn)))) as client:
        queue = await client.get(f"/console/review?feed={feed_id}", headers=AUTH)
        assert queue.status == 200
        page = html.unescape(await queue.text())
        for record in records[: len(ATTEMPTS)]:
            assert placed[record.job_hash][1] in page
        job = records[0]
        answer = await client.get(f"/console/jobs/{quote(job.job_hash, safe='')}", headers=AUTH)
        assert answer.status == 200
        text = html.unescape(await answer.text())
        assert "Why manual review:" in text and placed[job.job_hash][1] in text


def _json_list(value: Any) -> list[str]:
    decoded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return [str(item) for item in decoded]


async def test_a_cached_answer_is_checked_again_and_prompts_never_mix_feeds(
    enricher: Enricher, emulator: RunningEmulator
) -> None:
    attempt = ATTEMPTS[0]
    first_feed = _deduped(str(uuid.uuid4()), 1, [attempt.posting, *GOOD_CONTROLS])
    other_feed = _deduped(str(uuid.uuid4()), 2, [STEERED_CONTROL])
    # one consumer batch holding two feeds' jobs, interleaved
    mixed = [first_feed[0], other_feed[0], *first_feed[1:]]
    first = [o for o in await enricher.enrich(mixed) if isinstance(o, EnrichedJob)]

    stage_one = [r for r in emulator.state.requests if r["stage"] == "enriched_jobs"]
    assert sorted(len(r["ids"]) for r in stage_one) == [1, 3], "one prompt per feed"
    assert first[0].review_reasons and not first[1].review_reasons

    again = [r.model_copy(update={"run_id": str(uuid.uuid4())}) for r in mixed]
    second = [o for o in await enricher.enrich(again) if isinstance(o, EnrichedJob)]
    assert all(o.cache_hit for o in second)
    assert second[0].review_reasons == first[0].review_reasons  # the cache earns no trust
