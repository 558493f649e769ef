"""What the console reads: keyset pages of the review queue, one job wherever it is, its
history, and the moves an admin makes (take-down, restore)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeVar

from schemas.job_tables import JOB_COLUMNS, TABLES
from schemas.records import MalformedRecord, Outcome, Route, RunStatus
from schemas.status import JobStatus, RunState, SyncStatus
from services.shared.database import Conn


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRow:
    """A job in the console's review queue: what a reviewer scans before opening it."""

    job_hash: str
    feed_id: int
    title: str
    company_name: str
    location_string: str | None
    locations: list[dict[str, Any]]
    ai_confidence_score: Decimal | None
    confidence_reasoning: str | None
    sector_id: int | None
    sector: str | None
    job_function_id: int | None
    job_function: str | None
    route_reason: str | None
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


QUEUE = TABLES[Route.MANUAL_REVIEW]
ROW_VIEW = ", ".join(f.name for f in fields(QueueRow))
CONFIDENCE = "COALESCE(ai_confidence_score, 0)"  # the expression the index is built on
Sort = Literal["confidence", "date"]


@dataclass(frozen=True, slots=True)
class QueueFilter:
    feed_id: int | None = None
    sector_id: int | None = None
    job_function_id: int | None = None
    min_confidence: Decimal | None = None
    max_confidence: Decimal | None = None  # exclusive
    newer_than: timedelta | None = None
    older_than: timedelta | None = None
    sort: Sort = "confidence"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the last page ended: its sort key and job hash."""

    key: Decimal | datetime
    job_hash: str


def _where(f: QueueFilter, cursor: Cursor | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    now = datetime.now(UTC)
    if f.feed_id is not None:
        clauses.append(f"feed_id = {arg(f.feed_id)}")
    if f.sector_id is not None:
        clauses.append(f"sector_id = {arg(f.sector_id)}")
    if f.job_function_id is not None:
        clauses.append(f"job_function_id = {arg(f.job_function_id)}")
    if f.min_confidence is not None:
        clauses.append(f"{CONFIDENCE} >= {arg(f.min_confidence)}")
    if f.max_confidence is not None:
        clauses.append(f"{CONFIDENCE} < {arg(f.max_confidence)}")
    if f.newer_than is not None:
        clauses.append(f"created_at >= {arg(now - f.newer_than)}")
    if f.older_than is not None:
        clauses.append(f"created_at < {arg(now - f.older_than)}")
    if cursor is not None:
        # Confidence: highest first; date: oldest first. Ties broken by job hash.
        key, job_hash = arg(cursor.key), arg(cursor.job_hash)
        if f.sort == "confidence":
            clauses.append(f"({CONFIDENCE}, job_hash) < ({key}, {job_hash})")
        else:
            clauses.append(f"(created_at, job_hash) > ({key}, {job_hash})")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _order(sort: Sort) -> str:
    if sort == "confidence":
        return f"ORDER BY {CONFIDENCE} DESC, job_hash DESC"
    return "ORDER BY created_at, job_hash"


async def queue_page(
    conn: Conn, f: QueueFilter, cursor: Cursor | None, limit: int
) -> tuple[list[QueueRow], Cursor | None]:
    """A page of the queue and the cursor of the next one (None on the last page)."""
    where, args = _where(f, cursor)
    rows = await conn.fetch(
        f"SELECT {ROW_VIEW} FROM {QUEUE}{where} {_order(f.sort)} LIMIT {int(limit) + 1}", *args
    )
    page = [QueueRow(**dict(r)) for r in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    key = last.created_at if f.sort == "date" else last.ai_confidence_score or Decimal(0)
    return page, Cursor(key, last.job_hash)


async def queue_count(conn: Conn, f: QueueFilter) -> int:
    where, args = _where(f, None)
    return int(await conn.fetchval(f"SELECT count(*) FROM {QUEUE}{where}", *args))


async def queue_functions(conn: Conn) -> list[int]:
    """The job function ids present in the queue (integers: a cheap hash aggregate)."""
    rows = await conn.fetch(
        f"SELECT DISTINCT job_function_id FROM {QUEUE} WHERE job_function_id IS NOT NULL"
    )
    return [int(r["job_function_id"]) for r in rows]


async def feed_names(conn: Conn) -> list[tuple[int, str]]:
    rows = await conn.fetch("SELECT id, name FROM feeds ORDER BY name, id")
    return [(int(r["id"]), str(r["name"])) for r in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRow:
    """A job as the console's job page shows it, from whichever table it is in."""

    job_hash: str
    feed_id: int
    title: str
    company_name: str
    description: str
    application_url: str | None
    employment_type: str
    is_remote: bool
    locations: list[dict[str, Any]]
    location_string: str | None
    salary_min: Decimal | None
    salary_max: Decimal | None
    salary_period: str | None
    currency: str | None
    ai_title: str | None
    ai_skills: list[str]
    ai_confidence_score: Decimal | None
    confidence_reasoning: str | None
    sector_id: int | None
    industry_group_id: int | None
    industry_id: int | None
    job_function_id: int | None
    sector: str | None
    industry_group: str | None
    industry: str | None
    job_function: str | None
    ih_reasoning: str | None
    jf_reasoning: str | None
    route_reason: str
    reviewed_by: str | None
    first_seen_run: str | None
    last_seen_run: str | None


JOB_VIEW = ", ".join(f.name for f in fields(JobRow))


async def find_job(conn: Conn, job_hash: str) -> tuple[Route, JobRow] | None:
    """The job and the table it is in (the review queue first)."""
    for route in (Route.MANUAL_REVIEW, Route.OPEN, Route.REJECTED, Route.ARCHIVED):
        row = await conn.fetchrow(
            f"SELECT {JOB_VIEW} FROM {TABLES[route]} WHERE job_hash = $1", job_hash
        )
        if row is not None:
            return route, JobRow(**row)
    return None


@dataclass(frozen=True, slots=True)
class JobInRun:
    """What one run of its feed did with a job."""

    run_id: str
    reason: str
    status: RunState
    started_at: datetime
    outcome: Outcome
    merge_pass: int | None


async def job_history(conn: Conn, job_hash: str, feed_id: int, runs: int = 10) -> list[JobInRun]:
    """The job's outcome in each of its feed's last `runs` runs (bounded: no job_hash index)."""
    rows = await conn.fetch(
        "SELECT r.run_id, r.reason, r.status, r.started_at, o.outcome, o.merge_pass "
        "FROM (SELECT run_id, reason, status, started_at FROM runs WHERE feed_id = $2 "
        "      ORDER BY started_at DESC LIMIT $3) r "
        "JOIN run_outcomes o ON o.run_id = r.run_id AND o.job_hash = $1 "
        "ORDER BY r.started_at DESC",
        job_hash,
        feed_id,
        runs,
    )
    return [
        JobInRun(r["run_id"], r["reason"], RunState(r["status"]), r["started_at"],
                 Outcome(r["outcome"]), r["merge_pass"])
        for r in rows
    ]  # fmt: skip


_DECIDED = ("route", "route_reason", "status", "reviewed_by", "reviewed_at")
_MOVED = ", ".join(JOB_COLUMNS)
_SELECTED = ", ".join(f"${_DECIDED.index(c) + 2}" if c in _DECIDED else c for c in JOB_COLUMNS)


async def move_between(
    conn: Conn, job_hash: str, source: Route, to: Route, *, status: JobStatus, reason: str, by: str
) -> int | None:
    """Moves a job from `source`'s table to `to`'s; its feed id, or None if it is not there.

    The caller holds the transaction; the row lock makes two admins' moves serialise.
    """
    feed_id = await conn.fetchval(
        f"SELECT feed_id FROM {TABLES[source]} WHERE job_hash = $1 FOR UPDATE", job_hash
    )
    if feed_id is None:
        return None
    await conn.execute(f"DELETE FROM {TABLES[to]} WHERE job_hash = $1", job_hash)
    await conn.execute(
        f"INSERT INTO {TABLES[to]} ({_MOVED}) "
        f"SELECT {_SELECTED} FROM {TABLES[source]} WHERE job_hash = $1",
        job_hash,
        to.value,
        reason,
        status,
        by,
        datetime.now(UTC),
    )
    await conn.execute(f"DELETE FROM {TABLES[source]} WHERE job_hash = $1", job_hash)
    return int(feed_id)


async def neighbours(
    conn: Conn, job_hash: str, feed_id: int, confidence: Decimal | None
) -> tuple[str | None, str | None]:
    """The jobs before and after this one in its feed's queue, highest confidence first."""
    key = confidence or Decimal(0)
    previous = await conn.fetchval(
        f"SELECT job_hash FROM {QUEUE} WHERE feed_id = $3 AND ({CONFIDENCE}, job_hash) > ($1, $2) "
        f"ORDER BY {CONFIDENCE}, job_hash LIMIT 1",
        key,
        job_hash,
        feed_id,
    )
    following = await conn.fetchval(
        f"SELECT job_hash FROM {QUEUE} WHERE feed_id = $3 AND ({CONFIDENCE}, job_hash) < ($1, $2) "
        f"ORDER BY {CONFIDENCE} DESC, job_hash DESC LIMIT 1",
        key,
        job_hash,
        feed_id,
    )
    return previous, following


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """A run in the console's list: its ledger row and its report's headline counts (the
    report's columns are None for a run whose report is not there yet)."""

    run_id: str
    feed_id: int
    feed_name: str | None
    reason: str
    status: RunState
    started_at: datetime
    completed_at: datetime | None
    emitted: int | None
    run_status: RunStatus | None
    total_in_feed: int | None
    jobs_auto_approved: int | None
    jobs_manual_review: int | None
    jobs_rejected: int | None
    duration_seconds: float | None
    xano_status: SyncStatus | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunSummary:
        values = dict(row)
        values["status"] = RunState(values["status"])
        values["run_status"] = _or_none(RunStatus, values["run_status"])
        values["xano_status"] = _or_none(SyncStatus, values["xano_status"])
        return cls(**values)


_RUN_SUMMARY = (
    "r.run_id, r.feed_id, f.name AS feed_name, r.reason, r.status, r.started_at, "
    "r.completed_at, r.emitted, e.run_status, e.total_in_feed, e.jobs_auto_approved, "
    "e.jobs_manual_review, e.jobs_rejected, e.duration_seconds, e.xano_status"
)


async def recent_runs(conn: Conn, feed_id: int | None, limit: int = 50) -> list[RunSummary]:
    """The latest runs (of one feed, or of all), with their report's headline counts."""
    rows = await conn.fetch(
        f"SELECT {_RUN_SUMMARY} "
        "FROM (SELECT * FROM runs WHERE ($1::int IS NULL OR feed_id = $1) "
        "      ORDER BY started_at DESC LIMIT $2) r "
        "LEFT JOIN feeds f ON f.id = r.feed_id "
        "LEFT JOIN execution_reports e ON e.run_id = r.run_id ORDER BY r.started_at DESC",
        feed_id,
        limit,
    )
    return [RunSummary.from_row(dict(r)) for r in rows]


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedHealth:
    """A feed in the console's list, with its health."""

    id: int
    name: str
    is_active: bool
    last_run_status: RunStatus | None
    consecutive_failure_count: int
    next_check_at: datetime | None
    check_frequency_minutes: int | None
    last_succeeded_at: datetime | None
    runs_count: int
    recent_records: list[int]  # records in the feed, its last five runs first


async def feeds_health(conn: Conn) -> list[FeedHealth]:
    """Every feed with its health: last status, failures in a row, next check, recent sizes."""
    rows = await conn.fetch(
        "SELECT f.id, f.name, f.is_active, f.last_run_status, f.consecutive_failure_count, "
        "f.next_check_at, f.check_frequency_minutes, f.last_succeeded_at, f.runs_count, "
        "ARRAY(SELECT e.total_in_feed FROM execution_reports e WHERE e.feed_id = f.id "
        "      ORDER BY e.start_time DESC LIMIT 5) AS recent_records "
        "FROM feeds f ORDER BY f.name, f.id"
    )
    return [
        FeedHealth(**dict(r) | {"last_run_status": _or_none(RunStatus, r["last_run_status"])})
        for r in rows
    ]


async def malformed_samples(conn: Conn, run_id: str) -> list[MalformedRecord]:
    """The ingestor's samples of the records it could not read, with their reasons."""
    ingest = await conn.fetchval("SELECT ingest FROM runs WHERE run_id = $1", run_id)
    samples = (ingest or {}).get("malformed_samples") if isinstance(ingest, dict) else None
    return [MalformedRecord.model_validate(s) for s in samples or [] if isinstance(s, dict)]


_E = TypeVar("_E", bound=StrEnum)


def _or_none(enum: type[_E], value: str | None) -> _E | None:
    return None if value is None else enum(value)
