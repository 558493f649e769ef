"""Deletes that prove themselves, and approvals that are never lost, on real
PostgreSQL against the Xano emulator."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from cli import pipeline
from cli.stack import StackInfo
from emulators.xano.faults import parse_faults
from emulators.xano.server import RunningEmulator
from schemas.status import SyncStatus
from services.shared.database import Database
from services.syncer.adapters import mirror_repository as mirror
from services.syncer.adapters.outbox import OutboxBackoff
from services.syncer.adapters.xano import XanoClient, XanoSettings
from services.syncer.ports import JsonRecord
from services.syncer.reconcile import DeleteCap
from services.syncer.service import Syncer, SyncOutcome
from tests.integration.syncer_support import (
    execute,
    fetch_row,
    in_xano,
    insert_open_jobs,
    new_feed_id,
    xano_settings,
)

pytestmark = pytest.mark.integration


async def reconcile(
    db: Database, settings: XanoSettings, feed_id: int, cap: DeleteCap | None = None
) -> SyncOutcome:
    async with XanoClient(settings) as client:
        return await Syncer(db, client, delete_cap=cap).reconcile(feed_id)


def hashes(emulator: RunningEmulator, feed_id: int) -> set[str]:
    return {r["job_hash"] for r in in_xano(emulator, feed_id)}


def job_hash(feed_id: int, i: int) -> str:
    return f"{feed_id}-{i:05}"


async def close_jobs(dsn: str, feed_id: int, numbers: range) -> None:
    await execute(
        dsn,
        "DELETE FROM open_jobs WHERE job_hash = ANY($1::text[])",
        [job_hash(feed_id, i) for i in numbers],
    )


class GatedClient(XanoClient):
    """Stops each reconcile just before its Xano listing: after it has read open_jobs."""

    def __init__(self, settings: XanoSettings) -> None:
        super().__init__(settings)
        self.listing = asyncio.Event()
        self.go_on = asyncio.Event()

    async def list_feed(self, feed_id: int) -> list[JsonRecord]:
        self.listing.set()
        await self.go_on.wait()
        return await super().list_feed(feed_id)


# -- only the feed's own records ----------------------------------------------------------


async def test_a_listing_that_includes_another_feeds_records_leaves_them_alone(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    mine, theirs = new_feed_id(), new_feed_id()
    await insert_open_jobs(stack.dsn, mine, 5)
    await insert_open_jobs(stack.dsn, theirs, 7)
    # A bulk_remove that ignores feed_id too, so only the syncer's own check protects them.
    settings = xano_settings(emulator.base_url, feed_scoped_deletes=False)
    await reconcile(database, settings, mine)
    await reconcile(database, settings, theirs)
    await close_jobs(stack.dsn, mine, range(1))
    emulator.state.faults = parse_faults({"list_ignores_feed_id": True})

    outcome = await reconcile(database, settings, mine)

    assert hashes(emulator, theirs) == {job_hash(theirs, i) for i in range(7)}
    assert hashes(emulator, mine) == {job_hash(mine, i) for i in range(1, 5)}
    assert (outcome.status, outcome.deleted, outcome.foreign) == (SyncStatus.SYNCED, 1, 7)
    assert any("7 record(s) of other feeds" in e and "left alone" in e for e in outcome.errors)


async def test_records_of_other_feeds_never_count_toward_the_mirror_or_its_cap(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    mine, theirs = new_feed_id(), new_feed_id()
    await insert_open_jobs(stack.dsn, mine, 10)
    await insert_open_jobs(stack.dsn, theirs, 90)
    settings = xano_settings(emulator.base_url)
    await reconcile(database, settings, mine)
    await reconcile(database, settings, theirs)
    await close_jobs(stack.dsn, mine, range(8))  # 8 of my 10: past a 50% cap of my mirror
    emulator.state.faults = parse_faults({"list_ignores_feed_id": True})

    outcome = await reconcile(database, settings, mine, DeleteCap(share=0.5, min_jobs=1))

    assert (outcome.status, outcome.held_deletes, outcome.deleted) == (SyncStatus.HELD, 8, 0)
    assert len(hashes(emulator, mine)) == 10


# -- the cap on deletes -------------------------------------------------------------------


async def test_a_reconcile_that_would_delete_more_than_the_cap_stops_and_says_so(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 20)
    settings = xano_settings(emulator.base_url)
    await reconcile(database, settings, feed_id)
    await close_jobs(stack.dsn, feed_id, range(15))
    await insert_open_jobs(stack.dsn, feed_id, 1, first=20)  # a new job still goes in
    removes_before = emulator.state.counters.requests["remove"]

    outcome = await reconcile(database, settings, feed_id, DeleteCap(share=0.5, min_jobs=5))

    assert (outcome.status, outcome.deleted, outcome.held_deletes, outcome.added) == (
        SyncStatus.HELD,
        0,
        15,
        1,
    )
    assert emulator.state.counters.requests["remove"] == removes_before
    assert len(hashes(emulator, feed_id)) == 21
    held = outcome.errors[0]
    assert "deletes held: 15 of 20" in held and "cap of 10" in held
    assert f"jobstream xano confirm-deletes {feed_id}" in held


async def test_an_operators_confirmation_lets_the_next_reconcile_past_the_cap_once(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 20)
    settings = xano_settings(emulator.base_url)
    cap = DeleteCap(share=0.5, min_jobs=5)
    await reconcile(database, settings, feed_id, cap)
    await close_jobs(stack.dsn, feed_id, range(15))
    async with database.connection() as conn:
        # Too small a confirmation does not cover 15 deletes and is not used up.
        await mirror.confirm_deletes(conn, feed_id, max_deletes=12, by="ana", valid_hours=1)
        assert (await reconcile(database, settings, feed_id, cap)).status == SyncStatus.HELD
        await mirror.confirm_deletes(conn, feed_id, max_deletes=15, by="ana", valid_hours=1)

    confirmed = await reconcile(database, settings, feed_id, cap)

    assert (confirmed.status, confirmed.deleted) == (SyncStatus.SYNCED, 15)
    assert "confirmed by ana" in confirmed.errors[0]
    assert hashes(emulator, feed_id) == {job_hash(feed_id, i) for i in range(15, 20)}
    remaining = await fetch_row(
        stack.dsn, "SELECT count(*) AS n FROM xano_delete_confirmations WHERE feed_id = $1", feed_id
    )
    assert remaining == {"n": 0}  # used up


async def test_a_confirmation_is_kept_while_no_reconcile_needs_it(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 20)
    settings = xano_settings(emulator.base_url)
    await reconcile(database, settings, feed_id)
    async with database.connection() as conn:
        await mirror.confirm_deletes(conn, feed_id, max_deletes=None, by="ana", valid_hours=1)
    await close_jobs(stack.dsn, feed_id, range(2))  # within the cap: no confirmation needed

    routine = await reconcile(database, settings, feed_id)
    await close_jobs(stack.dsn, feed_id, range(2, 18))  # 16 of the 18 left: past the cap
    big = await reconcile(database, settings, feed_id)

    assert (routine.status, routine.deleted, routine.errors) == (SyncStatus.SYNCED, 2, ())
    assert (big.status, big.deleted) == (SyncStatus.SYNCED, 16)
    assert "confirmed by ana" in big.errors[0]


async def test_an_expired_confirmation_allows_nothing(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 10)
    settings = xano_settings(emulator.base_url)
    await reconcile(database, settings, feed_id)
    await close_jobs(stack.dsn, feed_id, range(10))
    async with database.connection() as conn:
        await mirror.confirm_deletes(conn, feed_id, max_deletes=None, by="ana", valid_hours=-1)

    outcome = await reconcile(database, settings, feed_id)

    assert (outcome.status, outcome.held_deletes) == (SyncStatus.HELD, 10)
    assert len(hashes(emulator, feed_id)) == 10


async def test_a_one_job_feed_that_drops_its_job_takes_it_down(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 1)
    settings = xano_settings(emulator.base_url)
    await reconcile(database, settings, feed_id)
    await close_jobs(stack.dsn, feed_id, range(1))

    outcome = await reconcile(database, settings, feed_id)  # 100%, but under the 5-job floor

    assert (outcome.status, outcome.deleted) == (SyncStatus.SYNCED, 1)
    assert hashes(emulator, feed_id) == set()


# -- answers that do not prove a write ----------------------------------------------------


async def test_error_shaped_2xx_answers_are_never_counted_as_done(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 6)
    emulator.state.faults = parse_faults({"error_body_2xx": {"count": None, "endpoints": ["add"]}})

    outcome = await reconcile(database, xano_settings(emulator.base_url, max_attempts=2), feed_id)

    assert (outcome.status, outcome.added, outcome.failed) == (SyncStatus.PARTIAL, 0, 6)
    assert "error body" in outcome.errors[0]
    assert emulator.state.counters.injected_error_bodies == 2  # tried again, never believed
    assert hashes(emulator, feed_id) == set()
    synced = await fetch_row(
        stack.dsn,
        "SELECT count(*) AS n FROM xano_records WHERE feed_id = $1 AND synced_at IS NOT NULL",
        feed_id,
    )
    assert synced == {"n": 0}


async def test_a_listing_page_over_the_byte_cap_writes_nothing(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 30)
    await reconcile(database, xano_settings(emulator.base_url), feed_id)
    await close_jobs(stack.dsn, feed_id, range(30))
    before = emulator.state.counters.requests["remove"]

    capped = xano_settings(emulator.base_url, max_response_bytes=4096)
    outcome = await reconcile(database, capped, feed_id)

    assert outcome.status == SyncStatus.FAILED
    assert "larger than 4,096 bytes" in outcome.errors[0]
    assert emulator.state.counters.requests["remove"] == before
    assert len(hashes(emulator, feed_id)) == 30


# -- one lock for approvals, take-downs and reconciles ------------------------------------


@pytest.mark.usefixtures("other_syncers_frozen")
async def test_an_approval_racing_a_reconcile_ends_with_the_job_in_xano(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 5)
    settings = xano_settings(emulator.base_url)
    await reconcile(database, settings, feed_id)
    approved = job_hash(feed_id, 5)
    gated = GatedClient(settings)
    async with gated, XanoClient(settings) as approvals:
        running = asyncio.create_task(Syncer(database, gated).reconcile(feed_id))
        await asyncio.wait_for(gated.listing.wait(), 10)  # it has read open_jobs: 5 jobs
        await insert_open_jobs(stack.dsn, feed_id, 1, first=5)  # the reviewer approves a 6th
        reviewer = Syncer(database, approvals, outbox_backoff=LATER)
        pushed_at_once = await reviewer.publish_one(approved)
        gated.go_on.set()  # now it lists Xano, and would delete what it did not read
        outcome = await running
        waiting = await _outbox(stack.dsn, approved)
        await _make_due(stack.dsn, approved)
        landed = await reviewer.retry_outbox()

    assert not pushed_at_once  # the feed was being reconciled: the approval waited its turn
    assert waiting is not None  # kept for later, not lost
    assert (outcome.status, outcome.deleted) == (SyncStatus.SYNCED, 0)
    assert landed >= 1
    assert approved in hashes(emulator, feed_id)
    assert await _outbox(stack.dsn, approved) is None


async def test_a_reconcile_rechecks_open_jobs_before_deleting(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 5)
    settings = xano_settings(emulator.base_url)
    await reconcile(database, settings, feed_id)
    reopened = job_hash(feed_id, 5)
    gated = GatedClient(settings)
    async with gated, XanoClient(settings) as other:
        running = asyncio.create_task(Syncer(database, gated).reconcile(feed_id))
        await asyncio.wait_for(gated.listing.wait(), 10)
        # A job opened and pushed by something that took no lock (an older syncer version).
        await insert_open_jobs(stack.dsn, feed_id, 1, first=5)
        await other.add([{"job_hash": reopened, "feed_id": feed_id, "eid": f"eid-{reopened}"}])
        gated.go_on.set()
        outcome = await running

    assert (outcome.deleted, outcome.kept_open) == (0, 1)
    assert reopened in hashes(emulator, feed_id)


# -- the approval outbox ------------------------------------------------------------------


# Retries far off, so only this test's _make_due makes them due: a syncer running elsewhere
# on the same database (the e2e pipeline's) never takes these rows to its own Xano.
LATER = OutboxBackoff(first_s=3600.0, max_s=3600.0)


@pytest.fixture
def other_syncers_frozen(pipeline_config: pipeline.PipelineConfig) -> Iterator[None]:
    """Freezes the session pipeline's syncers (when running) while a test makes its outbox
    rows due: their outbox timer would otherwise take those rows to their own Xano first."""
    frozen = [
        pid
        for name, pid in pipeline.running(pipeline_config).items()
        if name.startswith("syncer") and pid is not None
    ]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)


async def _outbox(dsn: str, job_hash: str) -> dict[str, Any] | None:
    return await fetch_row(
        dsn,
        "SELECT attempts, last_error, next_attempt_at > now() AS waiting FROM xano_outbox "
        "WHERE job_hash = $1",
        job_hash,
    )


async def _make_due(dsn: str, job_hash: str) -> None:
    await execute(
        dsn, "UPDATE xano_outbox SET next_attempt_at = now() WHERE job_hash = $1", job_hash
    )


@pytest.mark.parametrize(
    "fault",
    [
        {"status_5xx": {"count": None, "endpoints": ["add"]}},
        {"error_body_2xx": {"count": None, "endpoints": ["add"]}},
    ],
    ids=["5xx", "error-shaped-2xx"],
)
@pytest.mark.usefixtures("other_syncers_frozen")
async def test_a_failed_approval_push_is_retried_until_xano_has_it(
    stack: StackInfo, database: Database, emulator: RunningEmulator, fault: dict[str, Any]
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 1)
    approved = job_hash(feed_id, 0)
    emulator.state.faults = parse_faults(fault)
    async with XanoClient(xano_settings(emulator.base_url, max_attempts=2)) as client:
        syncer = Syncer(database, client, outbox_backoff=LATER)

        assert not await syncer.publish_one(approved)
        kept = await _outbox(stack.dsn, approved)
        assert kept is not None and kept["attempts"] == 1 and kept["last_error"]
        assert kept["waiting"]  # backing off
        await syncer.retry_outbox()
        assert (await _outbox(stack.dsn, approved) or {}).get("attempts") == 1  # not due: untried

        await _make_due(stack.dsn, approved)
        await syncer.retry_outbox()  # due, tried again, Xano still failing
        assert (await _outbox(stack.dsn, approved) or {}).get("attempts") == 2
        assert hashes(emulator, feed_id) == set()

        emulator.state.faults = parse_faults({})
        await _make_due(stack.dsn, approved)
        assert await syncer.retry_outbox() >= 1

    assert hashes(emulator, feed_id) == {approved}
    assert await _outbox(stack.dsn, approved) is None


@pytest.mark.usefixtures("other_syncers_frozen")
async def test_an_approval_closed_before_its_retry_leaves_the_outbox_without_a_push(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 1)
    approved = job_hash(feed_id, 0)
    emulator.state.faults = parse_faults({"status_5xx": {"count": None, "endpoints": ["add"]}})
    async with XanoClient(xano_settings(emulator.base_url, max_attempts=1)) as client:
        syncer = Syncer(database, client, outbox_backoff=LATER)
        assert not await syncer.publish_one(approved)
        await close_jobs(stack.dsn, feed_id, range(1))
        emulator.state.faults = parse_faults({})
        adds_before = emulator.state.counters.requests["add"]
        await _make_due(stack.dsn, approved)

        await syncer.retry_outbox()

    assert await _outbox(stack.dsn, approved) is None
    assert emulator.state.counters.requests["add"] == adds_before


@pytest.mark.usefixtures("other_syncers_frozen")
async def test_a_retry_round_stops_at_the_first_failed_push(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 2)
    approvals = [job_hash(feed_id, 0), job_hash(feed_id, 1)]
    emulator.state.faults = parse_faults({"status_5xx": {"count": None, "endpoints": ["add"]}})
    async with XanoClient(xano_settings(emulator.base_url, max_attempts=1)) as client:
        syncer = Syncer(database, client, outbox_backoff=LATER)
        for approved in approvals:
            assert not await syncer.publish_one(approved)
            await _make_due(stack.dsn, approved)
        adds_before = emulator.state.counters.requests["add"]

        await syncer.retry_outbox()

    assert emulator.state.counters.requests["add"] == adds_before + 1  # Xano is down: one try
    attempts = sorted([int((await _outbox(stack.dsn, h) or {})["attempts"]) for h in approvals])
    assert attempts == [1, 2]


async def test_an_error_shaped_2xx_listing_writes_nothing(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 4)
    settings = xano_settings(emulator.base_url, max_attempts=2)
    await reconcile(database, settings, feed_id)
    await close_jobs(stack.dsn, feed_id, range(4))
    emulator.state.faults = parse_faults({"error_body_2xx": {"count": None, "endpoints": ["list"]}})

    outcome = await reconcile(database, settings, feed_id)

    assert outcome.status == SyncStatus.FAILED
    assert "listing failed" in outcome.errors[0] and "error body" in outcome.errors[0]
    assert len(hashes(emulator, feed_id)) == 4
