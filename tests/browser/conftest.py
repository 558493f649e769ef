"""Browser tests: Debian's Chromium driven by Playwright, against the whole running pipeline.

Chromium is the system's (`/usr/bin/chromium`, installed by `make install`); Playwright never
downloads a browser. Each test gets a fresh browser context (no shared cookies). Screenshots go
to JOBSTREAM_SCREENSHOTS_DIR when it is set (docs/screenshots for the README), else to a
temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from cli.main import main
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PASSWORD = "a long enough password"


@dataclass(frozen=True, slots=True)
class Console:
    """The running API, its database, and one account of each role for this module."""

    api_url: str
    api_token: str
    dsn: str
    xano_port: int
    viewer: str
    reviewer: str
    admin: str

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON API as a script would call it, with the admin token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.api_token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310 - loopback
            return json.load(answer)

    def xano_hashes(self, feed_id: int) -> set[str]:
        url = f"http://127.0.0.1:{self.xano_port}/__admin/records?feed_id={feed_id}"
        with urllib.request.urlopen(url, timeout=5) as answer:
            body = json.load(answer)
        return {r["job_hash"] for r in (body["records"] if isinstance(body, dict) else body)}

    async def new_feed(self, **fields: Any) -> int:
        body = {"name": f"browser-{uuid.uuid4().hex[:8]}", "source_url": "/nonexistent.xml"}
        feed = await asyncio.to_thread(self.api, "POST", "/feeds", {**body, **fields})
        return int(feed["id"])


def users(dsn: str, *argv: str, stdin: str = "") -> str:
    out, saved = io.StringIO(), sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with contextlib.redirect_stdout(out):
            assert main(["users", *argv, "--dsn", dsn]) == 0
    finally:
        sys.stdin = saved
    return out.getvalue()


def add_user(dsn: str, role: str) -> str:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    users(dsn, "add", name, "--role", role, "--password-stdin", stdin=PASSWORD + "\n")
    return name


@pytest.fixture(scope="module")
def console(stack: StackInfo, running_pipeline: PipelineConfig) -> Console:
    return Console(
        api_url=running_pipeline.api_url,
        api_token=running_pipeline.api_token,
        dsn=stack.dsn,
        xano_port=running_pipeline.xano_port,
        viewer=add_user(stack.dsn, "viewer"),
        reviewer=add_user(stack.dsn, "reviewer"),
        admin=add_user(stack.dsn, "admin"),
    )


@pytest.fixture(scope="module")
async def db(stack: StackInfo) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(stack.dsn)
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert os.access(CHROMIUM, os.X_OK), "no Chromium: `make install` installs Debian's package"
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_FLAGS, headless=True
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def context(browser: Browser, console: Console) -> AsyncIterator[BrowserContext]:
    fresh = await browser.new_context(
        base_url=console.api_url, viewport={"width": 1280, "height": 900}
    )
    fresh.set_default_timeout(20_000)
    yield fresh
    await fresh.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("JOBSTREAM_SCREENSHOTS_DIR")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


async def keys_ready(page: Page) -> None:
    """A key pressed before the page's script has bound the shortcuts would do nothing."""
    await expect(page.locator("html[data-keys='ready']")).to_have_count(1)


async def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Typed, as a person does: the username field has focus when the page opens."""
    await page.goto("/login")
    # keys typed before the autofocus lands would go nowhere
    await expect(page.locator("#username")).to_be_focused()
    await page.keyboard.type(username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(password)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/console/review**")
