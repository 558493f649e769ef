"""Xano reconcile at scale: requests used against the minimum, wall time, free-plan time.

A feed of N open jobs (100k; 10k with --quick) is reconciled into an empty Xano emulator, then
1% of the jobs change and it is reconciled again. The minimum number of requests for a
reconcile is the listing pages plus ceil(changes / batch size); the free plan allows 10
requests per 20 s, which gives the time that plan implies.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import asyncpg

from bench.report import Measurement
from cli.stack import StackConfig, ensure_up
from emulators.xano.server import serve
from emulators.xano.settings import EmulatorSettings
from schemas.status import JobStatus, SyncStatus
from services.shared.database import Database
from services.shared.postgres import set_json_codecs
from services.shared.settings import Secret
from services.syncer.adapters.xano import XanoClient, XanoSettings
from services.syncer.service import Syncer

SUITE = "xano"
FREE_PLAN_REQUESTS, FREE_PLAN_WINDOW_S = 10, 20.0


async def run(quick: bool) -> list[Measurement]:
    jobs = 10_000 if quick else 100_000
    stack = await ensure_up(StackConfig.from_env())
    feed_id = random.randint(10_000_000, 2_000_000_000)
    await _insert_jobs(stack.dsn, feed_id, jobs)
    db = Database(Secret(stack.dsn))
    try:
        async with serve(EmulatorSettings()) as emulator:
            settings = XanoSettings(base_url=emulator.base_url, requests_per_window=100_000)
            first = await _reconcile(db, settings, emulator, feed_id, changes=jobs, pages=1)
            await _change_one_percent(stack.dsn, feed_id)
            changed = jobs // 100
            pages = math.ceil(jobs / settings.per_page)
            second = await _reconcile(db, settings, emulator, feed_id, changes=changed, pages=pages)
    finally:
        await db.close()
        await _drop_feed(stack.dsn, feed_id)
    return _measurements("fresh feed", jobs, first) + _measurements("1% changed", jobs, second)


async def _reconcile(
    db: Database,
    settings: XanoSettings,
    emulator: Any,
    feed_id: int,
    *,
    changes: int,
    pages: int,
) -> dict[str, float]:
    before = sum(emulator.state.counters.requests.values())
    started = time.perf_counter()
    async with XanoClient(settings) as client:
        outcome = await Syncer(db, client).reconcile(feed_id)
    seconds = time.perf_counter() - started
    if outcome.status != SyncStatus.SYNCED:
        raise RuntimeError(f"reconcile failed: {outcome.errors}")
    used = sum(emulator.state.counters.requests.values()) - before
    minimum = pages + math.ceil(changes / settings.batch_size)
    return {"requests": used, "minimum": minimum, "seconds": seconds}


def _measurements(scenario: str, jobs: int, figures: dict[str, float]) -> list[Measurement]:
    requests = figures["requests"]
    free_plan_s = math.ceil(requests / FREE_PLAN_REQUESTS) * FREE_PLAN_WINDOW_S
    label = f"{scenario}, {jobs:,} jobs"
    return [
        Measurement(SUITE, f"{label}: requests used", requests, "requests"),
        Measurement(
            SUITE,
            f"{label}: used / minimum",
            requests / figures["minimum"],
            "ratio",
            target="<= 1.0",
            note=f"minimum {figures['minimum']:.0f} (pages + ceil(changes / batch))",
        ),
        Measurement(SUITE, f"{label}: wall time, no rate limit", figures["seconds"], "s"),
        Measurement(SUITE, f"{label}: time the free plan implies", free_plan_s, "s"),
    ]


async def _insert_jobs(dsn: str, feed_id: int, count: int) -> None:
    conn = await asyncpg.connect(dsn)
    active = str(JobStatus.ACTIVE)
    try:
        await conn.copy_records_to_table(
            "open_jobs",
            columns=["job_hash", "feed_id", "route", "status", "title", "company_name"],
            records=[
                (f"{feed_id}-{i:07}", feed_id, "open", active, f"Analyst {i}", "Northwind")
                for i in range(count)
            ],
        )
    finally:
        await conn.close()


async def _change_one_percent(dsn: str, feed_id: int) -> None:
    conn = await asyncpg.connect(dsn)
    await set_json_codecs(conn)
    try:
        await conn.execute(
            "UPDATE open_jobs SET title = title || ' (changed)' WHERE feed_id = $1 "
            "AND right(job_hash, 2) = '00'",
            feed_id,
        )
    finally:
        await conn.close()


async def _drop_feed(dsn: str, feed_id: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM open_jobs WHERE feed_id = $1", feed_id)
        await conn.execute("DELETE FROM xano_records WHERE feed_id = $1", feed_id)
    finally:
        await conn.close()
