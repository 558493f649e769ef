"""A second `JobMirror` beside Xano, added by wiring alone (no change to the syncer): both
hold every approved job, on reconciles and on a reviewer's approvals and take-downs. Real
PostgreSQL, the Xano emulator, and the in-memory mirror adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import pytest

from cli.stack import StackInfo
from emulators.xano.server import RunningEmulator
from schemas.status import SyncStatus
from services.shared.database import Database
from services.syncer.adapters.memory import MemoryMirror
from services.syncer.adapters.xano import XanoClient
from services.syncer.ports import BatchDone, JsonRecord, MirrorError, WriteResult
from services.syncer.service import Syncer
from tests.integration.syncer_support import (
    XANO_BOOKKEEPING,
    execute,
    expected_payloads,
    in_xano,
    insert_open_jobs,
    new_feed_id,
    xano_settings,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def xano(emulator: RunningEmulator) -> AsyncIterator[XanoClient]:
    async with XanoClient(xano_settings(emulator.base_url)) as client:
        yield client


def _hashes_in_xano(emulator: RunningEmulator, feed_id: int) -> set[str]:
    return {str(r["job_hash"]) for r in in_xano(emulator, feed_id)}


async def test_every_approved_job_of_a_reconcile_is_in_xano_and_in_the_second_mirror(
    stack: StackInfo, database: Database, emulator: RunningEmulator, xano: XanoClient
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 25)
    memory = MemoryMirror()
    syncer = Syncer(database, xano, also=[memory])

    outcome = await syncer.reconcile(feed_id)

    expected = await expected_payloads(stack.dsn, feed_id)
    assert (outcome.status, outcome.added) == (SyncStatus.SYNCED, 25)
    assert _hashes_in_xano(emulator, feed_id) == expected.keys()
    assert {h for h, r in memory.records.items() if r["feed_id"] == feed_id} == expected.keys()
    for job_hash, payload in expected.items():
        assert memory.records[job_hash] == payload  # the same payload Xano got
        in_board = next(r for r in in_xano(emulator, feed_id) if r["job_hash"] == job_hash)
        assert {k: v for k, v in in_board.items() if k not in XANO_BOOKKEEPING} == payload


async def test_a_reviewers_approval_and_take_down_reach_both_mirrors(
    stack: StackInfo, database: Database, emulator: RunningEmulator, xano: XanoClient
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 2)
    memory = MemoryMirror()
    syncer = Syncer(database, xano, also=[memory])
    approved, taken_down = f"{feed_id}-00000", f"{feed_id}-00001"

    assert await syncer.publish_one(approved)
    assert await syncer.publish_one(taken_down)
    assert _hashes_in_xano(emulator, feed_id) == set(memory.records) == {approved, taken_down}

    await execute(stack.dsn, "DELETE FROM open_jobs WHERE job_hash = $1", taken_down)
    assert await syncer.withdraw_one(feed_id, taken_down)
    assert _hashes_in_xano(emulator, feed_id) == set(memory.records) == {approved}


async def test_the_next_reconcile_removes_closed_jobs_and_repairs_the_second_mirror(
    stack: StackInfo, database: Database, emulator: RunningEmulator, xano: XanoClient
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 10)
    memory = MemoryMirror()
    syncer = Syncer(database, xano, also=[memory])
    await syncer.reconcile(feed_id)
    closed = f"{feed_id}-00003"
    await execute(stack.dsn, "DELETE FROM open_jobs WHERE job_hash = $1", closed)
    lost = f"{feed_id}-00007"
    del memory.records[lost]  # the second mirror lost a record meanwhile

    await syncer.reconcile(feed_id)

    expected = set((await expected_payloads(stack.dsn, feed_id)).keys())
    assert closed not in expected and lost in expected
    assert _hashes_in_xano(emulator, feed_id) == set(memory.records) == expected


class _DownMirror(MemoryMirror):
    """A second mirror that is down: every call fails."""

    async def list_feed(self, feed_id: int) -> list[JsonRecord]:
        raise MirrorError("the search index is down")

    async def add(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult:
        raise MirrorError("the search index is down")

    async def delete(
        self, feed_id: int, hashes: Sequence[str], on_batch: BatchDone | None = None
    ) -> WriteResult:
        raise MirrorError("the search index is down")


async def test_a_second_mirror_that_is_down_never_holds_xano_up(
    stack: StackInfo, database: Database, emulator: RunningEmulator, xano: XanoClient
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 5)
    await insert_open_jobs(stack.dsn, feed_id, 1, first=5)
    syncer = Syncer(database, xano, also=[_DownMirror()])

    outcome = await syncer.reconcile(feed_id)
    assert await syncer.publish_one(f"{feed_id}-00005")
    await execute(stack.dsn, "DELETE FROM open_jobs WHERE job_hash = $1", f"{feed_id}-00004")
    assert await syncer.withdraw_one(feed_id, f"{feed_id}-00004")

    assert (outcome.status, outcome.added, outcome.failed) == (SyncStatus.SYNCED, 6, 0)
    assert len(_hashes_in_xano(emulator, feed_id)) == 5
