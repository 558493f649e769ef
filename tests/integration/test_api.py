"""The HTTP API on real PostgreSQL and Kafka: every route, its auth, its errors.

The API works on a database of its own (`api_support`), the shared broker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import AIOKafkaConsumer, TopicPartition
from yarl import URL

from cli.stack import StackInfo
from schemas import topics
from schemas.codec import CODEC
from schemas.records import FeedRequested, Record, Route, RoutedJob
from schemas.status import JobStatus, RunState
from schemas.topics import TopicSpec
from services.api.app import build
from services.api.config import ApiSettings
from services.api.console import is_page_route
from services.shared.settings import Secret
from tests.integration.api_support import api_dsn

__all__ = ["api_dsn"]  # a fixture, imported for pytest

TOKEN = "test-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer not-the-token"}


def api_settings(stack: StackInfo, dsn: str, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "token": Secret(TOKEN),
        "database_url": Secret(dsn),
        "bootstrap_servers": stack.bootstrap,
        "replica": "0",
        "scheduler_enabled": False,
        "scheduler_interval_s": 1.0,
    }
    return ApiSettings(**{**values, **overrides})


@pytest.fixture(scope="module")
async def client(stack: StackInfo, api_dsn: str) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(build(api_settings(stack, api_dsn)))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def db(api_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(api_dsn)
    yield conn
    await conn.close()


async def _new_feed(client: TestClient[Any, Any], **fields: Any) -> dict[str, Any]:
    body = {"name": f"feed-{uuid.uuid4().hex[:8]}", "source_url": "/nonexistent/feed.xml"}
    answer = await client.post("/feeds", json={**body, **fields}, headers=AUTH)
    assert answer.status == 201, await answer.text()
    return dict(await answer.json())


async def _error(answer: Any, status: int) -> str:
    assert answer.status == status, await answer.text()
    body = await answer.json()
    assert set(body) >= {"error", "message"} and body["message"]
    return str(body["message"])


async def _published(
    stack: StackInfo, spec: TopicSpec, matches: Callable[[Record], bool]
) -> Record:
    """The first record on the topic that matches (read from the start, for a few seconds)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)

        async def scan() -> Record:
            async for message in consumer:
                record = CODEC.decode(message.value)
                if matches(record):
                    return record
            raise AssertionError("the consumer stopped")

        return await asyncio.wait_for(scan(), timeout=20)
    finally:
        await consumer.stop()


# --- health and documents ------------------------------------------------------------------


async def test_health_and_readiness(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/healthz")).status == 200
    answer = await client.get("/readyz")
    assert answer.status == 200
    assert await answer.json() == {"ready": True, "database": True, "broker": True}


async def test_the_openapi_document_covers_every_route(client: TestClient[Any, Any]) -> None:
    doc = await (await client.get("/openapi.json")).json()
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        and not is_page_route(route.resource.canonical)
    }
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert served == documented


async def test_docs_is_swagger_ui_served_from_the_api_itself(client: TestClient[Any, Any]) -> None:
    page = await (await client.get("/docs")).text()
    assets = ["/docs/static/swagger-ui.css", "/docs/static/swagger-ui-bundle.js", "/static/docs.js"]
    assert all(asset in page for asset in assets) and "http" not in page  # no CDN
    for asset in assets:
        answer = await client.get(asset)
        assert answer.status == 200 and len(await answer.read()) > 40, asset
    assert "/openapi.json" in await (await client.get("/static/docs.js")).text()


async def test_metrics_count_requests_by_route_and_status(client: TestClient[Any, Any]) -> None:
    await client.get("/feeds/987654", headers=AUTH)  # 404, counted under the route template
    answer = await client.get("/metrics")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    text = await answer.text()
    assert 'jobstream_api_requests_total{route="/feeds/{feed_id}",status="404"}' in text


async def test_unknown_routes_answer_json(client: TestClient[Any, Any]) -> None:
    await _error(await client.get("/nope", headers=AUTH), 404)


# --- feeds ---------------------------------------------------------------------------------


async def test_feeds_create_list_show_update_deactivate(client: TestClient[Any, Any]) -> None:
    feed = await _new_feed(client, format="xml", check_frequency_minutes=60)
    assert feed["is_active"] and feed["format"] == "xml"
    listed = await (await client.get("/feeds", params={"limit": "500"}, headers=AUTH)).json()
    assert feed["id"] in [f["id"] for f in listed["feeds"]]
    shown = await (await client.get(f"/feeds/{feed['id']}", headers=AUTH)).json()
    assert shown["name"] == feed["name"]
    answer = await client.patch(f"/feeds/{feed['id']}", json={"company_name": "Acme"}, headers=AUTH)
    assert answer.status == 200 and (await answer.json())["company_name"] == "Acme"
    answer = await client.delete(f"/feeds/{feed['id']}", headers=AUTH)
    assert answer.status == 200 and (await answer.json())["is_active"] is False


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/feeds", {"name": "x", "source_url": "/x"}),
        ("PATCH", "/feeds/1", {"name": "x"}),
        ("DELETE", "/feeds/1", None),
        ("POST", "/trigger-feed/1", None),
        ("POST", "/review/abc/approve", {"reviewer": "ann"}),
        ("POST", "/review/abc/reject", {"reviewer": "ann", "reason": "spam"}),
    ],
)
async def test_mutations_need_the_token(
    client: TestClient[Any, Any], method: str, path: str, body: Any
) -> None:
    assert "Bearer" in await _error(await client.request(method, path, json=body), 401)
    await _error(await client.request(method, path, json=body, headers=WRONG), 401)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"source_url": "/x"}, "missing field(s): name"),
        ({"name": "x", "source_url": "ftp://x"}, "source_url"),
        ({"name": "x", "source_url": "/x", "format": "yaml"}, "format must be one of"),
        ({"name": "x", "source_url": "/x", "colour": 1}, "unknown field(s): colour"),
        ({"name": "x", "source_url": "/x", "check_frequency_minutes": 0}, "check_frequency"),
        ({"name": "x", "source_url": "/x", "mapping": [1]}, "mapping must be a JSON object"),
        ({"name": "x", "source_url": "/x", "mapping": {"a": ["\x00"]}}, "NUL"),
        ([1, 2], "JSON object"),
    ],
)
async def test_bad_feeds_are_refused_with_a_message(
    client: TestClient[Any, Any], body: Any, complaint: str
) -> None:
    assert complaint in await _error(await client.post("/feeds", json=body, headers=AUTH), 400)


async def test_bad_feed_input(client: TestClient[Any, Any]) -> None:
    feed = await _new_feed(client)
    bad_json = await client.post("/feeds", data=b"{oops", headers=AUTH)
    assert "not valid JSON" in await _error(bad_json, 400)
    empty = await client.patch(f"/feeds/{feed['id']}", json={}, headers=AUTH)
    assert "nothing to update" in await _error(empty, 400)
    assert "feed_id" in await _error(await client.get("/feeds/abc", headers=AUTH), 400)
    zero = await client.get("/feeds", params={"limit": "0"}, headers=AUTH)
    assert "limit" in await _error(zero, 400)


async def test_unknown_feeds_are_404(client: TestClient[Any, Any]) -> None:
    unknown = 2_000_000_000
    await _error(await client.get(f"/feeds/{unknown}", headers=AUTH), 404)
    await _error(await client.patch(f"/feeds/{unknown}", json={"name": "y"}, headers=AUTH), 404)
    await _error(await client.delete(f"/feeds/{unknown}", headers=AUTH), 404)
    await _error(await client.post(f"/trigger-feed/{unknown}", headers=AUTH), 404)
    await _error(await client.get(f"/execution-status/{unknown}", headers=AUTH), 404)


# --- runs ----------------------------------------------------------------------------------


async def test_trigger_requests_a_run_and_a_second_trigger_conflicts(
    client: TestClient[Any, Any], stack: StackInfo, db: asyncpg.Connection
) -> None:
    feed = await _new_feed(client)
    answer = await client.post(f"/trigger-feed/{feed['id']}", headers=AUTH)
    assert answer.status == 202
    run_id = (await answer.json())["run_id"]
    again = await client.post(f"/trigger-feed/{feed['id']}", headers=AUTH)
    assert again.status == 409 and (await again.json())["run_id"] == run_id
    request = await _published(
        stack, topics.FEEDS_REQUESTED, lambda r: isinstance(r, FeedRequested) and r.run_id == run_id
    )
    assert isinstance(request, FeedRequested) and request.feed_id == feed["id"]
    status = await db.fetchval("SELECT status FROM runs WHERE run_id = $1", run_id)
    assert status == RunState.RUNNING


async def test_concurrent_triggers_request_one_run(client: TestClient[Any, Any]) -> None:
    feed = await _new_feed(client)
    answers = await asyncio.gather(
        *(client.post(f"/trigger-feed/{feed['id']}", headers=AUTH) for _ in range(5))
    )
    assert sorted(a.status for a in answers) == [202, 409, 409, 409, 409]


async def test_a_deactivated_feed_is_not_triggered(client: TestClient[Any, Any]) -> None:
    feed = await _new_feed(client)
    await client.delete(f"/feeds/{feed['id']}", headers=AUTH)
    assert "deactivated" in await _error(
        await client.post(f"/trigger-feed/{feed['id']}", headers=AUTH), 409
    )


async def test_execution_status_shows_live_progress_then_the_report(
    client: TestClient[Any, Any], db: asyncpg.Connection
) -> None:
    feed = await _new_feed(client)
    no_run_yet = await client.get(f"/execution-status/{feed['id']}", headers=AUTH)
    await _error(no_run_yet, 404)
    run_id = (await (await client.post(f"/trigger-feed/{feed['id']}", headers=AUTH)).json())[
        "run_id"
    ]
    await db.execute("UPDATE runs SET emitted = 4 WHERE run_id = $1", run_id)
    await db.executemany(
        "INSERT INTO run_outcomes (run_id, seq, outcome) VALUES ($1, $2, $3)",
        [(run_id, 1, "approved"), (run_id, 2, "approved"), (run_id, 3, "rejected")],
    )
    live = await (await client.get(f"/execution-status/{feed['id']}", headers=AUTH)).json()
    assert live["run"]["run_id"] == run_id and live["progress"]["finished"] is False
    route = live["progress"]["stages"]["route"]
    assert (route["outcomes"], route["total"]) == (3, 4)
    assert route["by_outcome"] == {"approved": 2, "rejected": 1}
    await db.execute(
        "INSERT INTO execution_reports (run_id, feed_id, run_status, jobs_auto_approved) "
        "VALUES ($1, $2, 'SUCCESS', 2)",
        run_id,
        feed["id"],
    )
    done = await (await client.get(f"/runs/{run_id}", headers=AUTH)).json()
    assert done["progress"]["finished"] is True
    assert done["report"]["jobs_auto_approved"] == 2


async def test_unknown_runs_are_404(client: TestClient[Any, Any]) -> None:
    await _error(await client.get(f"/runs/{uuid.uuid4()}", headers=AUTH), 404)


# --- review --------------------------------------------------------------------------------


def _review_url(job_hash: str, action: str) -> URL:
    return URL(f"/review/{quote(job_hash, safe='')}/{action}", encoded=True)


async def _queue_job(db: asyncpg.Connection, feed_id: int) -> str:
    job_hash = f"{uuid.uuid4().hex[:20]}/+{uuid.uuid4().hex[:20]}=="  # Base64 has '/' and '+'
    await db.execute(
        "INSERT INTO manual_review_jobs (job_hash, feed_id, route, status, title, "
        "ai_confidence_score, route_reason) "
        "VALUES ($1, $2, 'manual_review', 'MANUAL_REVIEW', 'Nurse', 0.61, 'unsure')",
        job_hash,
        feed_id,
    )
    return job_hash


async def test_review_queue_is_paged_and_filtered_by_feed(
    client: TestClient[Any, Any], db: asyncpg.Connection
) -> None:
    feed, other = await _new_feed(client), await _new_feed(client)
    mine = [await _queue_job(db, feed["id"]) for _ in range(3)]
    await _queue_job(db, other["id"])
    first = await (
        await client.get("/review", params={"feed_id": str(feed["id"]), "limit": "2"}, headers=AUTH)
    ).json()
    second = await (
        await client.get(
            "/review", params={"feed_id": str(feed["id"]), "offset": "2"}, headers=AUTH
        )
    ).json()
    assert first["total"] == 3
    assert [j["job_hash"] for j in first["jobs"] + second["jobs"]] == mine
    assert first["jobs"][0]["ai_confidence_score"] == pytest.approx(0.61)
    assert "feed_id" in await _error(await client.get("/review?feed_id=x", headers=AUTH), 400)


async def test_approve_moves_the_job_to_open_and_tells_the_syncer(
    client: TestClient[Any, Any], stack: StackInfo, db: asyncpg.Connection
) -> None:
    feed = await _new_feed(client)
    job_hash = await _queue_job(db, feed["id"])
    path = _review_url(job_hash, "approve")
    answer = await client.post(path, json={"reviewer": "ann"}, headers=AUTH)
    assert answer.status == 200, await answer.text()
    row = await db.fetchrow("SELECT * FROM open_jobs WHERE job_hash = $1", job_hash)
    assert row is not None
    assert (row["status"], row["route"], row["reviewed_by"]) == (JobStatus.ACTIVE, "open", "ann")
    assert row["reviewed_at"] is not None and row["title"] == "Nurse"
    assert not await db.fetchval("SELECT 1 FROM manual_review_jobs WHERE job_hash = $1", job_hash)
    routed = await _published(
        stack, topics.JOBS_ROUTED, lambda r: isinstance(r, RoutedJob) and r.job_hash == job_hash
    )
    assert isinstance(routed, RoutedJob)
    assert (routed.route, routed.decided_by, routed.feed_id) == (Route.OPEN, "reviewer", feed["id"])
    await _error(await client.post(path, json={"reviewer": "ann"}, headers=AUTH), 404)


async def test_reject_moves_the_job_with_the_reason(
    client: TestClient[Any, Any], db: asyncpg.Connection
) -> None:
    feed = await _new_feed(client)
    job_hash = await _queue_job(db, feed["id"])
    path = _review_url(job_hash, "reject")
    no_reason = await client.post(path, json={"reviewer": "bob"}, headers=AUTH)
    assert "reason" in await _error(no_reason, 400)
    answer = await client.post(path, json={"reviewer": "bob", "reason": "spam"}, headers=AUTH)
    assert answer.status == 200
    row = await db.fetchrow("SELECT * FROM rejected_jobs WHERE job_hash = $1", job_hash)
    assert row is not None
    assert (row["status"], row["route_reason"], row["reviewed_by"]) == (
        JobStatus.REJECTED,
        "spam",
        "bob",
    )
    again = await client.post(path, json={"reviewer": "bob", "reason": "spam"}, headers=AUTH)
    await _error(again, 404)
