"""`jobstream xano audit|resync|confirm-deletes` against real PostgreSQL and the Xano emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from cli.main import main
from cli.stack import StackInfo
from emulators.xano.server import RunningEmulator
from schemas.status import SyncStatus
from services.shared.database import Database
from services.shared.settings import Secret
from services.syncer.adapters.xano import XanoClient
from services.syncer.reconcile import DeleteCap
from services.syncer.service import Syncer
from tests.integration.syncer_support import (
    execute,
    fetch_row,
    in_xano,
    insert_open_jobs,
    new_feed_id,
    xano_settings,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def synced_feed(stack: StackInfo, emulator: RunningEmulator) -> AsyncIterator[int]:
    """A feed of 5 open jobs, reconciled once: Xano mirrors it."""
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 5)
    db = Database(Secret(stack.dsn))
    async with XanoClient(xano_settings(emulator.base_url)) as client:
        assert (await Syncer(db, client).reconcile(feed_id)).status == SyncStatus.SYNCED
    await db.close()
    yield feed_id


async def jobstream(stack: StackInfo, emulator: RunningEmulator, *argv: str) -> int:
    """Runs the command in a thread: it has its own event loop, the emulator answers in ours."""
    where = ["--dsn", stack.dsn]
    if argv[1] != "confirm-deletes":
        where += ["--xano-url", emulator.base_url]
    return await asyncio.to_thread(main, [*argv, *where])


async def test_audit_finds_a_record_deleted_behind_the_syncers_back_and_resync_restores_it(
    stack: StackInfo,
    emulator: RunningEmulator,
    synced_feed: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed_id = synced_feed
    deleted, edited = f"{feed_id}-00001", f"{feed_id}-00002"
    store = emulator.state.store
    store.remove([deleted], feed_id)
    store.update([{"job_hash": edited, "feed_id": feed_id, "title": "edited in Xano"}])
    store.add([{"job_hash": "left-over", "feed_id": feed_id, "eid": "eid-left-over"}])
    store.add([{"job_hash": "theirs", "feed_id": feed_id + 1, "eid": "eid-theirs"}])
    emulator.state.faults.list_ignores_feed_id = True  # and the listing lets another feed in

    assert await jobstream(stack, emulator, "xano", "audit", str(feed_id), "--json") == 1
    found = json.loads(capsys.readouterr().out)
    assert (found["missing"], found["stale"], found["extra"]) == (
        [deleted],
        [edited],
        ["left-over"],
    )
    assert found["foreign"] == [{"job_hash": "theirs", "feed_id": feed_id + 1}]
    assert (found["open_jobs"], found["mirrored"], found["in_sync"]) == (5, 5, False)

    assert await jobstream(stack, emulator, "xano", "audit", str(feed_id)) == 1
    table = capsys.readouterr().out
    assert "out of sync" in table and deleted in table and "leaves them alone" in table

    assert await jobstream(stack, emulator, "xano", "resync", str(feed_id)) == 0
    assert "SYNCED: 1 added, 1 updated, 1 deleted, 0 failed" in capsys.readouterr().out
    titles = {r["job_hash"]: r["title"] for r in in_xano(emulator, feed_id)}
    assert deleted in titles and titles[edited] == "Registered Nurse 2"
    assert "left-over" not in titles
    assert [r["job_hash"] for r in in_xano(emulator, feed_id + 1)] == ["theirs"]

    assert await jobstream(stack, emulator, "xano", "audit", str(feed_id), "--json") == 0
    assert json.loads(capsys.readouterr().out)["in_sync"] is True


async def test_an_audit_writes_nothing(
    stack: StackInfo,
    emulator: RunningEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 3)

    assert await jobstream(stack, emulator, "xano", "audit", str(feed_id), "--json") == 1
    assert len(json.loads(capsys.readouterr().out)["missing"]) == 3
    requests = emulator.state.counters.requests
    assert requests["add"] + requests["update"] + requests["remove"] == 0
    minted = await fetch_row(
        stack.dsn, "SELECT count(*) AS n FROM xano_records WHERE feed_id = $1", feed_id
    )
    assert minted == {"n": 0}


async def test_a_resync_past_the_cap_is_held_until_confirmed(
    stack: StackInfo,
    emulator: RunningEmulator,
    synced_feed: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed_id = synced_feed
    await execute(stack.dsn, "DELETE FROM open_jobs WHERE feed_id = $1", feed_id)
    # 5 of 5 is under the default 5-job floor: use a cap that holds it.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XANO_DELETE_CAP_MIN_JOBS", "1")
        assert await jobstream(stack, emulator, "xano", "resync", str(feed_id)) == 1
        held = capsys.readouterr().out
        assert SyncStatus.HELD in held and f"jobstream xano confirm-deletes {feed_id}" in held
        assert len(in_xano(emulator, feed_id)) == 5

        argv = ("xano", "resync", str(feed_id), "--confirm-deletes", "--json")
        assert await jobstream(stack, emulator, *argv) == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["status"], outcome["deleted"]) == (SyncStatus.SYNCED, 5)
    assert in_xano(emulator, feed_id) == []
    left = await fetch_row(
        stack.dsn, "SELECT count(*) AS n FROM xano_delete_confirmations WHERE feed_id = $1", feed_id
    )
    assert left == {"n": 0}


async def test_confirm_deletes_is_used_by_the_syncers_next_reconcile(
    stack: StackInfo,
    emulator: RunningEmulator,
    synced_feed: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    feed_id = synced_feed
    argv = ("xano", "confirm-deletes", str(feed_id), "--max", "5", "--by", "ana")
    assert await jobstream(stack, emulator, *argv) == 0
    assert "up to 5 Xano records" in capsys.readouterr().out
    await execute(stack.dsn, "DELETE FROM open_jobs WHERE feed_id = $1", feed_id)

    db = Database(Secret(stack.dsn))
    async with XanoClient(xano_settings(emulator.base_url)) as client:
        syncer = Syncer(db, client, delete_cap=DeleteCap(share=0.5, min_jobs=0))
        outcome = await syncer.reconcile(feed_id)
    await db.close()

    assert (outcome.status, outcome.deleted) == (SyncStatus.SYNCED, 5)
    assert "confirmed by ana" in outcome.errors[0]


async def test_an_unreachable_xano_is_one_line_and_exit_1(
    stack: StackInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["xano", "audit", "1", "--dsn", stack.dsn, "--xano-url", "http://127.0.0.1:9/api"]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XANO_MAX_ATTEMPTS", "1")
        assert await asyncio.to_thread(main, argv) == 1
    assert capsys.readouterr().err.startswith("jobstream: Xano:")


async def test_an_unreachable_database_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["xano", "confirm-deletes", "1", "--dsn", "postgresql://nobody@127.0.0.1:9/none"]

    assert await asyncio.to_thread(main, argv) == 1
    assert capsys.readouterr().err.startswith("jobstream: database:")
