"""One corrupted record in the middle of a feed costs that record's job, and nothing else.

Before record-level recovery, a fault like this one ended libxml2's document: every record
after it vanished while the fetch said `ok`, so the router archived those jobs and the
syncer deleted them from the job board.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from cli import control
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas.report import ExecutionReport
from tests.e2e import router_feed as rf

pytestmark = pytest.mark.e2e

CORRUPTED = "CPS-9"  # Product Marketing Manager (San Francisco): record 9 of 30, approved
CORRUPTED_ROW = ("Product Marketing Manager", "San Francisco CA US")


def corrupt(text: str, ref: str) -> str:
    """A bad attribute quote in the record's <url>: the record no longer parses."""
    block = re.compile(
        rf"  <job>\n(?:(?!</job>).)*?<referencenumber><!\[CDATA\[{re.escape(ref)}\]\]>"
        r"(?:(?!</job>).)*</job>\n",
        re.DOTALL,
    )
    text, found = block.subn(lambda m: m.group(0).replace("<url>", '<url rel="apply>'), text)
    assert found == 1
    return text


async def run_synced(
    stack: StackInfo, copy: rf.FeedCopy, path: Path
) -> tuple[int, ExecutionReport]:
    feed_id = await control.ensure_feed(
        stack.dsn, name=f"recovery-e2e-{copy.tag}", source_url=str(path), mapping=rf.MAPPING
    )
    run_id = await control.request_run(stack.bootstrap, feed_id)
    report = await control.wait_for_report(
        stack.dsn, run_id, timeout_s=rf.RUN_TIMEOUT_S, synced=True
    )
    return feed_id, report


def xano_hashes(config: PipelineConfig, feed_id: int) -> set[str]:
    url = f"http://127.0.0.1:{config.xano_port}/__admin/records?feed_id={feed_id}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    records = body["records"] if isinstance(body, dict) else body
    return {record["job_hash"] for record in records}


async def archived_hashes(dsn: str, feed_id: int) -> set[str]:
    conn = await control.connect(dsn)
    try:
        rows = await conn.fetch("SELECT job_hash FROM archive_jobs WHERE feed_id = $1", feed_id)
        return {row["job_hash"] for row in rows}
    finally:
        await conn.close()


async def test_a_corrupted_record_mid_feed_archives_only_its_job_and_xano_keeps_the_rest(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id, _ = await run_synced(stack, copy, copy.write("run1"))
    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == rf.EXPECTED_RUN_1
    in_xano = xano_hashes(running_pipeline, feed_id)
    assert len(in_xano) == len(rf.EXPECTED_RUN_1["open_jobs"])

    _, second = await run_synced(stack, copy, copy.write("run2", corrupt(copy.text, CORRUPTED)))
    assert (second.total_in_feed, second.malformed_records) == (28, 2)
    assert second.archive_skipped_reason is None  # 1 of 15 open jobs: within the limit
    assert second.jobs_archived == 1

    # Every table is as run 1 left it, but for that one job, now archived.
    expected = {table: list(rows) for table, rows in rf.EXPECTED_RUN_1.items()}
    (moved,) = [row for row in expected["open_jobs"] if (row[0], row[3]) == CORRUPTED_ROW]
    expected["open_jobs"].remove(moved)
    expected["archive_jobs"] = [(moved[0], "ARCHIVED", "not in the feed", moved[3])]
    after = rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag)
    assert after == expected

    # Xano lost that one job and no other.
    archived = await archived_hashes(stack.dsn, feed_id)
    assert len(archived) == 1
    assert xano_hashes(running_pipeline, feed_id) == in_xano - archived
    assert second.xano_jobs_deleted == 1 and second.xano_jobs_added == 0
