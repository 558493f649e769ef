"""The `jobstream` commands of the control plane against the live API (real PostgreSQL, Kafka)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from cli.main import main
from cli.stack import StackInfo
from schemas.records import RunStatus
from services.api.app import build
from tests.integration.api_support import api_dsn
from tests.integration.test_api import TOKEN, api_settings

__all__ = ["api_dsn"]  # a fixture, imported for pytest


@pytest.fixture(scope="module")
async def api_url(stack: StackInfo, api_dsn: str) -> AsyncIterator[str]:
    server = TestServer(build(api_settings(stack, api_dsn)))
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture(scope="module")
async def db(api_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(api_dsn)
    yield conn
    await conn.close()


async def jobstream(api_url: str, *argv: str) -> int:
    """Runs the command in a thread: it blocks on HTTP while the API answers in this loop."""
    return await asyncio.to_thread(main, [*argv, "--api-url", api_url, "--token", TOKEN])


async def _add_feed(api_url: str, capsys: pytest.CaptureFixture[str], **extra: str) -> int:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    options = [f"--{k}={v}" for k, v in extra.items()]
    assert await jobstream(api_url, "feeds", "add", name, "/nonexistent/f.xml", *options) == 0
    out = capsys.readouterr().out
    assert f"registered: {name}" in out
    return int(out.split()[1])


async def test_feeds_add_list_show(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    feed_id = await _add_feed(api_url, capsys, every="30")
    assert await jobstream(api_url, "feeds", "list", "--limit", "500") == 0
    assert str(feed_id) in capsys.readouterr().out
    assert await jobstream(api_url, "feeds", "show", str(feed_id)) == 0
    assert "check_frequency_minutes" in capsys.readouterr().out


async def test_errors_are_one_line_and_exit_1(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await jobstream(api_url, "feeds", "show", "2000000") == 1
    assert "no feed 2000000 (HTTP 404)" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["status", "1", "--api-url", "http://127.0.0.1:9"]) == 1
    assert "does not answer" in capsys.readouterr().err


async def _finish(db: asyncpg.Connection, feed_id: int, status: str) -> None:
    """Plays the pipeline's part: records counted, then the report and the Xano sync."""
    run_id = await _running_run(db, feed_id)
    await db.execute("UPDATE runs SET emitted = 2 WHERE run_id = $1", run_id)
    await asyncio.sleep(0.6)
    await db.executemany(
        "INSERT INTO run_outcomes (run_id, seq, outcome) VALUES ($1, $2, 'approved')",
        [(run_id, 1), (run_id, 2)],
    )
    await asyncio.sleep(0.6)
    await db.execute(
        "INSERT INTO execution_reports (run_id, feed_id, run_status, total_in_feed, "
        "jobs_auto_approved, xano_status) VALUES ($1, $2, $3, 2, 2, 'SYNCED')",
        run_id, feed_id, status,
    )  # fmt: skip
    await db.execute("UPDATE runs SET status = 'COMPLETED' WHERE run_id = $1", run_id)


async def _running_run(db: asyncpg.Connection, feed_id: int) -> str:
    for _ in range(100):
        run_id = await db.fetchval(
            "SELECT run_id FROM runs WHERE feed_id = $1 AND status = 'RUNNING'", feed_id
        )
        if run_id:
            return str(run_id)
        await asyncio.sleep(0.1)
    raise AssertionError("no run was requested")


@pytest.mark.parametrize(
    ("status", "code"), [(RunStatus.SUCCESS, 0), (RunStatus.PARTIAL, 0), (RunStatus.FAILURE, 1)]
)
async def test_trigger_wait_follows_the_run_to_its_report(
    api_url: str, db: asyncpg.Connection, capsys: pytest.CaptureFixture[str], status: str,
    code: int,
) -> None:  # fmt: skip
    feed_id = await _add_feed(api_url, capsys)
    waiting = asyncio.ensure_future(jobstream(api_url, "trigger", str(feed_id), "--wait"))
    await _finish(db, feed_id, status)
    assert await asyncio.wait_for(waiting, timeout=30) == code
    out = capsys.readouterr().out
    assert "read feed" in out and "route" in out and "sync to Xano" in out
    assert f"of feed {feed_id}: {status}" in out and "approved" in out
    assert await jobstream(api_url, "status", str(feed_id)) == code
    assert f"of feed {feed_id}: {status}" in capsys.readouterr().out


async def test_a_second_trigger_says_which_run_is_in_progress(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_id = await _add_feed(api_url, capsys)
    assert await jobstream(api_url, "trigger", str(feed_id)) == 0
    run_id = capsys.readouterr().out.split()[1]
    assert await jobstream(api_url, "trigger", str(feed_id)) == 1
    assert "has a run in progress" in capsys.readouterr().err
    assert await jobstream(api_url, "status", str(feed_id)) == 0
    assert run_id in capsys.readouterr().out


async def test_review_list_approve_reject(
    api_url: str, db: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_id = await _add_feed(api_url, capsys)
    hashes = [f"{uuid.uuid4().hex[:16]}/+=" for _ in range(2)]
    for job_hash in hashes:
        await db.execute(
            "INSERT INTO manual_review_jobs (job_hash, feed_id, route, status, title) "
            "VALUES ($1, $2, 'manual_review', 'MANUAL_REVIEW', 'Welder')",
            job_hash,
            feed_id,
        )
    assert await jobstream(api_url, "review", "list", "--feed", str(feed_id)) == 0
    assert "2 of 2" in capsys.readouterr().out
    assert await jobstream(api_url, "review", "approve", hashes[0], "--reviewer", "ann") == 0
    assert "approved" in capsys.readouterr().out
    rejected = await jobstream(api_url, "review", "reject", hashes[1], "--reason", "duplicate ad")
    assert rejected == 0
    assert "duplicate ad" in capsys.readouterr().out
    placed: dict[str, Any] = {
        r["job_hash"]: r["t"]
        for r in await db.fetch(
            "SELECT job_hash, 'open' AS t FROM open_jobs WHERE feed_id = $1 UNION ALL "
            "SELECT job_hash, 'rejected' FROM rejected_jobs WHERE feed_id = $1",
            feed_id,
        )
    }
    assert placed == {hashes[0]: "open", hashes[1]: "rejected"}
    assert await jobstream(api_url, "review", "approve", hashes[0]) == 1
    assert "not in the manual review queue" in capsys.readouterr().err
