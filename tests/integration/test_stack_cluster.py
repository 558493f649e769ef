"""`jobstream stack up --brokers 3`: three KRaft brokers in one quorum, topics 3 / 2.

Uses the session's three-broker stack (tests/conftest.py `cluster_stack`), which the e2e
broker-failure test shares, so the cluster boots once per test session.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cli.stack import StackConfig, StackInfo, ensure_up, status
from cli.stack import kafka as kafka_nodes
from cli.stack.processes import is_alive, read_cmdline, wait_until_gone
from schemas.topics import CATALOGUE
from services.shared.topic_admin import admin_client

pytestmark = pytest.mark.integration


async def test_three_brokers_and_postgres_answer_each_on_its_own_port(
    cluster_stack: StackInfo, cluster_stack_config: StackConfig
) -> None:
    components = {c.name: c for c in await status(cluster_stack_config)}
    assert sorted(components) == ["kafka-1", "kafka-2", "kafka-3", "postgres"]
    assert all(c.answers for c in components.values()), components
    pids = [components[f"kafka-{node}"].pid for node in (1, 2, 3)]
    assert pids == list(cluster_stack.kafka_pids) and len(set(pids)) == 3
    assert len({components[f"kafka-{node}"].port for node in (1, 2, 3)}) == 3
    for node, pid in zip((1, 2, 3), pids, strict=True):
        argv = read_cmdline(pid or 0)
        assert f"-Xmx{cluster_stack_config.kafka_heap}" in argv  # a small heap each
        assert kafka_nodes.log_path(cluster_stack_config, node).stat().st_size > 0
    assert cluster_stack.bootstrap.count(",") == 2


async def test_catalogue_topics_have_three_replicas_and_min_isr_two(
    cluster_stack: StackInfo,
) -> None:
    names = [spec.name for spec in CATALOGUE]
    async with admin_client(cluster_stack.bootstrap) as admin:
        described = await admin.describe_topics(names)
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        responses = await admin.describe_configs(resources)
    replicas = {
        topic["topic"]: {len(partition["replicas"]) for partition in topic["partitions"]}
        for topic in described
    }
    assert replicas == {name: {3} for name in names}
    min_isr = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}["min.insync.replicas"]
        for response in responses
        for resource in response.resources
    }
    assert min_isr == dict.fromkeys(names, "2")


async def test_a_killed_broker_shows_in_status_and_up_restarts_only_it(
    cluster_stack: StackInfo, cluster_stack_config: StackConfig
) -> None:
    victim = cluster_stack.kafka_pids[2]
    os.kill(victim, signal.SIGKILL)
    assert wait_until_gone(victim, 10.0)
    components = {c.name: c for c in await status(cluster_stack_config)}
    assert not components["kafka-3"].answers and components["kafka-3"].pid is None
    assert components["kafka-1"].answers and components["kafka-2"].answers
    assert _cli(cluster_stack_config, "stack", "status").returncode == 1

    healed = await ensure_up(cluster_stack_config)
    assert healed.kafka_pids[:2] == cluster_stack.kafka_pids[:2]
    assert healed.kafka_pids[2] != victim
    assert all(c.answers for c in await status(cluster_stack_config))


def test_cli_status_knows_all_three_brokers_from_the_state_dir(
    cluster_stack: StackInfo, cluster_stack_config: StackConfig
) -> None:
    result = _cli(cluster_stack_config, "stack", "status")  # no --brokers: remembered
    assert result.returncode == 0, result.stdout + result.stderr
    for node in (1, 2, 3):
        assert f"kafka-{node}" in result.stdout


def test_cli_down_stops_every_broker_and_postgres(
    cluster_stack: StackInfo, cluster_stack_config: StackConfig
) -> None:
    """Last: a later test that needs the cluster gets it started again by `cluster_stack`."""
    result = _cli(cluster_stack_config, "stack", "down")  # no --brokers: remembered
    assert result.returncode == 0, result.stdout + result.stderr
    for node, pid in zip((1, 2, 3), cluster_stack.kafka_pids, strict=True):
        assert re.search(rf"^kafka-{node}\s+stopped pid {pid}$", result.stdout, re.MULTILINE)
        assert not is_alive(pid)
    assert not is_alive(cluster_stack.postgres_pid)
    state = str(cluster_stack_config.state_dir)
    leftovers = [p for p in _live_pids() if state in " ".join(read_cmdline(p))]
    assert leftovers == []


def _live_pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _cli(config: StackConfig, *args: str) -> subprocess.CompletedProcess[str]:
    location = ["--state-dir", str(config.state_dir), "--kafka-port", str(config.kafka_port),
                "--pg-port", str(config.pg_port)]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "JOBSTREAM_KAFKA_BROKERS"}
    command = [sys.executable, "-m", "cli.main", *args, *location]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=120, env=env
    )
