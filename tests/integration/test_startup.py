"""Start-up does one thing: services open their pool and check the schema; only
`jobstream migrate` migrates. Against the real PostgreSQL of the test stack."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from cli.main import main
from cli.stack import StackConfig, StackInfo
from cli.stack.config import DB_PASSWORD, DB_USER, PROJECT_ROOT
from services.shared.database import Database, SchemaOutdatedError
from services.shared.postgres import apply_migrations, discover_migrations, missing_migrations
from services.shared.settings import Secret
from tests.conftest import TEST_SERVICES_BASE_PORT

SERVICES = ("ingestor", "enricher", "router", "syncer", "api")
START_TIMEOUT_S = 60.0  # imports alone take seconds on a loaded machine


async def _admin(config: StackConfig) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=str(config.pg_socket_dir), port=config.pg_port, user="postgres", database="postgres"
    )


@pytest.fixture
async def empty_dsn(
    stack: StackInfo, stack_config: StackConfig, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A database of its own that nothing has migrated."""
    name = f"jobstream_startup_{request.node.name.split('[')[0][-30:]}_{os.getpid()}"
    admin = await _admin(stack_config)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{DB_USER}"')
    finally:
        await admin.close()
    yield f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{stack_config.pg_port}/{name}"
    admin = await _admin(stack_config)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _has_ledger(dsn: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        return bool(
            await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        )
    finally:
        await connection.close()


async def _start_service(service: str, dsn: str) -> tuple[int, str]:
    """Runs `python -m services.<service>` until it exits; its exit code and stderr."""
    port = str(TEST_SERVICES_BASE_PORT + 95)
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        # No broker there: the refusal must come first, before anything waits for Kafka.
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "WEB_PORT": port,
        "API_PORT": port,
        "FAUST_DATA_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / f"startup-{os.getpid()}"),
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{service}",
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(child.communicate(), timeout=START_TIMEOUT_S)
    except TimeoutError:
        child.kill()
        await child.wait()
        pytest.fail(f"{service} kept running against an unmigrated database")
    assert child.returncode is not None
    return child.returncode, stderr.decode(errors="replace")


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_refuses_an_unmigrated_database_naming_jobstream_migrate(
    service: str, empty_dsn: str
) -> None:
    code, stderr = await _start_service(service, empty_dsn)

    assert code != 0
    last_line = stderr.strip().splitlines()[-1]
    assert f"jobstream {service} did not start" in last_line
    assert "run `jobstream migrate` first" in last_line
    assert "0001_initial" in last_line
    assert not await _has_ledger(empty_dsn)  # it migrated nothing on the way


async def test_a_schema_one_migration_behind_is_refused_naming_the_missing_one(
    empty_dsn: str, tmp_path: Path
) -> None:
    *older, newest = discover_migrations()
    for migration in older:
        shutil.copy(migration.path, tmp_path / migration.path.name)
    await apply_migrations(empty_dsn, tmp_path)
    db = Database(Secret(empty_dsn))

    with pytest.raises(SchemaOutdatedError, match="jobstream migrate") as refused:
        await db.open()

    assert newest.name in str(refused.value)
    assert older[-1].name not in str(refused.value)


async def test_a_first_query_never_migrates(empty_dsn: str) -> None:
    db = Database(Secret(empty_dsn))

    with pytest.raises(SchemaOutdatedError):
        await db.pool()
    with pytest.raises(SchemaOutdatedError):
        async with db.connection():
            pass

    assert not await _has_ledger(empty_dsn)


async def test_after_jobstream_migrate_the_service_database_opens(empty_dsn: str) -> None:
    assert await asyncio.to_thread(main, ["migrate", "--dsn", empty_dsn]) == 0
    db = Database(Secret(empty_dsn))
    try:
        await db.open()
        async with db.connection() as connection:
            assert await missing_migrations(connection) == []
            assert await connection.fetchval("SELECT count(*) FROM feeds") == 0
    finally:
        await db.close()


async def test_the_users_command_asks_for_jobstream_migrate_on_an_unmigrated_database(
    empty_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await asyncio.to_thread(main, ["users", "list", "--dsn", empty_dsn])

    assert code != 0
    assert "jobstream migrate" in capsys.readouterr().err
    assert not await _has_ledger(empty_dsn)


async def test_a_schema_newer_than_the_code_is_accepted(empty_dsn: str) -> None:
    """A rolling deploy migrates first: the replicas still on the older code keep starting."""
    await apply_migrations(empty_dsn)
    connection = await asyncpg.connect(empty_dsn)
    try:
        await connection.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future')"
        )
    finally:
        await connection.close()
    db = Database(Secret(empty_dsn))
    try:
        await db.open()
    finally:
        await db.close()


async def test_concurrent_first_uses_open_one_checked_pool(empty_dsn: str) -> None:
    await apply_migrations(empty_dsn)
    db = Database(Secret(empty_dsn))
    try:
        pools = await asyncio.gather(db.pool(), db.pool(), db.open(), db.pool())
        assert pools[0] is pools[1] is pools[3]
    finally:
        await db.close()
