"""Scaling the ingestor out and back in while it reads a feed: the read is handed over.

A second ingestor joining mid-read takes the `feeds.requested` partitions of the first
through a rebalance; the read in hand gives its request up (left uncommitted, as at a stop)
and whichever ingestor then holds the request's partition reads the feed again from its
start. The group settles at once instead of waiting for the read (before, the two ingestors
put each other out of the group in turn for as long as a read went on), and removing the
replica mid-read hands the read over again. The run completes once, with every job in its
table, as a run without replicas leaves it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cli import control, pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas.records import FINISHED_STATUSES, RunStatus
from tests.e2e import router_feed as rf

pytestmark = pytest.mark.e2e

READ_S = 40.0  # how long the server takes to send the feed whole: a read outlasts a join
CHUNKS = 80
READY_S = 90.0  # for a replica to start, and for the groups to settle around it
PROGRESS_S = 60.0


@dataclass
class TrickledFeed:
    """Serves a feed slowly; notes how far each request's body got."""

    body: bytes
    sent: list[int] = field(default_factory=list)  # per request (1st, 2nd, ...): bytes sent

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.sent.append(0)
        mine = len(self.sent) - 1
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        await response.prepare(request)
        step = math.ceil(len(self.body) / CHUNKS)
        for start in range(0, len(self.body), step):
            await response.write(self.body[start : start + step])  # a reader gone: raises
            self.sent[mine] = start + step
            await asyncio.sleep(READ_S / CHUNKS)
        await response.write_eof()
        return response

    async def reached(self, request: int, share: float) -> None:
        """Until the `request`-th read of the feed has been sent `share` of the feed."""
        deadline = asyncio.get_running_loop().time() + PROGRESS_S
        while len(self.sent) < request or self.sent[request - 1] < share * len(self.body):
            assert asyncio.get_running_loop().time() < deadline, (
                f"read {request} never got {share:.0%} of the feed: {self.sent}"
            )
            await asyncio.sleep(0.2)


@asynccontextmanager
async def serving(feed: TrickledFeed) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/feed.xml", feed.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/feed.xml"))
    finally:
        await server.close()


async def run_status(dsn: str, run_id: str) -> str | None:
    conn = await control.connect(dsn)
    try:
        status = await conn.fetchval(
            "SELECT run_status FROM execution_reports WHERE run_id = $1", run_id
        )
    finally:
        await conn.close()
    return None if status is None else str(status)


async def test_an_ingestor_added_then_removed_mid_read_hands_the_read_over(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed = TrickledFeed(copy.text.encode())
    two = dataclasses.replace(
        running_pipeline, replicas={**dict.fromkeys(pipeline.SERVICES, 1), "ingestor": 2}
    )
    try:
        async with serving(feed) as url:
            feed_id = await control.ensure_feed(
                stack.dsn, name=f"ingestor-replicas-{copy.tag}", source_url=url, mapping=rf.MAPPING
            )
            run_id = await control.request_run(stack.bootstrap, feed_id)
            await feed.reached(1, 0.1)

            # `start` returns once every replica holds its partitions and every group is
            # stable: before the fix this never happened while a read went on.
            await asyncio.to_thread(pipeline.start, two, ["ingestor-1"], timeout_s=READY_S)
            status = await run_status(stack.dsn, run_id)
            assert status not in FINISHED_STATUSES, (
                f"the group settled only once the run was {status}"
            )
            assert feed.sent[0] < len(feed.body), "the first read ended before the replica joined"
            await feed.reached(2, 0.1)  # handed over: read again from its start

            await asyncio.to_thread(pipeline.stop, two, ["ingestor-1"])
            await asyncio.to_thread(pipeline.wait_ready, running_pipeline, READY_S)
            assert feed.sent[1] < len(feed.body), "the second read ended before the scale-in"
            await feed.reached(3, 0.1)  # handed over again

            report = await control.wait_for_report(
                stack.dsn, run_id, timeout_s=READ_S + rf.RUN_TIMEOUT_S
            )
    finally:
        await asyncio.to_thread(pipeline.stop, two, ["ingestor-1"])

    # Completed by counting (the stall sweep closes as FAILURE); PARTIAL for the feed's
    # malformed record, as in every run of it.
    assert report.run_status == RunStatus.PARTIAL and report.malformed_records == 1
    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == rf.EXPECTED_RUN_1
    assert (report.jobs_auto_approved, report.jobs_manual_review) == (9, 6)
    assert (report.jobs_rejected, report.skipped_closed) == (7, 2)
    assert await rf.completions(stack.bootstrap, run_id) == 1
    assert all(sent < len(feed.body) for sent in feed.sent[:2])  # both reads were given up
