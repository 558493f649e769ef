"""API settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.enricher.preview import BackendChoice
from services.ingestor.config import feed_settings_from_env
from services.ingestor.feeds.settings import FeedSettings
from services.shared.settings import (
    DEFAULT_BOOTSTRAP,
    Secret,
    database_url,
    env_bool,
    env_float,
    env_int,
    env_secret,
    env_str,
)

DEFAULT_API_PORT = 18150


@dataclass(frozen=True, slots=True)
class ApiSettings:
    host: str  # loopback by default; 0.0.0.0 only inside a container
    port: int
    token: Secret  # bearer token of mutating endpoints; empty refuses every mutation
    database_url: Secret
    bootstrap_servers: str
    replica: str
    scheduler_enabled: bool
    scheduler_interval_s: float
    # the console's mapping preview reads feeds under the ingestor's guard (no SSRF there)
    feed: FeedSettings = field(default_factory=FeedSettings)
    preview: BackendChoice = field(default_factory=BackendChoice)  # the mapping preview's

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ApiSettings:
        return cls(
            host=env_str(env, "API_HOST", "127.0.0.1"),
            port=env_int(env, "API_PORT", env_int(env, "WEB_PORT", DEFAULT_API_PORT)),
            token=env_secret(env, "API_TOKEN"),
            database_url=database_url(env),
            bootstrap_servers=env_str(env, "KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP),
            replica=env_str(env, "REPLICA_ID", "0"),
            scheduler_enabled=env_bool(env, "SCHEDULER_ENABLED", True),
            scheduler_interval_s=env_float(env, "SCHEDULER_INTERVAL_S", 15.0),
            feed=feed_settings_from_env(env),
            preview=BackendChoice.from_env(env),
        )
