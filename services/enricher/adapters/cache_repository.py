"""The enrichment cache: results keyed by content hash and enrichment version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from schemas.records import Enrichment
from services.shared.database import Conn


@dataclass(frozen=True, slots=True)
class Cached:
    """A stored result and the run that stored it (None for entries older than that column)."""

    enrichment: Enrichment
    run_id: str | None


async def lookup(conn: Conn, hashes: Sequence[str], version: str) -> dict[str, Cached]:
    rows = await conn.fetch(
        "SELECT job_hash, result, run_id FROM enrichment_cache "
        "WHERE enrichment_version = $2 AND job_hash = ANY($1::text[])",
        list(hashes),
        version,
    )
    found: dict[str, Cached] = {}
    for row in rows:
        try:
            found[row["job_hash"]] = Cached(Enrichment.model_validate(row["result"]), row["run_id"])
        except ValidationError:
            continue  # an entry from an older record shape is simply a miss
    return found


async def store(conn: Conn, results: Mapping[str, tuple[Enrichment, str]], version: str) -> None:
    """Stores each job's enrichment with the run that produced it."""
    await conn.executemany(
        "INSERT INTO enrichment_cache (job_hash, enrichment_version, result, run_id) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (job_hash, enrichment_version) DO UPDATE SET "
        "result = EXCLUDED.result, run_id = EXCLUDED.run_id, created_at = now()",
        [(h, version, e.model_dump(mode="json"), run) for h, (e, run) in results.items()],
    )
