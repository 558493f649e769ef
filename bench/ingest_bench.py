"""Ingest benchmark (suite "ingest"): generated Indeed-style feeds of 10k, 100k and 1M jobs.

For each size, in a fresh subprocess (so the peak RSS is that run's alone):

* parse+normalise+hash: `FeedReader` over the file plus `job_hash` per job, no Kafka; the
  rate is per CPU-second of the one thread doing it (the machine is shared, so wall time
  is reported beside it);
* peak RSS: the child's own high-water mark (`VmHWM` in /proc/self/status). Not
  `ru_maxrss`: Linux carries the forking parent's size over the exec into it, so after
  other suites had grown the bench process every child "peaked" at the parent's 1.1 GB;
* beside each size, the reader before #13 (commit 31ed7c7) as measured by the committed
  A/B (`BASELINE`, made by `python -m bench.ingest_ab`, which runs both versions
  alternately on one feed: a single run's rate on a shared machine drifts by 10%);

then, on a real broker (the stack from the `JOBSTREAM_*` environment, started if needed
and stopped again if this run started it), RawJobs are published to a scratch copy of
`jobs.raw` through the services' own `Publisher` on a Faust app's producer (the same
compression, batching, partitioner and acks from all replicas), with delivery awaited as
the ingestor does (never more than `2 * FLUSH_EVERY` records in flight):

* publish only: RawJobs already parsed, encoded and sent (what the producer sustains);
* end to end: read, normalise, hash, encode and publish as the ingestor does.

    python -m bench --only ingest [--quick]     # --quick: 10k jobs only; 1M by default
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from bench.feedgen import write_feed
from bench.report import Measurement
from cli.stack import StackConfig, ensure_up, shut_down, status
from schemas import topics
from schemas.identity import job_hash
from schemas.records import RawJob
from services.ingestor import handlers
from services.ingestor.feeds import FeedReader, FeedSettings, ParsedJob
from services.shared.settings import StreamSettings
from services.shared.streaming import COMPRESSION, app_publisher, create_app
from services.shared.topic_admin import admin_client, create_topics

SUITE = "ingest"
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000,)
KAFKA_JOBS = 20_000  # published per measurement: enough for a steady rate, light on disk
QUICK_KAFKA_JOBS = 10_000
PUBLISH_POOL = 2_000  # distinct parsed jobs cycled through by the publish-only run
FLUSH_EVERY = 1_000  # as the ingestor: every this many records, await all but the latest
# the 1M-job feed is ~3 GB uncompressed, above the default 2 GiB body cap
SETTINGS = FeedSettings(max_body_bytes=16 * 1024**3, max_uncompressed_bytes=16 * 1024**3)


def _settings_for(path: str) -> FeedSettings:
    """The bench's feeds are local files: their directory is the one feed directory."""
    return dataclasses.replace(SETTINGS, local_dirs=(Path(path).parent,))


BASELINE = Path(__file__).with_name("data") / "ingest-ab-31ed7c7.json"
PARSE_TARGET = ">= 15000"
RSS_TARGET_MB = 150
KAFKA_TARGET = ">= 10000"
SCRATCH_TOPIC = dataclasses.replace(
    topics.JOBS_RAW,
    name=f"{topics.JOBS_RAW.name}.bench",  # same partitions as jobs.raw, no consumers
    retention_ms=3_600_000,
    dead_letter=None,
)


async def run(quick: bool) -> list[Measurement]:
    sizes = QUICK_SIZES if quick else SIZES
    with tempfile.TemporaryDirectory(prefix="jobstream-ingest-bench-") as work:
        measurements = [m for size in sizes for m in _parse_size(Path(work), size)]
        kafka_jobs = QUICK_KAFKA_JOBS if quick else KAFKA_JOBS
        feed = Path(work) / "kafka-feed.xml"
        write_feed(feed, kafka_jobs, seed=11)
        measurements += await _kafka(feed, kafka_jobs)
    return measurements


# -- parse+normalise+hash and peak RSS, one child per size --------------------------------


def _parse_size(work: Path, size: int) -> list[Measurement]:
    feed = work / f"feed-{size}.xml"
    write_feed(feed, size)
    megabytes = feed.stat().st_size / 1e6
    try:
        result = _child("parse", str(feed))
    finally:
        feed.unlink()
    peak_mb = result["max_rss_mb"]
    label = f"{size:,} jobs"
    note = f"{megabytes:,.0f} MB feed; {result['wall_rate']:,.0f} jobs/s wall"
    return [
        Measurement(SUITE, f"parse+normalise+hash {label}", result["cpu_rate"], "jobs/s",
                    PARSE_TARGET, note),
        Measurement(SUITE, f"peak RSS {label}", peak_mb, "MB",
                    f"<= {RSS_TARGET_MB}" if size >= 1_000_000 else None,
                    "the parsing process's VmHWM"),
        *baseline(size),
    ]  # fmt: skip


def baseline(size: int, path: Path = BASELINE) -> list[Measurement]:
    """The committed A/B at this size: the reader before #13, with this reader's figures of
    the same runs in the note (so the two are compared as measured together)."""
    try:
        ab = json.loads(path.read_text())["sizes"][str(size)]
        old, new = ab["baseline"], ab["this"]
        runs = len(old["cpu_rate"])
        rate_note = (
            f"committed A/B {ab['when'][:10]}, median of {runs} runs "
            f"({ab.get('runs', 'alternated')}); same runs, "
            f"{ab['this_commit']}: {new['cpu_rate_median']:,} jobs/s "
            f"(python -m bench.ingest_ab)"
        )
        rss_note = f"same A/B; {ab['this_commit']}: {new['max_rss_mb_max']} MB"
        label = f"{size:,} jobs before #13 ({ab['baseline_commit']})"
        return [
            Measurement(SUITE, f"parse+normalise+hash {label}", old["cpu_rate_median"],
                        "jobs/s", None, rate_note),
            Measurement(SUITE, f"peak RSS {label}", old["max_rss_mb_max"], "MB", None, rss_note),
        ]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return []  # no A/B committed for this size


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.ingest_bench", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench child {args[0]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def _parse_feed(path: str) -> dict[str, Any]:
    reader = FeedReader(path, mapping=None, settings=_settings_for(path))
    jobs = 0
    cpu, wall = time.process_time(), time.perf_counter()
    async for item in reader:
        if isinstance(item, ParsedJob):
            job_hash(item.job)
            jobs += 1
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if reader.stats.malformed:
        raise RuntimeError(f"{reader.stats.malformed} malformed records in a generated feed")
    return {
        "jobs": jobs,
        "cpu_rate": jobs / cpu,
        "wall_rate": jobs / wall,
        "max_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


# -- publishing to a real broker -----------------------------------------------------------


async def _kafka(feed: Path, jobs: int) -> list[Measurement]:
    config = StackConfig.from_env()
    already_up = all(component.answers for component in await status(config))
    info = await ensure_up(config)
    try:
        await create_topics(info.bootstrap, [SCRATCH_TOPIC])
        only = _child("publish-only", str(feed), info.bootstrap, str(jobs))
        full = _child("publish", str(feed), info.bootstrap, str(jobs))
        async with admin_client(info.bootstrap) as admin:
            await admin.delete_topics([SCRATCH_TOPIC.name])
    finally:
        if not already_up:
            await shut_down(config)
    note = f"{jobs:,} RawJobs, {COMPRESSION}, acks=all, at most {2 * FLUSH_EVERY:,} in flight"
    return [
        Measurement(SUITE, "publish to Kafka (parsed RawJobs)", only["rate"], "jobs/s",
                    KAFKA_TARGET, note),
        Measurement(SUITE, "read+normalise+hash+publish to Kafka", full["rate"], "jobs/s",
                    None, f"{note}; the ingestor's whole path on one thread"),
    ]  # fmt: skip


async def _raw_jobs(path: str, limit: int) -> AsyncIterator[RawJob]:
    reader = FeedReader(path, mapping=None, settings=_settings_for(path))
    seq = 0
    async for item in reader:
        if isinstance(item, ParsedJob):
            yield handlers.raw_job("bench-run", 0, seq, item.job)
            seq += 1
            if seq >= limit:
                return


async def _publish(records: AsyncIterator[RawJob], bootstrap: str) -> dict[str, Any]:
    """Sends through the services' own `Publisher` on a Faust app's producer, as the ingestor."""
    with tempfile.TemporaryDirectory(prefix="jobstream-bench-faust-") as data_dir:
        app = create_app("bench-ingest", _stream_settings(bootstrap, data_dir))
        await app.producer.start()
        publisher = app_publisher(app, "bench")
        sent = 0
        started = time.perf_counter()
        try:
            async for raw in records:
                await publisher.send(SCRATCH_TOPIC, raw.dedupe_key, raw)
                sent += 1
                if sent % FLUSH_EVERY == 0:
                    await publisher.drain(keep=FLUSH_EVERY)
            await publisher.flush()
            elapsed = time.perf_counter() - started
        finally:
            await app.producer.stop()
    return {"jobs": sent, "rate": sent / elapsed}


def _stream_settings(bootstrap: str, data_dir: str) -> StreamSettings:
    return StreamSettings(
        bootstrap_servers=bootstrap,
        web_port=1,  # never bound: only the producer is started
        replica="0",
        data_dir=data_dir,
        session_timeout_s=10.0,
        heartbeat_interval_s=1.0,
        rebalance_timeout_s=10.0,
    )


async def _cycled(pool: Sequence[RawJob], jobs: int) -> AsyncIterator[RawJob]:
    for seq in range(jobs):
        yield pool[seq % len(pool)].model_copy(update={"seq": seq})


async def _publish_only(path: str, bootstrap: str, jobs: int) -> dict[str, Any]:
    pool = [raw async for raw in _raw_jobs(path, PUBLISH_POOL)]
    return await _publish(_cycled(pool, jobs), bootstrap)


def _main(argv: Sequence[str]) -> int:
    mode, path, *rest = argv
    if mode == "parse":
        result = asyncio.run(_parse_feed(path))
    elif mode == "publish":
        result = asyncio.run(_publish(_raw_jobs(path, int(rest[1])), rest[0]))
    elif mode == "publish-only":
        result = asyncio.run(_publish_only(path, rest[0], int(rest[1])))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
