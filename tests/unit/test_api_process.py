"""The local pipeline starts the API as its own process, on its own port, with a token."""

from __future__ import annotations

from pathlib import Path

from cli import pipeline
from cli.stack import StackConfig
from services.api.config import ApiSettings


def _config(**replicas: int) -> pipeline.PipelineConfig:
    stack = StackConfig(state_dir=Path("/srv/state"), cache_dir=Path("/srv/cache"))
    counts = dict.fromkeys(pipeline.SERVICES, 1) | replicas
    return pipeline.PipelineConfig(stack=stack, base_port=20000, replicas=counts)


def test_the_api_runs_beside_the_services_on_a_port_of_its_own() -> None:
    config = _config(enricher=3, router=2)
    processes = pipeline.processes(config)
    api = next(p for p in processes if p.name == "api-0")
    assert api.argv[1:] == ("-m", "services.api")
    ports = [p.env.get("WEB_PORT") for p in processes if p.name != "xano-emulator"]
    assert len(set(ports)) == len(ports)
    settings = ApiSettings.from_env(api.env)
    assert f"http://127.0.0.1:{settings.port}" == config.api_url
    assert settings.token.value == config.api_token
    assert settings.host == "127.0.0.1"
    assert api.health_url == f"{config.api_url}/healthz"


def test_the_api_token_can_come_from_the_environment() -> None:
    stack = StackConfig(state_dir=Path("/srv/state"), cache_dir=Path("/srv/cache"))
    config = pipeline.PipelineConfig.from_env(stack, {"JOBSTREAM_API_TOKEN": "t0ken"})
    api = next(p for p in pipeline.processes(config) if p.name == "api-0")
    assert api.env["API_TOKEN"] == "t0ken"
