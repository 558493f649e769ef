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
# One broker (a development toy) or a three-broker cluster with one controller quorum.
BROKER_COUNTS = (1, 3)
# Three JVMs share the machine with PostgreSQL and the services: each gets a smaller heap.
CLUSTER_KAFKA_HEAP = "384m"
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
    brokers: int = 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackConfig:
        env = os.environ if env is None else env
        kafka_port = _port(env, "JOBSTREAM_KAFKA_PORT", DEFAULT_KAFKA_PORT)
        brokers = _brokers(env.get("JOBSTREAM_KAFKA_BROKERS", "").strip() or "1")
        default_heap = "512m" if brokers == 1 else CLUSTER_KAFKA_HEAP
        config = cls(
            state_dir=_path(env, "JOBSTREAM_STATE_DIR", PROJECT_ROOT / ".state"),
            cache_dir=_path(env, "JOBSTREAM_CACHE_DIR", Path.home() / ".cache" / "jobstream"),
            kafka_port=kafka_port,
            kafka_controller_port=_port(env, "JOBSTREAM_KAFKA_CONTROLLER_PORT", kafka_port + 1),
            pg_port=_port(env, "JOBSTREAM_PG_PORT", DEFAULT_PG_PORT),
            pg_bin_dir=_path(env, "JOBSTREAM_PG_BIN_DIR", DEFAULT_PG_BIN_DIR),
            kafka_heap=env.get("JOBSTREAM_KAFKA_HEAP", "").strip() or default_heap,
            brokers=brokers,
        )
        config.validate()
        return config

    def validate(self) -> None:
        if self.brokers not in BROKER_COUNTS:
            raise ConfigError(f"brokers must be one of {BROKER_COUNTS}, got {self.brokers}")
        ports = [port for node in self.kafka_nodes for port in self.node_ports(node)]
        ports.append(self.pg_port)
        if len(set(ports)) != len(ports) or max(ports) > 65535:
            raise ConfigError(
                f"each Kafka broker, its controller and PostgreSQL need distinct ports: {ports}"
            )

    @property
    def kafka_nodes(self) -> range:
        """The node ids of the brokers (each also a controller), 1-based."""
        return range(1, self.brokers + 1)

    def node_ports(self, node: int) -> tuple[int, int]:
        """(broker port, controller port) of a node: node 1 on the stack's own Kafka ports,
        node n two ports further per node (19092/19093, 19094/19095, 19096/19097)."""
        if node == 1:
            return self.kafka_port, self.kafka_controller_port
        port = self.kafka_port + 2 * (node - 1)
        return port, port + 1

    @property
    def bootstrap(self) -> str:
        """Every broker, so a client still connects when one of them is down."""
        return ",".join(f"127.0.0.1:{self.node_ports(node)[0]}" for node in self.kafka_nodes)

    @property
    def replication_factor(self) -> int:
        return min(self.brokers, 3)

    @property
    def min_insync_replicas(self) -> int:
        """2 of 3 on the cluster: one broker may die without losing or refusing a write."""
        return 2 if self.brokers >= 3 else 1

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
    def brokers_file(self) -> Path:
        """The broker count `up` last started here, so `status` and `down` know every node."""
        return self.kafka_dir / "brokers"

    def saved_brokers(self) -> int:
        try:
            return _brokers(self.brokers_file.read_text().strip())
        except (OSError, ConfigError):
            return self.brokers

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


def _brokers(raw: str) -> int:
    if not raw.isdigit() or int(raw) not in BROKER_COUNTS:
        raise ConfigError(f"JOBSTREAM_KAFKA_BROKERS={raw!r} must be one of {BROKER_COUNTS}")
    return int(raw)
