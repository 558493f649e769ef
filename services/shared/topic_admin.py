"""Kafka topic administration: create the catalogue's topics, reconcile and report drift."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from schemas.topics import TopicSpec
from services.shared.durability import TopicSettings

LOCAL = TopicSettings()  # one broker: replication factor 1, min ISR 1
TOPIC_ALREADY_EXISTS = 36  # a concurrent creator won the race: not an error


class TopicAdminError(RuntimeError):
    """The broker refused to create or configure topics; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Drift:
    """One way an existing topic differs from what the settings want."""

    topic: str
    setting: str  # "partitions", "replication factor" or a topic config name
    actual: str
    wanted: str
    reconciled: bool  # configs are set anew; partitions and replication are left to an operator

    def __str__(self) -> str:
        done = "reconciled" if self.reconciled else "NOT changed: needs an operator"
        return f"{self.topic}: {self.setting} is {self.actual}, wanted {self.wanted} ({done})"


@dataclass(frozen=True, slots=True)
class TopicReport:
    created: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)

    @property
    def unresolved(self) -> list[Drift]:
        return [d for d in self.drift if not d.reconciled]


def missing_topics(specs: Iterable[TopicSpec], existing: Iterable[str]) -> list[TopicSpec]:
    """The specs whose topic does not exist yet, in catalogue order."""
    present = set(existing)
    return [spec for spec in specs if spec.name not in present]


def new_topic(spec: TopicSpec, settings: TopicSettings = LOCAL) -> NewTopic:
    return NewTopic(
        name=spec.name,
        num_partitions=spec.partitions,
        replication_factor=settings.replication_factor,
        topic_configs=settings.configs(spec),
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


async def create_topics(
    bootstrap: str, specs: Sequence[TopicSpec], settings: TopicSettings = LOCAL
) -> list[str]:
    """Create the topics of specs that are missing; existing ones get the wanted configs.

    Returns the names created, so callers can tell a fresh broker from a provisioned one.
    """
    return (await reconcile_topics(bootstrap, specs, settings)).created


async def reconcile_topics(
    bootstrap: str, specs: Sequence[TopicSpec], settings: TopicSettings = LOCAL
) -> TopicReport:
    """Creates what is missing, reports how existing topics differ and sets their configs.

    Partition counts of existing topics are never changed (that would move keys between
    partitions mid-stream), nor replication factors (a reassignment is an operator's call):
    both are reported as unresolved drift.
    """
    wanted = [settings.sized(spec) for spec in specs]
    async with admin_client(bootstrap) as admin:
        todo = missing_topics(wanted, await admin.list_topics())
        created: list[str] = []
        if todo:
            response = await admin.create_topics([new_topic(spec, settings) for spec in todo])
            created = _created_topics(response)
        # a listing can lag a topic just created elsewhere: the broker's "already exists"
        # makes it an existing topic, to be checked like the others
        existing = [spec for spec in wanted if spec.name not in created]
        if not existing:
            return TopicReport(created)
        replication = await _replication_factors(admin, existing)
        actual_configs = await _configs(admin, existing, settings)
        drift: list[Drift] = []
        resources: list[ConfigResource] = []
        for spec in existing:
            configs = _settable_configs(spec, settings, replication[spec.name])
            drift += _drift_of(spec, settings, replication[spec.name], actual_configs, configs)
            resources.append(ConfigResource(ConfigResourceType.TOPIC, spec.name, configs))
        _raise_on_config_errors(await admin.alter_configs(resources))
    return TopicReport(created, drift)


@dataclass(frozen=True, slots=True)
class _Replication:
    partitions: int
    factor: int  # the smallest replica count of any partition


async def _replication_factors(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec]
) -> dict[str, _Replication]:
    described = await admin.describe_topics([spec.name for spec in specs])
    return {
        topic["topic"]: _Replication(
            len(topic["partitions"]),
            min((len(p["replicas"]) for p in topic["partitions"]), default=0),
        )
        for topic in described
    }


async def _configs(
    admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec], settings: TopicSettings
) -> dict[str, dict[str, str]]:
    """The current value of every config the settings set, per topic."""
    resources = [
        ConfigResource(ConfigResourceType.TOPIC, spec.name, dict.fromkeys(settings.configs(spec)))
        for spec in specs
    ]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for _code, _message, _type, name, entries in response.resources:
            found[name] = {entry[0]: entry[1] for entry in entries}
    return found


def _settable_configs(
    spec: TopicSpec, settings: TopicSettings, replication: _Replication
) -> dict[str, str]:
    """The wanted configs, less a min ISR the topic's replicas could never satisfy (it would
    refuse every write with acks=all)."""
    configs = settings.configs(spec)
    if replication.factor < settings.min_insync_replicas:
        del configs["min.insync.replicas"]
    return configs


def _drift_of(
    spec: TopicSpec,
    settings: TopicSettings,
    replication: _Replication,
    actual: dict[str, dict[str, str]],
    settable: dict[str, str],
) -> list[Drift]:
    drift = []
    if replication.partitions != spec.partitions:
        drift.append(
            Drift(spec.name, "partitions", str(replication.partitions), str(spec.partitions), False)
        )
    if replication.factor != settings.replication_factor:
        drift.append(
            Drift(
                spec.name,
                "replication factor",
                str(replication.factor),
                str(settings.replication_factor),
                False,
            )
        )
    current = actual.get(spec.name, {})
    for name, value in settings.configs(spec).items():
        if current.get(name) != value:
            drift.append(
                Drift(spec.name, name, current.get(name, "unset"), value, name in settable)
            )
    return drift


def _created_topics(response: Any) -> list[str]:
    """The topics this request created; raises on any refusal but "already exists"."""
    failed = [
        f"{error[0]}: {error[2] if len(error) > 2 and error[2] else error[1]}"
        for error in response.topic_errors
        if error[1] not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise TopicAdminError(f"could not create topics: {'; '.join(failed)}")
    return [error[0] for error in response.topic_errors if error[1] == 0]


def _raise_on_config_errors(responses: Iterable[Any]) -> None:
    failed = [
        f"{name}: {message or code}"
        for response in responses
        for code, message, _, name in response.resources
        if code != 0
    ]
    if failed:
        raise TopicAdminError(f"could not set topic configs: {'; '.join(failed)}")


async def list_topics(bootstrap: str) -> dict[str, int]:
    """Every non-internal topic on the broker and its partition count."""
    async with admin_client(bootstrap) as admin:
        names = [name for name in await admin.list_topics() if not name.startswith("__")]
        described = await admin.describe_topics(names) if names else []
    return {topic["topic"]: len(topic["partitions"]) for topic in described}
