"""Helpers for the delivery tests: generated feeds of their own, fault-free baselines, DLQ
counts, PostgreSQL outages and readiness polls."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.feedgen import write_feed
from cli import control, pipeline
from cli.pipeline import PipelineConfig
from cli.stack import StackConfig, StackInfo, postgres_server
from cli.stack.processes import wait_until_gone
from schemas.topics import DEAD_LETTER_TOPICS
from tests.e2e import router_feed as rf

RUN_TIMEOUT_S = 420.0
# Report counters that depend only on the feed's content, not on how the run went.
COUNTERS = (
    "run_status",
    "jobs_auto_approved",
    "jobs_manual_review",
    "jobs_rejected",
    "skipped_closed",
)


@dataclass(frozen=True, slots=True)
class Feed:
    """A generated feed whose companies carry a tag, so its jobs are its own."""

    tag: str
    path: Path


def generated_feed(directory: Path, jobs: int, seed: int = 21) -> Feed:
    """The same jobs for the same (jobs, seed), under a company tag unique to this copy."""
    plain = directory / f"plain-{jobs}-{seed}.xml"
    if not plain.exists():
        write_feed(plain, jobs, seed=seed)
    tag = uuid.uuid4().hex[:8]
    text = re.sub(r"<company><!\[CDATA\[", f"<company><![CDATA[{tag} ", plain.read_text())
    path = directory / f"feed-{tag}.xml"
    path.write_text(text)
    return Feed(tag, path)


async def start_run(stack: StackInfo, feed: Feed) -> tuple[int, str]:
    feed_id = await control.ensure_feed(
        stack.dsn, name=f"delivery-{feed.tag}", source_url=str(feed.path)
    )
    return feed_id, await control.request_run(stack.bootstrap, feed_id)


async def outcome(stack: StackInfo, feed: Feed, feed_id: int, run_id: str) -> dict[str, Any]:
    """The run's report counters and its tables, with the feed's tag taken out."""
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=RUN_TIMEOUT_S)
    tables = rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), feed.tag)
    return {"report": {k: getattr(report, k) for k in COUNTERS}, "tables": tables}


async def outcomes_recorded(dsn: str, run_id: str) -> int:
    conn = await control.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM run_outcomes WHERE run_id = $1", run_id
        )
        return count
    finally:
        await conn.close()


async def wait_for_outcomes(dsn: str, run_id: str, at_least: int, timeout_s: float = 120) -> None:
    """Until the run is under way: `at_least` of its records have their outcome."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while await outcomes_recorded(dsn, run_id) < at_least:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"run {run_id} has fewer than {at_least} outcomes")
        await asyncio.sleep(0.1)


async def dead_letters(bootstrap: str) -> int:
    """Every message ever written to any dead-letter topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(spec.name, 0) for spec in DEAD_LETTER_TOPICS]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return sum(ends.values())
    finally:
        await consumer.stop()


def stop_postgres_immediately(config: StackConfig) -> None:
    """`pg_ctl stop -m immediate`: the postmaster quits at once, sessions are cut."""
    pid = postgres_server.running_pid(config)
    assert pid is not None, "the test stack's PostgreSQL is not running"
    os.kill(pid, signal.SIGQUIT)
    assert wait_until_gone(pid, 30.0)
    postgres_server.pid_file(config).unlink(missing_ok=True)


def start_postgres(config: StackConfig) -> None:
    postgres_server.start(config, postgres_server.prepare(config))


def readiness(config: PipelineConfig) -> dict[str, dict[str, Any]]:
    """Each running service replica's `/readyz` answer (status and body)."""
    found: dict[str, dict[str, Any]] = {}
    for service in pipeline.SERVICES:
        for replica in range(config.replicas.get(service, 1)):
            url = f"http://127.0.0.1:{config.web_port(service, replica)}/readyz"
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    found[f"{service}-{replica}"] = {"status": answer.status, **json.load(answer)}
            except urllib.error.HTTPError as error:
                found[f"{service}-{replica}"] = {"status": error.code, **json.load(error)}
            except OSError:
                continue
    return found


def kill(pid: int) -> None:
    """SIGKILL: no goodbye to the group, its batch in hand never committed."""
    os.kill(pid, signal.SIGKILL)
    assert wait_until_gone(pid, 10.0)


# A router's job locks: single-key transaction advisory locks (`jobs_repository.lock_jobs`).
_JOB_LOCKS = """
SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE a.application_name = $1 AND l.locktype = 'advisory' AND l.objsubid = 1
  AND l.granted = $2 AND ($2 = false OR a.state = 'idle in transaction')
"""
# Sessions of a replica inside a transaction but not idle in it: mid-statement.
_MID_STATEMENT = """
SELECT count(*) FROM pg_stat_activity
WHERE application_name = $1 AND xact_start IS NOT NULL AND state <> 'idle in transaction'
"""


async def freeze_holding_job_locks(
    dsn: str, pid: int, application_name: str, timeout_s: float = 90.0
) -> None:
    """SIGSTOPs the router `pid` at a moment it is between two statements of a routing
    transaction, its job locks taken: a replica frozen or cut off, its locks held for nobody.
    (Not mid-statement: a session blocked sending its results to a stopped process is not
    idle, and no server timeout ends it.)"""
    conn = await control.connect(dsn)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        while loop.time() < deadline:
            os.kill(pid, signal.SIGSTOP)
            await asyncio.sleep(0.05)  # a statement under way finishes; the session idles
            if await conn.fetchval(_JOB_LOCKS, application_name, True) and not (
                await conn.fetchval(_MID_STATEMENT, application_name)
            ):
                return
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(0.03)
    finally:
        await conn.close()
    raise TimeoutError(f"{application_name} was never caught holding job locks")


async def wait_for_job_lock_waiter(dsn: str, application_name: str, timeout_s: float) -> None:
    """Until a session of `application_name` waits for a job lock."""
    conn = await control.connect(dsn)
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while not await conn.fetchval(_JOB_LOCKS, application_name, False):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{application_name} never waited for a job lock")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
