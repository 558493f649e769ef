"""Reads the feed definitions a run needs from PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.ingestor.errors import FeedNotFoundError
from services.shared.database import Conn


@dataclass(frozen=True, slots=True)
class FeedDefinition:
    feed_id: int
    name: str
    source_url: str
    mapping: dict[str, Any] | None


async def load_feed(conn: Conn, feed_id: int) -> FeedDefinition:
    row = await conn.fetchrow(
        "SELECT id, name, source_url, mapping, is_active FROM feeds WHERE id = $1", feed_id
    )
    if row is None:
        raise FeedNotFoundError(f"feed {feed_id} does not exist")
    if not row["is_active"]:
        raise FeedNotFoundError(f"feed {feed_id} ({row['name']}) is deactivated")
    return FeedDefinition(row["id"], row["name"], row["source_url"], row["mapping"])
