"""The `feeds` table as the API sees it: create, read, update, deactivate, find due feeds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.api.handlers import FEED_FIELDS
from services.shared.database import Conn

# The columns a client sees; statistics are the router's, read-only here.
FEED_VIEW = (
    "id, name, source_url, format, mapping, company_name, partner_id, bypass_filters, "
    "is_active, check_frequency_minutes, next_check_at, last_checked_at, last_run_status, "
    "last_succeeded_at, last_error_message, consecutive_failure_count, runs_count, "
    "unique_jobs_processed, auto_approved_jobs, created_at, updated_at, "
    "last_run_id, last_run_duration_seconds, last_run_feed_size_bytes, success_count, "
    "partial_count, error_count, avg_processing_time, avg_feed_size"
)


def _checked(fields: Mapping[str, Any]) -> list[str]:
    # Only whitelisted names ever reach the SQL text.
    names = list(fields)
    if not set(names) <= set(FEED_FIELDS):
        raise ValueError(f"not a feed field: {sorted(set(names) - set(FEED_FIELDS))}")
    return names


async def create(conn: Conn, fields: Mapping[str, Any]) -> dict[str, Any]:
    names = _checked(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO feeds ({', '.join(names)}) VALUES ({placeholders}) RETURNING {FEED_VIEW}",
        *fields.values(),
    )
    assert row is not None
    return dict(row)


async def list_feeds(conn: Conn, *, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT {FEED_VIEW} FROM feeds ORDER BY id LIMIT $1 OFFSET $2", limit, offset
    )
    return [dict(r) for r in rows]


async def get(conn: Conn, feed_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {FEED_VIEW} FROM feeds WHERE id = $1", feed_id)
    return dict(row) if row else None


async def update(conn: Conn, feed_id: int, fields: Mapping[str, Any]) -> dict[str, Any] | None:
    names = _checked(fields)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    # A new frequency takes effect from now: the scheduler recomputes the next check.
    reschedule = ", next_check_at = NULL" if "check_frequency_minutes" in fields else ""
    row = await conn.fetchrow(
        f"UPDATE feeds SET {sets}{reschedule}, updated_at = now() WHERE id = $1 "
        f"RETURNING {FEED_VIEW}",
        feed_id,
        *fields.values(),
    )
    return dict(row) if row else None


async def deactivate(conn: Conn, feed_id: int) -> dict[str, Any] | None:
    return await update(conn, feed_id, {"is_active": False})


async def exists(conn: Conn, feed_id: int) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM feeds WHERE id = $1", feed_id))
