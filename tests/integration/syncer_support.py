"""Shared by the syncer's integration tests: jobs in open_jobs, a fast client, what Xano holds."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import asyncpg

from emulators.xano.server import RunningEmulator
from services.shared.postgres import set_json_codecs
from services.syncer.adapters.xano import XanoSettings
from services.syncer.payload import to_xano_payload

# Fields Xano adds or keeps for itself; everything else must equal what open_jobs says.
XANO_BOOKKEEPING = {"id", "created_at", "updated_at"}


def xano_settings(base_url: str, **changes: Any) -> XanoSettings:
    fast = XanoSettings(
        base_url=base_url,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
        requests_per_window=1000,
        window_seconds=1.0,
        request_timeout_seconds=10.0,
    )
    return replace(fast, **changes)


def new_feed_id() -> int:
    return random.randint(10_000_000, 2_000_000_000)


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await set_json_codecs(conn)
    return conn


async def insert_open_jobs(dsn: str, feed_id: int, count: int, first: int = 0) -> None:
    """Jobs `{feed_id}-{i:05}` for i in first..first+count, as open_jobs holds approved jobs."""
    conn = await connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO open_jobs (job_hash, feed_id, route, status, title, company_name, "
            "employment_type, locations, ai_title, ai_skills, ai_confidence_score, posted_at) "
            "VALUES ($1, $2, 'open', 'ACTIVE', $3, 'Riverside Health', 'FULL_TIME', $4, $3, $5, "
            "91, now())",
            [
                (
                    f"{feed_id}-{i:05}",
                    feed_id,
                    f"Registered Nurse {i}",
                    [{"city": "Boston", "state": "MA", "country": "US", "postal_code": None}],
                    ["BLS", "ACLS"],
                )
                for i in range(first, first + count)
            ],
        )
    finally:
        await conn.close()


async def execute(dsn: str, query: str, *args: Any) -> None:
    conn = await connect(dsn)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def retitle_first(dsn: str, feed_id: int, count: int) -> None:
    """Jobs 0..count-1 of `insert_open_jobs` get a changed AI title: that many updates."""
    await execute(
        dsn,
        "UPDATE open_jobs SET ai_title = ai_title || ' (Nights)' WHERE feed_id = $1 "
        "AND job_hash = ANY($2::text[])",
        feed_id,
        [f"{feed_id}-{i:05}" for i in range(count)],
    )


async def fetch_row(dsn: str, query: str, *args: Any) -> dict[str, Any] | None:
    conn = await connect(dsn)
    try:
        row = await conn.fetchrow(query, *args)
    finally:
        await conn.close()
    return dict(row) if row else None


async def expected_payloads(dsn: str, feed_id: int) -> dict[str, dict[str, Any]]:
    conn = await connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT j.*, x.eid FROM open_jobs j JOIN xano_records x USING (job_hash) "
            "WHERE j.feed_id = $1",
            feed_id,
        )
    finally:
        await conn.close()
    return {r["job_hash"]: to_xano_payload(dict(r), eid=r["eid"]) for r in rows}


def in_xano(emulator: RunningEmulator, feed_id: int) -> list[dict[str, Any]]:
    return list(emulator.state.store.records(feed_id))


def writes(emulator: RunningEmulator) -> int:
    requests = emulator.state.counters.requests
    return requests["add"] + requests["update"] + requests["remove"]
