"""Reads the feed definitions a run needs from PostgreSQL."""

from __future__ import annotations

from services.ingestor.errors import FeedNotFoundError
from services.ingestor.ports import Connections, FeedDefinition
from services.shared.database import Conn


class FeedsRepository:
    """The `Feeds` port over PostgreSQL."""

    def __init__(self, db: Connections) -> None:
        self._db = db

    async def load(self, feed_id: int) -> FeedDefinition:
        async with self._db.connection() as conn:
            return await load_feed(conn, feed_id)


async def load_feed(conn: Conn, feed_id: int) -> FeedDefinition:
    row = await conn.fetchrow(
        "SELECT id, name, source_url, mapping, is_active FROM feeds WHERE id = $1", feed_id
    )
    if row is None:
        raise FeedNotFoundError(f"feed {feed_id} does not exist")
    if not row["is_active"]:
        raise FeedNotFoundError(f"feed {feed_id} ({row['name']}) is deactivated")
    return FeedDefinition(row["id"], row["name"], row["source_url"], row["mapping"])
