"""Closes a run exactly once: archive (when safe), report, feed statistics."""

from __future__ import annotations

import logging

import asyncpg

from schemas.records import Outcome, RunCompleted, RunStatus
from services.router.adapters import jobs_repository as jobs
from services.router.adapters import ledger_repository as ledger
from services.router.config import SafetyLimits
from services.router.handlers import archive_blocker, report_counters, run_status
from services.shared import metrics

log = logging.getLogger(__name__)


async def complete_run(
    pool: asyncpg.Pool, run_id: str, *, limits: SafetyLimits, stalled_after_s: float | None = None
) -> RunCompleted | None:
    """Returns the completion to publish, or None when the run is not (or already) complete.

    With `stalled_after_s`, a run without progress for that long is closed as a FAILURE with
    what is known, and archives nothing.
    """
    async with pool.acquire() as conn, conn.transaction():
        if stalled_after_s is None:
            claimed = await ledger.claim_completion(conn, run_id)
        else:
            claimed = await ledger.claim_stalled(conn, run_id, after_s=stalled_after_s)
        if claimed is None:
            return None
        ingest, feed_id = claimed.ingest, claimed.feed_id
        totals = await ledger.totals(conn, run_id)
        live, unseen = await jobs.count_unseen(conn, feed_id, run_id)
        blocker = claimed.stalled_reason or archive_blocker(
            ingest=ingest, totals=totals, open_before=live, to_archive=unseen, limits=limits
        )
        archived = 0 if blocker else await jobs.archive_unseen(conn, feed_id, run_id)
        status = (
            RunStatus.FAILURE if claimed.stalled_reason else run_status(ingest, totals, blocker)
        )
        duration = (claimed.completed_at - claimed.started_at).total_seconds()
        fields = report_counters(ingest, totals, archived=archived, blocker=blocker)
        errors = [e for e in (ingest.error, blocker) if e]
        fields |= {
            "run_status": status.value,
            "end_time": claimed.completed_at,
            "duration_seconds": duration,
            "error_summary": errors,
        }
        await ledger.write_report(conn, run_id, fields)
        await ledger.update_feed_statistics(
            conn,
            feed_id=feed_id,
            succeeded=status is not RunStatus.FAILURE,
            duration_s=duration,
            feed_size=ingest.bytes_compressed,
            unique_jobs=ingest.emitted
            - totals.count(Outcome.DUPLICATE)
            - totals.count(Outcome.MERGED),
            approved=totals.count(Outcome.APPROVED),
            error="; ".join(errors) or None,
        )
    metrics.RUN_DURATION.observe(duration)
    metrics.count_outcomes(totals.outcomes.elements())
    log.info("run %s completed: %s, archived %d", run_id, status.value, archived)
    return RunCompleted(
        run_id=run_id,
        feed_id=feed_id,
        status=status,
        archived=archived,
        archive_skipped_reason=blocker,
    )
