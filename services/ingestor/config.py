"""Ingestor settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.ingestor.feeds.settings import FeedSettings
from services.shared.settings import (
    Secret,
    StreamSettings,
    database_url,
    env_float,
    env_int,
)


@dataclass(frozen=True, slots=True)
class IngestorSettings:
    stream: StreamSettings
    database_url: Secret
    feed: FeedSettings
    flush_every: int  # records between delivery checks; up to twice this many in flight
    dedupe_max_kept: int  # kept jobs remembered per dedupe key and run

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestorSettings:
        defaults = FeedSettings()
        return cls(
            stream=StreamSettings.from_env(env, default_web_port=18101),
            database_url=database_url(env),
            feed=FeedSettings(
                connect_timeout_s=env_float(env, "FEED_CONNECT_TIMEOUT_S", 10.0),
                read_timeout_s=env_float(env, "FEED_READ_TIMEOUT_S", 60.0),
                total_deadline_s=env_float(env, "FEED_TOTAL_DEADLINE_S", 1800.0),
                max_attempts=env_int(env, "FEED_MAX_ATTEMPTS", defaults.max_attempts),
                max_body_bytes=env_int(env, "FEED_MAX_BODY_BYTES", defaults.max_body_bytes),
                max_field_chars=env_int(env, "FEED_MAX_FIELD_CHARS", defaults.max_field_chars),
                max_record_bytes=env_int(env, "FEED_MAX_RECORD_BYTES", defaults.max_record_bytes),
                max_depth=env_int(env, "FEED_MAX_DEPTH", defaults.max_depth),
            ),
            flush_every=env_int(env, "INGEST_FLUSH_EVERY", 1000),
            dedupe_max_kept=env_int(env, "DEDUPE_MAX_KEPT_PER_KEY", 50),
        )
