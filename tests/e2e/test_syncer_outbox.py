"""The running syncer keeps a reviewer's approval whose push failed, and retries it until the
Xano emulator has it (the pipeline's own processes, real broker and database)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas import topics
from schemas.codec import CODEC
from schemas.records import Route, RoutedJob
from tests.integration.syncer_support import fetch_row, insert_open_jobs, new_feed_id

pytestmark = pytest.mark.e2e


def _emulator(config: PipelineConfig, path: str, body: Any = None) -> Any:
    url = f"http://127.0.0.1:{config.xano_port}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback only
        return json.load(answer)


def _in_xano(config: PipelineConfig, feed_id: int) -> list[str]:
    body = _emulator(config, f"/__admin/records?feed_id={feed_id}")
    records = body["records"] if isinstance(body, dict) else body
    return [r["job_hash"] for r in records]


def _push_failures(config: PipelineConfig) -> float:
    url = f"http://127.0.0.1:{config.web_port('syncer', 0)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "jobstream_xano_approval_push_failures_total"
    )


async def _approve(bootstrap: str, feed_id: int, job_hash: str) -> None:
    """What the API publishes once a reviewer's approval is committed."""
    record = RoutedJob(
        feed_id=feed_id, job_hash=job_hash, route=Route.OPEN, reason="approved by e2e",
        decided_by="reviewer",
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.JOBS_ROUTED.name, value=CODEC.encode(record, source="api"), key=job_hash.encode()
        )
    finally:
        await producer.stop()


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        await asyncio.sleep(0.5)


async def test_a_failed_approval_push_is_retried_by_the_syncer_until_xano_has_it(
    stack: StackInfo, running_pipeline: PipelineConfig
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 1)  # the approval, committed by the API
    job_hash = f"{feed_id}-00000"
    failures_before = _push_failures(running_pipeline)

    async def attempts() -> int:
        query = "SELECT attempts FROM xano_outbox WHERE job_hash = $1"
        row = await fetch_row(stack.dsn, query, job_hash)
        return int(row["attempts"]) if row else 0

    async def failed_once() -> bool:
        return await attempts() >= 1

    async def landed() -> bool:
        return job_hash in _in_xano(running_pipeline, feed_id)

    async def outbox_empty() -> bool:
        query = "SELECT 1 AS kept FROM xano_outbox WHERE job_hash = $1"
        return await fetch_row(stack.dsn, query, job_hash) is None

    _emulator(running_pipeline, "/__admin/faults", {"status_5xx": {"count": None}})
    try:
        await _approve(stack.bootstrap, feed_id, job_hash)
        await _until(failed_once, 60, "the failed push kept in the outbox")
        assert not await landed()
        assert _push_failures(running_pipeline) > failures_before
    finally:
        _emulator(running_pipeline, "/__admin/faults", {})

    await _until(landed, 60, "the approval retried into Xano")
    await _until(outbox_empty, 30, "the outbox emptied once Xano confirmed")
