"""The `feeds` table as the API sees it: create, read, update, deactivate, find due feeds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from services.api.handlers import FEED_FIELDS, FeedRow
from services.shared.database import Conn

# The columns a client sees; statistics are the router's, read-only here.
FEED_VIEW = ", ".join(f.name for f in fields(FeedRow))


def _checked(fields: Mapping[str, Any]) -> list[str]:
    # Only whitelisted names ever reach the SQL text.
    names = list(fields)
    if not set(names) <= set(FEED_FIELDS):
        raise ValueError(f"not a feed field: {sorted(set(names) - set(FEED_FIELDS))}")
    return names


async def create(conn: Conn, fields: Mapping[str, Any]) -> FeedRow:
    names = _checked(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO feeds ({', '.join(names)}) VALUES ({placeholders}) RETURNING {FEED_VIEW}",
        *fields.values(),
    )
    assert row is not None
    return FeedRow.from_row(dict(row))


async def list_feeds(conn: Conn, *, limit: int, offset: int) -> list[FeedRow]:
    rows = await conn.fetch(
        f"SELECT {FEED_VIEW} FROM feeds ORDER BY id LIMIT $1 OFFSET $2", limit, offset
    )
    return [FeedRow.from_row(dict(r)) for r in rows]


async def get(conn: Conn, feed_id: int) -> FeedRow | None:
    row = await conn.fetchrow(f"SELECT {FEED_VIEW} FROM feeds WHERE id = $1", feed_id)
    return FeedRow.from_row(dict(row)) if row else None


async def update(conn: Conn, feed_id: int, fields: Mapping[str, Any]) -> FeedRow | None:
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
    return FeedRow.from_row(dict(row)) if row else None


async def deactivate(conn: Conn, feed_id: int) -> FeedRow | None:
    return await update(conn, feed_id, {"is_active": False})


async def exists(conn: Conn, feed_id: int) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM feeds WHERE id = $1", feed_id))
