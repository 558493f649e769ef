"""The knobs of feed reading: network limits, size caps and normalisation defaults."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """Limits and defaults for fetching, parsing and normalising one feed.

    Sized for real feeds (a few hundred MB once decompressed); a feed bigger than
    `max_uncompressed_bytes` raises its own cap in its mapping. Local files are read only
    under `local_dirs`, and loopback/private/link-local addresses only when
    `allowed_hosts` names them (addresses, networks or host names).
    """

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0  # per read: a body that stalls this long is cut off
    total_deadline_s: float = 1800.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 10.0
    max_redirects: int = 5
    max_body_bytes: int = 2 * 1024**3
    max_uncompressed_bytes: int = 512 * 1024**2
    # one XML record, CSV row or JSON element: longer is malformed and skipped without being
    # held; real records are a few KB. Also how much of a feed's head structure detection holds.
    max_record_bytes: int = 16 * 1024**2
    max_json_depth: int = 64
    chunk_bytes: int = 64 * 1024
    max_field_chars: int = 100_000
    max_depth: int = 128  # XML elements nested deeper inside a record make it malformed
    max_malformed_samples: int = 50
    default_country: str | None = "US"
    user_agent: str = "jobstream-ingestor/0.1"
    local_dirs: tuple[Path, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
