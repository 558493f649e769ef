"""A PostgreSQL pool that a long-running service opens on first use and closes on stop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.shared.postgres import SERVER_SETTINGS, apply_migrations, set_json_codecs
from services.shared.settings import Secret


class Database:
    """Opens the pool (after applying migrations) the first time a handler needs it."""

    def __init__(
        self,
        dsn: Secret,
        *,
        min_size: int = 1,
        max_size: int = 10,
        session: Mapping[str, str] | None = None,
    ) -> None:
        """`session`: server settings of the pool's sessions, on top of `SERVER_SETTINGS`."""
        self._dsn = dsn
        self._sizes = (min_size, max_size)
        self._server_settings = {**SERVER_SETTINGS, **(session or {})}
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                await apply_migrations(self._dsn.value)
                self._pool = await asyncpg.create_pool(
                    self._dsn.value,
                    min_size=self._sizes[0],
                    max_size=self._sizes[1],
                    init=set_json_codecs,
                    server_settings=self._server_settings,
                )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection as repositories take it: a plain one, or one borrowed from the pool."""
