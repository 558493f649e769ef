"""Closes a run exactly once: archive (when safe, else held or skipped), report, statistics.
Answers an operator's decision on a held archive, and fails a run an operator gives up on."""

from __future__ import annotations

import logging

from schemas.records import ArchiveDecided, Outcome, RunCompleted, RunStatus
from schemas.report import RunClosing
from schemas.status import ArchiveState
from services.router.adapters import jobs_repository as jobs
from services.router.adapters import ledger_repository as ledger
from services.router.adapters.ledger_repository import ClaimedRun, RunFigures
from services.router.config import SafetyLimits
from services.router.handlers import (
    HELD_FOR_REVIEW,
    ArchiveVerdict,
    archive_verdict,
    empty_feed_reason,
    held_notes,
    held_reason_counts,
    kept_note,
    paused_note,
    report_counters,
    run_status,
    with_source_counts,
)
from services.router.ports import Connections
from services.shared import metrics
from services.shared.database import Conn

log = logging.getLogger(__name__)


async def complete_run(
    db: Connections,
    run_id: str,
    *,
    limits: SafetyLimits,
    stalled_after_s: float | None = None,
    failed_because: str | None = None,
) -> RunCompleted | None:
    """Returns the completion to publish, or None when the run is not (or already) complete.

    With `stalled_after_s`, a run without progress for that long is closed as a FAILURE with
    what is known, and archives nothing; with `failed_because`, an operator closes it so.
    """
    async with db.connection() as conn, conn.transaction():
        if failed_because is not None:
            claimed = await ledger.claim_failed(conn, run_id, failed_because)
        elif stalled_after_s is not None:
            claimed = await ledger.claim_stalled(conn, run_id, after_s=stalled_after_s)
        else:
            claimed = await ledger.claim_completion(conn, run_id)
        if claimed is None:
            return None
        done = await _close(conn, claimed, limits)
    metrics.RUN_DURATION.observe((claimed.completed_at - claimed.started_at).total_seconds())
    closed_by = "completion"
    if failed_because is not None:
        closed_by = "operator"
    elif stalled_after_s is not None:
        closed_by = "stall"
    feed = str(claimed.feed_id)
    metrics.RUNS_COMPLETED.labels(feed, done.status.value, closed_by).inc()
    metrics.FEED_RECORDS.labels(feed).inc(claimed.ingest.emitted)
    log.info("run %s completed: %s, archived %d", run_id, done.status.value, done.archived)
    return done


async def _close(conn: Conn, claimed: ClaimedRun, limits: SafetyLimits) -> RunCompleted:
    ingest, feed_id, run_id = claimed.ingest, claimed.feed_id, claimed.run_id
    totals = await ledger.totals(conn, run_id)
    # a malformed record's listing is still in the feed: its job is not unseen
    kept = await jobs.keep_listed(conn, feed_id, run_id, ingest)
    live, unseen = await jobs.count_unseen(conn, feed_id, run_id)
    if claimed.failed_because:
        verdict = ArchiveVerdict(ArchiveState.SKIPPED, claimed.failed_because)
        status = RunStatus.FAILURE
    else:
        history = await ledger.archive_history(
            conn, feed_id, run_id, runs=limits.history_runs, min_open=limits.history_min_open
        )
        verdict = archive_verdict(
            ingest=ingest, totals=totals, open_before=live, to_archive=unseen,
            history=history, limits=limits, replay=claimed.reason == "replay",
        )  # fmt: skip
        status = run_status(ingest, totals, verdict)
    dropped = await jobs.archive_unseen(conn, feed_id, run_id) if verdict.applies else None
    archived = dropped.jobs if dropped else 0
    holds = verdict.state is ArchiveState.HELD
    held = await jobs.hold_unseen(conn, feed_id, run_id) if holds else 0
    await ledger.record_archive_judgement(
        conn, run_id, open_before=live, candidates=unseen, state=verdict.state.value
    )
    if verdict.state in (ArchiveState.APPLIED, ArchiveState.HELD):  # it judged presence anew
        await ledger.supersede_holds(conn, feed_id, run_id, claimed.started_at)
    duration = (claimed.completed_at - claimed.started_at).total_seconds()
    errors = _errors(claimed, verdict)
    # jobs the trust checks held for review are no error, but the report names why
    held_for_checks = held_reason_counts(await jobs.held_reasons(conn, run_id, HELD_FOR_REVIEW))
    changes = await jobs.source_changes(conn, feed_id, run_id)
    counts = report_counters(ingest, totals, archived=archived, held=held)
    counts = with_source_counts(counts, changes, dropped=dropped.sources if dropped else 0)
    closing = RunClosing(
        counts=counts,
        run_status=status, end_time=claimed.completed_at, duration_seconds=duration,
        archive_skipped_reason=verdict.reason,
        error_summary=(
            *errors, *kept_note(kept), *paused_note(totals), *held_notes(held_for_checks)
        ),
    )  # fmt: skip
    # a run the API claimed whose RunStarted never came has no report yet: closing it (stalled
    # or failed by an operator) must not fail on that for ever
    await ledger.ensure_runs(conn, {run_id: feed_id})
    await ledger.write_report(conn, run_id, closing)
    unique = ingest.emitted - totals.count(Outcome.DUPLICATE) - totals.count(Outcome.MERGED)
    await ledger.update_feed_statistics(
        conn,
        RunFigures(
            run_id=run_id, feed_id=feed_id, status=status, duration_s=duration,
            feed_size=ingest.bytes_compressed, unique_jobs=unique,
            approved=totals.count(Outcome.APPROVED), error="; ".join(errors) or None,
            counts=counts,
        ),
    )  # fmt: skip
    metrics.count_outcomes(totals.outcomes.elements())
    return RunCompleted(
        run_id=run_id,
        feed_id=feed_id,
        status=status,
        archived=archived,
        archive_skipped_reason=verdict.reason,
    )


def _errors(claimed: ClaimedRun, verdict: ArchiveVerdict) -> list[str]:
    """The report's notes, the reason the run failed first (the feed's last error message)."""
    first = claimed.failed_because or empty_feed_reason(claimed.ingest)
    notes = [first, claimed.ingest.error, verdict.reason]
    unique: list[str] = []
    for note in notes:
        if note and note not in unique:
            unique.append(note)
    return unique


async def decide_archive(db: Connections, decision: ArchiveDecided) -> RunCompleted | None:
    """Applies or drops a held archive, once; returns the run's completion to publish again
    (the syncer reconciles the feed on it), or None when the hold was already answered.

    A confirmation moves exactly the jobs the hold named that are still live. When a later
    run of the feed (a replay aside) is in progress or has judged presence since, that run
    decides: the hold lapses as superseded and nothing moves.
    """
    async with db.connection() as conn, conn.transaction():
        held = await ledger.lock_held(conn, decision.run_id)
        if held is None:
            return None
        later = await ledger.later_run(conn, held) if decision.confirm else None
        archived, state = 0, ArchiveState.DISCARDED
        if later is not None:
            state = ArchiveState.SUPERSEDED
            note = f"archive hold superseded by run {later}: not applied"
        elif decision.confirm:
            archived = (await jobs.archive_held(conn, held.feed_id, held.run_id)).jobs
            state = ArchiveState.CONFIRMED
            note = f"archive of {archived} held jobs confirmed by {decision.decided_by}"
        else:
            note = f"archive of {held.held} held jobs discarded by {decision.decided_by}"
        await ledger.answer_hold(
            conn, held.run_id, state=state.value, by=decision.decided_by, archived=archived,
            note=note,
        )  # fmt: skip
        done = await ledger.stored_completion(conn, held.run_id)
    log.info("run %s: %s", decision.run_id, note)
    return done
