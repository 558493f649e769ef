"""The pipeline process table: who runs where, and which processes count as ours."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli import pipeline
from cli.stack import StackConfig
from cli.stack.config import PROJECT_ROOT
from services.ingestor.config import feed_settings_from_env


def _config(**replicas: int) -> pipeline.PipelineConfig:
    stack = StackConfig(state_dir=Path("/srv/state"), cache_dir=Path("/srv/cache"))
    counts = dict.fromkeys(pipeline.SERVICES, 1) | replicas
    return pipeline.PipelineConfig(stack=stack, replicas=counts)


def test_every_replica_gets_its_own_web_port_and_replica_id() -> None:
    processes = pipeline.processes(_config(enricher=3))
    services = [p for p in processes if p.name != "xano-emulator"]
    assert [p.name for p in services if p.name.startswith("enricher")] == [
        "enricher-0",
        "enricher-1",
        "enricher-2",
    ]
    ports = [p.env["WEB_PORT"] for p in services]
    assert len(set(ports)) == len(ports)
    assert {p.env["REPLICA_ID"] for p in services if p.name.startswith("enricher")} == {
        "0",
        "1",
        "2",
    }


def test_services_are_pointed_at_the_stack_and_the_emulator() -> None:
    config = _config()
    router = next(p for p in pipeline.processes(config) if p.name == "router-0")
    assert router.env["KAFKA_BOOTSTRAP_SERVERS"] == config.stack.bootstrap
    assert router.env["DATABASE_URL"] == config.stack.dsn
    assert router.env["XANO_API_URL"] == config.xano_base_url


def test_a_process_is_ours_whatever_the_interpreter_is_called() -> None:
    router = next(p for p in pipeline.processes(_config()) if p.name == "router-0")
    for python in ("/venv/bin/python", "/venv/bin/python3", "/usr/bin/python3.11"):
        assert pipeline._is_ours([python, "-m", "services.router"], router)
    assert not pipeline._is_ours(["/venv/bin/python", "-m", "services.syncer"], router)
    assert not pipeline._is_ours(["/usr/bin/java", "-m", "services.router"], router)
    assert not pipeline._is_ours([], router)


def test_the_ingestor_may_read_the_demo_feeds_and_the_operators_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FEED_LOCAL_DIRS", "/srv/feeds")
    ingestor = next(p for p in pipeline.processes(_config()) if p.name == "ingestor-0")
    dirs = ingestor.env["FEED_LOCAL_DIRS"].split(os.pathsep)
    assert dirs == ["/srv/feeds", str(PROJECT_ROOT / "examples" / "feeds")]
    settings = feed_settings_from_env(ingestor.env)
    assert settings.local_dirs == (Path("/srv/feeds"), PROJECT_ROOT / "examples" / "feeds")
