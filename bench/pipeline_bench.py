"""Pipeline benchmark (suite "pipeline"): one generated feed, end to end, as an operator sees it.

Every service runs once, with the offline enricher and the Xano emulator, on a throwaway stack
of the bench's own (`bench.stacks`). A warm-up run of a small feed goes first, so that every
service has joined its group and the broker's JIT has compiled; then the timed run: from the
feed request to the run's report, and to the approved jobs mirrored in Xano. Both are wall
time on this machine, with every service, the broker and PostgreSQL sharing its cores.

    python -m bench --only pipeline [--quick]
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.feedgen import write_feed
from bench.report import Measurement
from bench.stacks import throwaway_pipeline
from cli import control
from cli.stack import StackInfo

SUITE = "pipeline"
JOBS = 20_000
QUICK_JOBS = 3_000
WARM_UP_JOBS = 1_000
RUN_TIMEOUT_S = 900.0


@dataclass(frozen=True, slots=True)
class TimedRun:
    to_report_s: float
    to_synced_s: float
    report: dict[str, Any]


async def run(quick: bool) -> list[Measurement]:
    jobs = QUICK_JOBS if quick else JOBS
    with tempfile.TemporaryDirectory(prefix="jobstream-pipeline-bench-") as work:
        warm_up, timed = Path(work) / "warm-up.xml", Path(work) / "timed.xml"
        write_feed(warm_up, WARM_UP_JOBS, seed=11)
        write_feed(timed, jobs, seed=12)
        async with throwaway_pipeline() as (stack, _):
            await _timed_run(stack, warm_up)
            result = await _timed_run(stack, timed)
    report = result.report
    note = (
        f"{jobs:,} jobs: {report['jobs_auto_approved']:,} approved, "
        f"{report['jobs_manual_review']:,} manual review, {report['jobs_rejected']:,} rejected"
    )
    return [
        Measurement(SUITE, "feed request to run report", jobs / result.to_report_s, "jobs/s",
                    None, f"{note}; {result.to_report_s:.1f} s"),
        Measurement(SUITE, "feed request to Xano synced", jobs / result.to_synced_s, "jobs/s",
                    None, f"{report['xano_jobs_added']:,} added to Xano; every service once, "
                    f"offline enricher; {result.to_synced_s:.1f} s"),
    ]  # fmt: skip


async def _timed_run(stack: StackInfo, feed: Path) -> TimedRun:
    feed_id = await control.ensure_feed(stack.dsn, name=feed.stem, source_url=str(feed))
    started = time.perf_counter()
    run_id = await control.request_run(stack.bootstrap, feed_id)
    await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)
    reported = time.perf_counter()
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S, synced=True)
    synced = time.perf_counter()
    if report["run_status"] != "SUCCESS" or report["xano_status"] != "SYNCED":
        raise RuntimeError(f"the bench run ended {report['run_status']}: {report}")
    return TimedRun(reported - started, synced - started, report)
