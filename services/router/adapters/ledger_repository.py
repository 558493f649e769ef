"""The run ledger in PostgreSQL: runs, one outcome per record, reports and feed statistics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from schemas.records import IngestFinished, Outcome, RunCompleted, RunStarted, RunStatus
from schemas.report import ExecutionReport, RunClosing, RunCounts
from schemas.status import ArchiveState
from schemas.usage import StageUsage
from services.router.handlers import FeedInfo, RunTotals
from services.shared.database import Conn


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    run_id: str
    seq: int
    outcome: Outcome
    job_hash: str | None
    merge_pass: int | None = None
    cache_hit: bool = False
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    llm_usage: dict[str, dict[str, float]] | None = None  # by stage (schemas/usage.py)
    llm_paused_reason: str | None = None  # not sent to the LLM: the run's cost ceiling
    kept_hash: str | None = None  # a merge's kept job (an unchanged record's, when merged)


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run this replica won the right to complete."""

    run_id: str
    feed_id: int
    started_at: datetime
    completed_at: datetime
    ingest: IngestFinished
    reason: str  # why it ran: a RequestReason's value, or 'unknown'
    failed_because: str | None = None  # closed as a failure (stalled, or failed by an operator)


async def feed_info(conn: Conn, feed_id: int) -> FeedInfo:
    row = await conn.fetchrow(
        "SELECT name, partner_id, bypass_filters FROM feeds WHERE id = $1", feed_id
    )
    if row is None:
        return FeedInfo(feed_id, f"feed {feed_id}", None, False)
    return FeedInfo(feed_id, row["name"], row["partner_id"], row["bypass_filters"])


async def run_started(conn: Conn, event: RunStarted) -> None:
    await conn.execute(
        "INSERT INTO runs (run_id, feed_id, reason, started_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (run_id) DO UPDATE SET reason = EXCLUDED.reason, "
        "started_at = LEAST(runs.started_at, EXCLUDED.started_at)",
        event.run_id,
        event.feed_id,
        event.reason.value,
        event.started_at,
    )
    await conn.execute(
        "INSERT INTO execution_reports (run_id, feed_id, feed_name, start_time) "
        "SELECT $1, $2, (SELECT name FROM feeds WHERE id = $2), $3 "
        "ON CONFLICT (run_id) DO UPDATE SET start_time = EXCLUDED.start_time",
        event.run_id,
        event.feed_id,
        event.started_at,
    )


async def ensure_runs(conn: Conn, runs: Mapping[str, int]) -> None:
    """Outcomes may overtake RunStarted (another topic), which may never come (a dead
    ingestor): make sure the run and its report exist, so the run can always be closed.
    In run order: concurrent batches that create the same runs wait for one another, never
    deadlock."""
    rows = sorted(runs.items())
    await conn.executemany(
        "INSERT INTO runs (run_id, feed_id, reason) VALUES ($1, $2, 'unknown') "
        "ON CONFLICT (run_id) DO NOTHING",
        rows,
    )
    await conn.executemany(
        "INSERT INTO execution_reports (run_id, feed_id, feed_name) "
        "SELECT $1, $2, (SELECT name FROM feeds WHERE id = $2) "
        "ON CONFLICT (run_id) DO NOTHING",
        rows,
    )


async def ingest_finished(conn: Conn, event: IngestFinished) -> None:
    await ensure_runs(conn, {event.run_id: event.feed_id})
    await conn.execute(
        "UPDATE runs SET emitted = $2, ingest = $3, ingest_finished_at = now(), "
        "last_progress_at = now() WHERE run_id = $1",
        event.run_id,
        event.emitted,
        event.model_dump(mode="json"),
    )


async def record_outcomes(conn: Conn, rows: Sequence[OutcomeRow]) -> None:
    """Idempotent: a redelivered record finds its (run, seq) row and changes nothing. The rows
    travel as one binary array of `outcome_input` (migration 0002); one round trip."""
    await conn.execute(
        "WITH recorded AS ("
        "INSERT INTO run_outcomes (run_id, seq, outcome, job_hash, merge_pass, cache_hit, "
        "llm_calls, input_tokens, output_tokens, llm_usage, llm_paused_reason, kept_hash) "
        "SELECT run_id, seq, outcome, job_hash, merge_pass, cache_hit, llm_calls, "
        "input_tokens, output_tokens, llm_usage::jsonb, llm_paused_reason, kept_hash "
        "FROM unnest($1::outcome_input[]) ON CONFLICT (run_id, seq) DO NOTHING) "
        "UPDATE runs SET last_progress_at = now() WHERE run_id = ANY($2::text[])",
        [
            (
                r.run_id,
                r.seq,
                r.outcome.value,
                r.job_hash,
                r.merge_pass,
                r.cache_hit,
                r.llm_calls,
                r.input_tokens,
                r.output_tokens,
                orjson.dumps(r.llm_usage).decode() if r.llm_usage else None,
                r.llm_paused_reason,
                r.kept_hash,
            )
            for r in rows
        ],
        sorted({r.run_id for r in rows}),
    )


async def recorded(conn: Conn, keys: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which of these (run, seq) records already have their outcome."""
    if not keys:
        return set()
    rows = await conn.fetch(
        "SELECT o.run_id, o.seq FROM run_outcomes o "
        "JOIN unnest($1::text[], $2::int[]) AS k(run_id, seq) USING (run_id, seq)",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["run_id"], r["seq"]) for r in rows}


async def claim_completion(conn: Conn, run_id: str) -> ClaimedRun | None:
    """The guarded update: only one replica, once, gets the row when outcomes equal emitted."""
    row = await conn.fetchrow(
        """
        UPDATE runs SET status = 'COMPLETED', completed_at = now()
         WHERE run_id = $1 AND status = 'RUNNING' AND emitted IS NOT NULL
           AND emitted = (SELECT count(*) FROM run_outcomes WHERE run_id = $1)
        RETURNING run_id, feed_id, reason, started_at, completed_at, ingest
        """,
        run_id,
    )
    return _claimed(dict(row), failed_because=None) if row else None


async def claim_stalled(conn: Conn, run_id: str, *, after_s: float) -> ClaimedRun | None:
    """The same guard for a run that made no progress for `after_s`: it closes as a failure."""
    row = await conn.fetchrow(
        """
        UPDATE runs SET status = 'COMPLETED', completed_at = now(),
               failure_reason = format('stalled: %s of %s records had an outcome, '
                                       'no progress for %s s',
                   (SELECT count(*) FROM run_outcomes WHERE run_id = $1),
                   coalesce(emitted::text, 'an unknown number of'), round($2::numeric))
         WHERE run_id = $1 AND status = 'RUNNING'
           AND last_progress_at < now() - make_interval(secs => $2)
        RETURNING run_id, feed_id, reason, started_at, completed_at, ingest, failure_reason
        """,
        run_id,
        after_s,
    )
    return _claimed(dict(row), failed_because=row["failure_reason"]) if row else None


async def claim_failed(conn: Conn, run_id: str, reason: str) -> ClaimedRun | None:
    """The same guard for a run an operator fails: it closes as a failure with their reason."""
    row = await conn.fetchrow(
        """
        UPDATE runs SET status = 'COMPLETED', completed_at = now(), failure_reason = $2
         WHERE run_id = $1 AND status = 'RUNNING'
        RETURNING run_id, feed_id, reason, started_at, completed_at, ingest, failure_reason
        """,
        run_id,
        reason,
    )
    return _claimed(dict(row), failed_because=reason) if row else None


def _claimed(row: Mapping[str, Any], *, failed_because: str | None) -> ClaimedRun:
    if row["ingest"] is not None:
        ingest = IngestFinished.model_validate(row["ingest"])
    else:  # the ingestor never said how many records it emitted
        ingest = IngestFinished(
            run_id=row["run_id"], feed_id=row["feed_id"], emitted=0, fetch_status="failed"
        )
    return ClaimedRun(
        run_id=row["run_id"],
        feed_id=row["feed_id"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        ingest=ingest,
        reason=row["reason"],
        failed_because=failed_because,
    )


async def stalled_runs(conn: Conn, *, after_s: float) -> list[str]:
    rows = await conn.fetch(
        "SELECT run_id FROM runs WHERE status = 'RUNNING' "
        "AND last_progress_at < now() - make_interval(secs => $1)",
        after_s,
    )
    return [r["run_id"] for r in rows]


async def totals(conn: Conn, run_id: str) -> RunTotals:
    rows = await conn.fetch(
        "SELECT outcome, merge_pass, count(*) AS n, count(*) FILTER (WHERE cache_hit) AS hits, "
        "sum(llm_calls) AS calls, sum(input_tokens) AS tin, sum(output_tokens) AS tout "
        "FROM run_outcomes WHERE run_id = $1 GROUP BY outcome, merge_pass",
        run_id,
    )
    outcomes: Counter[str] = Counter()
    sums = Counter[str]()
    for r in rows:
        outcomes[r["outcome"]] += r["n"]
        sums["hits"] += r["hits"]
        sums["calls"] += r["calls"] or 0
        sums["tin"] += r["tin"] or 0
        sums["tout"] += r["tout"] or 0
        if r["merge_pass"] is not None:
            sums[f"pass{r['merge_pass']}"] += r["n"]
    usage, paused, paused_reason = await _llm_usage(conn, run_id)
    return RunTotals(
        outcomes=outcomes,
        cache_hits=sums["hits"],
        llm_calls=sums["calls"],
        input_tokens=sums["tin"],
        output_tokens=sums["tout"],
        duplicates_pass1=sums["pass1"],
        duplicates_pass2=sums["pass2"],
        usage_by_stage=usage,
        llm_paused=paused,
        llm_paused_reason=paused_reason,
    )


async def _llm_usage(conn: Conn, run_id: str) -> tuple[dict[str, StageUsage], int, str | None]:
    """The run's LLM usage by stage, and how many of its jobs its cost ceiling held back
    (with one of their reasons: they all name the same ceiling)."""
    rows = await conn.fetch(
        "SELECT u.key AS stage, "
        + ", ".join(f"sum((u.value ->> '{k}')::float8) AS {k}" for k in _USAGE_FIELDS)
        + " FROM run_outcomes o, jsonb_each(o.llm_usage) u "
        "WHERE o.run_id = $1 AND o.llm_usage IS NOT NULL GROUP BY u.key",
        run_id,
    )
    usage = {
        row["stage"]: StageUsage(
            **{k: (row[k] or 0) if k == "cost_usd" else int(row[k] or 0) for k in _USAGE_FIELDS}
        )
        for row in rows
    }
    held = await conn.fetchrow(
        "SELECT count(*) AS n, min(llm_paused_reason) AS reason FROM run_outcomes "
        "WHERE run_id = $1 AND llm_paused_reason IS NOT NULL",
        run_id,
    )
    assert held is not None
    return usage, int(held["n"]), held["reason"]


_USAGE_FIELDS = tuple(StageUsage.model_fields)


async def write_report(conn: Conn, run_id: str, closing: RunClosing) -> int:
    fields = closing.columns()  # its names are RunClosing's fields, never input
    names = sorted(fields)
    assignments = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    row = await conn.fetchrow(
        f"UPDATE execution_reports SET {assignments}, updated_at = now() WHERE run_id = $1 "
        "RETURNING id",
        run_id,
        *(fields[n] for n in names),
    )
    assert row is not None, f"no execution report for run {run_id}"
    return int(row["id"])


@dataclass(frozen=True, slots=True)
class RunFigures:
    """What one completed run adds to its feed's statistics."""

    run_id: str
    feed_id: int
    status: RunStatus
    duration_s: float
    feed_size: int
    unique_jobs: int
    approved: int
    error: str | None
    # the run's counts: its per-source ones become the feed's last-run ones
    counts: RunCounts = field(default_factory=RunCounts)


async def update_feed_statistics(conn: Conn, run: RunFigures) -> None:
    """The last run's values, and running totals named as such: runs by status (error_count
    counts failures) and the averages of duration and size over all runs. A PARTIAL run is
    no success: it leaves last_succeeded_at and the consecutive failures as they were."""
    await conn.execute(
        """
        UPDATE feeds SET
          runs_count = runs_count + 1,
          success_count = success_count + (CASE WHEN $2 = 'SUCCESS' THEN 1 ELSE 0 END),
          partial_count = partial_count + (CASE WHEN $2 = 'PARTIAL' THEN 1 ELSE 0 END),
          error_count = error_count + (CASE WHEN $2 = 'FAILURE' THEN 1 ELSE 0 END),
          consecutive_failure_count = CASE $2 WHEN 'SUCCESS' THEN 0
              WHEN 'FAILURE' THEN consecutive_failure_count + 1
              ELSE consecutive_failure_count END,
          last_run_status = $2,
          last_run_id = $8,
          last_checked_at = now(),
          last_succeeded_at = CASE WHEN $2 = 'SUCCESS' THEN now() ELSE last_succeeded_at END,
          last_error_message = $7,
          last_run_duration_seconds = $3,
          last_run_feed_size_bytes = $4::bigint,
          unique_jobs_processed = $5,
          auto_approved_jobs = $6,
          last_run_jobs_new = $9, last_run_jobs_known_elsewhere = $10,
          last_run_jobs_updated = $11, last_run_jobs_dropped = $12,
          last_run_jobs_archived = $13,
          avg_processing_time = (coalesce(avg_processing_time, 0) * runs_count + $3)
                                / (runs_count + 1),
          avg_feed_size = (coalesce(avg_feed_size, 0) * runs_count + $4::bigint)
                          / (runs_count + 1),
          updated_at = now()
        WHERE id = $1
        """,
        run.feed_id,
        run.status.value,
        run.duration_s,
        run.feed_size,
        run.unique_jobs,
        run.approved,
        run.error,
        run.run_id,
        run.counts.jobs_new,
        run.counts.jobs_known_elsewhere,
        run.counts.jobs_updated,
        run.counts.jobs_dropped,
        run.counts.jobs_archived,
    )


# --- the archive guard ----------------------------------------------------------------------


async def archive_history(
    conn: Conn, feed_id: int, run_id: str, *, runs: int, min_open: int
) -> list[float]:
    """The shares of its live jobs that the feed's recent runs archived on their own: its
    normal variation. Held, confirmed and skipped runs are no measure of normal."""
    rows = await conn.fetch(
        "SELECT archive_candidates::float8 / open_before AS share FROM runs "
        "WHERE feed_id = $1 AND run_id <> $2 AND status = 'COMPLETED' "
        "AND archive_state = 'applied' AND open_before >= $4 "
        "ORDER BY completed_at DESC LIMIT $3",
        feed_id,
        run_id,
        runs,
        max(min_open, 1),
    )
    return [float(r["share"]) for r in rows]


async def record_archive_judgement(
    conn: Conn, run_id: str, *, open_before: int, candidates: int, state: str
) -> None:
    await conn.execute(
        "UPDATE runs SET open_before = $2, archive_candidates = $3, archive_state = $4 "
        "WHERE run_id = $1",
        run_id,
        open_before,
        candidates,
        state,
    )


async def supersede_holds(conn: Conn, feed_id: int, run_id: str, started_at: datetime) -> int:
    """Holds of the feed's earlier runs lapse when a later run judged the feed again."""
    rows = await conn.fetch(
        "UPDATE runs SET archive_state = 'superseded' "
        "WHERE feed_id = $1 AND archive_state = 'held' AND run_id <> $2 AND started_at < $3 "
        "RETURNING run_id",
        feed_id,
        run_id,
        started_at,
    )
    note = f"archive hold superseded by run {run_id}: not applied"
    await conn.execute(
        "UPDATE execution_reports SET archive_skipped_reason = $2, "
        "error_summary = error_summary || to_jsonb($2::text), updated_at = now() "
        "WHERE run_id = ANY($1::text[])",
        [r["run_id"] for r in rows],
        note,
    )
    return len(rows)


@dataclass(frozen=True, slots=True)
class HeldRun:
    run_id: str
    feed_id: int
    reason: str
    started_at: datetime
    held: int


async def lock_held(conn: Conn, run_id: str) -> HeldRun | None:
    """The run, locked, while its archive is held; None once answered (or never held)."""
    row = await conn.fetchrow(
        "SELECT r.run_id, r.feed_id, r.reason, r.started_at, e.jobs_archive_held AS held "
        "FROM runs r JOIN execution_reports e USING (run_id) "
        "WHERE r.run_id = $1 AND r.archive_state = 'held' FOR UPDATE OF r",
        run_id,
    )
    return HeldRun(**dict(row)) if row else None


async def later_run(conn: Conn, held: HeldRun) -> str | None:
    """A run of the same feed started after the held one that judges (or may judge)
    presence anew: in progress, or completed having applied or held its own archive."""
    value = await conn.fetchval(
        "SELECT run_id FROM runs WHERE feed_id = $1 AND run_id <> $2 AND started_at > $3 "
        "AND reason <> 'replay' AND (status = 'RUNNING' "
        "OR archive_state NOT IN ('skipped', 'not_judged')) ORDER BY started_at LIMIT 1",
        held.feed_id,
        held.run_id,
        held.started_at,
    )
    return str(value) if value is not None else None


async def answer_hold(
    conn: Conn, run_id: str, *, state: str, by: str, archived: int, note: str
) -> None:
    """Records the answer in the run and its report; the run's RunCompleted goes out again
    (the syncer reconciles the feed on it)."""
    await conn.execute(
        "UPDATE runs SET archive_state = $2, archive_decided_by = $3, archive_decided_at = now(), "
        "completion_published_at = NULL WHERE run_id = $1",
        run_id,
        state,
        by,
    )
    await conn.execute(
        "UPDATE execution_reports SET jobs_archived = jobs_archived + $2, "
        "jobs_closed = jobs_closed + $2, archive_skipped_reason = $3, "
        "error_summary = error_summary || to_jsonb($4::text), updated_at = now() "
        "WHERE run_id = $1",
        run_id,
        archived,
        None if state == ArchiveState.CONFIRMED else note,
        note,
    )


async def mark_published(conn: Conn, run_id: str) -> None:
    await conn.execute("UPDATE runs SET completion_published_at = now() WHERE run_id = $1", run_id)


async def unpublished_completions(conn: Conn, older_than_s: float) -> list[str]:
    """Completed runs whose RunCompleted never went out (a crash between commit and send)."""
    rows = await conn.fetch(
        "SELECT run_id FROM runs WHERE status = 'COMPLETED' AND completion_published_at IS NULL "
        "AND completed_at < now() - make_interval(secs => $1)",
        older_than_s,
    )
    return [r["run_id"] for r in rows]


async def runs_ready(conn: Conn, run_ids: Sequence[str]) -> list[str]:
    """Of these runs, the ones still running whose outcomes have caught up with emitted."""
    rows = await conn.fetch(
        "SELECT r.run_id FROM runs r WHERE r.run_id = ANY($1::text[]) AND r.status = 'RUNNING' "
        "AND r.emitted IS NOT NULL "
        "AND r.emitted = (SELECT count(*) FROM run_outcomes o WHERE o.run_id = r.run_id)",
        list(run_ids),
    )
    return [r["run_id"] for r in rows]


async def stored_completion(conn: Conn, run_id: str) -> RunCompleted | None:
    """Rebuilds a completed run's RunCompleted from its report, for republishing."""
    row = await conn.fetchrow(
        "SELECT r.feed_id, e.run_status, e.jobs_archived, e.archive_skipped_reason "
        "FROM runs r JOIN execution_reports e USING (run_id) "
        "WHERE r.run_id = $1 AND r.status = 'COMPLETED'",
        run_id,
    )
    if row is None:
        return None
    return RunCompleted(
        run_id=run_id,
        feed_id=row["feed_id"],
        status=RunStatus(row["run_status"]),
        archived=row["jobs_archived"],
        archive_skipped_reason=row["archive_skipped_reason"],
    )


async def report(conn: Conn, run_id: str) -> ExecutionReport:
    """The run's execution report as written, with its feed's name."""
    row = await conn.fetchrow("SELECT * FROM execution_reports WHERE run_id = $1", run_id)
    assert row is not None, f"no execution report for run {run_id}"
    return ExecutionReport.from_row(dict(row))
