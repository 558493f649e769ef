"""The real local stack in a throwaway state dir on non-default ports: up, status, down."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cli.stack import StackConfig, StackInfo, ensure_up, shut_down, status
from cli.stack.processes import is_alive, read_cmdline
from schemas.topics import CATALOGUE, DEDUPE_PASS1_CHANGELOG
from services.shared.postgres import apply_migrations, discover_migrations, open_pool
from services.shared.topic_admin import admin_client, create_topics, list_topics

pytestmark = pytest.mark.integration

KAFKA_PORT, PG_PORT = 29092, 25432


def _processes_using(state_dir: Path) -> list[int]:
    """Every live process whose command line mentions the state dir: what `down` must stop."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if is_alive(pid) and str(state_dir) in " ".join(read_cmdline(pid))]


@pytest.fixture(scope="module")
def config() -> StackConfig:
    # Not pytest's tmp_path: it sits under a 0700 directory the postgres user cannot enter.
    state_dir = Path(tempfile.mkdtemp(prefix="jobstream-stack-test-"))
    state_dir.chmod(0o755)
    return dataclasses.replace(
        StackConfig.from_env(),
        state_dir=state_dir,
        kafka_port=KAFKA_PORT,
        kafka_controller_port=KAFKA_PORT + 1,
        pg_port=PG_PORT,
    )


@pytest.fixture(scope="module")
async def stack(config: StackConfig) -> AsyncIterator[StackInfo]:
    try:
        yield await ensure_up(config)
    finally:
        await shut_down(config)
        shutil.rmtree(config.state_dir, ignore_errors=True)


async def test_every_component_answers(stack: StackInfo, config: StackConfig) -> None:
    components = {c.name: c for c in await status(config)}
    assert components["kafka"].answers and components["kafka"].pid == stack.kafka_pid
    assert components["postgres"].answers and components["postgres"].pid == stack.postgres_pid
    assert (config.logs_dir / "kafka.log").stat().st_size > 0


async def test_catalogue_topics_exist_with_their_partition_counts(stack: StackInfo) -> None:
    topics = await list_topics(stack.bootstrap)
    assert topics == {spec.name: spec.partitions for spec in CATALOGUE}


async def test_an_existing_topic_is_given_the_catalogues_configs(stack: StackInfo) -> None:
    """A changelog created before it expired by age gets `compact,delete` on the next run."""
    old = dataclasses.replace(
        DEDUPE_PASS1_CHANGELOG, name=f"configs-{uuid.uuid4().hex[:8]}", compacted=False
    )
    new = dataclasses.replace(old, compacted=True)
    assert await create_topics(stack.bootstrap, [old]) == [old.name]
    for _ in range(50):  # until the broker's metadata lists it
        if old.name in await list_topics(stack.bootstrap):
            break
        await asyncio.sleep(0.1)
    assert await create_topics(stack.bootstrap, [new]) == []  # exists: configs only
    resource = ConfigResource(ConfigResourceType.TOPIC, new.name)
    async with admin_client(stack.bootstrap) as admin:
        (response,) = await admin.describe_configs([resource])
        await admin.delete_topics([new.name])
    (described,) = response.resources
    configs = {entry[0]: entry[1] for entry in described[4]}
    assert configs["cleanup.policy"] == "compact,delete"
    assert configs["retention.ms"] == str(new.retention_ms)


async def test_migrations_are_applied_and_recorded(stack: StackInfo) -> None:
    connection = await asyncpg.connect(stack.dsn)
    try:
        versions = await connection.fetch("SELECT name FROM schema_migrations ORDER BY version")
        feeds_table = await connection.fetchval("SELECT to_regclass('public.feeds')::text")
    finally:
        await connection.close()
    assert [row["name"] for row in versions] == [m.name for m in discover_migrations()]
    assert feeds_table == "feeds"


async def test_up_again_reuses_the_running_processes(stack: StackInfo, config: StackConfig) -> None:
    again = await ensure_up(config)
    assert (again.kafka_pid, again.postgres_pid) == (stack.kafka_pid, stack.postgres_pid)
    assert again.created_topics == () and again.applied_migrations == ()


async def test_concurrent_migrators_apply_each_migration_once(config: StackConfig) -> None:
    admin = await asyncpg.connect(host=str(config.pg_socket_dir), port=PG_PORT, user="postgres")
    try:
        await admin.execute('CREATE DATABASE "race" OWNER "jobstream"')
    finally:
        await admin.close()
    dsn = config.dsn.rsplit("/", 1)[0] + "/race"
    first, second = await asyncio.gather(apply_migrations(dsn), apply_migrations(dsn))
    applied = first + second
    assert sorted(applied) == sorted(set(applied)) and "0001_initial" in applied


async def test_pool_reads_and_writes_jsonb_as_python_objects(stack: StackInfo) -> None:
    value = {"skills": ["sql", "kafka"], "score": 0.5}
    async with open_pool(stack.dsn, min_size=1, max_size=2) as pool:
        assert await pool.fetchval("SELECT $1::jsonb", value) == value
        assert await pool.fetchval("""SELECT '{"a": [1]}'::json""") == {"a": [1]}


def test_cli_status_exits_zero_when_all_answer(stack: StackInfo, config: StackConfig) -> None:
    result = _cli(config, "stack", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kafka" in result.stdout and "postgres" in result.stdout


def _cli(config: StackConfig, *args: str) -> subprocess.CompletedProcess[str]:
    location = ["--state-dir", str(config.state_dir), "--kafka-port", str(KAFKA_PORT),
                "--pg-port", str(PG_PORT)]  # fmt: skip
    command = [sys.executable, "-m", "cli.main", *args, *location]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


async def test_down_leaves_no_process_of_ours_and_is_repeatable(
    stack: StackInfo, config: StackConfig
) -> None:
    stopped = await shut_down(config)
    assert stopped == {"kafka": stack.kafka_pid, "postgres": stack.postgres_pid}
    assert _processes_using(config.state_dir) == []
    assert not is_alive(stack.kafka_pid) and not is_alive(stack.postgres_pid)
    assert await shut_down(config) == {"kafka": None, "postgres": None}
    down_status = _cli(config, "stack", "status")
    assert down_status.returncode == 1
