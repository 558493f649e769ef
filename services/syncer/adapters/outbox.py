"""Reviewer approvals whose push to Xano has not landed yet (the `xano_outbox` table).

An approval is kept here before its push and removed once Xano confirms it, so neither a
failed push nor a crash mid-push loses it; the syncer retries what is due with backoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.shared.database import Conn


@dataclass(frozen=True, slots=True)
class OutboxBackoff:
    """The wait after a failed push: first_s, doubling with each failure, at most max_s."""

    first_s: float = 5.0
    max_s: float = 300.0


async def keep(conn: Conn, job_hash: str, feed_id: int, retry_in_s: float) -> None:
    """Keeps an approval about to be pushed; only retried if it is still here by then (the
    pusher crashed, or the push failed), so other replicas leave a push in progress alone."""
    await conn.execute(
        "INSERT INTO xano_outbox (job_hash, feed_id, next_attempt_at) "
        "VALUES ($1, $2, now() + make_interval(secs => $3)) "
        "ON CONFLICT (job_hash) DO UPDATE SET feed_id = EXCLUDED.feed_id, "
        "next_attempt_at = greatest(xano_outbox.next_attempt_at, EXCLUDED.next_attempt_at)",
        job_hash,
        feed_id,
        retry_in_s,
    )


async def forget(conn: Conn, job_hashes: Sequence[str]) -> None:
    await conn.execute("DELETE FROM xano_outbox WHERE job_hash = ANY($1::text[])", list(job_hashes))


async def failed(conn: Conn, job_hash: str, error: str, backoff: OutboxBackoff) -> int:
    """Records a failed push and when to try again; the number of attempts so far."""
    # On the right of SET, `attempts` is the value before this failure.
    attempts = await conn.fetchval(
        "UPDATE xano_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = "
        "now() + make_interval(secs => least($4::float8, $3::float8 * power(2, attempts))) "
        "WHERE job_hash = $1 RETURNING attempts",
        job_hash,
        error[:500],
        backoff.first_s,
        backoff.max_s,
    )
    return int(attempts or 0)


async def due(conn: Conn, limit: int) -> list[str]:
    """Hashes whose next attempt is due, oldest first."""
    rows = await conn.fetch(
        "SELECT job_hash FROM xano_outbox WHERE next_attempt_at <= now() "
        "ORDER BY next_attempt_at, created_at LIMIT $1",
        limit,
    )
    return [r["job_hash"] for r in rows]


async def size(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM xano_outbox") or 0)
