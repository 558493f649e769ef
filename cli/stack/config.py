"""Where and on which ports the local stack runs, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KAFKA_VERSION = "4.1.1"
DEFAULT_KAFKA_PORT = 19092
DEFAULT_PG_PORT = 15432
DEFAULT_PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
DB_NAME = "jobstream"
DB_USER = "jobstream"
DB_PASSWORD = "jobstream"  # noqa: S105 - a loopback-only development database


class ConfigError(ValueError):
    """An environment variable holds a value the stack cannot use."""


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name}={raw!r} is not a TCP port (1-65535)")
    return int(raw)


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser().absolute() if raw else default


@dataclass(frozen=True, slots=True)
class StackConfig:
    """Everything needed to start, probe and stop one local stack."""

    state_dir: Path
    cache_dir: Path
    kafka_port: int = DEFAULT_KAFKA_PORT
    kafka_controller_port: int = DEFAULT_KAFKA_PORT + 1
    pg_port: int = DEFAULT_PG_PORT
    pg_bin_dir: Path = DEFAULT_PG_BIN_DIR
    kafka_heap: str = "512m"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackConfig:
        env = os.environ if env is None else env
        kafka_port = _port(env, "JOBSTREAM_KAFKA_PORT", DEFAULT_KAFKA_PORT)
        config = cls(
            state_dir=_path(env, "JOBSTREAM_STATE_DIR", PROJECT_ROOT / ".state"),
            cache_dir=_path(env, "JOBSTREAM_CACHE_DIR", Path.home() / ".cache" / "jobstream"),
            kafka_port=kafka_port,
            kafka_controller_port=_port(env, "JOBSTREAM_KAFKA_CONTROLLER_PORT", kafka_port + 1),
            pg_port=_port(env, "JOBSTREAM_PG_PORT", DEFAULT_PG_PORT),
            pg_bin_dir=_path(env, "JOBSTREAM_PG_BIN_DIR", DEFAULT_PG_BIN_DIR),
            kafka_heap=env.get("JOBSTREAM_KAFKA_HEAP", "512m").strip() or "512m",
        )
        config.validate()
        return config

    def validate(self) -> None:
        ports = [self.kafka_port, self.kafka_controller_port, self.pg_port]
        if len(set(ports)) != len(ports):
            raise ConfigError(f"Kafka, its controller and PostgreSQL need distinct ports: {ports}")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def kafka_libs(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def pg_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def pg_data_dir(self) -> Path:
        return self.pg_dir / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg_dir / "run"
