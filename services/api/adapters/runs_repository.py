"""The run ledger as the API reads it, and the guarded insert that starts a run."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from schemas.report import ExecutionReport
from services.api.handlers import RunRow
from services.shared.database import Conn

# pg_advisory_xact_lock(namespace, feed_id): serialises triggers of one feed across replicas.
TRIGGER_LOCK_NAMESPACE = 0x6A73  # "js"


async def lock_feed(conn: Conn, feed_id: int) -> None:
    """Held until the surrounding transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", TRIGGER_LOCK_NAMESPACE, feed_id)


async def running_run(conn: Conn, feed_id: int) -> str | None:
    value = await conn.fetchval(
        "SELECT run_id FROM runs WHERE feed_id = $1 AND status = 'RUNNING' "
        "ORDER BY started_at DESC LIMIT 1",
        feed_id,
    )
    return str(value) if value is not None else None


async def insert_run(conn: Conn, run_id: str, feed_id: int, reason: str) -> None:
    """The ledger row exists from the request on, so a second trigger sees the run at once.

    The router's RunStarted upsert keeps it; if the request is never consumed the router's
    stall sweep closes it as a failure.
    """
    await conn.execute(
        "INSERT INTO runs (run_id, feed_id, reason) VALUES ($1, $2, $3) "
        "ON CONFLICT (run_id) DO NOTHING",
        run_id,
        feed_id,
        reason,
    )


_RUN_COLUMNS = ", ".join(f.name for f in fields(RunRow))


async def get_run(conn: Conn, run_id: str) -> RunRow | None:
    row = await conn.fetchrow(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = $1", run_id)
    return RunRow.from_row(dict(row)) if row else None


async def last_run_id(conn: Conn, feed_id: int) -> str | None:
    value = await conn.fetchval(
        "SELECT run_id FROM runs WHERE feed_id = $1 ORDER BY started_at DESC LIMIT 1", feed_id
    )
    return str(value) if value is not None else None


async def report(conn: Conn, run_id: str) -> ExecutionReport | None:
    row = await conn.fetchrow("SELECT * FROM execution_reports WHERE run_id = $1", run_id)
    return ExecutionReport.from_row(dict(row)) if row else None


async def outcome_counts(conn: Conn, run_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT outcome, count(*) AS n FROM run_outcomes WHERE run_id = $1 GROUP BY outcome",
        run_id,
    )
    return {r["outcome"]: int(r["n"]) for r in rows}


@dataclass(frozen=True, slots=True)
class HeldArchive:
    """A run whose archive waits for an operator: how many jobs it holds."""

    run_id: str
    held: int
    completed_at: datetime | None

    def as_json(self) -> dict[str, object]:
        return {"run_id": self.run_id, "held": self.held, "completed_at": self.completed_at}


async def held_archives(conn: Conn, feed_id: int) -> list[HeldArchive]:
    """The feed's runs whose archive waits for an operator, oldest first."""
    rows = await conn.fetch(
        "SELECT r.run_id, e.jobs_archive_held AS held, r.completed_at FROM runs r "
        "JOIN execution_reports e USING (run_id) "
        "WHERE r.feed_id = $1 AND r.archive_state = 'held' ORDER BY r.started_at",
        feed_id,
    )
    return [HeldArchive(r["run_id"], r["held"], r["completed_at"]) for r in rows]


async def confirm_mirror_deletes(conn: Conn, run_id: str, feed_id: int, by: str) -> None:
    """An operator who confirms a held archive has confirmed its take-downs too: the syncer's
    delete cap lets the reconcile that follows delete the held jobs (and no more), so one
    confirmation is enough."""
    await conn.execute(
        "INSERT INTO xano_delete_confirmations (feed_id, max_deletes, confirmed_by, expires_at) "
        "SELECT $2, count(*), $3, now() + interval '24 hours' "
        "FROM archive_hold_jobs WHERE run_id = $1 "
        "ON CONFLICT (feed_id) DO UPDATE SET max_deletes = EXCLUDED.max_deletes, "
        "confirmed_by = EXCLUDED.confirmed_by, confirmed_at = now(), "
        "expires_at = EXCLUDED.expires_at",
        run_id,
        feed_id,
        by,
    )
