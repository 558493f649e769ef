"""The console's review queue page with 10,000 jobs waiting: server time per page.

A throwaway stack's PostgreSQL holds 10,000 manual-review jobs over 20 feeds, the sectors and
job functions of the bundled taxonomy and the whole review band of confidences. The API app
serves the queue page in this process; each request is one page of 50 rows, as a reviewer asks
for it: the first page, filtered (feed, sector, function, confidence band, age), by date, and
pages deep into the queue by its keyset cursor.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from bench.report import Measurement
from bench.stacks import _throwaway_stack
from cli.stack import ensure_up, shut_down
from schemas.status import JobStatus
from schemas.taxonomy import load_taxonomy
from services.api.app import build
from services.api.config import ApiSettings
from services.shared.postgres import apply_migrations
from services.shared.settings import Secret

SUITE = "console"
JOBS = 10_000
FEEDS = 20
TOKEN = "bench-console-token"  # noqa: S105 - a throwaway stack's, loopback only


async def _fill(dsn: str, jobs: int) -> tuple[list[int], list[int], list[int]]:
    """`jobs` queued jobs; the feed, sector and function ids used."""
    await apply_migrations(dsn)
    taxonomy = load_taxonomy()
    industries = list(taxonomy.industries.values())[:40]
    functions = list(taxonomy.functions.values())[:60]
    conn = await asyncpg.connect(dsn)
    try:
        feeds = [
            int(await conn.fetchval(
                "INSERT INTO feeds (name, source_url) VALUES ($1, '/bench.xml') RETURNING id",
                f"bench-{n}"))
            for n in range(FEEDS)
        ]  # fmt: skip
        rows = []
        for n in range(jobs):
            industry, function = industries[n % len(industries)], functions[n % len(functions)]
            rows.append((
                f"bench-{n:06d}", feeds[n % FEEDS], "manual_review", "review band",
                JobStatus.MANUAL_REVIEW, f"Job {n}", f"Company {n % 300}", "<p>A job.</p>",
                f"City {n % 50}, ST", 0.50 + (n * 7919 % 3600) / 10_000,
                "audience fit; writing quality; job function", industry.sector_id,
                taxonomy.sectors[industry.sector_id].name, function.id, function.name,
            ))  # fmt: skip
        await conn.executemany(
            "INSERT INTO manual_review_jobs (job_hash, feed_id, route, route_reason, status, "
            "title, company_name, description, location_string, ai_confidence_score, "
            "confidence_reasoning, sector_id, sector, job_function_id, job_function, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
            "$15, now() - (random() * interval '20 days'))",
            rows,
        )
        await conn.execute("ANALYZE manual_review_jobs")
    finally:
        await conn.close()
    sectors = sorted({i.sector_id for i in industries})
    return feeds, sectors, [f.id for f in functions]


def _queries(feeds: list[int], sectors: list[int], functions: list[int]) -> list[str]:
    return [
        "", "?sort=date", f"?feed={feeds[3]}", f"?sector={sectors[1]}",
        f"?function={functions[5]}", "?band=mid", "?age=7d", "?age=older&sort=date",
        f"?feed={feeds[7]}&band=high&sort=date",
    ]  # fmt: skip


async def _timed(client: TestClient[Any, Any], url: str) -> tuple[float, str]:
    started = time.perf_counter()
    answer = await client.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    text = await answer.text()
    elapsed = (time.perf_counter() - started) * 1000
    assert answer.status == 200, text[:500]
    return elapsed, text


def _next_url(html: str) -> str | None:
    marker = 'rel="next"'
    if marker not in html:
        return None
    head = html.split(marker, 1)[0]
    href = head.rsplit('href="', 1)[1].split('"', 1)[0]
    return "/console/review" + href.replace("&amp;", "&")


async def run(quick: bool) -> list[Measurement]:
    jobs = 2_000 if quick else JOBS
    with tempfile.TemporaryDirectory(prefix="jobstream-bench-console-") as state_dir:
        stack = _throwaway_stack(Path(state_dir))
        info = await ensure_up(stack)
        try:
            times = await _serve_and_measure(info.dsn, info.bootstrap, jobs)
        finally:
            await shut_down(stack)
    p95 = statistics.quantiles(times, n=20)[18]
    note = f"{len(times)} pages of 50 rows, {jobs} jobs in review, filters and keyset pages"
    return [
        Measurement(SUITE, "queue page p95", round(p95, 1), "ms", "<= 100", note),
        Measurement(SUITE, "queue page median", round(statistics.median(times), 1), "ms"),
    ]


async def _serve_and_measure(dsn: str, bootstrap: str, jobs: int) -> list[float]:
    feeds, sectors, functions = await _fill(dsn, jobs)
    settings = ApiSettings(
        host="127.0.0.1", port=0, token=Secret(TOKEN), database_url=Secret(dsn),
        bootstrap_servers=bootstrap, replica="0", scheduler_enabled=False,
        scheduler_interval_s=60.0,
    )  # fmt: skip
    async with TestClient(TestServer(build(settings, background=False))) as client:
        return await _measure(client, _queries(feeds, sectors, functions))


async def _measure(client: TestClient[Any, Any], queries: list[str]) -> list[float]:
    for query in queries:  # warm: the pool, the templates, the plans
        await _timed(client, "/console/review" + query)
    times = []
    for _ in range(5):
        for query in queries:
            elapsed, html = await _timed(client, "/console/review" + query)
            times.append(elapsed)
            url = _next_url(html)
            for _ in range(4):  # deeper pages by the keyset cursor
                if url is None:
                    break
                elapsed, html = await _timed(client, url)
                times.append(elapsed)
                url = _next_url(html)
    return times
