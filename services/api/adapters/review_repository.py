"""The manual review queue: list it, and move a job out of it in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal

from schemas.job_tables import JOB_COLUMNS, TABLES
from schemas.records import Route
from schemas.status import JobStatus
from services.shared.database import Conn


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedJob:
    """A job waiting for a reviewer, as the review queue lists it."""

    job_hash: str
    feed_id: int
    title: str
    company_name: str
    location_string: str | None
    route_reason: str
    ai_confidence_score: Decimal | None
    confidence_reasoning: str | None
    sector: str | None
    industry: str | None
    job_function: str | None
    application_url: str | None
    last_seen_run: str | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


QUEUE = TABLES[Route.MANUAL_REVIEW]
LIST_VIEW = ", ".join(f.name for f in fields(QueuedJob))
# What a decision overwrites; every other column moves as it is.
_DECIDED = ("route", "route_reason", "status", "reviewed_by", "reviewed_at")
_MOVED = ", ".join(JOB_COLUMNS)
# $1 is the job hash; the decided columns take $2.. in `_DECIDED` order.
_SELECTED = ", ".join(f"${_DECIDED.index(c) + 2}" if c in _DECIDED else c for c in JOB_COLUMNS)


async def list_queue(
    conn: Conn, *, feed_id: int | None, limit: int, offset: int
) -> tuple[list[QueuedJob], int]:
    """A page of the queue (oldest first) and the queue's total length under the filter."""
    rows = await conn.fetch(
        f"SELECT {LIST_VIEW} FROM {QUEUE} WHERE ($1::int IS NULL OR feed_id = $1) "
        "ORDER BY created_at, job_hash LIMIT $2 OFFSET $3",
        feed_id,
        limit,
        offset,
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM {QUEUE} WHERE ($1::int IS NULL OR feed_id = $1)", feed_id
    )
    return [QueuedJob(**dict(r)) for r in rows], int(total)


async def move(
    conn: Conn, job_hash: str, to: Route, *, status: JobStatus, reason: str, reviewer: str
) -> int | None:
    """Moves the job from the queue into `to`'s table; its feed id, or None if not queued.

    Runs inside the caller's transaction; the row is locked first so two reviewers deciding
    the same job at once cannot both move it.
    """
    feed_id = await conn.fetchval(
        f"SELECT feed_id FROM {QUEUE} WHERE job_hash = $1 FOR UPDATE", job_hash
    )
    if feed_id is None:
        return None
    target = TABLES[to]
    await conn.execute(f"DELETE FROM {target} WHERE job_hash = $1", job_hash)
    await conn.execute(
        f"INSERT INTO {target} ({_MOVED}) SELECT {_SELECTED} FROM {QUEUE} WHERE job_hash = $1",
        job_hash,
        to.value,
        reason,
        status,
        reviewer,
        datetime.now(UTC),
    )
    await conn.execute(f"DELETE FROM {QUEUE} WHERE job_hash = $1", job_hash)
    return int(feed_id)
