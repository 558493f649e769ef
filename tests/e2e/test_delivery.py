"""Nothing lost, nothing dead-lettered: a PostgreSQL outage mid-run pauses the pipeline, and
replicas joining mid-run take partitions over without dropping a record. Each faulty run of a
generated feed ends with the same report counters and tables as a fault-free run of it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from cli import control, pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from cli.stack.processes import wait_until_gone
from schemas.records import RunStatus
from services.shared.streaming import STOP_GRACE_S
from tests.e2e import delivery as d

pytestmark = pytest.mark.e2e

JOBS = 3000
OUTAGE_S = 8.0


@pytest.fixture(scope="module")
def feeds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("delivery-feeds")


@pytest.fixture(scope="module")
async def baseline(
    stack: StackInfo, running_pipeline: PipelineConfig, feeds_dir: Path
) -> dict[str, Any]:
    """The generated feed's outcome with no fault at all."""
    feed = d.generated_feed(feeds_dir, JOBS)
    feed_id, run_id = await d.start_run(stack, feed)
    result = await d.outcome(stack, feed, feed_id, run_id)
    assert result["report"]["run_status"] == RunStatus.SUCCESS
    return result


async def test_a_postgres_outage_mid_run_pauses_and_the_run_completes_by_itself(
    stack: StackInfo,
    running_pipeline: PipelineConfig,
    baseline: dict[str, Any],
    feeds_dir: Path,
) -> None:
    letters_before = await d.dead_letters(stack.bootstrap)
    feed = d.generated_feed(feeds_dir, JOBS)
    feed_id, run_id = await d.start_run(stack, feed)
    await d.wait_for_outcomes(stack.dsn, run_id, at_least=100)

    d.stop_postgres_immediately(running_pipeline.stack)
    paused: set[str] = set()
    try:
        loop = asyncio.get_running_loop()
        until = loop.time() + OUTAGE_S
        while loop.time() < until:
            answers = await asyncio.to_thread(d.readiness, running_pipeline)
            paused |= {name for name, a in answers.items() if a["status"] == 503}
            await asyncio.sleep(0.5)
    finally:
        await asyncio.to_thread(d.start_postgres, running_pipeline.stack)

    # Health said so: the stages that needed the database were paused, not failing records.
    assert paused & {"enricher-0", "router-0"}, paused
    assert await d.outcome(stack, feed, feed_id, run_id) == baseline
    assert await d.dead_letters(stack.bootstrap) == letters_before
    answers = await asyncio.to_thread(d.readiness, running_pipeline)
    assert all(a["status"] == 200 for a in answers.values()), answers


class HalfThenHeld:
    """Serves a feed over HTTP: the first request gets half the body, then nothing until
    released (a read in progress when the ingestor is stopped); later ones get it all."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.released = asyncio.Event()
        self.requests = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        await response.prepare(request)
        half = len(self.body) // 2 if self.requests == 1 else 0
        await response.write(self.body[:half])
        if half:
            await asyncio.wait_for(self.released.wait(), timeout=120)
        with contextlib.suppress(ConnectionError):  # the stopped ingestor hung up
            await response.write(self.body[half:])
            await response.write_eof()
        return response


@pytest.fixture
async def half_then_held(feeds_dir: Path) -> AsyncIterator[tuple[d.Feed, HalfThenHeld, str]]:
    feed = d.generated_feed(feeds_dir, JOBS)
    served = HalfThenHeld(feed.path.read_bytes())
    app = web.Application()
    app.router.add_get("/feed.xml", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield feed, served, f"http://127.0.0.1:{runner.addresses[0][1]}/feed.xml"
    served.released.set()
    await runner.cleanup()


async def test_an_ingestor_stopped_mid_read_gives_the_read_up_and_loses_no_record(
    stack: StackInfo,
    running_pipeline: PipelineConfig,
    baseline: dict[str, Any],
    half_then_held: tuple[d.Feed, HalfThenHeld, str],
) -> None:
    feed, served, url = half_then_held
    letters_before = await d.dead_letters(stack.bootstrap)
    feed_id = await control.ensure_feed(stack.dsn, name=f"delivery-{feed.tag}", source_url=url)
    run_id = await control.request_run(stack.bootstrap, feed_id)
    await d.wait_for_outcomes(stack.dsn, run_id, at_least=100)  # half the feed is flowing

    # SIGTERM while the read waits for the rest of the body: the ingestor delivers what it
    # sent and stops at once (not when the stop's grace runs out), the request uncommitted.
    pid = pipeline.running(running_pipeline)["ingestor-0"]
    assert pid is not None
    began = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    try:
        gone = await asyncio.to_thread(wait_until_gone, pid, 60.0)
        stopped_after_s = time.monotonic() - began
        served.released.set()
    finally:
        await asyncio.to_thread(pipeline.start, running_pipeline, ["ingestor-0"], timeout_s=90.0)
    assert gone and stopped_after_s < STOP_GRACE_S, stopped_after_s
    log = (running_pipeline.stack.logs_dir / "ingestor-0.log").read_text()
    assert f"run {run_id}: the read stopped after" in log

    # The restarted ingestor reads the feed again from its start; nothing is lost or doubled.
    assert await d.outcome(stack, feed, feed_id, run_id) == baseline
    assert served.requests == 2
    assert await d.dead_letters(stack.bootstrap) == letters_before


@pytest.fixture
def extra_replicas(running_pipeline: PipelineConfig) -> Iterator[PipelineConfig]:
    """The pipeline with room for a second router and enricher; stopped after the test."""
    replicas = {**dict.fromkeys(pipeline.SERVICES, 1), "router": 2, "enricher": 2}
    config = dataclasses.replace(running_pipeline, replicas=replicas)
    yield config
    pipeline.stop(config, ["router-1", "enricher-1"])


async def test_replicas_joining_mid_run_lose_no_record(
    stack: StackInfo,
    extra_replicas: PipelineConfig,
    baseline: dict[str, Any],
    feeds_dir: Path,
) -> None:
    letters_before = await d.dead_letters(stack.bootstrap)
    feed = d.generated_feed(feeds_dir, JOBS)
    feed_id, run_id = await d.start_run(stack, feed)
    await d.wait_for_outcomes(stack.dsn, run_id, at_least=100)

    # Both groups rebalance while records are in flight.
    await asyncio.to_thread(
        pipeline.start, extra_replicas, ["router-1", "enricher-1"], timeout_s=90.0
    )
    assert await d.outcome(stack, feed, feed_id, run_id) == baseline
    assert await d.dead_letters(stack.bootstrap) == letters_before
    log = extra_replicas.stack.logs_dir / "router-1.log"
    assert "assigned partitions" in log.read_text()


async def test_a_replica_killed_mid_run_loses_no_record(
    stack: StackInfo,
    extra_replicas: PipelineConfig,
    baseline: dict[str, Any],
    feeds_dir: Path,
) -> None:
    await asyncio.to_thread(
        pipeline.start, extra_replicas, ["router-1", "enricher-1"], timeout_s=90.0
    )
    letters_before = await d.dead_letters(stack.bootstrap)
    feed = d.generated_feed(feeds_dir, JOBS)
    feed_id, run_id = await d.start_run(stack, feed)
    await d.wait_for_outcomes(stack.dsn, run_id, at_least=100)

    for name in ("router-1", "enricher-1"):
        pid = pipeline.running(extra_replicas)[name]
        assert pid is not None
        d.kill(pid)
    assert await d.outcome(stack, feed, feed_id, run_id) == baseline
    assert await d.dead_letters(stack.bootstrap) == letters_before


@pytest.mark.parametrize("end", ["killed", "frozen"])
async def test_a_router_stopped_holding_job_locks_loses_no_record_and_blocks_nobody(
    stack: StackInfo,
    extra_replicas: PipelineConfig,
    baseline: dict[str, Any],
    feeds_dir: Path,
    end: str,
) -> None:
    # router-1 stops mid-batch, in its routing transaction, its jobs locked. router-0 takes
    # its partitions over and routes the same records: it waits on the same job locks.
    # Killed, the server sees the connection close and frees them; frozen (a host cut off,
    # a paused VM: no FIN ever comes), the server ends the idle transaction after the
    # router's timeout. Either way the run completes by itself, as without the fault.
    await asyncio.to_thread(pipeline.start, extra_replicas, ["router-1"], timeout_s=90.0)
    letters_before = await d.dead_letters(stack.bootstrap)
    feed = d.generated_feed(feeds_dir, JOBS)
    feed_id, run_id = await d.start_run(stack, feed)
    await d.wait_for_outcomes(stack.dsn, run_id, at_least=100)

    router_1 = pipeline.running(extra_replicas)["router-1"]
    assert router_1 is not None
    try:
        await d.freeze_holding_job_locks(stack.dsn, router_1, "jobstream-router-1")
        # The group hands router-1's partitions over once its session times out (6 s).
        await d.wait_for_job_lock_waiter(stack.dsn, "jobstream-router-0", timeout_s=60)
        if end == "killed":
            d.kill(router_1)
        assert await d.outcome(stack, feed, feed_id, run_id) == baseline
        assert await d.dead_letters(stack.bootstrap) == letters_before
    finally:
        if end == "frozen" or pipeline.running(extra_replicas)["router-1"] is not None:
            d.kill(router_1)  # SIGKILL ends a stopped process too


async def test_restarting_a_service_keeps_its_replica_count_and_waits_for_its_groups(
    extra_replicas: PipelineConfig,
) -> None:
    stack_config = extra_replicas.stack
    pipeline.save_replicas(stack_config, extra_replicas.replicas)  # as `up --replicas` does
    try:
        config = dataclasses.replace(extra_replicas, replicas=pipeline.saved_replicas(stack_config))
        before = pipeline.running(config)
        started = await asyncio.to_thread(pipeline.restart, config, "router", timeout_s=90.0)
        after = pipeline.running(config)
    finally:
        pipeline.replicas_file(stack_config).unlink()
    assert started == ["router-0", "router-1"]
    assert after["router-0"] not in (None, before["router-0"]) and after["router-1"] is not None
    assert after["enricher-1"] == before["enricher-1"] or before["enricher-1"] is None
    # Returned only once every replica held its partitions in a stable group.
    answers = await asyncio.to_thread(d.readiness, config)
    assert {name for name, a in answers.items() if a["status"] == 200} >= {"router-0", "router-1"}
    groups = {s["group"] for a in answers.values() for s in a["stages"].values()}
    assert "jobstream-router.jobs.enriched" in groups


async def test_two_routers_and_two_enrichers_throughout_give_the_one_router_tables(
    stack: StackInfo,
    extra_replicas: PipelineConfig,
    baseline: dict[str, Any],
    feeds_dir: Path,
) -> None:
    # Pass-1 merges are keyed by their kept job's hash, the jobs by their pass-2 key, so a
    # merge and its job are routed by different replicas at once: the locations must fold
    # the same as with one router.
    await asyncio.to_thread(
        pipeline.start, extra_replicas, ["router-1", "enricher-1"], timeout_s=90.0
    )
    feed = d.generated_feed(feeds_dir, JOBS)
    feed_id, run_id = await d.start_run(stack, feed)
    assert await d.outcome(stack, feed, feed_id, run_id) == baseline
