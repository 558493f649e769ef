"""`jobstream dlq redrive`: a record made poison is dead-lettered alone and its run waits;
once the cause is fixed, the redrive brings it to its outcome and the run completes with the
tables of a run that never failed. A second redrive sends nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cli import control, dlq
from cli.main import main
from cli.pipeline import PipelineConfig
from cli.stack import StackInfo
from schemas import topics
from schemas.records import RunStatus
from tests.e2e import router_feed as rf

pytestmark = pytest.mark.e2e

POISONED_TITLE = "Data Analyst"  # approved: routed to open_jobs, where the check bites


async def _sql(dsn: str, statement: str) -> None:
    conn = await control.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _letters_of(stack: StackInfo, run_id: str, timeout_s: float = 90.0) -> list[dlq.Letter]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        letters = await dlq.read_letters(stack.bootstrap, stack.dsn, run_id=run_id)
        if letters or asyncio.get_running_loop().time() > deadline:
            return letters
        await asyncio.sleep(0.5)


def _cli(config: PipelineConfig, *argv: str) -> int:
    stack = config.stack
    location = [
        "--state-dir",
        str(stack.state_dir),
        "--kafka-port",
        str(stack.kafka_port),
        "--pg-port",
        str(stack.pg_port),
    ]
    return main(["dlq", *argv, *location])


async def test_a_fixed_poison_record_is_redriven_to_its_outcome(
    stack: StackInfo,
    running_pipeline: PipelineConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = rf.own_copy(tmp_path)
    check = f"poison_{copy.tag}"
    # A schema that refuses one of this feed's jobs: its record fails alone, for good.
    await _sql(
        stack.dsn,
        f"ALTER TABLE open_jobs ADD CONSTRAINT {check} CHECK (NOT ("
        f"company_name LIKE '{copy.tag} %' AND title = '{POISONED_TITLE}')) NOT VALID",
    )
    try:
        feed_id = await control.ensure_feed(
            stack.dsn,
            name=f"dlq-{copy.tag}",
            source_url=str(copy.write("run1")),
            mapping=rf.MAPPING,
        )
        run_id = await control.request_run(stack.bootstrap, feed_id)
        [letter] = await _letters_of(stack, run_id)
    finally:
        await _sql(stack.dsn, f"ALTER TABLE open_jobs DROP CONSTRAINT IF EXISTS {check}")

    assert letter.dlq_topic == topics.JOBS_ENRICHED.dead_letter
    assert letter.record_type == "EnrichedJob" and "CheckViolationError" in letter.letter.error
    assert not letter.redriven
    assert await asyncio.to_thread(_cli, running_pipeline, "list", "--run", run_id) == 0
    assert f"{letter.dlq_topic}@{letter.dlq_offset}" in capsys.readouterr().out

    # The run waits for the record's outcome; the cause is fixed; the record is re-driven.
    argv = ("redrive", "--topic", topics.JOBS_ENRICHED.name, "--run", run_id)
    assert await asyncio.to_thread(_cli, running_pipeline, *argv) == 0
    assert "1 re-driven, 0 already" in capsys.readouterr().out
    report = await control.wait_for_report(stack.dsn, run_id, timeout_s=rf.RUN_TIMEOUT_S)
    # Completed by counting, not closed by the stall sweep (FAILURE); PARTIAL for the feed's
    # malformed record, as in every run of it.
    assert report.run_status == RunStatus.PARTIAL and report.archive_skipped_reason is None
    assert (report.jobs_auto_approved, report.jobs_manual_review) == (9, 6)
    assert rf.strip_tag(await rf.key_fields(stack.dsn, feed_id), copy.tag) == rf.EXPECTED_RUN_1

    assert await asyncio.to_thread(_cli, running_pipeline, *argv) == 0
    assert "0 re-driven, 1 already" in capsys.readouterr().out
    [again] = await dlq.read_letters(stack.bootstrap, stack.dsn, run_id=run_id)
    assert again.redriven
