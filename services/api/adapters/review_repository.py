"""The manual review queue: list it, and move a job out of it in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.job_tables import JOB_COLUMNS, TABLES
from schemas.records import Route
from services.shared.database import Conn

QUEUE = TABLES[Route.MANUAL_REVIEW]
LIST_VIEW = (
    "job_hash, feed_id, title, company_name, location_string, route_reason, "
    "ai_confidence_score, confidence_reasoning, sector, industry, job_function, "
    "application_url, last_seen_run, created_at, updated_at"
)
# What a decision overwrites; every other column moves as it is.
_DECIDED = ("route", "route_reason", "status", "reviewed_by", "reviewed_at")
_MOVED = ", ".join(JOB_COLUMNS)
# $1 is the job hash; the decided columns take $2.. in `_DECIDED` order.
_SELECTED = ", ".join(f"${_DECIDED.index(c) + 2}" if c in _DECIDED else c for c in JOB_COLUMNS)


async def list_queue(
    conn: Conn, *, feed_id: int | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
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
    return [dict(r) for r in rows], int(total)


async def move(
    conn: Conn, job_hash: str, to: Route, *, status: str, reason: str, reviewer: str
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
