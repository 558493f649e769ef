"""Bring the whole local stack up, report on it, and take it down again."""

from __future__ import annotations

import asyncio
import fcntl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

from cli.stack import kafka, postgres_server
from cli.stack.config import BROKER_COUNTS, StackConfig
from cli.stack.probes import Probe, port_accepts, probe_kafka, probe_postgres
from cli.stack.processes import is_alive, tail
from schemas.topics import CATALOGUE, TopicSpec
from services.shared.durability import TopicSettings
from services.shared.postgres import apply_migrations
from services.shared.topic_admin import admin_client, create_topics

KAFKA_START_TIMEOUT_S = 90.0
MAX_REBINDS = 3  # starts again of a node whose port was taken at the moment it bound


class StackError(RuntimeError):
    """A component could not be started, with what the user needs to fix it."""


@dataclass(frozen=True, slots=True)
class StackInfo:
    """How to reach a running stack and what `up` had to do to get there."""

    bootstrap: str
    dsn: str
    kafka_pid: int  # node 1's
    postgres_pid: int
    created_topics: tuple[str, ...]
    applied_migrations: tuple[str, ...]
    kafka_pids: tuple[int, ...] = ()  # every broker's, node 1 first


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


def broker_name(config: StackConfig, node: int) -> str:
    return "kafka" if config.brokers == 1 else f"kafka-{node}"


def topic_settings(config: StackConfig) -> TopicSettings:
    """Replication as the broker count allows: 1/1 on one broker, 3/2 on the cluster."""
    return TopicSettings(config.replication_factor, config.min_insync_replicas)


def _other_layouts(config: StackConfig) -> list[StackConfig]:
    return [replace(config, brokers=count) for count in BROKER_COUNTS if count != config.brokers]


def _refuse_other_layout(config: StackConfig) -> None:
    for other in _other_layouts(config):
        if any(kafka.running_pid(other, node) for node in other.kafka_nodes):
            raise StackError(
                f"a {other.brokers}-broker Kafka runs in {config.state_dir}; "
                f"`jobstream stack down` before starting {config.brokers} broker(s) there"
            )


async def _start_kafka(config: StackConfig) -> list[int]:
    """Every node not yet running is prepared and started; returns all nodes' pids."""
    _refuse_other_layout(config)
    pids: list[int] = []
    for node in config.kafka_nodes:
        pid = kafka.running_pid(config, node)
        if pid is None:
            port, controller_port = config.node_ports(node)
            name = broker_name(config, node)
            _refuse_foreign_port(name, port, "JOBSTREAM_KAFKA_PORT")
            _refuse_foreign_port(f"{name} controller", controller_port, "JOBSTREAM_KAFKA_PORT")
            await asyncio.to_thread(kafka.prepare, config, node)
            pid = kafka.start(config, node)
        pids.append(pid)
    return pids


async def _registered_brokers(bootstrap: str) -> int:
    async with admin_client(bootstrap, timeout_ms=5_000) as admin:
        return len((await admin.describe_cluster())["brokers"])


async def _broker_probes(config: StackConfig, timeout_s: float = 10.0) -> list[Probe]:
    """Each node asked on its own port, in node order."""
    addresses = [f"127.0.0.1:{_broker_port(config, node)}" for node in config.kafka_nodes]
    return list(await asyncio.gather(*(probe_kafka(a, timeout_s) for a in addresses)))


def _broker_port(config: StackConfig, node: int) -> int:
    return config.node_ports(node)[0]


async def _silent_brokers(config: StackConfig) -> list[tuple[str, Probe]]:
    """Nodes that do not answer on their own port. The cluster's metadata still lists a
    killed node for a while, so a registered count alone would pass too early."""
    probes = await _broker_probes(config, timeout_s=5.0)
    return [
        (broker_name(config, node), probe)
        for node, probe in zip(config.kafka_nodes, probes, strict=True)
        if not probe.answers
    ]


async def _wait_for_kafka(config: StackConfig, pids: Sequence[int]) -> list[int]:
    """Until every broker has registered (topics with 3 replicas need all three); returns
    the nodes' pids (a node started again has a new one)."""
    deadline = time.monotonic() + KAFKA_START_TIMEOUT_S * config.brokers
    detail = "not probed yet"
    pids = list(pids)
    rebinds = dict.fromkeys(config.kafka_nodes, 0)
    while time.monotonic() < deadline:
        for index, node in enumerate(config.kafka_nodes):
            if is_alive(pids[index]):
                continue
            if not _lost_its_port(config, node) or rebinds[node] >= MAX_REBINDS:
                raise _kafka_failure(config, node, "the broker process exited")
            rebinds[node] += 1
            pids[index] = kafka.start(config, node)
        silent = await _silent_brokers(config)
        detail = ", ".join(f"{name}: {probe.detail}" for name, probe in silent)
        if not silent:
            try:
                seen = await asyncio.wait_for(_registered_brokers(config.bootstrap), 10.0)
            except Exception as error:  # not all up yet: ask again until the deadline
                seen, detail = 0, f"{type(error).__name__}: {error}"
            if seen >= config.brokers:
                return pids
            detail = f"{seen} of {config.brokers} brokers registered"
        await asyncio.sleep(0.5)
    raise _kafka_failure(config, 1, f"no answer within the start timeout ({detail})")


def _lost_its_port(config: StackConfig, node: int) -> bool:
    """A node's port can be briefly held by a connection to itself: the other nodes dial its
    controller port before it listens, and a port in the ephemeral range may be given to such
    a dial as its own source port. Starting again a moment later then succeeds."""
    return "java.net.BindException" in tail(kafka.log_path(config, node), lines=200)


def _kafka_failure(config: StackConfig, node: int, reason: str) -> StackError:
    log = kafka.log_path(config, node)
    name = broker_name(config, node)
    return StackError(f"{name} did not start: {reason}\n--- tail of {log} ---\n{tail(log)}")


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
            kafka_pids = await _start_kafka(config)  # the JVMs boot while postgres starts
            config.brokers_file.write_text(f"{config.brokers}\n")
            postgres_pid = await _start_postgres(config)
            kafka_pids = await _wait_for_kafka(config, kafka_pids)
        except (kafka.KafkaError, postgres_server.PostgresError) as error:
            raise StackError(str(error)) from error
        created = await create_topics(config.bootstrap, topics, topic_settings(config))
        applied = await apply_migrations(config.dsn)
    return StackInfo(
        config.bootstrap,
        config.dsn,
        kafka_pids[0],
        postgres_pid,
        tuple(created),
        tuple(applied),
        tuple(kafka_pids),
    )


async def shut_down(config: StackConfig) -> dict[str, int | None]:
    """Stop what this stack started (by recorded, verified pid); fine when nothing runs."""
    stopped: dict[str, int | None] = {}
    async with _exclusive(config):
        # All nodes at once: each one's controlled shutdown needs the others' quorum.
        pids = await asyncio.gather(
            *(asyncio.to_thread(kafka.stop, config, node) for node in config.kafka_nodes)
        )
        for node, pid in zip(config.kafka_nodes, pids, strict=True):
            stopped[broker_name(config, node)] = pid
        for other in _other_layouts(config):  # brokers of a layout the caller did not name
            for node in other.kafka_nodes:
                if (pid := await asyncio.to_thread(kafka.stop, other, node)) is not None:
                    stopped[broker_name(other, node)] = pid
        stopped["postgres"] = await asyncio.to_thread(postgres_server.stop, config)
    return stopped


async def status(config: StackConfig) -> list[ComponentStatus]:
    """Each component with its port, our pid (if running) and whether it really answers."""
    kafka_probes, postgres_probe = await asyncio.gather(
        _broker_probes(config), probe_postgres(config.dsn)
    )
    brokers = [
        _component(
            broker_name(config, node),
            _broker_port(config, node),
            kafka.running_pid(config, node),
            probe,
        )
        for node, probe in zip(config.kafka_nodes, kafka_probes, strict=True)
    ]
    postgres_pid = postgres_server.running_pid(config)
    return [*brokers, _component("postgres", config.pg_port, postgres_pid, postgres_probe)]


def _component(name: str, port: int, pid: int | None, probe: Probe) -> ComponentStatus:
    return ComponentStatus(name, port, pid, probe.answers, probe.detail)
