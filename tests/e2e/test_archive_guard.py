"""The archive guard across the services: a feed that loses most of its jobs keeps them open
and in Xano until an operator confirms, and then Xano drops them too."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from cli import control
from cli.main import main
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas.records import RunStatus
from schemas.report import ExecutionReport
from tests.e2e import router_feed as rf
from tests.e2e.test_merges_and_run_lock import _feed, _job_xml
from tests.e2e.test_walking_skeleton import _xano_records

pytestmark = pytest.mark.e2e

RUN_TIMEOUT_S = 120.0


async def _run(stack: StackInfo, name: str, path: Path) -> ExecutionReport:
    feed_id = await control.ensure_feed(
        stack.dsn, name=name, source_url=str(path), mapping=rf.MAPPING, bypass_filters=True
    )
    run_id = await control.request_run(stack.bootstrap, feed_id)
    return await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S, synced=True)


async def _xano_count(config: PipelineConfig, feed_id: int, expected: int) -> int:
    """Polls the emulator until it holds `expected` records of the feed (or time is up)."""
    count = -1
    for _ in range(120):
        count = len(await asyncio.to_thread(_xano_records, config, feed_id))
        if count == expected:
            break
        await asyncio.sleep(0.5)
    return count


async def test_a_held_archive_reaches_xano_only_once_confirmed(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    company = f"{uuid.uuid4().hex[:8]} Harbor Clinics"
    jobs = [
        _job_xml(f"HC-{n}", f"Clinic Role {n}", company, "Portland", "OR",
                 f"<p>Role {n} at the clinic: patient care and scheduling.</p>")
        for n in range(12)
    ]  # fmt: skip
    name = f"guard-{company[:8]}"
    full, cut = tmp_path / "full.xml", tmp_path / "cut.xml"
    full.write_text(_feed(jobs))
    cut.write_text(_feed(jobs[:4]))  # 8 of 12 jobs gone: more than five, and 67%

    first = await _run(stack, name, full)
    feed_id = first.feed_id
    assert first.run_status == RunStatus.SUCCESS
    assert await _xano_count(running_pipeline, feed_id, 12) == 12

    held = await _run(stack, name, cut)
    assert held.run_status == RunStatus.PARTIAL and held.jobs_archive_held == 8
    assert str(held.archive_skipped_reason).startswith("archive held: 8 jobs")
    assert await control.table_counts(stack.dsn, feed_id) == {
        "open_jobs": 12, "manual_review_jobs": 0, "rejected_jobs": 0, "archive_jobs": 0,
    }  # fmt: skip
    assert len(await asyncio.to_thread(_xano_records, running_pipeline, feed_id)) == 12

    command = [
        "runs", "confirm-archive", str(held.run_id), "--api-url", running_pipeline.api_url,
        "--token", running_pipeline.api_token, "--wait", "60",
    ]  # fmt: skip
    assert await asyncio.to_thread(main, command) == 0
    assert await control.table_counts(stack.dsn, feed_id) == {
        "open_jobs": 4, "manual_review_jobs": 0, "rejected_jobs": 0, "archive_jobs": 8,
    }  # fmt: skip
    assert await _xano_count(running_pipeline, feed_id, 4) == 4, "the syncer reconciled"
