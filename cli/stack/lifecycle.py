"""Bring the whole local stack up, report on it, and take it down again."""

from __future__ import annotations

import asyncio
import fcntl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from cli.stack import kafka, postgres_server
from cli.stack.config import StackConfig
from cli.stack.probes import Probe, port_accepts, probe_kafka, probe_postgres
from cli.stack.processes import is_alive, tail
from schemas.topics import CATALOGUE, TopicSpec
from services.shared.postgres import apply_migrations
from services.shared.topic_admin import create_topics

KAFKA_START_TIMEOUT_S = 90.0


class StackError(RuntimeError):
    """A component could not be started, with what the user needs to fix it."""


@dataclass(frozen=True, slots=True)
class StackInfo:
    """How to reach a running stack and what `up` had to do to get there."""

    bootstrap: str
    dsn: str
    kafka_pid: int
    postgres_pid: int
    created_topics: tuple[str, ...]
    applied_migrations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    port: int
    pid: int | None
    answers: bool
    detail: str


@asynccontextmanager
async def _exclusive(config: StackConfig) -> AsyncIterator[None]:
    # Two `up`/`down` at once on one state dir would race on pid files and formatting.
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with (config.state_dir / "stack.lock").open("w") as lock_file:
        await asyncio.to_thread(fcntl.flock, lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _refuse_foreign_port(name: str, port: int, variable: str) -> None:
    if port_accepts(port):
        raise StackError(
            f"{name}: port {port} is already taken by a process this stack did not start; "
            f"stop it or choose another port with {variable}"
        )


async def _start_kafka(config: StackConfig) -> int:
    pid = kafka.running_pid(config)
    if pid is not None:
        return pid
    _refuse_foreign_port("kafka", config.kafka_port, "JOBSTREAM_KAFKA_PORT")
    _refuse_foreign_port(
        "kafka controller", config.kafka_controller_port, "JOBSTREAM_KAFKA_CONTROLLER_PORT"
    )
    await asyncio.to_thread(kafka.prepare, config)
    return kafka.start(config)


async def _wait_for_kafka(config: StackConfig, pid: int) -> None:
    deadline = time.monotonic() + KAFKA_START_TIMEOUT_S
    probe = Probe(False, "not probed yet")
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise _kafka_failure(config, "the broker process exited")
        probe = await probe_kafka(config.bootstrap, timeout_s=5.0)
        if probe.answers:
            return
        await asyncio.sleep(0.5)
    raise _kafka_failure(config, f"no answer within {KAFKA_START_TIMEOUT_S:.0f}s ({probe.detail})")


def _kafka_failure(config: StackConfig, reason: str) -> StackError:
    log = kafka.log_path(config)
    return StackError(f"kafka did not start: {reason}\n--- tail of {log} ---\n{tail(log)}")


async def _start_postgres(config: StackConfig) -> int:
    pid = postgres_server.running_pid(config)
    if pid is None:
        _refuse_foreign_port("postgres", config.pg_port, "JOBSTREAM_PG_PORT")
        bin_dir = await asyncio.to_thread(postgres_server.prepare, config)
        pid = await asyncio.to_thread(postgres_server.start, config, bin_dir)
    await postgres_server.create_database(config)
    probe = await probe_postgres(config.dsn)
    if not probe.answers:
        log = postgres_server.log_path(config)
        raise StackError(f"postgres does not answer: {probe.detail}\n--- {log} ---\n{tail(log)}")
    return pid


async def ensure_up(config: StackConfig, topics: Sequence[TopicSpec] = CATALOGUE) -> StackInfo:
    """Start whatever is not running, wait until all answers, create topics, migrate.

    Idempotent: on a running stack it only verifies and returns the same addresses.
    """
    async with _exclusive(config):
        try:
            if postgres_server.running_pid(config) is None:
                postgres_server.preflight(config)
            kafka_pid = await _start_kafka(config)  # the JVM boots while postgres starts
            postgres_pid = await _start_postgres(config)
            await _wait_for_kafka(config, kafka_pid)
        except (kafka.KafkaError, postgres_server.PostgresError) as error:
            raise StackError(str(error)) from error
        created = await create_topics(config.bootstrap, topics)
        applied = await apply_migrations(config.dsn)
    return StackInfo(
        config.bootstrap, config.dsn, kafka_pid, postgres_pid, tuple(created), tuple(applied)
    )


async def shut_down(config: StackConfig) -> dict[str, int | None]:
    """Stop what this stack started (by recorded, verified pid); fine when nothing runs."""
    async with _exclusive(config):
        stopped_kafka = await asyncio.to_thread(kafka.stop, config)
        stopped_postgres = await asyncio.to_thread(postgres_server.stop, config)
    return {"kafka": stopped_kafka, "postgres": stopped_postgres}


async def status(config: StackConfig) -> list[ComponentStatus]:
    """Each component with its port, our pid (if running) and whether it really answers."""
    kafka_probe, postgres_probe = await asyncio.gather(
        probe_kafka(config.bootstrap), probe_postgres(config.dsn)
    )
    return [
        _component("kafka", config.kafka_port, kafka.running_pid(config), kafka_probe),
        _component("postgres", config.pg_port, postgres_server.running_pid(config), postgres_probe),
    ]


def _component(name: str, port: int, pid: int | None, probe: Probe) -> ComponentStatus:
    return ComponentStatus(name, port, pid, probe.answers, probe.detail)
