"""`jobstream topics create` on real brokers: durability settings applied, drift reported.

On the test stack's single broker: the local profile (1/1), drift of partitions, configs and
replication judged against the cluster profile, and RF 3 refused. On a throwaway cluster of
three KRaft brokers (tests/integration/kafka_cluster.py): the cluster profile (3/2) created
for real, a topic made otherwise reported, and acks=all surviving one broker's loss.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Collection, Mapping

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cli.stack import StackConfig, StackInfo
from schemas.topics import CATALOGUE, DEDUPE_PASS1_CHANGELOG, JOBS_RAW, JOBS_ROUTED, TopicSpec
from services.shared.durability import DURABLE_PRODUCER, TopicSettings
from services.shared.topic_admin import (
    TopicAdminError,
    admin_client,
    reconcile_topics,
)
from tests.integration.kafka_cluster import KafkaCluster, remove, started_cluster

pytestmark = pytest.mark.integration

CLUSTER = TopicSettings(replication_factor=3, min_insync_replicas=2)
HOUR_MS = 3_600_000


def _scratch(spec: TopicSpec) -> TopicSpec:
    return dataclasses.replace(spec, name=f"durability-{uuid.uuid4().hex[:10]}")


@pytest.fixture
async def scratch_names(stack: StackInfo) -> AsyncIterator[list[str]]:
    names: list[str] = []
    yield names
    if names:
        async with admin_client(stack.bootstrap) as admin:
            await admin.delete_topics(names)


async def _described(
    bootstrap: str,
    name: str,
    settled_on: Collection[str] = (),
    expected: Mapping[str, str] | None = None,
) -> tuple[int, int, dict[str, str]]:
    """Partitions, the smallest replica count and the topic-level (non-default) configs.

    Each admin request may go to a different broker, and brokers apply the metadata log at
    their own pace (an altered config too): ask again until the partitions and the settled_on
    configs are reported, with the expected values.
    """
    expected = expected or {}
    async with admin_client(bootstrap) as admin:
        for _ in range(50):
            (topic,) = await admin.describe_topics([name])
            resource = ConfigResource(ConfigResourceType.TOPIC, name)
            ((*_, entries),) = (await admin.describe_configs([resource]))[0].resources
            # (name, value, read_only, config_source, is_sensitive, synonyms); 1 = the topic's
            set_on_topic = {entry[0]: entry[1] for entry in entries if entry[3] == 1}
            if (
                topic["partitions"]
                and all(key in set_on_topic for key in settled_on)
                and all(set_on_topic.get(key) == value for key, value in expected.items())
            ):
                break
            await asyncio.sleep(0.1)
    replicas = min((len(p["replicas"]) for p in topic["partitions"]), default=0)
    return len(topic["partitions"]), replicas, set_on_topic


async def test_create_applies_replication_min_isr_partitions_and_retention(
    stack: StackInfo, scratch_names: list[str]
) -> None:
    spec = _scratch(JOBS_RAW)
    scratch_names.append(spec.name)
    settings = TopicSettings(replication_factor=1, min_insync_replicas=1)
    report = await reconcile_topics(stack.bootstrap, [spec], settings)
    assert report.created == [spec.name] and report.drift == []
    partitions, replicas, configs = await _described(stack.bootstrap, spec.name)
    assert (partitions, replicas) == (spec.partitions, 1)
    assert configs["min.insync.replicas"] == "1"  # set on the topic, not the broker's default
    assert configs["retention.ms"] == str(JOBS_RAW.retention_ms)


async def test_a_topic_created_otherwise_is_reported_and_its_configs_reconciled(
    stack: StackInfo, scratch_names: list[str]
) -> None:
    spec = _scratch(DEDUPE_PASS1_CHANGELOG)
    scratch_names.append(spec.name)
    async with admin_client(stack.bootstrap) as admin:  # by hand: 2 partitions, 1 h, delete
        await admin.create_topics(
            [NewTopic(spec.name, 2, 1, topic_configs={"retention.ms": str(HOUR_MS)})]
        )
    await _described(stack.bootstrap, spec.name)  # wait until it is listed

    report = await reconcile_topics(stack.bootstrap, [spec])

    found = {d.setting: d for d in report.drift}
    assert report.created == []
    assert (found["partitions"].actual, found["partitions"].wanted) == ("2", "6")
    assert found["retention.ms"].actual == str(HOUR_MS) and found["retention.ms"].reconciled
    assert found["cleanup.policy"].wanted == "compact,delete"
    assert report.unresolved == [found["partitions"]]  # repartitioning is left to an operator
    reconciled = {"retention.ms": str(spec.retention_ms), "cleanup.policy": "compact,delete"}
    partitions, _, configs = await _described(stack.bootstrap, spec.name, expected=reconciled)
    assert partitions == 2
    assert configs["retention.ms"] == str(spec.retention_ms)
    assert configs["cleanup.policy"] == "compact,delete"
    again = await reconcile_topics(stack.bootstrap, [spec])
    assert [d.setting for d in again.drift] == ["partitions"]


async def test_min_isr_drift_is_reconciled_when_the_replicas_allow_it(
    stack: StackInfo, scratch_names: list[str]
) -> None:
    spec = _scratch(JOBS_RAW)
    scratch_names.append(spec.name)
    async with admin_client(stack.bootstrap) as admin:
        await admin.create_topics(
            [NewTopic(spec.name, 6, 1, topic_configs={"min.insync.replicas": "2"})]
        )
    await _described(stack.bootstrap, spec.name)
    report = await reconcile_topics(stack.bootstrap, [spec])  # local: min ISR 1
    (drift,) = report.drift
    assert (drift.setting, drift.actual, drift.wanted, drift.reconciled) == (
        "min.insync.replicas", "2", "1", True,
    )  # fmt: skip
    reconciled = {"min.insync.replicas": "1"}
    _, _, configs = await _described(stack.bootstrap, spec.name, expected=reconciled)
    assert configs["min.insync.replicas"] == "1"


async def test_against_the_cluster_profile_an_rf1_topic_is_drift_and_stays_writable(
    stack: StackInfo, scratch_names: list[str]
) -> None:
    spec = _scratch(JOBS_RAW)
    scratch_names.append(spec.name)
    await reconcile_topics(stack.bootstrap, [spec])  # created locally: RF 1, min ISR 1

    report = await reconcile_topics(stack.bootstrap, [spec], CLUSTER)

    found = {d.setting: d for d in report.drift}
    assert (found["replication factor"].actual, found["replication factor"].wanted) == ("1", "3")
    # min ISR 2 on one replica would refuse every acks=all write: reported, not applied
    assert found["min.insync.replicas"].wanted == "2"
    assert not found["min.insync.replicas"].reconciled
    assert {d.setting for d in report.unresolved} == {"replication factor", "min.insync.replicas"}
    assert (await _described(stack.bootstrap, spec.name))[2].get("min.insync.replicas") != "2"


async def test_replication_factor_3_on_one_broker_is_refused_with_the_reason(
    stack: StackInfo,
) -> None:
    spec = _scratch(JOBS_RAW)
    with pytest.raises(TopicAdminError, match=spec.name) as refused:
        await reconcile_topics(stack.bootstrap, [spec], CLUSTER)
    assert "replication factor" in str(refused.value).lower()


def _topics_create(stack: StackInfo, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", "topics", "create", "--bootstrap", stack.bootstrap]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **env},
    )


def test_the_cli_creates_nothing_on_a_provisioned_broker_and_reports_no_drift(
    stack: StackInfo,
) -> None:
    result = _topics_create(stack)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"created 0 of {len(CATALOGUE)} topics" in result.stdout
    assert "replication factor 1, min.insync.replicas 1" in result.stdout
    assert "drift" not in result.stdout


def test_the_cli_reports_drift_from_the_cluster_profile_and_exits_1(stack: StackInfo) -> None:
    result = _topics_create(
        stack,
        KAFKA_REPLICATION_FACTOR="3",
        KAFKA_MIN_INSYNC_REPLICAS="2",
        KAFKA_JOB_PARTITIONS="12",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    drift = [line for line in result.stdout.splitlines() if line.startswith("drift: ")]
    assert f"drift: {JOBS_RAW.name}: replication factor is 1, wanted 3" in result.stdout
    assert f"drift: {JOBS_RAW.name}: partitions is 6, wanted 12" in result.stdout
    assert len([line for line in drift if "replication factor" in line]) == len(CATALOGUE)


def test_the_cli_refuses_a_min_isr_above_the_replication_factor(stack: StackInfo) -> None:
    result = _topics_create(stack, KAFKA_MIN_INSYNC_REPLICAS="2")
    assert result.returncode != 0
    assert "KAFKA_MIN_INSYNC_REPLICAS" in result.stderr


# --- on three brokers: the cluster profile for real ------------------------------------------


@pytest.fixture(scope="module")
async def three_brokers(stack_config: StackConfig) -> AsyncIterator[KafkaCluster]:
    cluster = await started_cluster(stack_config, base_port=stack_config.kafka_port + 300)
    try:
        yield cluster
    finally:
        remove(cluster)


def _cli_topics_create(bootstrap: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", "topics", "create", "--bootstrap", bootstrap]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=180, env={**os.environ, **env}
    )


CLUSTER_ENV = {"KAFKA_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "2"}
CLUSTER_CONFIGS = ("min.insync.replicas", "retention.ms")


@pytest.mark.timeout(600)
async def test_the_cluster_profile_creates_rf3_min_isr2_and_reports_a_topic_made_otherwise(
    three_brokers: KafkaCluster,
) -> None:
    bootstrap = three_brokers.bootstrap
    async with admin_client(bootstrap) as admin:  # by hand, before: RF 2, 1 h, min ISR 1
        await admin.create_topics(
            [NewTopic(JOBS_ROUTED.name, 6, 2, topic_configs={"retention.ms": str(HOUR_MS)})]
        )
    await _described(bootstrap, JOBS_ROUTED.name)

    result = await asyncio.to_thread(_cli_topics_create, bootstrap, **CLUSTER_ENV)

    assert result.returncode == 1, result.stdout + result.stderr  # RF drift needs an operator
    drift = sorted(line for line in result.stdout.splitlines() if line.startswith("drift: "))
    assert drift == sorted(
        [
            f"drift: {JOBS_ROUTED.name}: replication factor is 2, wanted 3 "
            "(NOT changed: needs an operator)",
            f"drift: {JOBS_ROUTED.name}: min.insync.replicas is 1, wanted 2 (reconciled)",
            f"drift: {JOBS_ROUTED.name}: retention.ms is {HOUR_MS}, wanted "
            f"{JOBS_ROUTED.retention_ms} (reconciled)",
        ]
    )
    assert f"created {len(CATALOGUE) - 1} of {len(CATALOGUE)} topics" in result.stdout
    for spec in CATALOGUE:
        partitions, replicas, configs = await _described(bootstrap, spec.name, CLUSTER_CONFIGS)
        assert partitions == spec.partitions, spec.name
        assert replicas == (2 if spec is JOBS_ROUTED else 3), spec.name
        assert configs["min.insync.replicas"] == "2", spec.name
        assert configs["retention.ms"] == str(spec.retention_ms), spec.name

    again = await asyncio.to_thread(_cli_topics_create, bootstrap, **CLUSTER_ENV)
    assert again.returncode == 1
    replication = next(line for line in drift if "replication factor" in line)
    assert [line for line in again.stdout.splitlines() if line.startswith("drift: ")] == [
        replication  # the configs were reconciled the first time
    ]


@pytest.mark.timeout(600)
async def test_with_min_isr_2_a_write_survives_one_broker_down_and_waits_while_two_are(
    three_brokers: KafkaCluster,
) -> None:
    """acks=all with min ISR 2: one broker may die; with two gone nothing is acknowledged
    until one of them is back (node 1 leads: the partition's replicas are listed 1, 2, 3)."""
    name = _scratch(JOBS_RAW).name
    async with admin_client(three_brokers.bootstrap) as admin:
        configs = {"min.insync.replicas": "2"}
        await admin.create_topics(
            [NewTopic(name, -1, -1, replica_assignments={0: [1, 2, 3]}, topic_configs=configs)]
        )
    await _described(three_brokers.bootstrap, name)
    producer = AIOKafkaProducer(bootstrap_servers=three_brokers.bootstrap, **DURABLE_PRODUCER)
    await producer.start()
    try:
        three_brokers.stop(3)
        await asyncio.wait_for(producer.send_and_wait(name, b"one down", partition=0), 60)

        three_brokers.stop(2)
        pending = asyncio.ensure_future(producer.send_and_wait(name, b"two down", partition=0))
        await asyncio.sleep(15)
        assert not pending.done()  # refused (NotEnoughReplicas) and retried, never acknowledged

        three_brokers.start(2)
        await asyncio.wait_for(pending, 180)  # acknowledged once two replicas are in sync
    finally:
        await asyncio.wait_for(producer.stop(), 60)
