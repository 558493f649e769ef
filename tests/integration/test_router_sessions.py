"""A router's job locks do not outlive a replica that stopped mid-batch: its sessions are named,
probed by TCP keepalives, and ended by the server once idle in a transaction for the router's
timeout, which frees the locks another replica waits on; the error the frozen replica meets
when it resumes is an outage to wait out, not poison."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cli import control
from cli.stack import StackInfo
from services.router.adapters import jobs_repository as jobs
from services.router.app import session_settings
from services.router.config import RouterSettings
from services.shared.database import Database
from services.shared.failures import is_retriable

pytestmark = pytest.mark.integration

TIMEOUT_S = 1.0


@pytest.fixture
async def router_db(stack: StackInfo) -> AsyncIterator[Database]:
    env = {
        "DATABASE_URL": stack.dsn,
        "REPLICA_ID": "7",
        "ROUTER_IDLE_IN_TRANSACTION_TIMEOUT_S": str(TIMEOUT_S),
    }
    settings = RouterSettings.from_env(env)
    db = Database(settings.database_url, max_size=2, session=session_settings(settings))
    yield db
    await db.close()


async def test_router_sessions_are_named_probed_and_bounded(router_db: Database) -> None:
    pool = await router_db.pool()
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW application_name") == "jobstream-router-7"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "1s"
        assert await conn.fetchval("SHOW tcp_keepalives_idle") == "30"
        assert await conn.fetchval("SHOW tcp_user_timeout") == "60000"
        assert await conn.fetchval("SHOW jit") == "off"


async def test_a_stalled_transaction_frees_its_job_locks_for_the_next_replica(
    stack: StackInfo, router_db: Database
) -> None:
    pool = await router_db.pool()
    locked, resume = asyncio.Event(), asyncio.Event()

    async def stalled_batch() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await jobs.lock_jobs(conn, ["job-a", "job-b"])
            locked.set()
            await resume.wait()  # a frozen replica: no statement, no goodbye
            await conn.fetchval("SELECT 1")

    frozen = asyncio.create_task(stalled_batch())
    other = await control.connect(stack.dsn)
    try:
        await asyncio.wait_for(locked.wait(), timeout=10)
        # Another replica routing job-b waits for it until the server ends the stalled
        # session: not for ever.
        async with other.transaction():
            await asyncio.wait_for(jobs.lock_jobs(other, ["job-b"]), timeout=TIMEOUT_S + 10)
    finally:
        resume.set()
        await other.close()
    # The frozen replica, resumed, finds its session gone: an outage to wait out, not poison.
    with pytest.raises(Exception) as failed:
        await frozen
    assert is_retriable(failed.value), repr(failed.value)
    async with pool.acquire() as conn:  # and its pool has a working session for the retry
        assert await conn.fetchval("SELECT 1") == 1
