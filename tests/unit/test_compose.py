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
from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.config import EnricherSettings
from services.ingestor.config import IngestorSettings
from services.router.config import RouterSettings
from services.shared.durability import TopicSettings
from services.shared.settings import StreamSettings
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


def test_topics_come_from_the_catalogue_and_migrations_run_before_any_service_starts() -> None:
    # `jobstream topics create` creates exactly schemas.topics.CATALOGUE, partitions included.
    init = COMPOSE["services"]["topics-init"]
    assert init["command"] == ["jobstream", "topics", "create", "--bootstrap", "kafka:9092"]
    assert init["env_file"][0]["path"] == ".env"  # the durability settings
    migrate = COMPOSE["services"]["migrate"]
    assert migrate["command"] == ["jobstream", "migrate"]  # its own one-shot step
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in SERVICES:
        assert COMPOSE["services"][service]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def test_the_enricher_backend_follows_the_gemini_key_not_the_compose_file() -> None:
    """`environment:` beats .env: a backend set there would ignore GEMINI_API_KEY."""
    for service in SERVICES:
        assert "ENRICHMENT_BACKEND" not in COMPOSE["services"][service]["environment"]
        assert "GEMINI_API_KEY" not in COMPOSE["services"][service]["environment"]
    assert COMPOSE["services"]["enricher"]["env_file"][0]["path"] == ".env"
    with_key = EnricherSettings.from_env({"GEMINI_API_KEY": "k", **_environment("enricher")})
    without = EnricherSettings.from_env(_environment("enricher"))
    assert (with_key.backend, without.backend) == ("gemini", "offline")


def test_the_emulator_override_points_the_enricher_at_the_gemini_emulator() -> None:
    override = yaml.safe_load((PROJECT_ROOT / "deploy/compose/gemini-emulator.yml").read_text())
    enricher = override["services"]["enricher"]
    emulator = COMPOSE["services"]["gemini-emulator"]
    port = emulator["command"][emulator["command"].index("--port") + 1]
    assert enricher["environment"]["GEMINI_BASE_URL"] == f"http://gemini-emulator:{port}"
    assert "--api-key" not in emulator["command"]  # so any GEMINI_API_KEY is accepted
    env = {**_environment("enricher"), **enricher["environment"]}
    assert GeminiSettings.from_env(env).base_url == f"http://gemini-emulator:{port}"
    assert EnricherSettings.from_env(env).backend == "gemini"
    assert enricher["depends_on"]["gemini-emulator"]["condition"] == "service_healthy"


def _environment(service: str) -> dict[str, str]:
    return {k: str(v) for k, v in COMPOSE["services"][service]["environment"].items()}


@pytest.mark.parametrize("service", ["ingestor", "enricher", "router", "syncer"])
def test_stream_services_serve_their_pages_on_every_interface(service: str) -> None:
    settings = StreamSettings.from_env(_environment(service), default_web_port=0)
    assert (settings.web_host, settings.web_port) == ("0.0.0.0", 6066)


def test_the_api_serves_on_every_interface() -> None:
    settings = ApiSettings.from_env(_environment("api"))
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)


def _mounts(service: str) -> dict[str, str]:
    """target -> source of a service's volumes (short syntax: source:target[:mode])."""
    return {v.split(":")[1]: v.split(":")[0] for v in COMPOSE["services"][service]["volumes"]}


def test_kafka_writes_its_log_into_the_kafka_data_volume() -> None:
    log_dir = COMPOSE["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"]
    assert _mounts("kafka")[log_dir] == "kafka-data"
    assert "kafka-data" in COMPOSE["volumes"]


def test_the_ingestor_reads_local_feeds_from_the_mounted_directory() -> None:
    mounts = _mounts("ingestor")
    feeds_dir = next(target for target, source in mounts.items() if source == "./feeds")
    assert (PROJECT_ROOT / "feeds").is_dir()
    settings = IngestorSettings.from_env(_environment("ingestor"))
    assert Path(feeds_dir) in settings.feed.local_dirs
    assert COMPOSE["services"]["ingestor"]["volumes"] == [f"./feeds:{feeds_dir}:ro"]


def test_prometheus_and_grafana_mount_the_repos_files() -> None:
    for service in ("prometheus", "grafana"):
        for source in _mounts(service).values():
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), source
    assert _mounts("prometheus")["/etc/prometheus/alerts.yml"] == "./deploy/prometheus/alerts.yml"
    assert _mounts("grafana")["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards"


def test_compose_builds_from_the_projects_dockerfile() -> None:
    assert Path(PROJECT_ROOT / "Dockerfile").is_file()
    for service in SERVICES:
        assert COMPOSE["services"][service]["build"] == "."
