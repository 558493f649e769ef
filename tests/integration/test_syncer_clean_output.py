"""Xano never receives markup or addresses it did not expect: what the Xano emulator holds
after a reconcile of rows that carry them (stored before clean output, or written by hand)."""

from __future__ import annotations

import pytest

from cli.stack import StackInfo
from emulators.xano.server import RunningEmulator
from schemas.status import SyncStatus
from services.shared.database import Database
from services.syncer.adapters.xano import XanoClient
from services.syncer.service import Syncer
from tests.integration.syncer_support import (
    execute,
    in_xano,
    insert_open_jobs,
    new_feed_id,
    writes,
    xano_settings,
)

pytestmark = pytest.mark.integration

HOSTILE_DESCRIPTION = (
    '<p onmouseover="steal()">Care for <b>patients</b>.</p><script>fetch("//evil")</script>'
    '<iframe src="https://evil.example"></iframe><a href="javascript:alert(1)">apply</a>'
    '<a href="https://jobs.example.com/9">more</a>'
)


async def test_xano_receives_sanitised_html_web_urls_and_plain_ai_text(
    stack: StackInfo, database: Database, emulator: RunningEmulator
) -> None:
    feed_id = new_feed_id()
    await insert_open_jobs(stack.dsn, feed_id, 2)
    await execute(
        stack.dsn,
        "UPDATE open_jobs SET description = $2, application_url = 'javascript:alert(1)', "
        "ai_title = '<img src=x onerror=alert(1)>Registered Nurse', "
        "ai_description = '<script>alert(2)</script><p>Cares for patients.</p>', "
        "searchable_text = '<b>nurse</b>, icu' WHERE job_hash = $1",
        f"{feed_id}-00000",
        HOSTILE_DESCRIPTION,
    )
    await execute(
        stack.dsn,
        "UPDATE open_jobs SET application_url = 'https://jobs.example.com/apply/1' "
        "WHERE job_hash = $1",
        f"{feed_id}-00001",
    )
    settings = xano_settings(emulator.base_url)
    async with XanoClient(settings) as client:
        outcome = await Syncer(database, client).reconcile(feed_id)
    assert (outcome.status, outcome.added) == (SyncStatus.SYNCED, 2)

    held = {record["job_hash"]: record for record in in_xano(emulator, feed_id)}
    hostile = held[f"{feed_id}-00000"]
    assert hostile["application_url"] is None
    description = hostile["description"]
    assert "<b>patients</b>" in description
    for gone in ("script", "evil", "iframe", "onmouseover", "javascript"):
        assert gone not in description, gone
    assert hostile["ai_title"] == "Registered Nurse"
    assert hostile["ai_description"] == "Cares for patients."
    assert hostile["searchable_text"] == "nurse, icu"
    assert held[f"{feed_id}-00001"]["application_url"] == "https://jobs.example.com/apply/1"

    # what Xano holds is what the next reconcile would send: nothing is sent again
    before = writes(emulator)
    async with XanoClient(settings) as client:
        again = await Syncer(database, client).reconcile(feed_id)
    assert again.status == SyncStatus.SYNCED and writes(emulator) == before
