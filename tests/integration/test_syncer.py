"""The syncer's reconcile on real PostgreSQL against the Xano emulator: Xano mirrors open_jobs."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from emulators.xano.faults import parse_faults
from emulators.xano.server import RunningEmulator, serve
from emulators.xano.settings import EmulatorSettings, RateLimit
from services.shared.database import Database
from services.shared.postgres import set_json_codecs
from services.shared.settings import Secret
from services.syncer.adapters.xano import XanoClient, XanoSettings
from services.syncer.payload import to_xano_payload
from services.syncer.service import Syncer

pytestmark = pytest.mark.integration

# Fields Xano adds or keeps for itself; everything else must equal what open_jobs says.
XANO_BOOKKEEPING = {"id", "created_at", "updated_at"}


def _xano_settings(base_url: str, **changes: Any) -> XanoSettings:
    fast = XanoSettings(
        base_url=base_url,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.05,
        requests_per_window=1000,
        window_seconds=1.0,
        request_timeout_seconds=10.0,
    )
    return replace(fast, **changes)


def _feed_id() -> int:
    return random.randint(10_000_000, 2_000_000_000)


async def _connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await set_json_codecs(conn)
    return conn


async def _open_jobs(dsn: str, feed_id: int, count: int) -> None:
    conn = await _connect(dsn)
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
                for i in range(count)
            ],
        )
    finally:
        await conn.close()


async def _execute(dsn: str, query: str, *args: Any) -> None:
    conn = await _connect(dsn)
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def _expected_payloads(dsn: str, feed_id: int) -> dict[str, dict[str, Any]]:
    conn = await _connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT j.*, x.eid FROM open_jobs j JOIN xano_records x USING (job_hash) "
            "WHERE j.feed_id = $1",
            feed_id,
        )
    finally:
        await conn.close()
    return {r["job_hash"]: to_xano_payload(dict(r), eid=r["eid"]) for r in rows}


def _in_xano(emulator: RunningEmulator, feed_id: int) -> list[dict[str, Any]]:
    return list(emulator.state.store.records(feed_id))


def _writes(emulator: RunningEmulator) -> int:
    requests = emulator.state.counters.requests
    return requests["add"] + requests["update"] + requests["remove"]


@pytest.fixture
async def database(stack: StackInfo) -> AsyncIterator[Database]:
    db = Database(Secret(stack.dsn))
    yield db
    await db.close()


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(EmulatorSettings()) as running:
        yield running


async def _reconcile(db: Database, settings: XanoSettings, feed_id: int) -> Any:
    async with XanoClient(settings) as client:
        return await Syncer(db, client).reconcile(feed_id)


async def test_a_fresh_feed_makes_xano_equal_open_jobs_field_by_field(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = _feed_id()
    await _open_jobs(stack.dsn, feed_id, 30)
    outcome = await _reconcile(database, _xano_settings(emulator.base_url), feed_id)

    assert (outcome.status, outcome.added, outcome.failed) == ("SYNCED", 30, 0)
    expected = await _expected_payloads(stack.dsn, feed_id)
    mirrored = {r["job_hash"]: r for r in _in_xano(emulator, feed_id)}
    assert mirrored.keys() == expected.keys()
    for job_hash, payload in expected.items():
        record = {k: v for k, v in mirrored[job_hash].items() if k not in XANO_BOOKKEEPING}
        assert record == payload


async def test_a_run_with_five_changed_jobs_sends_only_those(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = _feed_id()
    await _open_jobs(stack.dsn, feed_id, 30)
    settings = _xano_settings(emulator.base_url)
    await _reconcile(database, settings, feed_id)
    await _execute(
        stack.dsn,
        "UPDATE open_jobs SET ai_title = ai_title || ' (Nights)' WHERE feed_id = $1 "
        "AND job_hash = ANY($2::text[])",
        feed_id,
        [f"{feed_id}-{i:05}" for i in range(5)],
    )
    before = dict(emulator.state.counters.requests)
    outcome = await _reconcile(database, settings, feed_id)
    after = emulator.state.counters.requests
    sent = {name: after[name] - before.get(name, 0) for name in ("list", "add", "update", "remove")}

    assert (outcome.added, outcome.updated, outcome.deleted) == (0, 5, 0)
    assert sent == {"list": 1, "add": 0, "update": 1, "remove": 0}
    titles = {r["ai_title"] for r in _in_xano(emulator, feed_id)}
    assert "Registered Nurse 3 (Nights)" in titles


async def test_jobs_no_longer_open_are_deleted_from_xano(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = _feed_id()
    await _open_jobs(stack.dsn, feed_id, 10)
    settings = _xano_settings(emulator.base_url)
    await _reconcile(database, settings, feed_id)
    await _execute(
        stack.dsn,
        "DELETE FROM open_jobs WHERE feed_id = $1 AND job_hash = ANY($2::text[])",
        feed_id,
        [f"{feed_id}-{i:05}" for i in range(3)],
    )
    outcome = await _reconcile(database, settings, feed_id)

    assert (outcome.added, outcome.updated, outcome.deleted) == (0, 0, 3)
    assert len(_in_xano(emulator, feed_id)) == 7


async def test_a_listing_that_fails_on_page_3_writes_nothing_and_says_so(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = _feed_id()
    await _open_jobs(stack.dsn, feed_id, 30)
    settings = _xano_settings(emulator.base_url, per_page=5)
    await _reconcile(database, settings, feed_id)
    await _execute(stack.dsn, "DELETE FROM open_jobs WHERE feed_id = $1", feed_id)
    emulator.state.faults = parse_faults({"fail_listing_on_page": {"page": 3, "count": 100}})
    writes_before = _writes(emulator)
    outcome = await _reconcile(database, settings, feed_id)

    assert outcome.status == "FAILED"
    assert "listing" in outcome.errors[0]
    assert _writes(emulator) == writes_before  # no mass delete of the 30 still in Xano
    assert len(_in_xano(emulator, feed_id)) == 30


async def test_under_the_free_plan_limit_a_1000_job_reconcile_loses_no_write(
    stack: StackInfo, database: Database
) -> None:
    # Xano's free plan, 10 requests per 20 s, with the window shortened to keep the test quick.
    limit = RateLimit(requests=10, window_seconds=1.0)
    async with serve(EmulatorSettings(rate_limit=limit)) as emulator:
        feed_id = _feed_id()
        await _open_jobs(stack.dsn, feed_id, 1000)
        settings = _xano_settings(
            emulator.base_url, batch_size=50, requests_per_window=10, window_seconds=1.0
        )
        outcome = await _reconcile(database, settings, feed_id)
        counters = emulator.state.counters

        assert (outcome.status, outcome.added, outcome.failed) == ("SYNCED", 1000, 0)
        assert len({r["job_hash"] for r in _in_xano(emulator, feed_id)}) == 1000
        assert counters.peak_arrivals_in_window <= 10
        assert counters.responses[429] == 0


RECONCILE_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from dataclasses import replace
    from services.shared.database import Database
    from services.shared.settings import Secret
    from services.syncer.adapters.xano import XanoClient, XanoSettings
    from services.syncer.service import Syncer

    async def main():
        settings = XanoSettings(base_url=os.environ["XANO_URL"], batch_size=10)
        settings = replace(settings, requests_per_window=1000, window_seconds=1.0)
        db = Database(Secret(os.environ["DSN"]))
        async with XanoClient(settings) as client:
            await Syncer(db, client).reconcile(int(os.environ["FEED_ID"]))

    asyncio.run(main())
    """
)


async def test_a_syncer_killed_mid_reconcile_converges_without_duplicates_on_restart(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = _feed_id()
    await _open_jobs(stack.dsn, feed_id, 400)
    emulator.state.faults = parse_faults({"slow_ms": 60})  # ~40 adds: a few seconds to kill in
    env = {
        **os.environ,
        "XANO_URL": emulator.base_url,
        "DSN": stack.dsn,
        "FEED_ID": str(feed_id),
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RECONCILE_SCRIPT, env=env, cwd=PROJECT_ROOT
    )
    try:
        await _wait_for(lambda: emulator.state.counters.requests["add"] >= 8, child)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    partial = len(_in_xano(emulator, feed_id))
    assert 0 < partial < 400, "the kill landed mid-reconcile"

    emulator.state.faults = parse_faults({})
    outcome = await _reconcile(database, _xano_settings(emulator.base_url), feed_id)
    mirrored = _in_xano(emulator, feed_id)
    expected = await _expected_payloads(stack.dsn, feed_id)

    assert outcome.status == "SYNCED"
    assert len(mirrored) == len({r["job_hash"] for r in mirrored}) == 400
    assert {r["job_hash"]: r["eid"] for r in mirrored} == {h: p["eid"] for h, p in expected.items()}


async def _wait_for(condition: Any, child: asyncio.subprocess.Process) -> None:
    for _ in range(600):
        if condition():
            return
        if child.returncode is not None:
            raise AssertionError(f"the reconcile ended (exit {child.returncode}) before the kill")
        await asyncio.sleep(0.02)
    raise AssertionError("the reconcile never got going")


async def test_a_reviewers_approval_is_pushed_at_once_and_keeps_its_eid(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = _feed_id()
    await _open_jobs(stack.dsn, feed_id, 1)
    job_hash = f"{feed_id}-00000"
    async with XanoClient(_xano_settings(emulator.base_url)) as client:
        syncer = Syncer(database, client)
        assert await syncer.publish_one(job_hash)
        assert await syncer.publish_one(job_hash)  # a redelivered approval adds nothing twice
        assert not await syncer.publish_one("no-such-job")
    expected = await _expected_payloads(stack.dsn, feed_id)
    mirrored = _in_xano(emulator, feed_id)
    assert [r["job_hash"] for r in mirrored] == [job_hash]
    assert mirrored[0]["eid"] == expected[job_hash]["eid"]
