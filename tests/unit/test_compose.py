"""docker-compose.yml and .env.example agree with the topic catalogue and the settings.

Docker is not on our machines, so the compose file is checked by reading it: the names it
sets must be names the services read, and .env.example must document every one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.stack.config import PROJECT_ROOT
from services.api.config import ApiSettings
from services.enricher.config import EnricherSettings
from services.enricher.gemini.settings import GeminiSettings
from services.ingestor.config import IngestorSettings
from services.router.config import RouterSettings
from services.shared.durability import TopicSettings
from services.syncer.config import SyncerSettings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, list[Callable[[Mapping[str, str]], object]]] = {
    "ingestor": [IngestorSettings.from_env],
    "enricher": [EnricherSettings.from_env, GeminiSettings.from_env],
    "router": [RouterSettings.from_env],
    "syncer": [SyncerSettings.from_env],
    "api": [ApiSettings.from_env],
}


class _ReadRecorder(dict[str, str]):
    """An empty environment that remembers every variable a settings reader asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return default


def names_read(readers: list[Callable[[Mapping[str, str]], object]]) -> set[str]:
    recorder = _ReadRecorder()
    for read in readers:
        read(recorder)
    return recorder.asked


def _env_example() -> set[str]:
    lines = (PROJECT_ROOT / ".env.example").read_text().splitlines()
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_compose_sets_only_names_the_service_reads(service: str) -> None:
    environment = COMPOSE["services"][service]["environment"]
    assert set(environment) <= names_read(SERVICES[service])
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "@postgres:5432/" in environment["DATABASE_URL"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_services_wait_for_healthy_kafka_postgres_and_the_topics(service: str) -> None:
    depends = COMPOSE["services"][service]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["topics-init"]["condition"] == "service_completed_successfully"
    assert "healthcheck" in COMPOSE["services"][service]
    assert COMPOSE["services"][service]["command"][-1] == f"services.{service}"


def test_env_example_documents_every_setting() -> None:
    topics_create: list[Callable[[Mapping[str, str]], object]] = [TopicSettings.from_env]
    readers = [*SERVICES.values(), topics_create]
    every = set().union(*(names_read(r) for r in readers))
    assert every - _env_example() == set(), "settings missing from .env.example"
    assert _env_example() - every == set(), ".env.example names that nothing reads"


def test_kafka_runs_kraft_without_auto_topic_creation() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    assert "healthcheck" in kafka and "healthcheck" in COMPOSE["services"]["postgres"]


def test_topics_come_from_the_catalogue_before_any_service_starts() -> None:
    init = COMPOSE["services"]["topics-init"]
    command = " ".join(init["command"])
    # `jobstream topics create` creates exactly schemas.topics.CATALOGUE, partitions included.
    assert "jobstream topics create --bootstrap kafka:9092" in command
    assert "jobstream migrate" in command


def test_compose_builds_from_the_projects_dockerfile() -> None:
    assert Path(PROJECT_ROOT / "Dockerfile").is_file()
    for service in SERVICES:
        assert COMPOSE["services"][service]["build"] == "."
