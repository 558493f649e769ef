"""The control plane on the whole running pipeline: `jobstream trigger --wait` follows a real
run to its report, and `jobstream review approve` puts a job into Xano without a new run."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cli.main import main
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT

pytestmark = pytest.mark.e2e

SAMPLE_FEED = PROJECT_ROOT / "examples" / "feeds" / "sample-feed.xml"
SAMPLE_MAPPING = PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json"


def _own_copy_of_the_sample(tmp_path: Path) -> Path:
    """Job identity is content: our own company names keep our rows ours."""
    tag = uuid.uuid4().hex[:8]
    copy = tmp_path / f"sample-{tag}.xml"
    text = re.sub(r"(<company>(?:<!\[CDATA\[)?)(?=\w)", rf"\g<1>{tag} ", SAMPLE_FEED.read_text())
    copy.write_text(text)
    return copy


def _xano_hashes(config: PipelineConfig, feed_id: int) -> set[str]:
    url = f"http://127.0.0.1:{config.xano_port}/__admin/records?feed_id={feed_id}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        body = json.load(answer)
    return {r["job_hash"] for r in (body["records"] if isinstance(body, dict) else body)}


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
        return dict(json.load(answer))


async def jobstream(config: PipelineConfig, *argv: str) -> int:
    return await asyncio.to_thread(main, [*argv, "--api-url", config.api_url])


async def _add_sample_feed(
    config: PipelineConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> int:
    feed = _own_copy_of_the_sample(tmp_path)
    code = await jobstream(
        config, "feeds", "add", feed.stem, str(feed), "--mapping", str(SAMPLE_MAPPING)
    )
    assert code == 0
    return int(capsys.readouterr().out.split()[1])


async def _manual_review_hashes(stack: StackInfo, feed_id: int) -> list[str]:
    conn = await asyncpg.connect(stack.dsn)
    try:
        rows = await conn.fetch(
            "SELECT job_hash FROM manual_review_jobs WHERE feed_id = $1 ORDER BY job_hash", feed_id
        )
        return [r["job_hash"] for r in rows]
    finally:
        await conn.close()


async def _runs(stack: StackInfo, feed_id: int) -> int:
    conn = await asyncpg.connect(stack.dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM runs WHERE feed_id = $1", feed_id))
    finally:
        await conn.close()


async def _appears(config: PipelineConfig, feed_id: int, job_hash: str) -> set[str]:
    for _ in range(60):
        found = await asyncio.to_thread(_xano_hashes, config, feed_id)
        if job_hash in found:
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"{job_hash} never reached Xano")


async def test_trigger_wait_then_approve_reaches_xano_without_a_new_run(
    stack: StackInfo,
    running_pipeline: PipelineConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = running_pipeline
    feed_id = await _add_sample_feed(config, tmp_path, capsys)
    assert await jobstream(config, "trigger", str(feed_id), "--wait", "--timeout", "120") == 0
    out = capsys.readouterr().out
    assert "read feed" in out and "sync to Xano" in out
    assert re.search(rf"of feed {feed_id}: (SUCCESS|PARTIAL)", out)
    before = await asyncio.to_thread(_xano_hashes, config, feed_id)
    waiting = await _manual_review_hashes(stack, feed_id)
    assert waiting, "the sample leaves jobs for manual review"
    assert await jobstream(config, "review", "approve", waiting[0], "--reviewer", "e2e") == 0
    after = await _appears(config, feed_id, waiting[0])
    assert after == before | {waiting[0]}
    assert await _runs(stack, feed_id) == 1
    # The API answers as the pipeline's own process, ready.
    assert (await asyncio.to_thread(_get, f"{config.api_url}/readyz"))["ready"] is True
