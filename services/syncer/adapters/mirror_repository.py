"""What the syncer reads and remembers in PostgreSQL: open jobs, eids for life, sync results."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from schemas.status import SyncStatus
from services.shared.database import Conn

# One advisory-lock namespace for reconciles, so a feed id never collides with other locks.
RECONCILE_LOCK_NAMESPACE = 0x73796E63  # "sync"


async def lock_feed(conn: Conn, feed_id: int) -> None:
    """One writer of a feed's Xano records at a time, across every syncer replica.

    Reconciles, their take-downs and reviewer approvals all hold this (session-level) lock.
    """
    await conn.execute("SELECT pg_advisory_lock($1, $2)", RECONCILE_LOCK_NAMESPACE, feed_id)


async def try_lock_feed(conn: Conn, feed_id: int) -> bool:
    """The feed's lock if it is free now; False while a reconcile (or another push) holds it."""
    locked = await conn.fetchval(
        "SELECT pg_try_advisory_lock($1, $2)", RECONCILE_LOCK_NAMESPACE, feed_id
    )
    return bool(locked)


async def unlock_feed(conn: Conn, feed_id: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1, $2)", RECONCILE_LOCK_NAMESPACE, feed_id)


@dataclass(frozen=True, slots=True)
class OpenJob:
    """An open_jobs row: its keys, and every column by name for the configurable field map
    that turns it into the mirror's payload."""

    job_hash: str
    feed_id: int
    columns: Mapping[str, object]

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> OpenJob:
        return cls(row["job_hash"], row["feed_id"], row)


async def open_jobs(conn: Conn, feed_id: int) -> list[OpenJob]:
    rows = await conn.fetch("SELECT * FROM open_jobs WHERE feed_id = $1", feed_id)
    return [OpenJob.of(dict(r)) for r in rows]


async def still_open(conn: Conn, feed_id: int, job_hashes: Sequence[str]) -> set[str]:
    """Which of the hashes are open jobs of the feed right now (re-read before a delete)."""
    rows = await conn.fetch(
        "SELECT job_hash FROM open_jobs WHERE feed_id = $1 AND job_hash = ANY($2::text[])",
        feed_id,
        list(job_hashes),
    )
    return {r["job_hash"] for r in rows}


async def owners_of_archived(conn: Conn, feed_id: int, run_id: str) -> list[int]:
    """The other feeds owning jobs that this run of the feed archived (it dropped their last
    listing): each job's Xano record is its owner's, so only the owner's reconcile removes it."""
    rows = await conn.fetch(
        "SELECT DISTINCT a.feed_id FROM job_sources s JOIN archive_jobs a USING (job_hash) "
        "WHERE s.feed_id = $1 AND s.dropped_run = $2 AND a.feed_id <> $1 ORDER BY a.feed_id",
        feed_id,
        run_id,
    )
    return [int(r["feed_id"]) for r in rows]


async def open_job(conn: Conn, job_hash: str) -> OpenJob | None:
    row = await conn.fetchrow("SELECT * FROM open_jobs WHERE job_hash = $1", job_hash)
    return OpenJob.of(dict(row)) if row else None


async def eids_for(conn: Conn, rows: Sequence[OpenJob]) -> dict[str, str]:
    """Each job's Xano eid, minted and stored before its first add so retries reuse it."""
    await conn.executemany(
        "INSERT INTO xano_records (job_hash, eid, feed_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (job_hash) DO NOTHING",
        [(r.job_hash, uuid.uuid4().hex, r.feed_id) for r in rows],
    )
    found = await conn.fetch(
        "SELECT job_hash, eid FROM xano_records WHERE job_hash = ANY($1::text[])",
        [r.job_hash for r in rows],
    )
    return {r["job_hash"]: r["eid"] for r in found}


async def known_eids(conn: Conn, job_hashes: Sequence[str]) -> dict[str, str]:
    """The eids already minted for these jobs (read only)."""
    found = await conn.fetch(
        "SELECT job_hash, eid FROM xano_records WHERE job_hash = ANY($1::text[])", list(job_hashes)
    )
    return {r["job_hash"]: r["eid"] for r in found}


async def remember_synced(conn: Conn, fingerprints: Mapping[str, str]) -> None:
    await conn.executemany(
        "UPDATE xano_records SET fingerprint = $2, synced_at = now() WHERE job_hash = $1",
        list(fingerprints.items()),
    )


# The report's columns that add up batch by batch, across reconciles a crash interrupted.
PROGRESS_COLUMNS = {
    "added": "xano_jobs_added",
    "updated": "xano_jobs_updated",
    "deleted": "xano_jobs_deleted",
}


async def record_written(
    conn: Conn,
    run_id: str | None,
    operation: str,
    confirmed: int,
    fingerprints: Mapping[str, str | None],
) -> None:
    """One answered batch, in one transaction: the run's report counts its confirmed writes
    and each record is remembered as written (a deleted one as never written), so a crash
    after Xano's answer can neither lose the count nor, on the retry, count it twice."""
    async with conn.transaction():
        if run_id is not None and confirmed:
            await count_confirmed(conn, run_id, operation, confirmed)
        await conn.executemany(
            "UPDATE xano_records SET fingerprint = $2::text, "
            "synced_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END WHERE job_hash = $1",
            list(fingerprints.items()),
        )


async def count_confirmed(conn: Conn, run_id: str, operation: str, confirmed: int) -> None:
    """Adds confirmed writes to the run's report."""
    column = PROGRESS_COLUMNS[operation]
    await conn.execute(
        f"UPDATE execution_reports SET {column} = {column} + $2, updated_at = now() "
        "WHERE run_id = $1",
        run_id,
        confirmed,
    )


async def unrecorded_writes(
    conn: Conn, fingerprints: Mapping[str, str]
) -> dict[str, Literal["added", "updated"]]:
    """Of jobs the mirror already holds as they are, those whose last write was never
    remembered (a crash between Xano's answer and `record_written`): never written before
    is an add, written with other content an update."""
    rows = await conn.fetch(
        "SELECT r.job_hash, r.synced_at IS NULL AS never FROM xano_records r "
        "JOIN unnest($1::text[], $2::text[]) AS j(job_hash, fingerprint) USING (job_hash) "
        "WHERE r.fingerprint IS DISTINCT FROM j.fingerprint",
        list(fingerprints),
        list(fingerprints.values()),
    )
    return {r["job_hash"]: "added" if r["never"] else "updated" for r in rows}


async def write_sync_outcome(
    conn: Conn, run_id: str, *, status: SyncStatus, failed: int, errors: Sequence[str]
) -> None:
    """The reconcile's status, failures and errors; its confirmed counts are already in."""
    await conn.execute(
        "UPDATE execution_reports SET xano_status = $2, xano_jobs_failed = $3, "
        "error_summary = error_summary || $4::jsonb, updated_at = now() WHERE run_id = $1",
        run_id,
        status.value,
        failed,
        list(errors),
    )


# -- operator confirmations of deletes over the cap ---------------------------------------


async def confirm_deletes(
    conn: Conn, feed_id: int, *, max_deletes: int | None, by: str, valid_hours: float
) -> None:
    """Lets the next reconcile of the feed delete past the cap (up to max_deletes if given)."""
    await conn.execute(
        "INSERT INTO xano_delete_confirmations (feed_id, max_deletes, confirmed_by, expires_at) "
        "VALUES ($1, $2, $3, now() + make_interval(secs => $4)) ON CONFLICT (feed_id) DO UPDATE "
        "SET max_deletes = EXCLUDED.max_deletes, confirmed_by = EXCLUDED.confirmed_by, "
        "confirmed_at = now(), expires_at = EXCLUDED.expires_at",
        feed_id,
        max_deletes,
        by,
        valid_hours * 3600.0,
    )


async def withdraw_delete_confirmation(conn: Conn, feed_id: int) -> bool:
    """Removes an unused confirmation; True if there was one."""
    removed = await conn.fetchval(
        "DELETE FROM xano_delete_confirmations WHERE feed_id = $1 RETURNING feed_id", feed_id
    )
    return removed is not None


async def take_delete_confirmation(conn: Conn, feed_id: int, deletes: int) -> str | None:
    """Uses up a live confirmation that covers `deletes`; who gave it, or None."""
    return await conn.fetchval(  # type: ignore[no-any-return]
        "DELETE FROM xano_delete_confirmations WHERE feed_id = $1 AND expires_at > now() "
        "AND (max_deletes IS NULL OR max_deletes >= $2) RETURNING confirmed_by",
        feed_id,
        deletes,
    )
