"""The API refuses a mapping the ingestor could not load, and never shows a URL's secrets."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from cli.stack import StackInfo
from services.api.app import build
from tests.integration.api_support import api_dsn
from tests.integration.test_api import AUTH, api_settings

__all__ = ["api_dsn"]  # a fixture, imported for pytest

SECRET_URL = "https://ann:hunter2@feeds.example.com/jobs.xml?api_key=SECRETKEY&page=1"
SHOWN_URL = "https://***@feeds.example.com/jobs.xml?api_key=***&page=***"
SECRETS = ("hunter2", "SECRETKEY", "ann:")


@pytest.fixture(scope="module")
async def client(stack: StackInfo, api_dsn: str) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(build(api_settings(stack, api_dsn)))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def db(api_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(api_dsn)
    yield conn
    await conn.close()


def _feed(**fields: Any) -> dict[str, Any]:
    return {"name": f"safety-{uuid.uuid4().hex[:8]}", "source_url": "/nonexistent/f.xml", **fields}


async def _message(answer: Any, status: int) -> str:
    assert answer.status == status, await answer.text()
    return str((await answer.json())["message"])


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [
        ({"fields": {"wage": "pay"}}, "unknown target field 'wage'"),
        ({"mappings": {"title": 1}}, "must name an internal field (a string), not a number"),
        ({"fields": {"title": 5}}, "must be a path or a list of paths"),
        ({"format": "yaml"}, "unknown format 'yaml'"),
    ],
)
async def test_an_invalid_mapping_gets_a_400_with_the_reason(
    client: TestClient[Any, Any], mapping: dict[str, Any], reason: str
) -> None:
    created = await client.post("/feeds", json=_feed(mapping=mapping), headers=AUTH)
    assert reason in await _message(created, 400)
    good = await client.post("/feeds", json=_feed(), headers=AUTH)
    assert good.status == 201
    feed_id = (await good.json())["id"]
    patched = await client.patch(f"/feeds/{feed_id}", json={"mapping": mapping}, headers=AUTH)
    assert reason in await _message(patched, 400)


async def test_a_valid_mapping_is_saved(client: TestClient[Any, Any]) -> None:
    mapping = {"mappings": {"jobtitle": "title"}, "_comment": "the original's shape"}
    created = await client.post("/feeds", json=_feed(mapping=mapping), headers=AUTH)
    assert created.status == 201 and (await created.json())["mapping"] == mapping


async def test_a_feed_url_with_secrets_is_never_shown_unredacted(
    client: TestClient[Any, Any], db: asyncpg.Connection
) -> None:
    created = await client.post("/feeds", json=_feed(source_url=SECRET_URL), headers=AUTH)
    assert created.status == 201
    feed = await created.json()
    feed_id = feed["id"]
    stored = await db.fetchval("SELECT source_url FROM feeds WHERE id = $1", feed_id)
    assert stored == SECRET_URL  # the ingestor still gets the real URL
    error = f"fetch failed: unavailable: {SECRET_URL} after 4 attempts"
    await db.execute("UPDATE feeds SET last_error_message = $2 WHERE id = $1", feed_id, error)
    run_id = (await (await client.post(f"/trigger-feed/{feed_id}", headers=AUTH)).json())["run_id"]
    await db.execute(
        "INSERT INTO execution_reports (run_id, feed_id, run_status, error_summary) "
        "VALUES ($1, $2, 'FAILURE', $3::jsonb)",
        run_id, feed_id, json.dumps([error]),
    )  # fmt: skip
    answers = [
        feed,
        await (await client.get(f"/feeds/{feed_id}", headers=AUTH)).json(),
        await (await client.get("/feeds", params={"limit": "500"}, headers=AUTH)).json(),
        await (await client.patch(f"/feeds/{feed_id}", json={"name": "x"}, headers=AUTH)).json(),
        await (await client.get(f"/runs/{run_id}", headers=AUTH)).json(),
        await (await client.get(f"/execution-status/{feed_id}", headers=AUTH)).json(),
    ]
    for answer in answers:
        text = str(answer)
        assert not any(secret in text for secret in SECRETS), text
    assert answers[1]["source_url"] == SHOWN_URL
    assert SHOWN_URL in answers[1]["last_error_message"]
    assert SHOWN_URL in answers[4]["report"]["error_summary"][0]


async def test_a_redacted_url_sent_back_is_refused(client: TestClient[Any, Any]) -> None:
    answer = await client.post("/feeds", json=_feed(source_url=SHOWN_URL), headers=AUTH)
    assert "masked part" in await _message(answer, 400)
