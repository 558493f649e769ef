"""A database of its own for each API test module, on the session's PostgreSQL server.

Its feed ids start at one billion. A run the API requests there still goes to the shared
broker, but names no feed the pipeline knows: a pipeline running in the same session refuses
it and writes nothing here, so these tests can play the pipeline's part undisturbed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from cli.stack import StackConfig, StackInfo
from cli.stack.config import DB_PASSWORD, DB_USER
from services.shared.postgres import apply_migrations

FIRST_FEED_ID = 1_000_000_000


async def _admin(config: StackConfig) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=str(config.pg_socket_dir), port=config.pg_port, user="postgres", database="postgres"
    )


async def _recreate(config: StackConfig, name: str, *, create: bool) -> None:
    admin = await _admin(config)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await admin.execute(f'CREATE DATABASE "{name}" OWNER "{DB_USER}"')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def api_dsn(
    stack: StackInfo, stack_config: StackConfig, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    name = "jobstream_" + request.module.__name__.rsplit(".", 1)[-1]
    await _recreate(stack_config, name, create=True)
    dsn = f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{stack_config.pg_port}/{name}"
    await apply_migrations(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"ALTER SEQUENCE feeds_id_seq RESTART WITH {FIRST_FEED_ID}")
    finally:
        await conn.close()
    yield dsn
    await _recreate(stack_config, name, create=False)
