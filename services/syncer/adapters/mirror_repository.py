"""What the syncer reads and remembers in PostgreSQL: open jobs, eids for life, sync results."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from services.shared.database import Conn

# One advisory-lock namespace for reconciles, so a feed id never collides with other locks.
RECONCILE_LOCK_NAMESPACE = 0x73796E63  # "sync"


async def lock_feed(conn: Conn, feed_id: int) -> None:
    """One reconcile per feed at a time, across every syncer replica (session-level lock)."""
    await conn.execute("SELECT pg_advisory_lock($1, $2)", RECONCILE_LOCK_NAMESPACE, feed_id)


async def unlock_feed(conn: Conn, feed_id: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", RECONCILE_LOCK_NAMESPACE, feed_id)


async def open_jobs(conn: Conn, feed_id: int) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM open_jobs WHERE feed_id = $1", feed_id)
    return [dict(r) for r in rows]


async def open_job(conn: Conn, job_hash: str) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM open_jobs WHERE job_hash = $1", job_hash)
    return dict(row) if row else None


async def eids_for(conn: Conn, rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each job's Xano eid, minted and stored before its first add so retries reuse it."""
    await conn.executemany(
        "INSERT INTO xano_records (job_hash, eid, feed_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (job_hash) DO NOTHING",
        [(r["job_hash"], uuid.uuid4().hex, r["feed_id"]) for r in rows],
    )
    found = await conn.fetch(
        "SELECT job_hash, eid FROM xano_records WHERE job_hash = ANY($1::text[])",
        [r["job_hash"] for r in rows],
    )
    return {r["job_hash"]: r["eid"] for r in found}


async def remember_synced(conn: Conn, fingerprints: Mapping[str, str]) -> None:
    await conn.executemany(
        "UPDATE xano_records SET fingerprint = $2, synced_at = now() WHERE job_hash = $1",
        list(fingerprints.items()),
    )


async def write_sync_report(conn: Conn, run_id: str, counts: Mapping[str, Any]) -> None:
    await conn.execute(
        "UPDATE execution_reports SET xano_status = $2, xano_jobs_added = $3, "
        "xano_jobs_updated = $4, xano_jobs_deleted = $5, xano_jobs_failed = $6, "
        "error_summary = error_summary || $7::jsonb, updated_at = now() WHERE run_id = $1",
        run_id,
        counts["status"],
        counts["added"],
        counts["updated"],
        counts["deleted"],
        counts["failed"],
        list(counts["errors"]),
    )
