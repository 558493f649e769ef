"""Reading settings from the environment: typed getters and a masked secret type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that never shows in logs or reprs."""

    value: str

    def __repr__(self) -> str:
        return "Secret('***')" if self.value else "Secret('')"

    def __str__(self) -> str:
        return repr(self)

    def __bool__(self) -> bool:
        return bool(self.value)


DEFAULT_BOOTSTRAP = "127.0.0.1:19092"
DEFAULT_DATABASE_URL = "postgresql://jobstream:jobstream@127.0.0.1:15432/jobstream"


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def env_secret(env: Mapping[str, str], name: str) -> Secret:
    return Secret(env.get(name, "").strip())


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What every streaming service needs: the broker, its identity and its web port."""

    bootstrap_servers: str
    web_port: int
    replica: str
    data_dir: str
    session_timeout_s: float
    heartbeat_interval_s: float
    rebalance_timeout_s: float
    # A stage paused longer than this leaves its group (the others take its partitions over)
    # and rejoins when it polls again; its batch is then processed again, never lost.
    max_poll_interval_s: float = 300.0
    # Loopback by default; 0.0.0.0 in a container, so /metrics can be scraped from outside.
    web_host: str = "127.0.0.1"
    replication_factor: int = 1  # of topics Faust would declare (changelogs are made up front)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, default_web_port: int) -> StreamSettings:
        return cls(
            bootstrap_servers=env_str(env, "KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP),
            web_port=env_int(env, "WEB_PORT", default_web_port),
            replica=env_str(env, "REPLICA_ID", "0"),
            data_dir=env_str(env, "FAUST_DATA_DIR", ".state/faust"),
            session_timeout_s=env_float(env, "KAFKA_SESSION_TIMEOUT_S", 10.0),
            heartbeat_interval_s=env_float(env, "KAFKA_HEARTBEAT_INTERVAL_S", 1.0),
            rebalance_timeout_s=env_float(env, "KAFKA_REBALANCE_TIMEOUT_S", 10.0),
            max_poll_interval_s=env_float(env, "KAFKA_MAX_POLL_INTERVAL_S", 300.0),
            web_host=env_str(env, "WEB_HOST", "127.0.0.1"),
            replication_factor=env_int(env, "KAFKA_REPLICATION_FACTOR", 1),
        )


def database_url(env: Mapping[str, str]) -> Secret:
    """The DSN carries a password, so it travels as a Secret."""
    return Secret(env_str(env, "DATABASE_URL", DEFAULT_DATABASE_URL))
