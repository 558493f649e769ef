"""A service's PostgreSQL pool: opened (and the schema checked) at start-up, closed on stop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.shared.postgres import (
    SERVER_SETTINGS,
    Conn,
    SchemaOutdatedError,
    require_schema,
    set_json_codecs,
)
from services.shared.settings import Secret

__all__ = ["Conn", "Database", "PoolConnections", "SchemaOutdatedError"]


class Database:
    """The pool; `open` is the start-up step. Never migrates: `jobstream migrate` does."""

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

    async def open(self) -> None:
        """Opens the pool and refuses a schema older than the code (`SchemaOutdatedError`)."""
        async with self._lock:
            if self._pool is None:
                self._pool = await self._checked_pool()

    async def _checked_pool(self) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            self._dsn.value,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            init=set_json_codecs,
            server_settings=self._server_settings,
        )
        try:
            async with pool.acquire() as connection:
                await require_schema(connection)
        except BaseException:
            await pool.close()
            raise
        return pool

    async def pool(self) -> asyncpg.Pool:
        """The open pool; a tool that skipped `open` gets it opened (and checked) here."""
        if self._pool is None:
            await self.open()
        assert self._pool is not None
        return self._pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """A connection borrowed from the pool for the block."""
        pool = await self.pool()
        async with pool.acquire() as connection:
            yield connection

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


class PoolConnections:
    """`connection()` on a pool its owner opened and closes (a bench, a test's fixture)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        async with self._pool.acquire() as connection:
            yield connection
