"""What the feed's runs read (migration 0013): each record's fingerprint, each run's snapshot,
and the settled groups of the last run that incremental runs compare with."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from schemas.records import FeedRequested, Outcome, RequestReason, RunStatus
from schemas.status import RunState
from services.ingestor.incremental import Member, PreviousRun
from services.ingestor.ports import Connections
from services.shared import versions
from services.shared.database import Conn

_KEPT = (Outcome.APPROVED, Outcome.MANUAL_REVIEW, Outcome.REJECTED)
# The job's row, enriched with the current version. Another feed's rejected row only when
# this feed's listing was rejected too: one that passes routing takes the job over in a full
# run (router `_known_elsewhere`), and an `unchanged` one may have passed.
_LIVE_ROW = " OR ".join(
    f"EXISTS (SELECT 1 FROM {table} t WHERE t.job_hash = p.job_hash AND t.enrichment_version = $3"
    f"{own})"
    for table, own in (
        ("open_jobs", ""),
        ("manual_review_jobs", ""),
        ("rejected_jobs", f" AND (t.feed_id = $2 OR p.outcome = '{Outcome.REJECTED}')"),
    )
)
# The last run's settled groups: every member kept (and its job still listed by the feed,
# enriched with the current version) or merged by pass 1; none merged by pass 2, nor the
# target of a pass-2 merge. An `unchanged` record was settled in its own last run: it is kept
# when it names no kept job.
_SETTLED_GROUPS = f"""
WITH prev AS (
    SELECT f.seq, f.fingerprint, f.group_key, o.outcome, o.merge_pass, o.job_hash, o.kept_hash
      FROM run_fingerprints f JOIN run_outcomes o ON o.run_id = f.run_id AND o.seq = f.seq
     WHERE f.run_id = $1
),
pass2 AS (
    SELECT job_hash AS h FROM prev WHERE merge_pass = 2
    UNION SELECT kept_hash FROM prev WHERE merge_pass = 2
),
unsettled AS (
    SELECT p.group_key FROM prev p
     WHERE NOT (p.outcome = ANY($4::text[])
                OR (p.outcome IN ('{Outcome.DUPLICATE}', '{Outcome.MERGED}') AND p.merge_pass = 1)
                OR p.outcome = '{Outcome.UNCHANGED}')
        OR p.job_hash IN (SELECT h FROM pass2)
    UNION
    SELECT p.group_key FROM prev p
     WHERE (p.outcome = ANY($4::text[])
            OR (p.outcome = '{Outcome.UNCHANGED}' AND p.kept_hash IS NULL))
       AND NOT (EXISTS (SELECT 1 FROM job_sources s WHERE s.job_hash = p.job_hash
                          AND s.feed_id = $2 AND s.dropped_run IS NULL)
                AND ({_LIVE_ROW}))
)
SELECT group_key, array_agg(fingerprint ORDER BY seq) AS fingerprints,
       array_agg(kept_hash ORDER BY seq) AS kept
  FROM prev WHERE group_key NOT IN (SELECT group_key FROM unsettled)
 GROUP BY group_key
"""


class SeenRepository:
    """The `RunHistory` port over PostgreSQL."""

    def __init__(self, db: Connections) -> None:
        self._db = db

    async def begin(self, request: FeedRequested) -> PreviousRun | None:
        """Records this run's snapshot, forgets older runs' fingerprints, and returns the
        feed's last run to compare with (None on a refresh)."""
        async with self._db.connection() as conn:
            current = await versions.current(conn)
            snap = snapshot(current, await feed_settings(conn, request.feed_id))
            await begin(conn, request.run_id, request.feed_id, snap)
            if request.refresh:
                return None
            enrichment = current.get(versions.ENRICHMENT, "")
            return await previous_run(conn, request.feed_id, request.run_id, snap, enrichment)

    async def write_fingerprints(
        self, run_id: str, feed_id: int, rows: Sequence[tuple[int, int, int]]
    ) -> None:
        async with self._db.connection() as conn:
            await write_fingerprints(conn, run_id, feed_id, rows)


def snapshot(current: dict[str, str], feed: dict[str, object]) -> str | None:
    """What a run reads under: the stages' versions and the feed's settings the router puts
    on rows. None (skip nothing) while a stage has not said its version yet."""
    if any(stage not in current for stage in versions.REQUIRED):
        return None
    document = {"versions": current, "feed": feed}
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


async def feed_settings(conn: Conn, feed_id: int) -> dict[str, object]:
    row = await conn.fetchrow(
        "SELECT name, partner_id, bypass_filters FROM feeds WHERE id = $1", feed_id
    )
    return dict(row) if row is not None else {}


async def begin(conn: Conn, run_id: str, feed_id: int, snap: str | None) -> None:
    """A run's read starts (again, after a redelivery): its fingerprints so far go, and the
    feed's older runs' too (only the last run is ever compared with)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM run_fingerprints WHERE run_id = $1", run_id)
        await conn.execute(
            "DELETE FROM run_fingerprints WHERE feed_id = $1 AND run_id <> $2 AND run_id <> "
            "COALESCE((SELECT run_id FROM runs WHERE feed_id = $1 AND run_id <> $2 "
            "ORDER BY started_at DESC LIMIT 1), '')",
            feed_id,
            run_id,
        )
        await conn.execute(
            "INSERT INTO ingest_snapshots (run_id, feed_id, snapshot) VALUES ($1, $2, $3) "
            "ON CONFLICT (run_id) DO UPDATE SET snapshot = EXCLUDED.snapshot",
            run_id,
            feed_id,
            snap or "",
        )


async def write_fingerprints(
    conn: Conn, run_id: str, feed_id: int, rows: Sequence[tuple[int, int, int]]
) -> None:
    """(seq, fingerprint, group key) of records read."""
    await conn.copy_records_to_table(
        "run_fingerprints",
        records=[(run_id, seq, feed_id, fp, group) for seq, fp, group in rows],
        columns=("run_id", "seq", "feed_id", "fingerprint", "group_key"),
    )


async def previous_run(
    conn: Conn, feed_id: int, run_id: str, snap: str | None, enrichment: str
) -> PreviousRun | None:
    """The feed's last run, to compare with: only when it is the latest run of the feed, was
    read by the ingestor under the same snapshot, ran to its end (success or partial) and
    was no replay (a replay or backfill may have rewritten rows with older records)."""
    if snap is None:
        return None
    row = await conn.fetchrow(
        "SELECT r.run_id, r.status, e.run_status, r.reason, s.snapshot FROM runs r "
        "LEFT JOIN ingest_snapshots s ON s.run_id = r.run_id "
        "LEFT JOIN execution_reports e ON e.run_id = r.run_id "
        "WHERE r.feed_id = $1 AND r.run_id <> $2 ORDER BY r.started_at DESC LIMIT 1",
        feed_id,
        run_id,
    )
    if (
        row is None
        or row["status"] != RunState.COMPLETED
        or row["run_status"] not in (RunStatus.SUCCESS, RunStatus.PARTIAL)
        or row["reason"] == RequestReason.REPLAY
        or row["snapshot"] != snap
    ):
        return None
    async with conn.transaction():
        # The last run's rows are often younger than the tables' statistics (autoanalyze has
        # not seen them): expecting one row a side, the planner joined 20,000 fingerprints
        # to 20,000 outcomes in a nested loop (37 s on a 20k-job feed read again soon after).
        await conn.execute("SET LOCAL enable_nestloop = off")
        groups = await conn.fetch(
            _SETTLED_GROUPS, row["run_id"], feed_id, enrichment, [o.value for o in _KEPT]
        )
    return PreviousRun(
        run_id=row["run_id"],
        groups={g["group_key"]: _members(g["fingerprints"], g["kept"]) for g in groups},
    )


def _members(fingerprints: list[int], kept: list[str | None]) -> tuple[Member, ...]:
    return tuple(Member(fp, k) for fp, k in zip(fingerprints, kept, strict=True))
