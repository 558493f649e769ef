"""PostgreSQL plumbing shared by the services: ordered migrations and a JSON-aware pool."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
"""A connection as repositories take it: a plain one, or one borrowed from the pool."""

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Any constant shared by every process that migrates; it only has to be stable.
MIGRATION_LOCK_KEY = 0x6A6F6273  # "jobs"
_MIGRATION_FILE = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True, order=True)
class Migration:
    version: int
    name: str
    path: Path


def parse_migration(path: Path) -> Migration | None:
    """A migration for files named NNNN_words.sql; None for anything else in the folder."""
    match = _MIGRATION_FILE.match(path.name)
    if match is None:
        return None
    return Migration(int(match.group(1)), path.stem, path)


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = [parse_migration(path) for path in directory.iterdir()]
    migrations = sorted(m for m in found if m is not None)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migrations share a version number in {directory}")
    return migrations


async def _apply_one(connection: asyncpg.Connection, migration: Migration) -> bool:
    async with connection.transaction():
        # Serialises concurrent migrators; released automatically at commit or rollback.
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await connection.execute(CREATE_LEDGER)
        done = await connection.fetchval(
            "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
        )
        if done:
            return False
        await connection.execute(migration.path.read_text())
        await connection.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            migration.version,
            migration.name,
        )
    return True


async def apply_migrations(dsn: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in version order, one transaction each; returns names applied.

    Safe to call from several processes at once: each migration runs under an advisory lock
    and is skipped when the ledger already records it.
    """
    connection = await asyncpg.connect(dsn)
    try:
        return await _apply_all(connection, discover_migrations(migrations_dir))
    finally:
        await connection.close()


async def _apply_all(connection: asyncpg.Connection, migrations: Iterable[Migration]) -> list[str]:
    return [m.name for m in migrations if await _apply_one(connection, m)]


class SchemaOutdatedError(RuntimeError):
    """The database lacks migrations this code needs; `jobstream migrate` applies them."""


async def missing_migrations(
    connection: Conn, migrations: Iterable[Migration] | None = None
) -> list[Migration]:
    """The shipped migrations the database has not recorded (all of them on an empty one)."""
    wanted = discover_migrations() if migrations is None else list(migrations)
    applied: set[int] = set()
    if await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        rows = await connection.fetch("SELECT version FROM schema_migrations")
        applied = {row["version"] for row in rows}
    return [m for m in wanted if m.version not in applied]


async def require_schema(connection: Conn) -> None:
    """Refuses a database whose schema is older than this code: services never migrate."""
    missing = await missing_migrations(connection)
    if missing:
        names = ", ".join(m.name for m in missing)
        raise SchemaOutdatedError(
            f"the database schema is older than this code needs (not applied: {names}); "
            "run `jobstream migrate` first"
        )


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def set_json_codecs(connection: asyncpg.Connection) -> None:
    """Make json/jsonb columns read and write Python objects instead of strings."""
    for typename in ("json", "jsonb"):
        await connection.set_type_codec(
            typename, schema="pg_catalog", encoder=_encode_json, decoder=orjson.loads
        )


# Every statement the services send is an index-probing one over a batch or a run; none is
# worth compiling. PostgreSQL JIT-compiles any plan costed over `jit_above_cost`, and costs
# swell while a growing table's statistics lag, and a batch would spend far longer compiling
# than running (bench/HISTORY.md).
#
# A client whose host died or was cut off sends no FIN: its session would stay "idle in
# transaction", holding its row and advisory locks (a router's job locks, a reconcile's feed
# lock), until the kernel's keepalive gave up, two hours by default. These make the server
# probe an idle client after 30 s and drop it after 6 unanswered probes 10 s apart, and drop
# one that left the server's data unacknowledged for 60 s (a session blocked sending results).
SERVER_SETTINGS = {
    "jit": "off",
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "6",
    "tcp_user_timeout": "60000",
}


@asynccontextmanager
async def open_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10
) -> AsyncIterator[asyncpg.Pool]:
    """An asyncpg pool whose connections all speak JSON natively; closed on exit."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=set_json_codecs,
        server_settings=SERVER_SETTINGS,
    )
    try:
        yield pool
    finally:
        await pool.close()
