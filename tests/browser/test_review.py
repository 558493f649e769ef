"""A reviewer, a viewer and an admin at work in the console, in a real headless Chromium."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Console, keys_ready, log_in
from tests.browser.jobs import HOSPITALS, RESTAURANTS, classification, queue_jobs

pytestmark = pytest.mark.e2e

# Approve (a) or reject (r): twelve of one, eight of the other, mixed.
DECISIONS = "aararaaraaraarararra"


async def _xano_holds(console: Console, feed_id: int, expected: set[str]) -> set[str]:
    found: set[str] = set()
    for _ in range(80):
        found = await asyncio.to_thread(console.xano_hashes, feed_id)
        if found == expected:
            return found
        await asyncio.sleep(0.5)
    return found


async def _audit(db: asyncpg.Connection, job_hashes: list[str]) -> list[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT username, action FROM audit_log WHERE target = ANY($1::text[]) ORDER BY id",
        [f"job:{h}" for h in job_hashes],
    )
    return [(r["username"], r["action"]) for r in rows]


async def test_a_reviewer_clears_a_queue_of_twenty_with_the_keyboard_only(
    page: Page, console: Console, db: asyncpg.Connection, screenshots: Path
) -> None:
    assert DECISIONS.count("a") == 12 and len(DECISIONS) == 20
    feed_id = await console.new_feed()
    jobs = await queue_jobs(db, feed_id, 20)
    await log_in(page, console.reviewer)
    await page.goto(f"/console/review?feed={feed_id}")
    total = page.get_by_test_id("queue-total")
    await expect(total).to_have_text("20")
    await page.screenshot(path=screenshots / "queue.png", full_page=True)
    await keys_ready(page)

    for n, decision in enumerate(DECISIONS):
        current = page.locator("tr.current")
        await expect(current).to_have_attribute("data-job", jobs[n])  # highest confidence first
        if decision == "a":
            await page.keyboard.press("a")
        else:
            await page.keyboard.press("r")
            await page.keyboard.type(f"not a fit ({n})")
            await page.keyboard.press("Enter")
        await expect(total).to_have_text(str(19 - n))

    approved = {h for h, d in zip(jobs, DECISIONS, strict=True) if d == "a"}
    assert await _xano_holds(console, feed_id, approved) == approved  # exactly the 12
    rejected = await db.fetch(
        "SELECT job_hash, route_reason, reviewed_by FROM rejected_jobs WHERE feed_id = $1",
        feed_id,
    )
    assert len(rejected) == 8
    assert all(r["reviewed_by"] == console.reviewer for r in rejected)
    assert all(r["route_reason"].startswith("not a fit (") for r in rejected)
    audit = await _audit(db, jobs)
    assert len(audit) == 20 and {who for who, _ in audit} == {console.reviewer}
    assert sorted(a for _, a in audit) == ["review.approve"] * 12 + ["review.reject"] * 8

    await page.goto("/console/audit")
    rows = page.locator("tr.audit-row", has_text=console.reviewer)
    assert await rows.count() >= 20


async def test_the_job_page_shows_the_sanitised_posting_and_every_reason(
    page: Page, console: Console, db: asyncpg.Connection, screenshots: Path
) -> None:
    feed_id = await console.new_feed()
    first, second = await queue_jobs(db, feed_id, 2)
    await log_in(page, console.reviewer)
    await page.goto(f"/console/jobs/{quote(first, safe='')}")
    await expect(page.locator("h1")).to_have_text("Registered Nurse 1")
    assert await page.evaluate("window.pwned === undefined")  # no script, no handler ran
    html = await page.locator(".description").inner_html()
    assert "<script" not in html and "onclick" not in html and "<b>Acme Health</b>" in html
    names = classification(HOSPITALS, "29-1141.00")
    body = await page.locator(".enrichment").inner_text()
    for _, name in (names.sector, names.group, names.industry, names.function):
        assert name in body
    assert "O*NET-SOC 29-1141.00" in body
    assert await page.locator("ul.reasons.all li").count() == 3
    await page.screenshot(path=screenshots / "job.png", full_page=True)

    await keys_ready(page)
    await page.keyboard.press("r")
    await page.keyboard.type("duplicate posting")
    await page.keyboard.press("Enter")  # rejected, and on to the next job
    await expect(page.locator("h1")).to_have_text("Line Cook 2")
    await keys_ready(page)
    await page.keyboard.press("a")
    await page.wait_for_url("**/console/review")
    assert await _xano_holds(console, feed_id, {second}) == {second}
    assert await _audit(db, [first, second]) == [
        (console.reviewer, "review.reject"), (console.reviewer, "review.approve")
    ]  # fmt: skip


async def test_bulk_approve_of_a_filtered_selection(
    page: Page, console: Console, db: asyncpg.Connection
) -> None:
    feed_id = await console.new_feed()
    nursing = await queue_jobs(db, feed_id, 4, tag="n")
    kitchens = await queue_jobs(db, feed_id, 3, industry=RESTAURANTS, tag="k")
    await log_in(page, console.reviewer)
    await page.goto(f"/console/review?feed={feed_id}")
    sector = classification(RESTAURANTS, "35-2014.00").sector
    await page.get_by_label("Sector").select_option(str(sector[0]))
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page.get_by_test_id("queue-total")).to_have_text("3")
    await page.get_by_label("Select every job on this page").check()
    await page.get_by_role("button", name="Approve selected").click()
    await expect(page.get_by_test_id("queue-total")).to_have_text("0")
    assert await _xano_holds(console, feed_id, set(kitchens)) == set(kitchens)
    still = await db.fetch("SELECT job_hash FROM manual_review_jobs WHERE feed_id = $1", feed_id)
    assert {r["job_hash"] for r in still} == set(nursing)


async def test_a_viewer_sees_no_decision_buttons_and_cannot_post_one(
    page: Page, console: Console, db: asyncpg.Connection
) -> None:
    feed_id = await console.new_feed()
    (job,) = await queue_jobs(db, feed_id, 1)
    await log_in(page, console.viewer)
    await page.goto(f"/console/review?feed={feed_id}")
    await expect(page.get_by_test_id("queue-total")).to_have_text("1")
    assert await page.get_by_role("button", name="Approve").count() == 0
    await page.goto(f"/console/jobs/{quote(job, safe='')}")
    assert await page.get_by_role("button", name="Approve").count() == 0
    csrf = await page.locator("form.who input[name=csrf_token]").input_value()
    answer = await page.request.post(
        "/console/review/decide",
        form={"csrf_token": csrf, "job_hash": job, "decision": "approve"},
        headers={"Accept": "application/json"},
    )
    assert answer.status == 403 and "reviewer role" in (await answer.json())["message"]
    answer = await page.request.post(
        f"/review/{quote(job, safe='')}/approve", data={"reviewer": "me"},
        headers={"X-CSRF-Token": csrf},
    )  # fmt: skip
    assert answer.status == 403
    assert await db.fetchval("SELECT count(*) FROM open_jobs WHERE job_hash = $1", job) == 0


async def test_five_wrong_passwords_are_rate_limited(page: Page, console: Console) -> None:
    for _ in range(5):
        await page.goto("/login")
        await page.get_by_label("Username").fill(console.viewer)
        await page.get_by_label("Password").fill("not the password")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    await page.goto("/login")
    await page.get_by_label("Username").fill(console.viewer)
    await page.get_by_label("Password").fill("still wrong")
    async with page.expect_response("**/login") as answer:
        await page.get_by_role("button", name="Log in").click()
    assert (await answer.value).status == 429
    await expect(page.get_by_role("alert")).to_contain_text("Too many failed logins")


async def test_a_form_posted_without_its_csrf_token_is_refused(
    page: Page, console: Console, db: asyncpg.Connection
) -> None:
    feed_id = await console.new_feed()
    (job,) = await queue_jobs(db, feed_id, 1)
    await log_in(page, console.reviewer)
    await page.goto(f"/console/jobs/{quote(job, safe='')}")
    await page.evaluate(
        "document.querySelector('section.decide form.approve input[name=csrf_token]').remove()"
    )
    await page.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("alert")).to_contain_text("CSRF token is missing or wrong")
    assert await db.fetchval("SELECT count(*) FROM open_jobs WHERE job_hash = $1", job) == 0


async def test_an_admin_takes_a_job_down_and_restores_it(
    page: Page, console: Console, db: asyncpg.Connection
) -> None:
    feed_id = await console.new_feed()
    (job,) = await queue_jobs(db, feed_id, 1)
    await asyncio.to_thread(
        console.api, "POST", f"/review/{quote(job, safe='')}/approve", {"reviewer": "script"}
    )
    assert await _xano_holds(console, feed_id, {job}) == {job}
    await log_in(page, console.admin)
    await page.goto(f"/console/jobs/{quote(job, safe='')}")
    await expect(page.get_by_test_id("route")).to_have_text("open")
    await page.get_by_label("Reason to take it down").fill("employer asked to remove it")
    await page.get_by_role("button", name="Take down").click()
    await expect(page.get_by_test_id("route")).to_have_text("rejected")
    assert await _xano_holds(console, feed_id, set()) == set()
    await page.get_by_role("button", name="Restore").click()
    await expect(page.get_by_test_id("route")).to_have_text("open")
    assert await _xano_holds(console, feed_id, {job}) == {job}
    assert await _audit(db, [job]) == [
        ("api-token", "review.approve"), (console.admin, "job.take_down"),
        (console.admin, "job.restore"),
    ]  # fmt: skip
    await page.goto("/console/audit")
    await expect(
        page.locator("tr.audit-row", has_text="job.take_down").filter(has_text=console.admin)
    ).to_have_count(1)


async def test_the_queue_reflows_at_200_percent_zoom_and_shows_keyboard_focus(
    browser: Browser, console: Console, db: asyncpg.Connection, screenshots: Path
) -> None:
    # 200% zoom of a 1280-pixel window: 640 CSS pixels wide, drawn at twice the density.
    context = await browser.new_context(
        base_url=console.api_url, viewport={"width": 640, "height": 800}, device_scale_factor=2
    )
    try:
        page = await context.new_page()
        feed_id = await console.new_feed()
        (first, _) = await queue_jobs(db, feed_id, 2)
        await log_in(page, console.reviewer)
        for path in (f"/console/review?feed={feed_id}", f"/console/jobs/{quote(first, safe='')}"):
            await page.goto(path)
            sideways = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert sideways <= 0, f"{path} scrolls sideways by {sideways}px at 200% zoom"
        await page.goto(f"/console/review?feed={feed_id}")
        await page.screenshot(path=screenshots / "queue-200-percent.png", full_page=True)
        await page.keyboard.press("Tab")  # wherever focus goes, it shows
        outline = await page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
        )
        assert outline[0] == "solid" and outline[1] >= 2
        await page.keyboard.press("Escape")
        await page.keyboard.press("k")  # back to the first row
        await page.keyboard.press("r")  # the shortcuts work at this size too
        await page.keyboard.type("wrong city")
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("queue-total")).to_have_text("1")
    finally:
        await context.close()
