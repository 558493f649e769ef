"""Kafka topic administration: create the catalogue's topics and list what a broker holds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.topics import TopicSpec

# One local broker: a replication factor above 1 could never be satisfied.
REPLICATION_FACTOR = 1


def missing_topics(specs: Iterable[TopicSpec], existing: Iterable[str]) -> list[TopicSpec]:
    """The specs whose topic does not exist yet, in catalogue order."""
    present = set(existing)
    return [spec for spec in specs if spec.name not in present]


def new_topic(spec: TopicSpec) -> NewTopic:
    return NewTopic(
        name=spec.name,
        num_partitions=spec.partitions,
        replication_factor=REPLICATION_FACTOR,
        topic_configs=spec.configs(),
    )


@asynccontextmanager
async def admin_client(
    bootstrap: str, timeout_ms: int = 15_000
) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def create_topics(bootstrap: str, specs: Sequence[TopicSpec]) -> list[str]:
    """Create the topics of specs that are missing; existing ones get the catalogue's configs.

    Returns the names created, so callers can tell a fresh broker from a provisioned one.
    (Partition counts of existing topics are never changed: that would move keys.)
    """
    async with admin_client(bootstrap) as admin:
        todo = missing_topics(specs, await admin.list_topics())
        if todo:
            await admin.create_topics([new_topic(spec) for spec in todo])
        existing = [spec for spec in specs if spec not in todo]
        if existing:  # e.g. a changelog created before it expired by age
            responses = await admin.alter_configs([_configs_of(spec) for spec in existing])
            _raise_on_errors(responses)
    return [spec.name for spec in todo]


def _raise_on_errors(responses: Iterable[Any]) -> None:
    failed = [
        f"{name}: {message or code}"
        for response in responses
        for code, message, _, name in response.resources
        if code != 0
    ]
    if failed:
        raise RuntimeError(f"could not set topic configs: {'; '.join(failed)}")


def _configs_of(spec: TopicSpec) -> ConfigResource:
    return ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=spec.configs())


async def list_topics(bootstrap: str) -> dict[str, int]:
    """Every non-internal topic on the broker and its partition count."""
    async with admin_client(bootstrap) as admin:
        names = [name for name in await admin.list_topics() if not name.startswith("__")]
        described = await admin.describe_topics(names) if names else []
    return {topic["topic"]: len(topic["partitions"]) for topic in described}
