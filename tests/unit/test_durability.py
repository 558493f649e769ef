"""Durability: every producer is idempotent with acks=all; topic settings (local and cluster)."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaProducer

from schemas.topics import (
    CATALOGUE,
    DEDUPE_PASS1_CHANGELOG,
    DEDUPE_PASS2_CHANGELOG,
    JOBS_ENRICHED,
    JOBS_RAW,
    RUNS_EVENTS,
)
from services.shared import topic_admin
from services.shared.durability import DURABLE_PRODUCER, TopicSettings
from services.shared.settings import SettingsError, StreamSettings
from services.shared.streaming import create_app
from services.shared.topic_admin import Drift, TopicReport, new_topic

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_CODE = ("services", "cli", "schemas")


def _is_idempotent_with_acks_all(producer: AIOKafkaProducer) -> bool:
    # aiokafka keeps a transaction manager exactly when idempotence is on; -1 is acks=all
    return producer._txn_manager is not None and producer._sender._acks == -1


@pytest.fixture
async def faust_producer(tmp_path: Path) -> AsyncIterator[AIOKafkaProducer]:
    settings = StreamSettings.from_env(
        {"FAUST_DATA_DIR": str(tmp_path), "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
        default_web_port=18199,
    )
    app = create_app("durability-test", settings)
    # the aiokafka producer the worker would start
    producer: AIOKafkaProducer = app.producer._new_producer()  # type: ignore[attr-defined]
    yield producer
    await producer.stop()


async def test_the_services_producer_is_idempotent_with_acks_all(
    faust_producer: AIOKafkaProducer,
) -> None:
    assert _is_idempotent_with_acks_all(faust_producer)


async def test_the_durable_options_give_aiokafka_an_idempotent_acks_all_producer() -> None:
    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", **DURABLE_PRODUCER)
    try:
        assert _is_idempotent_with_acks_all(producer)
    finally:
        await producer.stop()
    plain = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", acks="all")
    try:
        assert not _is_idempotent_with_acks_all(plain)  # aiokafka's default: no idempotence
    finally:
        await plain.stop()


def _producer_calls() -> list[tuple[str, ast.Call]]:
    calls = []
    for folder in PRODUCT_CODE:
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id == "AIOKafkaProducer"
                ):
                    calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_every_producer_in_the_product_is_built_with_the_durable_options() -> None:
    calls = _producer_calls()
    assert len(calls) >= 4  # the API, trigger, dead-letter redrive and replay producers
    for where, call in calls:
        spread = [k.value for k in call.keywords if k.arg is None]
        assert any(isinstance(v, ast.Name) and v.id == "DURABLE_PRODUCER" for v in spread), where
        overridden = {k.arg for k in call.keywords} & {"acks", "enable_idempotence"}
        assert not overridden, f"{where} overrides {overridden}"


def test_local_defaults_are_one_replica_and_one_in_sync() -> None:
    settings = TopicSettings.from_env({})
    assert (settings.replication_factor, settings.min_insync_replicas) == (1, 1)
    assert [settings.sized(spec) for spec in CATALOGUE] == list(CATALOGUE)


def test_the_cluster_profile_creates_three_replicas_two_in_sync() -> None:
    cluster = TopicSettings.from_env(
        {"KAFKA_REPLICATION_FACTOR": "3", "KAFKA_MIN_INSYNC_REPLICAS": "2"}
    )
    topic = new_topic(JOBS_RAW, cluster)
    assert topic.replication_factor == 3
    assert topic.topic_configs["min.insync.replicas"] == "2"
    assert topic.topic_configs["retention.ms"] == str(JOBS_RAW.retention_ms)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KAFKA_REPLICATION_FACTOR": "1", "KAFKA_MIN_INSYNC_REPLICAS": "2"}, "MIN_INSYNC"),
        ({"KAFKA_REPLICATION_FACTOR": "0"}, "REPLICATION_FACTOR"),
        ({"KAFKA_MIN_INSYNC_REPLICAS": "0"}, "MIN_INSYNC"),
        ({"KAFKA_JOB_PARTITIONS": "-3"}, "JOB_PARTITIONS"),
        ({"KAFKA_REPLICATION_FACTOR": "three"}, "REPLICATION_FACTOR"),
    ],
)
def test_impossible_durability_settings_are_refused(env: dict[str, str], named: str) -> None:
    """min ISR above the replication factor would refuse every acks=all write."""
    with pytest.raises(SettingsError, match=named):
        TopicSettings.from_env(env)


def test_job_partitions_size_each_job_topic_with_its_changelog_and_nothing_else() -> None:
    settings = TopicSettings.from_env({"KAFKA_JOB_PARTITIONS": "12"})
    sized = {spec.name: settings.sized(spec).partitions for spec in CATALOGUE}
    assert sized[JOBS_RAW.name] == sized[DEDUPE_PASS1_CHANGELOG.name] == 12
    assert sized[JOBS_ENRICHED.name] == sized[DEDUPE_PASS2_CHANGELOG.name] == 12
    assert sized[RUNS_EVENTS.name] == RUNS_EVENTS.partitions
    assert sized[f"{JOBS_RAW.name}.dlq"] == 1


def test_only_drift_no_one_could_reconcile_is_unresolved() -> None:
    partitions = Drift("jobs.raw", "partitions", "2", "6", reconciled=False)
    retention = Drift("jobs.raw", "retention.ms", "3600000", "604800000", reconciled=True)
    report = TopicReport([], [partitions, retention])
    assert report.unresolved == [partitions]
    assert "NOT changed" in str(partitions) and "reconciled" in str(retention)


def test_the_stream_settings_read_the_bind_address_and_replication() -> None:
    settings = StreamSettings.from_env(
        {"WEB_HOST": "0.0.0.0", "KAFKA_REPLICATION_FACTOR": "3"}, default_web_port=1
    )
    assert (settings.web_host, settings.replication_factor) == ("0.0.0.0", 3)
    assert StreamSettings.from_env({}, default_web_port=1).web_host == "127.0.0.1"


def test_the_services_web_server_binds_the_configured_address(tmp_path: Path) -> None:
    settings = StreamSettings.from_env(
        {"FAUST_DATA_DIR": str(tmp_path), "WEB_HOST": "0.0.0.0"}, default_web_port=18198
    )
    app = create_app("bind-test", settings)
    assert app.conf.web_bind == "0.0.0.0"


def test_a_topic_the_listing_missed_but_the_broker_had_counts_as_existing_not_created() -> None:
    # CreateTopics answers (name, error code, message): 36 is "already exists"
    response = SimpleNamespace(topic_errors=[("jobs.raw", 0, None), ("jobs.routed", 36, "exists")])
    assert topic_admin._created_topics(response) == ["jobs.raw"]


def test_a_refused_topic_creation_names_the_topic_and_the_reason() -> None:
    response = SimpleNamespace(topic_errors=[("jobs.raw", 38, "replication factor 3 > 1 broker")])
    with pytest.raises(topic_admin.TopicAdminError, match=r"jobs\.raw: replication factor 3"):
        topic_admin._created_topics(response)
