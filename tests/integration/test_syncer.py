"""The syncer's reconcile on real PostgreSQL against the Xano emulator: Xano mirrors open_jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from emulators.xano.faults import parse_faults
from emulators.xano.server import RunningEmulator, serve
from emulators.xano.settings import EmulatorSettings, RateLimit
from schemas.status import SyncStatus
from services.shared.database import Database
from services.syncer.adapters.xano import XanoClient, XanoSettings
from services.syncer.ports import BatchDone, WriteResult
from services.syncer.service import Syncer, SyncOutcome
from tests.integration.syncer_support import (
    XANO_BOOKKEEPING,
    execute,
    expected_payloads,
    fetch_row,
    in_xano,
    insert_open_jobs,
    new_feed_id,
    retitle_first,
    writes,
    xano_settings,
)

pytestmark = pytest.mark.integration


async def _reconcile(db: Database, settings: XanoSettings, feed_id: int) -> SyncOutcome:
    async with XanoClient(settings) as client:
        return await Syncer(db, client).reconcile(feed_id)


async def test_a_fresh_feed_makes_xano_equal_open_jobs_field_by_field(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 30)
    outcome = await _reconcile(database, xano_settings(emulator.base_url), feed_id)

    assert (outcome.status, outcome.added, outcome.failed) == (SyncStatus.SYNCED, 30, 0)
    expected = await expected_payloads(stack.dsn, feed_id)
    mirrored = {r["job_hash"]: r for r in in_xano(emulator, feed_id)}
    assert mirrored.keys() == expected.keys()
    for job_hash, payload in expected.items():
        record = {k: v for k, v in mirrored[job_hash].items() if k not in XANO_BOOKKEEPING}
        assert record == payload


async def test_a_run_with_five_changed_jobs_sends_only_those(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 30)
    settings = xano_settings(emulator.base_url)
    await _reconcile(database, settings, feed_id)
    await retitle_first(stack.dsn, feed_id, 5)
    before = dict(emulator.state.counters.requests)
    outcome = await _reconcile(database, settings, feed_id)
    after = emulator.state.counters.requests
    sent = {name: after[name] - before.get(name, 0) for name in ("list", "add", "update", "remove")}

    assert (outcome.added, outcome.updated, outcome.deleted) == (0, 5, 0)
    assert sent == {"list": 1, "add": 0, "update": 1, "remove": 0}
    titles = {r["ai_title"] for r in in_xano(emulator, feed_id)}
    assert "Registered Nurse 3 (Nights)" in titles


async def test_jobs_no_longer_open_are_deleted_from_xano(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 10)
    settings = xano_settings(emulator.base_url)
    await _reconcile(database, settings, feed_id)
    await execute(
        stack.dsn,
        "DELETE FROM open_jobs WHERE feed_id = $1 AND job_hash = ANY($2::text[])",
        feed_id,
        [f"{feed_id}-{i:05}" for i in range(3)],
    )
    outcome = await _reconcile(database, settings, feed_id)

    assert (outcome.added, outcome.updated, outcome.deleted) == (0, 0, 3)
    assert len(in_xano(emulator, feed_id)) == 7


async def test_a_listing_that_fails_on_page_3_writes_nothing_and_says_so(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 30)
    settings = xano_settings(emulator.base_url, per_page=5)
    await _reconcile(database, settings, feed_id)
    await execute(stack.dsn, "DELETE FROM open_jobs WHERE feed_id = $1", feed_id)
    emulator.state.faults = parse_faults({"fail_listing_on_page": {"page": 3, "count": 100}})
    writes_before = writes(emulator)
    outcome = await _reconcile(database, settings, feed_id)

    assert outcome.status == SyncStatus.FAILED
    assert "listing" in outcome.errors[0]
    assert writes(emulator) == writes_before  # no mass delete of the 30 still in Xano
    assert len(in_xano(emulator, feed_id)) == 30


async def test_under_the_free_plan_limit_a_1000_job_reconcile_loses_no_write(
    stack: StackInfo, database: Database
) -> None:
    # Xano's free plan, 10 requests per 20 s, with the window shortened to keep the test quick.
    limit = RateLimit(requests=10, window_seconds=1.0)
    async with serve(EmulatorSettings(rate_limit=limit)) as emulator:
        feed_id = new_feed_id()
        await insert_open_jobs(stack.dsn, feed_id, 1000)
        settings = xano_settings(
            emulator.base_url, batch_size=50, requests_per_window=10, window_seconds=1.0
        )
        outcome = await _reconcile(database, settings, feed_id)
        counters = emulator.state.counters

        assert (outcome.status, outcome.added, outcome.failed) == (SyncStatus.SYNCED, 1000, 0)
        assert len({r["job_hash"] for r in in_xano(emulator, feed_id)}) == 1000
        assert counters.peak_arrivals_in_window <= 10
        assert counters.responses[429] == 0


RECONCILE_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from dataclasses import replace
    from services.shared.database import Database
    from services.shared.settings import Secret
    from services.syncer.adapters.xano import XanoClient, XanoSettings
    from services.syncer.service import SyncOutcome, Syncer

    async def main():
        settings = XanoSettings(base_url=os.environ["XANO_URL"], batch_size=10)
        settings = replace(settings, requests_per_window=1000, window_seconds=1.0)
        db = Database(Secret(os.environ["DSN"]))
        async with XanoClient(settings) as client:
            run_id = os.environ.get("RUN_ID") or None
            await Syncer(db, client).reconcile(int(os.environ["FEED_ID"]), run_id=run_id)

    asyncio.run(main())
    """
)


async def test_a_syncer_killed_mid_reconcile_converges_and_its_report_counts_every_add(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    run_id = f"run-{feed_id}"
    await insert_open_jobs(stack.dsn, feed_id, 400)
    await execute(
        stack.dsn,
        "INSERT INTO execution_reports (run_id, feed_id) VALUES ($1, $2)",
        run_id,
        feed_id,
    )
    emulator.state.faults = parse_faults({"slow_ms": 60})  # ~40 adds: a few seconds to kill in
    env = {
        **os.environ,
        "XANO_URL": emulator.base_url,
        "DSN": stack.dsn,
        "FEED_ID": str(feed_id),
        "RUN_ID": run_id,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", RECONCILE_SCRIPT, env=env, cwd=PROJECT_ROOT
    )
    try:
        await _wait_for(lambda: emulator.state.counters.requests["add"] >= 8, child)
        # Later adds fail unapplied (and back off); those in flight land and are counted.
        emulator.state.faults = parse_faults({"status_5xx": {"count": None}})
        await asyncio.sleep(0.5)
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    partial = len(in_xano(emulator, feed_id))
    assert 0 < partial < 400, "the kill landed mid-reconcile"
    assert await _report_added(stack.dsn, run_id) == partial  # each batch counted as it landed

    emulator.state.faults = parse_faults({})
    async with XanoClient(xano_settings(emulator.base_url)) as client:
        outcome = await Syncer(database, client).reconcile(feed_id, run_id=run_id)
    mirrored = in_xano(emulator, feed_id)
    expected = await expected_payloads(stack.dsn, feed_id)

    assert (outcome.status, outcome.added) == (SyncStatus.SYNCED, 400 - partial)
    assert len(mirrored) == len({r["job_hash"] for r in mirrored}) == 400
    assert {r["job_hash"]: r["eid"] for r in mirrored} == {h: p["eid"] for h, p in expected.items()}
    assert await _report_added(stack.dsn, run_id) == 400  # both reconciles, added up


class DiesAfterXanoAnswers(XanoClient):
    """The real client, in a process that dies once Xano has applied a write and before
    the syncer could record it: the narrowest window a SIGKILL can land in."""

    async def add(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult:
        return _dies_if_sent(records, await super().add(records), "adds")

    async def update(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult:
        return _dies_if_sent(records, await super().update(records), "updates")


class ProcessDiedError(Exception):
    """Stands for the SIGKILL: nothing after it runs in that process."""


def _dies_if_sent(records: Sequence[object], result: WriteResult, what: str) -> WriteResult:
    if records:
        raise ProcessDiedError(f"SIGKILL after Xano's answer to the {what}")
    return result


async def test_writes_xano_applied_just_before_a_crash_are_counted_once_on_the_retry(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    first_run, second_run = f"run-{feed_id}-1", f"run-{feed_id}-2"
    for run_id in (first_run, second_run):
        await execute(
            stack.dsn,
            "INSERT INTO execution_reports (run_id, feed_id) VALUES ($1, $2)",
            run_id,
            feed_id,
        )
    await insert_open_jobs(stack.dsn, feed_id, 60)
    settings = xano_settings(emulator.base_url)

    async def crash_then_retry(run_id: str) -> SyncOutcome:
        async with DiesAfterXanoAnswers(settings) as dying:
            with pytest.raises(ProcessDiedError):
                await Syncer(database, dying).reconcile(feed_id, run_id=run_id)
        async with XanoClient(settings) as client:
            return await Syncer(database, client).reconcile(feed_id, run_id=run_id)

    retried = await crash_then_retry(first_run)
    assert (retried.status, retried.added) == (SyncStatus.SYNCED, 0)  # nothing left to send
    assert len(in_xano(emulator, feed_id)) == 60
    assert await _report_counts(stack.dsn, first_run) == (60, 0)

    await retitle_first(stack.dsn, feed_id, 5)
    retried = await crash_then_retry(second_run)
    assert (retried.status, retried.updated) == (SyncStatus.SYNCED, 0)
    assert await _report_counts(stack.dsn, second_run) == (0, 5)

    async with XanoClient(settings) as client:  # a later reconcile of the run counts nothing
        await Syncer(database, client).reconcile(feed_id, run_id=second_run)
    assert await _report_counts(stack.dsn, first_run) == (60, 0)
    assert await _report_counts(stack.dsn, second_run) == (0, 5)


async def _report_counts(dsn: str, run_id: str) -> tuple[int, int]:
    row = await fetch_row(
        dsn,
        "SELECT xano_jobs_added, xano_jobs_updated FROM execution_reports WHERE run_id = $1",
        run_id,
    )
    assert row is not None
    return int(row["xano_jobs_added"]), int(row["xano_jobs_updated"])


async def _report_added(dsn: str, run_id: str) -> int:
    row = await fetch_row(
        dsn, "SELECT xano_jobs_added FROM execution_reports WHERE run_id = $1", run_id
    )
    assert row is not None
    return int(row["xano_jobs_added"])


async def _wait_for(condition: Callable[[], bool], child: asyncio.subprocess.Process) -> None:
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
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 1)
    job_hash = f"{feed_id}-00000"
    async with XanoClient(xano_settings(emulator.base_url)) as client:
        syncer = Syncer(database, client)
        assert await syncer.publish_one(job_hash)
        assert await syncer.publish_one(job_hash)  # a redelivered approval adds nothing twice
        assert not await syncer.publish_one("no-such-job")
    expected = await expected_payloads(stack.dsn, feed_id)
    mirrored = in_xano(emulator, feed_id)
    assert [r["job_hash"] for r in mirrored] == [job_hash]
    assert mirrored[0]["eid"] == expected[job_hash]["eid"]
