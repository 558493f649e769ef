"""The console's run page shows an LLM run's tokens by kind, its cost, the table by stage and
a cost-ceiling pause, in a real browser.

The report row is written here as the router writes it (its production, from the real
client's usage metadata through the router, is `tests/integration/test_llm_cost.py`): the
browser session's pipeline enriches offline and spends nothing.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import orjson
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Console, log_in

pytestmark = pytest.mark.e2e

USAGE = {
    "enrichment": {"calls": 2, "input": 9000, "cached_input": 6000, "output": 1500,
                   "thinking": 400, "cost_usd": 0.006},
    "job_function": {"calls": 1, "input": 3000, "cached_input": 0, "output": 60,
                     "thinking": 0, "cost_usd": 0.0011},
    "searchable_text": {"calls": 2, "input": 2000, "cached_input": 0, "output": 300,
                        "thinking": 0, "cost_usd": 0.00135},
}  # fmt: skip
NOTE = (
    "LLM calls paused: 3 jobs not enriched, the run spent $0.0084 of its $0.0050 LLM cost "
    "ceiling (LLM_RUN_COST_CEILING_USD); enriched again on its feed's next run"
)


async def test_the_run_page_shows_tokens_by_kind_the_cost_and_the_ceiling_pause(
    page: Page, console: Console, db: asyncpg.Connection, screenshots: Path
) -> None:
    feed_id = await console.new_feed()
    run_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO runs (run_id, feed_id, reason, status, emitted, completed_at) "
        "VALUES ($1, $2, 'cli', 'COMPLETED', 8, now())",
        run_id,
        feed_id,
    )
    await db.execute(
        "INSERT INTO execution_reports (run_id, feed_id, start_time, end_time, run_status, "
        "duration_seconds, total_in_feed, records_failed, api_calls_gemini, "
        "gemini_input_tokens, gemini_cached_input_tokens, gemini_output_tokens, "
        "gemini_thinking_tokens, gemini_total_tokens, llm_cost_usd, llm_usage_by_stage, "
        "llm_paused_jobs, error_summary) VALUES ($1, $2, now(), now(), 'PARTIAL', 3.5, 8, 3, "
        "5, 14000, 6000, 1860, 400, 16260, 0.0084, $3::jsonb, 3, $4::jsonb)",
        run_id,
        feed_id,
        orjson.dumps(USAGE).decode(),
        orjson.dumps([NOTE]).decode(),
    )
    await log_in(page, console.viewer)
    await page.goto(f"/console/runs/{run_id}")
    report = page.get_by_test_id("report")
    for label, value in (
        ("LLM input tokens", "14000"),
        ("LLM cached input tokens", "6000"),
        ("LLM output tokens", "1860"),
        ("LLM thinking tokens", "400"),
        ("LLM cost (USD)", "$0.0084"),
        ("jobs not sent to the LLM (cost ceiling)", "3"),
    ):
        row = report.locator("tr", has=page.get_by_role("rowheader", name=label, exact=True))
        await expect(row.locator("td")).to_have_text(value)
    usage = page.get_by_test_id("llm-usage")
    await expect(usage.get_by_role("columnheader")).to_have_text(
        ["stage", "calls", "input", "cached input", "output", "thinking", "cost"]
    )
    enrichment = usage.locator("tr", has=page.get_by_role("rowheader", name="enrichment"))
    await expect(enrichment.locator("td")).to_have_text(
        ["2", "9000", "6000", "1500", "400", "$0.0060"]
    )
    function = usage.locator("tr", has=page.get_by_role("rowheader", name="job function"))
    await expect(function.locator("td").last).to_have_text("$0.0011")
    await expect(page.get_by_role("listitem").filter(has_text="LLM calls paused")).to_have_text(
        NOTE
    )
    await page.screenshot(path=screenshots / "run-llm-cost.png", full_page=True)
