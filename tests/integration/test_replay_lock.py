"""A replay takes its feed's run lock on real PostgreSQL: it waits while a run of the feed is
in progress, then holds the feed as a trigger does; it gives up cleanly when told to."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cli import replay
from cli.stack import StackInfo
from schemas.status import RunState

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(stack: StackInfo) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(stack.dsn)
    yield connection
    await connection.close()


@pytest.fixture
async def feed_id(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "INSERT INTO feeds (name, source_url) VALUES ('replay lock', 'test://') RETURNING id"
        )
    )


async def _live_run(conn: asyncpg.Connection, feed_id: int) -> str:
    run_id = str(uuid.uuid4())
    await conn.execute(
        "INSERT INTO runs (run_id, feed_id, reason) VALUES ($1, $2, 'api')", run_id, feed_id
    )
    return run_id


async def _run_row(conn: asyncpg.Connection, run_id: str) -> dict[str, object] | None:
    row = await conn.fetchrow("SELECT reason, status FROM runs WHERE run_id = $1", run_id)
    return dict(row) if row else None


async def test_a_replay_waits_for_the_feeds_live_run_then_holds_the_feed(
    stack: StackInfo, conn: asyncpg.Connection, feed_id: int
) -> None:
    live = await _live_run(conn, feed_id)
    waited_for: list[str] = []
    replay_id = str(uuid.uuid4())
    claim = asyncio.create_task(
        replay.claim_feed(
            stack.dsn, feed_id, replay_id, wait_s=30, on_wait=waited_for.append, poll_s=0.2
        )
    )
    await asyncio.sleep(1.0)
    assert not claim.done(), "the replay waits while the live run is in progress"
    assert set(waited_for) == {live}
    assert await _run_row(conn, replay_id) is None

    await conn.execute("UPDATE runs SET status = 'COMPLETED' WHERE run_id = $1", live)
    await asyncio.wait_for(claim, timeout=10)
    assert await _run_row(conn, replay_id) == {"reason": "replay", "status": RunState.RUNNING}

    # Now the replay is the feed's run in progress: the next replay (or trigger) waits.
    with pytest.raises(replay.ReplayError, match=f"still has run {replay_id} in progress"):
        await replay.claim_feed(stack.dsn, feed_id, str(uuid.uuid4()), wait_s=0.5, poll_s=0.2)


async def test_a_replay_that_gives_up_leaves_nothing_behind(
    stack: StackInfo, conn: asyncpg.Connection, feed_id: int
) -> None:
    live = await _live_run(conn, feed_id)
    replay_id = str(uuid.uuid4())
    with pytest.raises(replay.ReplayError, match="nothing was replayed"):
        await replay.claim_feed(stack.dsn, feed_id, replay_id, wait_s=0.5, poll_s=0.2)
    assert await _run_row(conn, replay_id) is None
    assert await _run_row(conn, live) == {"reason": "api", "status": RunState.RUNNING}


async def test_a_replay_that_failed_to_publish_frees_its_feed(
    stack: StackInfo, conn: asyncpg.Connection, feed_id: int
) -> None:
    replay_id = str(uuid.uuid4())
    await replay.claim_feed(stack.dsn, feed_id, replay_id, wait_s=1)
    await replay.release_unstarted(stack.dsn, replay_id)
    assert await _run_row(conn, replay_id) is None
    await replay.claim_feed(stack.dsn, feed_id, str(uuid.uuid4()), wait_s=1)  # free again
