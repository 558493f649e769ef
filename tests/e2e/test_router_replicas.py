"""Two router replicas share jobs.enriched: the run completes once, the tables are the same."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from cli import pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from tests.e2e import router_feed as rf

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_routers(running_pipeline: PipelineConfig) -> Iterator[PipelineConfig]:
    """The session's pipeline plus a second router replica, stopped after this module."""
    replicas = {**dict.fromkeys(pipeline.SERVICES, 1), "router": 2}
    config = dataclasses.replace(running_pipeline, replicas=replicas)
    started = pipeline.start(config, timeout_s=90.0)
    yield config
    pipeline.stop(config, started)


async def _wait_for_members(bootstrap: str, members: int, timeout_s: float = 60.0) -> None:
    """The router group is stable with this many members (the partitions are shared)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            [described] = await admin.describe_consumer_groups([rf.ROUTER_GROUP])
            _, _, state, _, _, found = described.groups[0][:6]
            if state == "Stable" and len(found) == members:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"router group {state} with {len(found)} members")
            await asyncio.sleep(0.5)
    finally:
        await admin.close()


def _routed_by(config: PipelineConfig, replica: int, run_id: str) -> bool:
    log = config.stack.logs_dir / f"router-{replica}.log"
    return any("routed" in line and run_id in line for line in log.read_text().splitlines())


async def test_two_routers_complete_the_run_once_with_the_single_router_tables(
    stack: StackInfo, two_routers: PipelineConfig, tmp_path: Path
) -> None:
    await _wait_for_members(stack.bootstrap, members=2)
    copy = rf.own_copy(tmp_path)
    feed_id, report = await rf.run_feed(stack, copy, copy.write("run1"))

    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == rf.EXPECTED_RUN_1
    assert (report.jobs_auto_approved, report.jobs_manual_review) == (9, 6)
    assert (report.jobs_rejected, report.skipped_closed) == (7, 2)
    assert await rf.completions(stack.bootstrap, report.run_id) == 1
    # Both replicas did part of the routing: the completion race was real.
    assert _routed_by(two_routers, 0, report.run_id)
    assert _routed_by(two_routers, 1, report.run_id)
