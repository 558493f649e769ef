"""An admin edits a feed's mapping with its preview, saves, triggers a run and watches it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Page, expect

from cli.stack.config import PROJECT_ROOT
from tests.browser.conftest import Console, log_in

pytestmark = pytest.mark.e2e

SAMPLE = PROJECT_ROOT / "examples" / "feeds" / "sample-feed.xml"
MAPPING = json.loads((PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json").read_text())


def _own_sample(tmp_path: Path) -> tuple[Path, str]:
    """The sample with this test's own company names (job identity is content)."""
    tag = uuid.uuid4().hex[:8]
    text = re.sub(r"(<company>(?:<!\[CDATA\[)?)(?=\w)", rf"\g<1>{tag} ", SAMPLE.read_text())
    copy = tmp_path / f"sample-{tag}.xml"
    copy.write_text(text)
    return copy, tag


async def test_an_admin_edits_a_mapping_previews_saves_triggers_and_watches_the_report(
    page: Page, console: Console, db: asyncpg.Connection, tmp_path: Path, screenshots: Path
) -> None:
    source, tag = _own_sample(tmp_path)
    fields = {k: v for k, v in MAPPING["mappings"].items() if v != "title"}
    wrong = {**MAPPING, "mappings": {**fields, "referencenumber": "title"}}  # ids as titles
    feed_id = await console.new_feed(source_url=str(source), mapping=wrong)
    await log_in(page, console.admin)
    await page.goto(f"/console/feeds/{feed_id}")
    editor = page.get_by_label("Mapping (JSON; empty: the presets)")

    await page.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("preview")
    await expect(preview).to_be_visible()
    await expect(preview).to_contain_text("RHS-44821")
    assert "Registered Nurse - Cardiac ICU" not in await preview.inner_text()

    await editor.fill(json.dumps({**MAPPING, "format": "yaml"}))
    await page.get_by_role("button", name="Preview").click()
    await expect(page.get_by_test_id("editor-error")).to_contain_text("unknown format")
    await page.get_by_role("button", name="Save").click()  # an invalid mapping is not saved
    await expect(page.get_by_test_id("editor-error")).to_contain_text("unknown format")
    stored = await db.fetchval("SELECT mapping FROM feeds WHERE id = $1", feed_id)
    assert "format" not in json.loads(stored)

    await editor.fill(json.dumps(MAPPING, indent=2))
    await page.get_by_role("button", name="Preview").click()
    await expect(preview).to_contain_text("Registered Nurse - Cardiac ICU")
    await expect(preview).to_contain_text(f"{tag} Riverside Health System")
    await expect(preview).to_contain_text("Registered Nurses (29-1141.00)")
    await page.screenshot(path=screenshots / "mapping.png", full_page=True)
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    stored = await db.fetchval("SELECT mapping FROM feeds WHERE id = $1", feed_id)
    assert json.loads(stored)["mappings"]["title"] == "title"

    await page.get_by_role("button", name="Trigger a run now").click()
    await page.wait_for_url("**/console/runs/**")
    status = page.get_by_test_id("run-status")
    await expect(status).to_have_text(re.compile("SUCCESS|PARTIAL"), timeout=120_000)
    await expect(page.get_by_test_id("report")).to_contain_text("records in the feed")
    await expect(page.get_by_test_id("route-progress")).to_contain_text("7 of 7 records")
    await expect(page.get_by_test_id("malformed")).to_contain_text("tag mismatch")
    await page.screenshot(path=screenshots / "run.png", full_page=True)

    audit = await db.fetch(
        "SELECT username, action FROM audit_log WHERE target = $1 ORDER BY id", f"feed:{feed_id}"
    )
    assert [(r["username"], r["action"]) for r in audit] == [
        ("api-token", "feed.create"), (console.admin, "feed.update"),
        (console.admin, "run.trigger"),
    ]  # fmt: skip
    await page.goto("/console/audit")
    await expect(
        page.locator("tr.audit-row", has_text="run.trigger").filter(has_text=console.admin)
    ).to_have_count(1)

    await page.goto(f"/console/runs?feed={feed_id}")
    await expect(page.locator("td.status-SUCCESS, td.status-PARTIAL")).to_have_count(1)
    await page.goto("/console/feeds")
    await expect(page.get_by_role("link", name=re.compile("browser-"))).not_to_have_count(0)


async def test_a_viewer_sees_feeds_and_runs_but_cannot_change_them(
    page: Page, console: Console
) -> None:
    feed_id = await console.new_feed()
    await log_in(page, console.viewer)
    await page.goto(f"/console/feeds/{feed_id}")
    assert await page.get_by_role("button", name="Save").count() == 0
    assert await page.get_by_role("button", name="Trigger a run now").count() == 0
    csrf = await page.locator("form.who input[name=csrf_token]").input_value()
    answer = await page.request.post(f"/console/feeds/{feed_id}/trigger", form={"csrf_token": csrf})
    assert answer.status == 403
