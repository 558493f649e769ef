"""Replay: a past run reprocessed from a stage on, from retained topic data, as a new run."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import control, replay
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas.report import ExecutionReport
from tests.e2e.test_walking_skeleton import RUN_TIMEOUT_S, _run_sample

pytestmark = pytest.mark.e2e

ROUTED = ("jobs_auto_approved", "jobs_manual_review", "jobs_rejected", "skipped_closed")


def _routes(report: ExecutionReport) -> tuple[int, ...]:
    return tuple(
        getattr(report, column) for column in (*ROUTED, "skipped_duplicate", "total_in_feed")
    )


def _remove_feeds(folder: Path) -> None:
    for feed in folder.glob("*.xml"):
        feed.unlink()


async def _replayed(
    stack: StackInfo, run_id: str, stage: replay.Stage, refresh: bool
) -> ExecutionReport:
    past = await replay.find_run(stack.dsn, run_id=run_id, feed_id=None, since=None)
    new_run = await replay.replay(stack.bootstrap, stack.dsn, past, stage, refresh=refresh)
    assert new_run != run_id
    return await control.wait_for_report(stack.dsn, new_run, timeout_s=RUN_TIMEOUT_S)


async def test_replaying_from_routing_reproduces_the_run_without_fetching(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    feed_id, first = await _run_sample(stack, tmp_path)
    _remove_feeds(tmp_path)  # a replay must not need the feed any more
    again = await _replayed(stack, first.run_id, replay.Stage.ROUTE, refresh=False)

    assert again.feed_id == feed_id
    assert _routes(again) == _routes(first)
    assert again.jobs_archived == 0
    assert again.run_status == first.run_status


async def test_replaying_enrichment_uses_the_cache_unless_told_to_refresh(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    _, first = await _run_sample(stack, tmp_path)
    enriched = sum(getattr(first, column) for column in ROUTED[:3])
    cached = await _replayed(stack, first.run_id, replay.Stage.ENRICH, refresh=False)
    refreshed = await _replayed(stack, first.run_id, replay.Stage.ENRICH, refresh=True)

    assert cached.cache_hits == enriched
    assert refreshed.cache_hits == 0
    assert _routes(cached) == _routes(refreshed) == _routes(first)


async def test_a_run_that_is_not_there_cannot_be_replayed(stack: StackInfo) -> None:
    with pytest.raises(replay.ReplayError, match="no completed run"):
        await replay.find_run(stack.dsn, run_id="no-such-run", feed_id=None, since=None)
