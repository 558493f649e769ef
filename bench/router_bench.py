"""Router benchmark: persisted jobs/s through `route_batch`, and run completion latency.

Runs against a real PostgreSQL on a throwaway stack of its own (`bench.stacks`): every
measurement starts from the same empty database, and the dev stack does not gather the
bench's 20,000 jobs a run. Two runs of one synthetic feed, in the service's batch size:
run 1 inserts every job (a third to each of open, manual review and rejected), run 2 sees
90% of them again (upserts in place) and its completion archives the other 10%. Completion
latency is what the router spends after the last job's batch commits: the guarded claim,
totals, archive, report and feed statistics. Then `GROWN_FEEDS` new feeds of the same size;
the last is measured on the grown database. Autovacuum is held off throughout, so the
planner's statistics stay those of the empty tables, as on a new install's first big feeds:
plans cached while tables were small, and JIT compilation, only showed there.

The pool holds one connection per part a batch is written in (`WRITERS`), as the router's
does. On a shared machine wall-clock rates swing with the load, so each run also reports
jobs per CPU second: this process's CPU plus its PostgreSQL backends' (read from /proc; the
bench stack's server is local).
"""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from bench.cpu import process_cpu_s
from bench.report import Measurement
from bench.stacks import throwaway_pipeline
from schemas.job_tables import TABLES
from schemas.records import (
    EmploymentType,
    EnrichedJob,
    Enrichment,
    EnrichmentStatus,
    IngestFinished,
    JobPosting,
    Location,
    RequestReason,
    RunStarted,
)
from services.router import completion
from services.router.adapters import ledger_repository as ledger
from services.router.batch import WRITERS, route_batch
from services.router.config import SafetyLimits, Thresholds
from services.router.geo import gazetteer
from services.shared.database import Database, PoolConnections
from services.shared.settings import Secret

SUITE = "router"
BATCH = 500  # ROUTER_BATCH_SIZE's default
# New feeds routed after the first two runs; the last is measured on the grown database.
GROWN_FEEDS = 3
CONFIDENCES = (95.0, 70.0, 20.0)  # open, manual review, rejected
CITIES = (("Boston", "MA"), ("Denver", "CO"), ("Austin", "TX"), ("Seattle", "WA"))
_THRESHOLDS = Thresholds()


async def run(quick: bool) -> list[Measurement]:
    async with throwaway_pipeline([]) as (info, _):
        # a backend per part, none other: their CPU is ours
        db = Database(Secret(info.dsn), min_size=WRITERS, max_size=WRITERS)
        try:
            return await _measure(await db.pool(), jobs=2_000 if quick else 20_000)
        finally:
            await db.close()


async def _measure(pool: asyncpg.Pool, *, jobs: int) -> list[Measurement]:
    gazetteer()  # loaded once per process, as the service does at start
    await _hold_off_autovacuum(pool)
    feed_id, first = await _new_feed(pool, jobs)
    kept = [j for j in first if j.seq % 10 != 0]  # run 2 no longer lists every tenth job
    new = await _run(pool, feed_id, first)
    again = await _run(pool, feed_id, kept)
    for _ in range(GROWN_FEEDS - 1):
        await _run(pool, *await _new_feed(pool, jobs))
    grown = await _run(pool, *await _new_feed(pool, jobs))
    note = f"{jobs:,} jobs, batches of {BATCH}"
    cpu_note = "router + PostgreSQL CPU time"
    return [
        Measurement(SUITE, "persisted jobs/s (new jobs)", new.rate, "jobs/s", ">= 5000", note),
        Measurement(SUITE, "persisted jobs/s (seen again)", again.rate, "jobs/s", ">= 5000", note),
        Measurement(
            SUITE,
            "persisted jobs/s (new jobs, grown database)",
            grown.rate,
            "jobs/s",
            ">= 5000",
            f"{jobs:,} more after {jobs * GROWN_FEEDS:,}, statistics never refreshed",
        ),
        Measurement(SUITE, "jobs per CPU second (new jobs)", new.cpu_rate, "jobs", None, cpu_note),
        Measurement(
            SUITE, "jobs per CPU second (seen again)", again.cpu_rate, "jobs", None, cpu_note
        ),
        Measurement(SUITE, "run completion after last job", new.completion_ms, "ms", None, note),
        Measurement(
            SUITE,
            "run completion with archiving",
            again.completion_ms,
            "ms",
            None,
            f"{jobs - len(kept):,} of {jobs:,} archived",
        ),
    ]


@dataclass(frozen=True, slots=True)
class _RunFigures:
    rate: float  # persisted jobs/s, wall clock
    cpu_rate: float  # jobs per CPU second (router and PostgreSQL together)
    completion_ms: float


async def _run(pool: asyncpg.Pool, feed_id: int, jobs: list[EnrichedJob]) -> _RunFigures:
    run_id = str(uuid.uuid4())
    records = [j.model_copy(update={"run_id": run_id, "seq": n}) for n, j in enumerate(jobs)]
    await _open_run(pool, run_id, feed_id, emitted=len(records))
    backends = await _backend_pids(pool)
    # The feed's records (both runs': 40,000 models here) are the bench's, not the router's:
    # a router holds one batch at a time. Kept in sight of the garbage collector they made
    # every full collection walk them, a quarter of the router's CPU time.
    gc.collect()
    gc.freeze()
    try:
        started, cpu_before = time.perf_counter(), _cpu_s(backends)
        for start in range(0, len(records), BATCH):
            await route_batch(
                PoolConnections(pool), records[start : start + BATCH], thresholds=_THRESHOLDS
            )
        routed, cpu_after = time.perf_counter(), _cpu_s(backends)
    finally:
        gc.unfreeze()
    done = await completion.complete_run(PoolConnections(pool), run_id, limits=SafetyLimits())
    completed = time.perf_counter()
    if done is None:
        raise RuntimeError(f"bench run {run_id} did not complete")
    cpu = cpu_after - cpu_before
    return _RunFigures(
        rate=len(records) / (routed - started),
        cpu_rate=len(records) / cpu if cpu > 0 else float("nan"),
        completion_ms=(completed - routed) * 1000.0,
    )


async def _backend_pids(pool: asyncpg.Pool) -> list[int]:
    """The pool's PostgreSQL backends, every connection held at once to reach each of them."""
    async with AsyncExitStack() as held:
        conns = [await held.enter_async_context(pool.acquire()) for _ in range(WRITERS)]
        return [int(await conn.fetchval("SELECT pg_backend_pid()")) for conn in conns]


def _cpu_s(backend_pids: Sequence[int]) -> float:
    """CPU seconds of this process plus the PostgreSQL backends serving it (NaN if unreadable)."""
    return time.process_time() + sum(process_cpu_s(pid) for pid in backend_pids)


async def _hold_off_autovacuum(pool: asyncpg.Pool) -> None:
    """Every run meets the tables as a new install's first big feeds do: grown far past what
    the planner's statistics say, until autovacuum gets round to analysing them."""
    async with pool.acquire() as conn:
        for table in (*TABLES.values(), "job_locations", "run_outcomes", "runs"):
            await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


async def _new_feed(pool: asyncpg.Pool, jobs: int) -> tuple[int, list[EnrichedJob]]:
    tag = uuid.uuid4().hex[:8]
    feed_id = await _feed(pool, f"bench-router-{tag}")
    return feed_id, [_job(feed_id, "", seq, tag) for seq in range(jobs)]


async def _feed(pool: asyncpg.Pool, name: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "INSERT INTO feeds (name, source_url) VALUES ($1, $2) RETURNING id",
                name,
                "bench://router",
            )
        )


async def _open_run(pool: asyncpg.Pool, run_id: str, feed_id: int, *, emitted: int) -> None:
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await ledger.run_started(
            conn,
            RunStarted(run_id=run_id, feed_id=feed_id, reason=RequestReason.CLI, started_at=now),
        )
        await ledger.ingest_finished(
            conn,
            IngestFinished(run_id=run_id, feed_id=feed_id, emitted=emitted, parsed=emitted),
        )


def _job(feed_id: int, run_id: str, seq: int, tag: str) -> EnrichedJob:
    city, state = CITIES[seq % len(CITIES)]
    title = f"Registered Nurse {seq}"
    text = f"{tag}: care for patients on a busy unit in {city}; job {seq}. " * 8
    posting = JobPosting(
        external_job_id=f"{tag}-{seq}",
        title=title,
        company_name=f"Bench Health {tag}",
        description_html=f"<p>{text}</p>",
        application_url=f"https://jobs.example/{tag}/{seq}",
        employment_type=EmploymentType.FULL_TIME,
        locations=(Location(city=city, state=state, country="US"),),
    )
    enrichment = Enrichment(
        ai_title=title,
        ai_description=text[:200],
        tasks=("assess patients", "give medications"),
        search_terms=("nurse", "rn"),
        tags=("healthcare",),
        skills=("BLS", "ACLS"),
        confidence=CONFIDENCES[seq % len(CONFIDENCES)],
        confidence_reasons=("bench",),
        searchable_text=text,
    )
    return EnrichedJob(
        run_id=run_id,
        feed_id=feed_id,
        seq=seq,
        job_hash=f"bench-{tag}-{seq}",
        job=posting,
        status=EnrichmentStatus.SUCCESS,
        enrichment=enrichment,
        enrichment_version="bench",
    )
