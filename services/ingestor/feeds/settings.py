"""The knobs of feed reading: network limits, size caps and normalisation defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Limits and defaults for fetching, parsing and normalising one feed."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    total_deadline_s: float = 1800.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0
    max_body_bytes: int = 2 * 1024**3
    max_uncompressed_bytes: int = 8 * 1024**3
    chunk_bytes: int = 64 * 1024
    max_field_chars: int = 100_000
    # a record longer than this (in characters) is malformed and skipped without being held;
    # real records are a few KB. Also how much of a feed's head structure detection may hold.
    max_record_bytes: int = 8 * 1024**2
    max_depth: int = 128  # elements nested deeper inside a record make it malformed
    max_malformed_samples: int = 50
    default_country: str | None = "US"
    user_agent: str = "jobstream-ingestor/0.1"
