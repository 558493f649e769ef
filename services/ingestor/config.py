"""Ingestor settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
    dedupe_batch_size: int  # jobs.raw records per pass-1 dedupe batch
    dedupe_batch_within_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestorSettings:
        return cls(
            stream=StreamSettings.from_env(env, default_web_port=18101),
            database_url=database_url(env),
            feed=feed_settings_from_env(env),
            flush_every=env_int(env, "INGEST_FLUSH_EVERY", 1000),
            dedupe_max_kept=env_int(env, "DEDUPE_MAX_KEPT_PER_KEY", 50),
            dedupe_batch_size=env_int(env, "DEDUPE_BATCH_SIZE", 500),
            dedupe_batch_within_s=env_float(env, "DEDUPE_BATCH_WITHIN_S", 0.2),
        )


def feed_settings_from_env(env: Mapping[str, str]) -> FeedSettings:
    """Feed reading's settings (the ingestor's and `jobstream inspect`'s)."""
    defaults = FeedSettings()
    return FeedSettings(
        connect_timeout_s=env_float(env, "FEED_CONNECT_TIMEOUT_S", defaults.connect_timeout_s),
        read_timeout_s=env_float(env, "FEED_READ_TIMEOUT_S", defaults.read_timeout_s),
        total_deadline_s=env_float(env, "FEED_TOTAL_DEADLINE_S", defaults.total_deadline_s),
        max_attempts=env_int(env, "FEED_MAX_ATTEMPTS", defaults.max_attempts),
        max_redirects=env_int(env, "FEED_MAX_REDIRECTS", defaults.max_redirects),
        max_body_bytes=env_int(env, "FEED_MAX_BODY_BYTES", defaults.max_body_bytes),
        max_uncompressed_bytes=env_int(
            env, "FEED_MAX_UNCOMPRESSED_BYTES", defaults.max_uncompressed_bytes
        ),
        max_record_bytes=env_int(env, "FEED_MAX_RECORD_BYTES", defaults.max_record_bytes),
        max_json_depth=env_int(env, "FEED_MAX_JSON_DEPTH", defaults.max_json_depth),
        max_depth=env_int(env, "FEED_MAX_DEPTH", defaults.max_depth),
        max_field_chars=env_int(env, "FEED_MAX_FIELD_CHARS", defaults.max_field_chars),
        local_dirs=tuple(Path(d) for d in env.get("FEED_LOCAL_DIRS", "").split(os.pathsep) if d),
        allowed_hosts=tuple(
            h.strip() for h in env.get("FEED_ALLOWED_HOSTS", "").split(",") if h.strip()
        ),
    )
