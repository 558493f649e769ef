"""`jobstream runs` against the live API (real PostgreSQL and Kafka): a held archive shown,
confirmed and discarded, a stuck run failed. The test plays the router's part: it consumes
the operator's requests from `runs.events` and hands them to the router's own code."""

from __future__ import annotations

import asyncio
import getpass
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition

from cli.main import main
from cli.stack import StackInfo
from schemas import topics
from schemas.codec import CODEC
from schemas.records import ArchiveDecided, Record, RunFailRequested, RunStatus
from schemas.status import ArchiveState
from services.api.app import build
from services.router.config import RouterSettings
from services.router.service import Router
from services.shared.database import Database
from services.shared.settings import Secret
from tests.integration.api_support import api_dsn
from tests.integration.test_api import TOKEN, api_settings
from tests.integration.test_run_guard import RecordingPublisher, drive_run

__all__ = ["api_dsn"]  # a fixture, imported for pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def api_url(stack: StackInfo, api_dsn: str) -> AsyncIterator[str]:
    server = TestServer(build(api_settings(stack, api_dsn)))
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture(scope="module")
async def database(api_dsn: str) -> AsyncIterator[Database]:
    db = Database(Secret(api_dsn), min_size=1, max_size=3)
    yield db
    await db.close()


@pytest.fixture
def router(api_dsn: str, database: Database) -> Router:
    settings = RouterSettings.from_env({"DATABASE_URL": api_dsn})
    return Router(settings, database, RecordingPublisher())


@pytest.fixture
async def feed_id(database: Database) -> int:
    async with database.connection() as conn:
        name = f"runs-cli-{uuid.uuid4().hex[:8]}"
        return int(
            await conn.fetchval(
                "INSERT INTO feeds (name, source_url) VALUES ($1, 'test://') RETURNING id", name
            )
        )


class RunEvents:
    """Reads `runs.events` from where it ended when created: the requests the API sends."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer

    async def next_for(self, run_id: str, timeout_s: float = 20.0) -> Record:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            batches = await self._consumer.getmany(timeout_ms=500)
            for messages in batches.values():
                for message in messages:
                    record = CODEC.decode(message.value)
                    if getattr(record, "run_id", None) == run_id:
                        return record
        raise AssertionError(f"no event for run {run_id} on {topics.RUNS_EVENTS.name}")


@pytest.fixture
async def run_events(stack: StackInfo) -> AsyncIterator[RunEvents]:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
    await consumer.start()
    partitions = [
        TopicPartition(topics.RUNS_EVENTS.name, p) for p in range(topics.RUNS_EVENTS.partitions)
    ]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)  # resolve the end now, before anything is sent
    yield RunEvents(consumer)
    await consumer.stop()


async def jobstream(api_url: str, *argv: str) -> int:
    """Runs the command in a thread: it blocks on HTTP while the API answers in this loop."""
    return await asyncio.to_thread(main, [*argv, "--api-url", api_url, "--token", TOKEN])


async def _held_run(router: Router, feed_id: int) -> str:
    await drive_run(router, feed_id, range(40))
    return await drive_run(router, feed_id, range(10))  # 30 of 40 gone: held


async def _tables(database: Database, feed_id: int) -> tuple[int, int]:
    async with database.connection() as conn:
        row = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM open_jobs WHERE feed_id = $1) AS open, "
            "(SELECT count(*) FROM archive_jobs WHERE feed_id = $1) AS archived",
            feed_id,
        )
    assert row is not None
    return int(row["open"]), int(row["archived"])


async def test_a_held_archive_is_shown_then_confirmed(
    api_url: str,
    router: Router,
    database: Database,
    feed_id: int,
    run_events: RunEvents,
    capsys: pytest.CaptureFixture[str],
) -> None:
    held = await _held_run(router, feed_id)
    assert await jobstream(api_url, "runs", "show", held) == 0
    out = capsys.readouterr().out
    assert "archive held: 30 jobs, confirm or discard" in out
    assert f"jobstream runs confirm-archive {held}" in out
    assert await jobstream(api_url, "status", str(feed_id)) == 0
    assert "archive held: 30 jobs" in capsys.readouterr().out

    # The command waits while the router (here, this test) applies the confirmation.
    command = asyncio.create_task(
        jobstream(api_url, "runs", "confirm-archive", held, "--by", "ana", "--wait", "30")
    )
    decision = await run_events.next_for(held)
    assert isinstance(decision, ArchiveDecided)
    assert (decision.confirm, decision.decided_by, decision.feed_id) == (True, "ana", feed_id)
    await router.follow(decision)
    assert await command == 0
    assert "archive applied: 30 jobs archived" in capsys.readouterr().out
    assert await _tables(database, feed_id) == (10, 30)

    assert await jobstream(api_url, "runs", "confirm-archive", held, "--wait", "0") == 1
    assert "has no archive held (archive confirmed) (HTTP 409)" in capsys.readouterr().err


async def test_a_held_archive_is_discarded_and_the_jobs_stay(
    api_url: str,
    router: Router,
    database: Database,
    feed_id: int,
    run_events: RunEvents,
    capsys: pytest.CaptureFixture[str],
) -> None:
    held = await _held_run(router, feed_id)
    assert await jobstream(api_url, "runs", "discard-archive", held, "--wait", "0") == 0
    decision = await run_events.next_for(held)
    assert isinstance(decision, ArchiveDecided) and not decision.confirm
    await router.follow(decision)
    assert await _tables(database, feed_id) == (40, 0)
    archive = (await asyncio.to_thread(_get, api_url, f"/runs/{held}"))["progress"]["archive"]
    assert (archive["state"], archive["archived"], archive["held"]) == (
        ArchiveState.DISCARDED,
        0,
        30,
    )
    assert archive["decided_by"] == getpass.getuser()
    assert archive["reason"] == f"archive of 30 held jobs discarded by {getpass.getuser()}"


async def test_a_confirmation_waits_for_the_feeds_run_in_progress(
    api_url: str, router: Router, feed_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    held = await _held_run(router, feed_id)
    live = await drive_run(router, feed_id, range(40), finish=False)
    assert await jobstream(api_url, "runs", "confirm-archive", held, "--wait", "0") == 1
    assert "has a run in progress" in capsys.readouterr().err
    # A discard needs no wait: it moves nothing.
    assert await jobstream(api_url, "runs", "discard-archive", held, "--wait", "0") == 0
    assert live


async def test_a_stuck_run_says_what_it_waits_for_and_an_operator_fails_it(
    api_url: str,
    router: Router,
    feed_id: int,
    run_events: RunEvents,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stuck = await drive_run(router, feed_id, range(3), finish=False)
    view = await asyncio.to_thread(_get, api_url, f"/runs/{stuck}")
    assert view["progress"]["waiting_for"].startswith(
        "the ingestor to finish reading the feed (no IngestFinished yet)"
    )
    assert await jobstream(api_url, "runs", "show", stuck) == 0
    assert "waiting for:" in capsys.readouterr().out

    reason = "the ingestor lost it"
    command = asyncio.create_task(
        jobstream(api_url, "runs", "fail", stuck, "--reason", reason, "--by", "ops")
    )
    request = await run_events.next_for(stuck)
    assert isinstance(request, RunFailRequested) and request.reason == reason
    await router.follow(request)
    assert await command == 0
    assert f"FAILURE: failed by ops: {reason}" in capsys.readouterr().out
    assert await jobstream(api_url, "runs", "show", stuck) == 1
    feed = await asyncio.to_thread(_get, api_url, f"/feeds/{feed_id}")
    counts = ("runs_count", "success_count", "partial_count", "error_count")
    assert [feed[k] for k in counts] == [1, 0, 0, 1]
    assert (feed["last_run_id"], feed["last_run_status"]) == (stuck, RunStatus.FAILURE)
    assert await jobstream(api_url, "runs", "fail", stuck, "--wait", "0") == 1
    assert "is not in progress (it is COMPLETED) (HTTP 409)" in capsys.readouterr().err


async def test_unknown_runs_and_bad_bodies_are_refused(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await jobstream(api_url, "runs", "confirm-archive", "no-such-run") == 1
    assert "no run no-such-run (HTTP 404)" in capsys.readouterr().err
    answer = await asyncio.to_thread(_post, api_url, "/runs/x/fail", {"why": 1})
    assert answer == 400


def _get(api_url: str, path: str) -> dict[str, Any]:
    request = urllib.request.Request(api_url + path)  # noqa: S310
    request.add_header("Authorization", f"Bearer {TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        body: dict[str, Any] = json.load(answer)
    return body


def _post(api_url: str, path: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(  # noqa: S310
        api_url + path, data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def test_status_shows_a_hold_left_behind_by_a_later_run(
    api_url: str, router: Router, feed_id: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A later run that could not judge (a truncated fetch) leaves the hold to answer."""
    held = await _held_run(router, feed_id)
    later = await drive_run(router, feed_id, range(3), fetch_status="truncated")
    view = await asyncio.to_thread(_get, api_url, f"/execution-status/{feed_id}")
    assert view["run"]["run_id"] == later
    assert [h["run_id"] for h in view["held_archives"]] == [held]
    assert await jobstream(api_url, "status", str(feed_id)) == 0
    assert f"archive held: 30 jobs, confirm or discard (run {held})" in capsys.readouterr().out
