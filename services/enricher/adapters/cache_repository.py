"""The enrichment cache: results keyed by content hash and enrichment version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from schemas.records import Enrichment
from services.shared.database import Conn


async def lookup(conn: Conn, hashes: Sequence[str], version: str) -> dict[str, Enrichment]:
    rows = await conn.fetch(
        "SELECT job_hash, result FROM enrichment_cache "
        "WHERE enrichment_version = $2 AND job_hash = ANY($1::text[])",
        list(hashes),
        version,
    )
    found: dict[str, Enrichment] = {}
    for row in rows:
        try:
            found[row["job_hash"]] = Enrichment.model_validate(row["result"])
        except ValidationError:
            continue  # an entry from an older record shape is simply a miss
    return found


async def store(conn: Conn, results: Mapping[str, Enrichment], version: str) -> None:
    await conn.executemany(
        "INSERT INTO enrichment_cache (job_hash, enrichment_version, result) VALUES ($1, $2, $3) "
        "ON CONFLICT (job_hash, enrichment_version) DO UPDATE SET result = EXCLUDED.result, "
        "created_at = now()",
        [(h, version, e.model_dump(mode="json")) for h, e in results.items()],
    )
