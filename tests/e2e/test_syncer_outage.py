"""A Xano outage pauses the running syncer instead of losing the reconcile: the run's jobs
reach Xano once it answers again, with no new run (the pipeline's own processes)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaProducer

from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas import topics
from schemas.codec import CODEC
from schemas.records import RunCompleted, RunStatus
from tests.e2e.test_syncer_outbox import _emulator, _in_xano
from tests.integration.syncer_support import insert_open_jobs, new_feed_id

pytestmark = pytest.mark.e2e

JOBS = 12


def _readiness(config: PipelineConfig) -> int:
    url = f"http://127.0.0.1:{config.web_port('syncer', 0)}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            json.load(answer)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def _completed(bootstrap: str, feed_id: int) -> None:
    """What the router publishes when a run of the feed completes."""
    run_id = f"outage-{uuid.uuid4()}"
    record = RunCompleted(run_id=run_id, feed_id=feed_id, status=RunStatus.SUCCESS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.RUNS_EVENTS.name, value=CODEC.encode(record, source="router"),
            key=run_id.encode(),
        )  # fmt: skip
    finally:
        await producer.stop()


async def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.5)


async def test_a_xano_outage_pauses_the_reconcile_until_xano_answers(
    stack: StackInfo, running_pipeline: PipelineConfig
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, JOBS)  # the run's approved jobs

    _emulator(running_pipeline, "/__admin/faults", {"status_5xx": {"count": None}})
    try:
        await _completed(stack.bootstrap, feed_id)
        await _until(lambda: _readiness(running_pipeline) == 503, 90, "the syncer paused")
        assert _in_xano(running_pipeline, feed_id) == []
    finally:
        _emulator(running_pipeline, "/__admin/faults", {})

    await _until(
        lambda: len(_in_xano(running_pipeline, feed_id)) == JOBS, 90, "the jobs reached Xano"
    )
    await _until(lambda: _readiness(running_pipeline) == 200, 60, "the syncer resumed")
