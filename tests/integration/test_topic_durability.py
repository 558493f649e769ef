"""`jobstream topics create` on the real broker: durability settings applied, drift reported.

The test stack has one broker, so topics with replication factor 3 cannot be created here:
that is shown as the broker's refusal, and RF drift is shown on an existing RF-1 topic judged
against the cluster profile (3/2). Creating RF 3 / min ISR 2 for real needs three brokers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from cli.stack import StackInfo
from schemas.topics import CATALOGUE, DEDUPE_PASS1_CHANGELOG, JOBS_RAW, TopicSpec
from services.shared.durability import TopicSettings
from services.shared.topic_admin import (
    TopicAdminError,
    admin_client,
    reconcile_topics,
)

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


async def _described(bootstrap: str, name: str) -> tuple[int, int, dict[str, str]]:
    """Partitions, the smallest replica count and the topic-level (non-default) configs."""
    async with admin_client(bootstrap) as admin:
        for _ in range(50):  # until the broker's metadata has its partitions
            (topic,) = await admin.describe_topics([name])
            if topic["partitions"]:
                break
            await asyncio.sleep(0.1)
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
    (resource,) = response.resources
    # (name, value, read_only, config_source, is_sensitive, synonyms); source 1 is the topic's
    set_on_topic = {entry[0]: entry[1] for entry in resource[4] if entry[3] == 1}
    replicas = min(len(p["replicas"]) for p in topic["partitions"])
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
    partitions, _, configs = await _described(stack.bootstrap, spec.name)
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
    assert (await _described(stack.bootstrap, spec.name))[2]["min.insync.replicas"] == "1"


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
