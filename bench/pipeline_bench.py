"""Pipeline benchmark (suite "pipeline"): one generated feed, end to end, as an operator sees it.

Every service runs once, with the offline enricher and the Xano emulator, on a throwaway stack
of the bench's own (`bench.stacks`). A warm-up run of a small feed goes first, so that every
service has joined its group and the broker's JIT has compiled; then the timed run: from the
feed request to the run's report, and to the approved jobs mirrored in Xano. Both are wall
time on this machine, with every service, the broker and PostgreSQL sharing its cores. The
syncer paces itself to Xano's free plan by default (`XANO_REQUESTS_PER_WINDOW` requests per
`XANO_WINDOW_SECONDS`, 10 per 20 s), which sets most of the time from report to synced.
Also reported: the CPU each service, the broker and PostgreSQL spent per job until the
report, which tells where replicas (or cores) go first.

The same feed is then read twice more (issue 15): unchanged, where every settled job travels
as an `unchanged` entry only, and with 5% of its jobs changed (another description: the old
content is archived, the new one placed). Each is reported as a speed-up to report over the
first run of the same invocation, a ratio that holds better than a figure on a shared
machine.

    python -m bench --only pipeline [--quick]
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import thread_cpu_s, tree_cpu_s
from bench.feedgen import Variant, write_feed, write_variant
from bench.report import FeedSizes, Measurement
from bench.stacks import throwaway_pipeline
from cli import control, pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo, kafka, postgres_server
from schemas.records import RunStatus
from schemas.report import ExecutionReport
from schemas.status import SyncStatus

SUITE = "pipeline"
SIZES = FeedSizes(full=20_000, quick=3_000, warm_up=1_000)
RUN_TIMEOUT_S = 900.0
CHANGED = Variant(changed=0.05)


@dataclass(frozen=True, slots=True)
class TimedRun:
    to_report_s: float
    to_synced_s: float
    report: ExecutionReport
    cpu_s: dict[str, float]  # by process group: each service, "kafka", "postgres"
    broker_threads_s: dict[str, float]  # the broker's CPU by thread name


async def run(quick: bool) -> list[Measurement]:
    jobs = SIZES.timed(quick)
    with tempfile.TemporaryDirectory(prefix="jobstream-pipeline-bench-") as work:
        warm_up, timed = Path(work) / "warm-up.xml", Path(work) / "timed.xml"
        write_feed(warm_up, SIZES.warm_up, seed=11)
        write_feed(timed, jobs, seed=12)
        original = Path(work) / "original.xml"
        original.write_bytes(timed.read_bytes())
        # the ingestor reads local feeds only inside FEED_LOCAL_DIRS (its services inherit it)
        os.environ["FEED_LOCAL_DIRS"] = ":".join(
            filter(None, (os.environ.get("FEED_LOCAL_DIRS"), work))
        )
        async with throwaway_pipeline() as (stack, config):
            await _timed_run(stack, config, warm_up)
            first = await _timed_run(stack, config, timed)
            unchanged = await _timed_run(stack, config, timed)
            touched = write_variant(original, timed, CHANGED)  # the same feed, read again
            changed = await _timed_run(stack, config, timed)
    return [
        *_first_run(first, jobs),
        *_rerun("unchanged re-run", first, unchanged, jobs, ">= 10"),
        *_rerun(f"5%-changed re-run ({touched:,} jobs changed)", first, changed, jobs, ">= 5"),
    ]


def _first_run(result: TimedRun, jobs: int) -> list[Measurement]:
    report = result.report
    note = (
        f"{jobs:,} jobs: {report.jobs_auto_approved:,} approved, "
        f"{report.jobs_manual_review:,} manual review, {report.jobs_rejected:,} rejected"
    )
    return [
        Measurement(SUITE, "feed request to run report", jobs / result.to_report_s, "jobs/s",
                    ">= 1000", f"{note}; every service once, offline enricher; "
                    f"{result.to_report_s:.1f} s"),
        Measurement(SUITE, "feed request to Xano synced", jobs / result.to_synced_s, "jobs/s",
                    None, f"{report.xano_jobs_added:,} added to Xano at the free plan's "
                    f"10 requests / 20 s; {result.to_synced_s:.1f} s"),
        Measurement(SUITE, "CPU per job: all processes", _cpu_ms(result, jobs), "ms", "<= 1.6",
                    "until the report"),
    ] + [
        Measurement(SUITE, f"CPU per job: {name}", seconds / jobs * 1000, "ms", None,
                    _broker_note(result, jobs) if name == "kafka" else
                    "until the report; the busiest one bounds the pipeline")
        for name, seconds in sorted(result.cpu_s.items(), key=lambda item: -item[1])
    ]  # fmt: skip


def _broker_note(result: TimedRun, jobs: int) -> str:
    """The broker's busiest threads: its JIT compilers and garbage collector work for the
    broker's warm-up and upkeep, not for the jobs, and would show a warm-up too short."""
    busiest = ", ".join(
        f"{name} {seconds / jobs * 1000:.2f}"
        for name, seconds in sorted(result.broker_threads_s.items(), key=lambda i: -i[1])[:5]
    )
    return f"until the report; ms per job by broker thread: {busiest}"


def _rerun(
    what: str, first: TimedRun, again: TimedRun, jobs: int, target: str
) -> list[Measurement]:
    report = again.report
    busiest = sorted(again.cpu_s.items(), key=lambda item: -item[1])[:4]
    by_process = ", ".join(f"{name} {seconds / jobs * 1000:.2f}" for name, seconds in busiest)
    return [
        Measurement(SUITE, f"{what}: speed-up to report", first.to_report_s / again.to_report_s,
                    "x", target, f"{again.to_report_s:.1f} s vs {first.to_report_s:.1f} s; "
                    f"{report.jobs_unchanged:,} unchanged, {report.jobs_archived:,} archived, "
                    f"Xano +{report.xano_jobs_added} ~{report.xano_jobs_updated} "
                    f"-{report.xano_jobs_deleted}"),
        Measurement(SUITE, f"{what}: CPU per job, all processes", _cpu_ms(again, jobs), "ms",
                    None, f"ms per job by process: {by_process}"),
    ]  # fmt: skip


def _cpu_ms(result: TimedRun, jobs: int) -> float:
    return sum(result.cpu_s.values()) / jobs * 1000


def _process_groups(config: PipelineConfig) -> dict[str, list[int]]:
    """The pids of each service (every replica), of the broker and of the database."""
    groups: dict[str, list[int]] = {}
    for name, pid in pipeline.running(config).items():
        if pid is not None and not name.startswith(("xano", "api")):
            groups.setdefault(name.rsplit("-", 1)[0], []).append(pid)
    broker, database = kafka.running_pid(config.stack), postgres_server.running_pid(config.stack)
    groups["kafka"] = [broker] if broker else []
    groups["postgres"] = [database] if database else []  # with its backends: `tree_cpu_s`
    return groups


def _cpu_by_group(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(map(tree_cpu_s, pids)) for name, pids in groups.items()}


def _broker_threads_s(groups: dict[str, list[int]]) -> dict[str, float]:
    by_name: dict[str, float] = {}
    for pid in groups["kafka"]:
        for name, seconds in thread_cpu_s(pid).items():
            by_name[name] = by_name.get(name, 0.0) + seconds
    return by_name


async def _timed_run(stack: StackInfo, config: PipelineConfig, feed: Path) -> TimedRun:
    feed_id = await control.ensure_feed(stack.dsn, name=feed.stem, source_url=str(feed))
    groups = _process_groups(config)
    cpu_before, threads_before = _cpu_by_group(groups), _broker_threads_s(groups)
    started = time.perf_counter()
    run_id = await control.request_run(stack.bootstrap, feed_id)
    await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)
    reported = time.perf_counter()
    cpu_s = {name: s - cpu_before[name] for name, s in _cpu_by_group(groups).items()}
    threads_s = {
        name: s - threads_before.get(name, 0.0) for name, s in _broker_threads_s(groups).items()
    }
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S, synced=True)
    synced = time.perf_counter()
    if report.run_status != RunStatus.SUCCESS or report.xano_status != SyncStatus.SYNCED:
        raise RuntimeError(f"the bench run ended {report.run_status}: {report}")
    return TimedRun(reported - started, synced - started, report, cpu_s, threads_s)
