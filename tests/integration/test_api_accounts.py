"""Accounts on the real API and PostgreSQL: the wall around reads, per-user tokens and roles,
logins (CSRF, rate limit, cookie flags), the audit, and passwords never kept in clear."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from cli.commands.demo import DEMO_ADMIN, ensure_demo_admin
from cli.main import main
from cli.stack import StackInfo
from services.api.app import build
from services.api.openapi import document
from tests.integration.api_support import api_dsn
from tests.integration.test_api import AUTH, api_settings

__all__ = ["api_dsn"]  # a fixture, imported for pytest

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
async def client(stack: StackInfo, api_dsn: str) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(build(api_settings(stack, api_dsn)))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def db(api_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(api_dsn)
    yield conn
    await conn.close()


def _users(dsn: str, *argv: str, stdin: str = "") -> tuple[int, str]:
    """`jobstream users …` on the test database; its exit code and what it printed."""
    out = io.StringIO()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out):
            code = main(["users", *argv, "--dsn", dsn])
    finally:
        sys.stdin = saved
    return code, out.getvalue()


async def add_user(dsn: str, role: str, password: str = PASSWORD) -> str:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    code, _ = await asyncio.to_thread(
        _users, dsn, "add", name, "--role", role, "--password-stdin", stdin=password + "\n"
    )
    assert code == 0
    return name


async def token_of(dsn: str, username: str) -> dict[str, str]:
    code, out = await asyncio.to_thread(_users, dsn, "token", username, "--label", "test")
    assert code == 0
    return {"Authorization": f"Bearer {out.strip()}"}


async def _feed(client: TestClient[Any, Any]) -> int:
    body = {"name": f"feed-{uuid.uuid4().hex[:8]}", "source_url": "/nonexistent/feed.xml"}
    answer = await client.post("/feeds", json=body, headers=AUTH)
    assert answer.status == 201
    return int((await answer.json())["id"])


async def _queue_job(db: asyncpg.Connection, feed_id: int) -> str:
    job_hash = f"{uuid.uuid4().hex[:20]}/+{uuid.uuid4().hex[:20]}=="
    await db.execute(
        "INSERT INTO manual_review_jobs (job_hash, feed_id, route, status, title, "
        "ai_confidence_score) VALUES ($1, $2, 'manual_review', 'MANUAL_REVIEW', 'Nurse', 0.7)",
        job_hash,
        feed_id,
    )
    return job_hash


def _review(job_hash: str, action: str) -> URL:
    return URL(f"/review/{quote(job_hash, safe='')}/{action}", encoded=True)


# --- the wall ------------------------------------------------------------------------------


def _reads() -> list[str]:
    """Every documented GET that returns feeds, jobs or runs, with its ids filled in."""
    concrete = {"{feed_id}": "1", "{run_id}": str(uuid.uuid4())}
    paths = []
    for path, operations in document()["paths"].items():
        if "get" in operations and operations["get"].get("security"):
            for name, value in concrete.items():
                path = path.replace(name, value)
            paths.append(path)
    return paths


def test_every_read_of_feeds_jobs_or_runs_is_documented_as_needing_an_account() -> None:
    assert set(_reads()) >= {"/feeds", "/feeds/1", "/review", "/execution-status/1"}
    assert any(p.startswith("/runs/") for p in _reads())


@pytest.mark.parametrize("path", _reads())
async def test_reads_answer_401_without_an_account(client: TestClient[Any, Any], path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}):
        answer = await client.get(path, headers=headers)
        assert answer.status == 401, (path, headers)
        assert (await answer.json())["error"] == "unauthorized"


@pytest.mark.parametrize("path", ["/console/review", "/console/audit", "/console/jobs/abc"])
async def test_console_pages_send_a_stranger_to_the_login(
    client: TestClient[Any, Any], path: str
) -> None:
    answer = await client.get(path, allow_redirects=False)
    assert answer.status == 303
    assert answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
async def test_health_metrics_and_docs_stay_open(client: TestClient[Any, Any], path: str) -> None:
    assert (await client.get(path)).status == 200


# --- per-user tokens and roles -------------------------------------------------------------


async def test_a_users_token_reads_and_its_role_bounds_what_it_changes(
    client: TestClient[Any, Any], api_dsn: str, db: asyncpg.Connection
) -> None:
    viewer = await token_of(api_dsn, await add_user(api_dsn, "viewer"))
    reviewer_name = await add_user(api_dsn, "reviewer")
    reviewer = await token_of(api_dsn, reviewer_name)
    feed_id = await _feed(client)
    job = await _queue_job(db, feed_id)

    assert (await client.get("/feeds", headers=viewer)).status == 200
    assert (await client.get("/review", headers=viewer)).status == 200
    refused = await client.post(_review(job, "approve"), json={"reviewer": "x"}, headers=viewer)
    assert refused.status == 403 and "reviewer role" in (await refused.json())["message"]
    feed = {"name": "nope", "source_url": "/x.xml"}
    assert (await client.post("/feeds", json=feed, headers=reviewer)).status == 403
    assert (await client.post(f"/trigger-feed/{feed_id}", headers=reviewer)).status == 403

    answer = await client.post(
        _review(job, "reject"), json={"reviewer": "someone else", "reason": "spam"},
        headers=reviewer,
    )  # fmt: skip
    assert answer.status == 200, await answer.text()
    row = await db.fetchrow("SELECT reviewed_by FROM rejected_jobs WHERE job_hash = $1", job)
    assert row is not None and row["reviewed_by"] == reviewer_name  # the account, not the body
    audit = await db.fetchrow(
        "SELECT username, action, detail FROM audit_log WHERE target = $1", f"job:{job}"
    )
    assert audit is not None
    assert (audit["username"], audit["action"]) == (reviewer_name, "review.reject")


async def test_a_disabled_users_token_stops_at_once(
    client: TestClient[Any, Any], api_dsn: str
) -> None:
    name = await add_user(api_dsn, "admin")
    token = await token_of(api_dsn, name)
    assert (await client.get("/feeds", headers=token)).status == 200
    code, _ = await asyncio.to_thread(_users, api_dsn, "disable", name)
    assert code == 0
    assert (await client.get("/feeds", headers=token)).status == 401
    code, _ = await asyncio.to_thread(_users, api_dsn, "enable", name)
    assert (await client.get("/feeds", headers=token)).status == 200


async def test_the_script_token_still_does_everything_and_is_audited(
    client: TestClient[Any, Any], db: asyncpg.Connection
) -> None:
    feed_id = await _feed(client)
    answer = await client.patch(f"/feeds/{feed_id}", json={"name": "renamed"}, headers=AUTH)
    assert answer.status == 200
    rows = await db.fetch(
        "SELECT username, action, detail FROM audit_log WHERE target = $1 ORDER BY id",
        f"feed:{feed_id}",
    )
    assert [(r["username"], r["action"]) for r in rows] == [
        ("api-token", "feed.create"), ("api-token", "feed.update")
    ]  # fmt: skip
    assert json.loads(rows[1]["detail"]) == {"fields": ["name"]}


async def test_users_list_set_role_and_bad_input(api_dsn: str) -> None:
    name = await add_user(api_dsn, "viewer")
    code, _ = await asyncio.to_thread(_users, api_dsn, "set-role", name, "reviewer")
    assert code == 0
    code, out = await asyncio.to_thread(_users, api_dsn, "list")
    assert code == 0 and any(line.split()[:3] == [name, "reviewer", "active"]
                             for line in out.splitlines())  # fmt: skip
    code, _ = await asyncio.to_thread(
        _users, api_dsn, "add", name, "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert code == 1  # taken
    code, _ = await asyncio.to_thread(
        _users, api_dsn, "add", "short-pw", "--password-stdin", stdin="abc\n"
    )
    assert code == 1
    assert (await asyncio.to_thread(_users, api_dsn, "disable", "nobody-here"))[0] == 1


# --- passwords -----------------------------------------------------------------------------


async def test_passwords_are_never_stored_or_logged_in_clear(
    client: TestClient[Any, Any],
    api_dsn: str,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = f"never-in-clear-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    name = await add_user(api_dsn, "viewer", password=secret)
    stored = await db.fetchval("SELECT password_hash FROM users WHERE username = $1", name)
    assert stored.startswith("$argon2id$") and secret not in stored
    dump = await db.fetchval(
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM users) t"
    )  # every column of every user
    assert secret not in dump
    session = await login(client, name, secret)
    assert session.status == 303
    await login(client, name, secret + "x")
    assert secret not in caplog.text and name in caplog.text


# --- logins --------------------------------------------------------------------------------


async def login(
    client: TestClient[Any, Any], username: str, password: str, *, csrf: bool = True
) -> Any:
    page = await client.get("/login")
    assert page.status == 200
    text = await page.text()
    token = text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {"username": username, "password": password, "next": "/console/review"}
    if csrf:
        form["csrf_token"] = token
    return await client.post("/login", data=form, allow_redirects=False)


async def test_a_login_sets_a_safe_session_cookie_and_csrf_guards_its_forms(
    stack: StackInfo, api_dsn: str, db: asyncpg.Connection
) -> None:
    name = await add_user(api_dsn, "reviewer")
    jar = CookieJar(unsafe=True)
    async with TestClient(
        TestServer(build(api_settings(stack, api_dsn))), cookie_jar=jar
    ) as browser:
        refused = await login(browser, name, PASSWORD, csrf=False)
        assert refused.status == 403
        answer = await login(browser, name, PASSWORD)
        assert answer.status == 303 and answer.headers["Location"] == "/console/review"
        cookie = answer.cookies["jobstream_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
        page = await browser.get("/console/review")
        assert page.status == 200 and name in await page.text()
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert (await browser.get("/feeds")).status == 200  # the JSON API takes the session too

        feed_id = await _feed(browser)
        job = await _queue_job(db, feed_id)
        form = {"job_hash": job, "decision": "approve"}
        without = await browser.post("/console/review/decide", data=form, allow_redirects=False)
        assert without.status == 403 and "CSRF" in await without.text()
        wrong = await browser.post(
            "/console/review/decide", data={**form, "csrf_token": "forged"},
            allow_redirects=False,
        )  # fmt: skip
        assert wrong.status == 403
        assert await db.fetchval("SELECT count(*) FROM open_jobs WHERE job_hash = $1", job) == 0

        await browser.post("/logout", data={"csrf_token": _csrf(await page.text())})
        assert (await browser.get("/feeds")).status == 401


def _csrf(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


async def test_five_wrong_passwords_lock_the_name_even_for_the_right_one(
    client: TestClient[Any, Any], api_dsn: str
) -> None:
    name = await add_user(api_dsn, "viewer")
    for _ in range(5):
        assert (await login(client, name, "wrong password!")).status == 401
    locked = await login(client, name, PASSWORD)
    assert locked.status == 429 and "Too many failed logins" in await locked.text()
    other = await add_user(api_dsn, "viewer")
    assert (await login(client, other, PASSWORD)).status == 303  # only that name is locked


async def test_a_disabled_user_cannot_log_in_and_loses_their_session(
    stack: StackInfo, api_dsn: str
) -> None:
    name = await add_user(api_dsn, "viewer")
    async with TestClient(
        TestServer(build(api_settings(stack, api_dsn))), cookie_jar=CookieJar(unsafe=True)
    ) as browser:
        assert (await login(browser, name, PASSWORD)).status == 303
        assert (await browser.get("/feeds")).status == 200
        await asyncio.to_thread(_users, api_dsn, "disable", name)
        assert (await browser.get("/feeds")).status == 401
        assert (await login(browser, name, PASSWORD)).status == 401


async def test_only_local_pages_are_followed_after_a_login(
    client: TestClient[Any, Any], api_dsn: str
) -> None:
    name = await add_user(api_dsn, "viewer")
    page = await client.get("/login")
    token = _csrf(await page.text())
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil"):
        form = {"username": name, "password": PASSWORD, "next": target, "csrf_token": token}
        answer = await client.post("/login", data=form, allow_redirects=False)
        assert answer.headers["Location"] == "/console/review", target


async def test_the_demo_creates_the_first_admin_once(
    client: TestClient[Any, Any], api_dsn: str
) -> None:
    password = await ensure_demo_admin(api_dsn)
    assert password is not None and len(password) >= 12
    assert await ensure_demo_admin(api_dsn) is None  # a second demo keeps the account
    assert (await login(client, DEMO_ADMIN, password)).status == 303


async def test_an_undeclared_method_answers_405_with_the_allowed_ones(
    client: TestClient[Any, Any],
) -> None:
    answer = await client.put("/feeds", headers=AUTH)
    assert answer.status == 405
    assert set(answer.headers["Allow"].split(",")) >= {"GET", "POST"}
    assert (await answer.json())["error"] == "method_not_allowed"
