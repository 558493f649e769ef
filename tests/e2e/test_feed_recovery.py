"""One corrupted record in the middle of a feed costs nothing on the board.

Before record-level recovery, a fault like this one ended libxml2's document: every record
after it vanished while the fetch said `ok`, so the router archived those jobs and the
syncer deleted them from the job board. Then the corrupted record's own job was archived.
Now the record's id is read from what a forgiving parse salvages of it, and its job stays.
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


async def test_a_corrupted_record_mid_feed_keeps_its_job_and_xano_keeps_every_job(
    stack: StackInfo, running_pipeline: PipelineConfig, tmp_path: Path
) -> None:
    copy = rf.own_copy(tmp_path)
    feed_id, _ = await run_synced(stack, copy, copy.write("run1"))
    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == rf.EXPECTED_RUN_1
    in_xano = xano_hashes(running_pipeline, feed_id)
    assert len(in_xano) == len(rf.EXPECTED_RUN_1["open_jobs"])

    _, second = await run_synced(stack, copy, copy.write("run2", corrupt(copy.text, CORRUPTED)))
    assert (second.total_in_feed, second.malformed_records) == (28, 2)
    assert second.archive_skipped_reason is None and second.jobs_archived == 0
    assert "1 live job kept on the board: their records were malformed" in second.error_summary

    # Every table is as run 1 left it, and Xano lost nothing.
    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == rf.EXPECTED_RUN_1
    assert xano_hashes(running_pipeline, feed_id) == in_xano
    assert second.xano_jobs_deleted == 0

    # When the job really leaves the feed, it is archived and leaves Xano.
    gone = rf.without_jobs(copy.text, [CORRUPTED])
    _, third = await run_synced(stack, copy, copy.write("run3", gone))
    assert third.jobs_archived == 1 and third.xano_jobs_deleted == 1
    archived = await archived_hashes(stack.dsn, feed_id)
    assert len(archived) == 1
    assert xano_hashes(running_pipeline, feed_id) == in_xano - archived
