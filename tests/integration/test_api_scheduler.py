"""The scheduler: with two API replicas, a due feed is requested exactly once per period."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest

from cli.stack import StackInfo
from services.api.app import control_plane
from services.api.scheduler import Scheduler
from tests.integration.api_support import api_dsn
from tests.integration.test_api import api_settings

__all__ = ["api_dsn"]  # a fixture, imported for pytest


@pytest.fixture
async def replicas(stack: StackInfo, api_dsn: str) -> AsyncIterator[list[Scheduler]]:
    planes = [control_plane(api_settings(stack, api_dsn, replica=str(i))) for i in range(2)]
    yield [Scheduler(plane) for plane in planes]
    for plane in planes:
        await plane.close()


async def _feed_due_every_minute(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO feeds (name, source_url, check_frequency_minutes) "
            "VALUES ($1, '/nonexistent/feed.xml', 1) RETURNING id",
            f"scheduled-{uuid.uuid4().hex[:8]}",
        )
    )


async def _runs_of(conn: asyncpg.Connection, feed_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT run_id, reason, status FROM runs WHERE feed_id = $1 ORDER BY started_at", feed_id
    )


async def test_two_replicas_request_each_due_run_once(
    api_dsn: str, replicas: list[Scheduler]
) -> None:
    conn = await asyncpg.connect(api_dsn)
    try:
        feed_id = await _feed_due_every_minute(conn)
        for minute in range(1, 4):
            # Both replicas tick at the same moment, twice: the lock lets one request it.
            for _ in range(2):
                await asyncio.gather(*(r.tick() for r in replicas))
            runs = await _runs_of(conn, feed_id)
            assert len(runs) == minute
            assert {r["reason"] for r in runs} == {"schedule"}
            next_check = await conn.fetchval(
                "SELECT next_check_at - last_checked_at FROM feeds WHERE id = $1", feed_id
            )
            assert next_check == timedelta(minutes=1)  # due again one period after its check
            # The run finishes and a minute passes: the feed is due again.
            await conn.execute("UPDATE runs SET status = 'COMPLETED' WHERE feed_id = $1", feed_id)
            await conn.execute(
                "UPDATE feeds SET next_check_at = now() - interval '1 second' WHERE id = $1",
                feed_id,
            )
    finally:
        await conn.execute("UPDATE feeds SET is_active = FALSE WHERE id = $1", feed_id)
        await conn.close()


async def test_a_feed_without_a_frequency_is_never_scheduled(
    api_dsn: str, replicas: list[Scheduler]
) -> None:
    conn = await asyncpg.connect(api_dsn)
    try:
        feed_id = await conn.fetchval(
            "INSERT INTO feeds (name, source_url) VALUES ($1, '/x') RETURNING id",
            f"manual-{uuid.uuid4().hex[:8]}",
        )
        await asyncio.gather(*(r.tick() for r in replicas))
        assert await _runs_of(conn, feed_id) == []
    finally:
        await conn.close()


async def test_the_api_process_ticks_then_waits_its_interval(
    stack: StackInfo, api_dsn: str
) -> None:
    """The loop the API process runs: a due feed is requested by the first tick, and each
    tick is followed by a wait of `scheduler_interval_s` (here: the test's own sleep)."""
    settings = api_settings(stack, api_dsn, scheduler_interval_s=7.5)
    plane = control_plane(settings)
    waits: list[float] = []
    third_wait = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            third_wait.set()
            await asyncio.Event().wait()  # until `stop` cancels the loop

    scheduler = Scheduler(plane, sleep=sleep)
    conn = await asyncpg.connect(api_dsn)
    feed_id = await _feed_due_every_minute(conn)
    try:
        scheduler.start()
        async with asyncio.timeout(30):
            await third_wait.wait()
        await scheduler.stop()
        assert waits == [7.5, 7.5, 7.5]
        assert [r["reason"] for r in await _runs_of(conn, feed_id)] == ["schedule"]
    finally:
        await scheduler.stop()
        await conn.execute("UPDATE feeds SET is_active = FALSE WHERE id = $1", feed_id)
        await conn.close()
        await plane.close()
