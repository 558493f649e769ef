"""The syncer with jobs shared by feeds (issue #19): a job's one Xano record is its owner's,
so when a run of another feed archives it (it dropped the job's last listing), the syncer
reconciles the owner's feed after the run's own, and the record goes once."""

from __future__ import annotations

import uuid

import pytest

from cli.stack import StackInfo
from emulators.xano.faults import parse_faults
from emulators.xano.server import RunningEmulator
from schemas.status import SyncStatus
from services.shared.database import Database
from services.syncer.adapters.xano import XanoClient
from services.syncer.service import Syncer
from tests.integration.syncer_support import (
    execute,
    in_xano,
    insert_open_jobs,
    new_feed_id,
    xano_settings,
)

pytestmark = pytest.mark.integration


async def _archive_as_dropped_by(dsn: str, job_hash: str, feed_id: int, run_id: str) -> None:
    """What the router leaves when a run of `feed_id` drops the last listing of a job that
    another feed owns: the job archived (still its owner's), the run's source dropped."""
    await execute(
        dsn,
        "INSERT INTO archive_jobs (job_hash, feed_id, route, status, title, company_name, "
        "employment_type) SELECT job_hash, feed_id, 'archived', 'ARCHIVED', title, "
        "company_name, employment_type FROM open_jobs WHERE job_hash = $1",
        job_hash,
    )
    await execute(dsn, "DELETE FROM open_jobs WHERE job_hash = $1", job_hash)
    await execute(
        dsn,
        "INSERT INTO job_sources (job_hash, feed_id, first_seen_run, last_seen_run, "
        "last_change, dropped_run) VALUES ($1, $2, 'earlier', 'earlier', 'known', $3)",
        job_hash,
        feed_id,
        run_id,
    )


async def test_a_run_that_archives_another_feeds_job_removes_its_record_once(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    owner, other, run_id = new_feed_id(), new_feed_id(), str(uuid.uuid4())
    await insert_open_jobs(stack.dsn, owner, 3)
    settings = xano_settings(emulator.base_url)
    async with XanoClient(settings) as client:
        syncer = Syncer(database, client)
        await syncer.reconcile(owner)
        assert len(in_xano(emulator, owner)) == 3
        gone = f"{owner}-00000"
        await _archive_as_dropped_by(stack.dsn, gone, other, run_id)

        outcome = await syncer.reconcile_run(other, run_id)
        assert (outcome.status, outcome.added, outcome.deleted) == (SyncStatus.SYNCED, 0, 1)
        assert sorted(r["job_hash"] for r in in_xano(emulator, owner)) == [
            f"{owner}-00001", f"{owner}-00002",
        ]  # fmt: skip

        again = await syncer.reconcile_run(other, run_id)  # the same RunCompleted redelivered
        assert (again.added, again.updated, again.deleted) == (0, 0, 0)


async def test_a_run_that_archives_nothing_of_another_feed_reconciles_only_its_own(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    """A job the run's feed dropped while its owner still lists it is no one's to delete."""
    owner, other, run_id = new_feed_id(), new_feed_id(), str(uuid.uuid4())
    await insert_open_jobs(stack.dsn, owner, 2)
    await execute(
        stack.dsn,
        "INSERT INTO job_sources (job_hash, feed_id, first_seen_run, last_seen_run, "
        "last_change, dropped_run) VALUES ($1, $2, 'earlier', 'earlier', 'known', $3)",
        f"{owner}-00000",
        other,
        run_id,
    )
    async with XanoClient(xano_settings(emulator.base_url)) as client:
        syncer = Syncer(database, client)
        await syncer.reconcile(owner)
        lists_before = emulator.state.counters.requests["list"]
        outcome = await syncer.reconcile_run(other, run_id)

    assert (outcome.added, outcome.deleted) == (0, 0)
    assert len(in_xano(emulator, owner)) == 2
    assert emulator.state.counters.requests["list"] == lists_before + 1, "only its own feed"


async def test_an_outage_during_the_owners_reconcile_is_retried_until_the_record_goes(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    owner, other, run_id = new_feed_id(), new_feed_id(), str(uuid.uuid4())
    await insert_open_jobs(stack.dsn, owner, 2)
    async with XanoClient(xano_settings(emulator.base_url, max_attempts=1)) as client:
        syncer = Syncer(database, client)
        await syncer.reconcile(owner)
        await _archive_as_dropped_by(stack.dsn, f"{owner}-00000", other, run_id)

        emulator.state.faults = parse_faults(
            {"status_5xx": {"count": None, "endpoints": ["remove"]}}
        )
        failed = await syncer.reconcile_run(other, run_id)
        # unavailable: the syncer's stage pauses and reconciles the same RunCompleted again
        assert failed.unavailable and len(in_xano(emulator, owner)) == 2

        emulator.state.faults = parse_faults({})
        retried = await syncer.reconcile_run(other, run_id)
    assert (retried.unavailable, retried.deleted) == (False, 1)
    assert [r["job_hash"] for r in in_xano(emulator, owner)] == [f"{owner}-00001"]
