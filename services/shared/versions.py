"""What each stage currently runs with (`pipeline_versions`, migration 0013).

The enricher writes its backend's version (the one stored on each job row) and its checks',
the router its routing rules', each when it starts; the ingestor reads them when a run starts
and skips a record the feed's last run processed only when nothing here has changed since
(services/ingestor/incremental.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from services.shared.database import Conn

ENRICHMENT = "enrichment"  # the enricher backend's version: model, prompts, taxonomy, profile
ENRICHMENT_CHECKS = "enrichment_checks"  # the trust checks an LLM's answers go through
ROUTING = "routing"  # the router's routing rules (thresholds)
REQUIRED = (ENRICHMENT, ENRICHMENT_CHECKS, ROUTING)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def publish(conn: Conn, versions: Mapping[str, str]) -> None:
    await conn.execute(
        "INSERT INTO pipeline_versions (stage, version) SELECT * FROM unnest($1::text[], "
        "$2::text[]) ON CONFLICT (stage) DO UPDATE SET version = EXCLUDED.version, "
        "updated_at = now() WHERE pipeline_versions.version <> EXCLUDED.version",
        list(versions),
        list(versions.values()),
    )


async def current(conn: Conn) -> dict[str, str]:
    rows = await conn.fetch("SELECT stage, version FROM pipeline_versions")
    return {row["stage"]: row["version"] for row in rows}
