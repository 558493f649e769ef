"""The four job tables: where a job lives, moving it between tables, locations, archiving."""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from schemas.job_tables import JOB_COLUMNS, TABLES
from schemas.records import EnrichedJob, Enrichment, IngestFinished, Location, Route
from schemas.status import JobStatus
from services.router.geo import job_geo
from services.router.handlers import (
    Decision,
    FeedInfo,
    Placement,
    location_dict,
    location_string,
)
from services.shared.database import Conn

_KEPT_ON_UPDATE = {"job_hash", "created_at", "first_seen_run", "reviewed_by", "reviewed_at"}
_ALL = ", ".join(JOB_COLUMNS)
ARCHIVED_REASON = "not in the feed"
# An archived job says why it is archived; its last_seen_run says since when.
_ARCHIVED_OVERRIDES = {
    "route": f"'{Route.ARCHIVED}'",
    "status": f"'{JobStatus.ARCHIVED}'",
    "route_reason": f"'{ARCHIVED_REASON}'",
}
_SELECT_AS_ARCHIVED = ", ".join(_ARCHIVED_OVERRIDES.get(c, c) for c in JOB_COLUMNS)


@dataclass(frozen=True, slots=True)
class RoutedRow:
    route: Route
    value: tuple[Any, ...]  # the job as one `job_input` value, its digest last (`job_input`)
    # The job's `row_digest` in `route`'s table, when it is there already (see `place`).
    digest_before: str | None = None


@dataclass(frozen=True, slots=True)
class Touched:
    """A job that keeps its place: only its last-seen run and error move."""

    route: Route
    job_hash: str
    run_id: str
    error: str


# Columns that travel as text in `job_input` (migration 0002) and are cast on the way in.
JSON_COLUMNS = frozenset(
    {"locations", "_geo", "ai_job_tasks", "ai_search_terms", "ai_top_tags", "ai_skills"}
)
NUMERIC_COLUMNS = frozenset({"salary_min", "salary_max", "ai_confidence_score"})
_LAST_SEEN_AT = JOB_COLUMNS.index("last_seen_run")
_CAST = {**dict.fromkeys(JSON_COLUMNS, "jsonb"), **dict.fromkeys(NUMERIC_COLUMNS, "numeric")}
_FROM_INPUT = ", ".join(f"{c}::{_CAST[c]}" if c in _CAST else c for c in JOB_COLUMNS)


def _place_sql() -> str:
    """One statement per batch, whatever the routes. For each table in `TABLES`
    order, two parameters: the hashes of jobs routed elsewhere (deleted: a move), and its own
    rows as one binary array of `job_input` (upserted). The parts share one snapshot and touch
    disjoint rows, one row per job."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in JOB_COLUMNS if c not in _KEPT_ON_UPDATE)
    parts = []
    for n, table in enumerate(TABLES.values()):
        parts.append(
            f"left_{table} AS (DELETE FROM {table} WHERE job_hash = ANY(${2 * n + 1}::text[]))"
        )
        parts.append(
            f"into_{table} AS (INSERT INTO {table} ({_ALL}, row_digest) "
            f"SELECT {_FROM_INPUT}, row_digest FROM unnest(${2 * n + 2}::job_input[]) "
            f"ON CONFLICT (job_hash) DO UPDATE SET {updates}, "
            "row_digest = EXCLUDED.row_digest, updated_at = now())"
        )
    return "WITH " + ",\n".join(parts) + "\nSELECT 1"


def _seen_sql() -> str:
    """Jobs that stay where they are with the very row they had: only their last-seen run
    (and updated_at) move, as the full upsert would have left them. Guarded by the digest,
    so a row someone changed meanwhile is not touched; returns the jobs it updated."""
    parts = [
        f"seen_{table} AS (UPDATE {table} t SET last_seen_run = u.run_id, updated_at = now() "
        f"FROM unnest(${3 * n + 1}::text[], ${3 * n + 2}::text[], ${3 * n + 3}::text[]) "
        "AS u(job_hash, run_id, digest) "
        "WHERE t.job_hash = u.job_hash AND t.row_digest = u.digest RETURNING t.job_hash)"
        for n, table in enumerate(TABLES.values())
    ]
    union = " UNION ALL ".join(f"SELECT job_hash FROM seen_{table}" for table in TABLES.values())
    return "WITH " + ",\n".join(parts) + "\n" + union


_PLACE_SQL = _place_sql()
_SEEN_SQL = _seen_sql()
# What a row's digest covers: every column the upsert overwrites but the last-seen run.
_DIGESTED_AT = tuple(
    i for i, c in enumerate(JOB_COLUMNS) if c not in _KEPT_ON_UPDATE and c != "last_seen_run"
)
_DIGESTED = operator.itemgetter(*_DIGESTED_AT)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def job_input(
    job: EnrichedJob,
    decision: Decision,
    feed: FeedInfo,
    *,
    first_seen_run: str | None,
    created_at: datetime,
    reviewed_by: str | None,
) -> tuple[Any, ...]:
    """A routed job as one `job_input` value: its `JOB_COLUMNS`, in that order, then the row's
    digest. JSONB columns travel as JSON text and NUMERIC ones as decimal text, as the JSON
    encoding wrote them. Built in place, without a dict of named columns first: this runs for
    every job, and the dict cost a quarter of it (tests hold each position to its name); enum
    values are read as `_value_`, a plain attribute, where `.value` is a slower descriptor."""
    posting, enrichment = job.job, job.enrichment
    salary = (enrichment.salary if enrichment else None) or posting.salary
    locations = posting.locations
    values = [
        job.job_hash,
        job.feed_id,
        decision.route._value_ if decision.route else None,
        decision.reason,
        decision.status,
        first_seen_run,
        job.run_id,  # last_seen_run
        None,  # execution_id
        posting.external_job_id,
        feed.name,  # job_source
        feed.partner_id,
        posting.title,
        posting.company_name,
        posting.description_html,
        posting.description_text,
        posting.application_url,
        posting.posted_at,
        posting.expires_at,
        posting.employment_type._value_,
        posting.is_remote,
        len(locations) > 1,  # is_multi_location
        any(loc.country not in (None, "US") for loc in locations),  # is_international
        _json_text([location_dict(loc) for loc in locations]),
        location_string(job),
        _json_text(job_geo(locations)),
        _decimal_text(salary.min) if salary else None,
        _decimal_text(salary.max) if salary else None,
        salary.period._value_ if salary and salary.period else None,
        salary.currency if salary else None,
        posting.cpc,
        posting.cpa,
        posting.closed_reason,
        *(_enrichment_values(enrichment) if enrichment else _NO_ENRICHMENT),
        job.status._value_,  # ai_enrichment_status
        job.error,  # ai_enrichment_error
        job.enrichment_version or None,
        reviewed_by,
        None,  # reviewed_at
        created_at,
    ]
    values.append(row_digest(values))
    return tuple(values)


def _enrichment_values(e: Enrichment) -> tuple[Any, ...]:
    """The enrichment's columns, `ai_title` to `searchable_text` in `JOB_COLUMNS`."""
    return (
        e.ai_title,
        e.ai_description,
        _json_text(e.tasks),  # ai_job_tasks
        _json_text(e.search_terms),
        _json_text(e.tags),  # ai_top_tags
        _json_text(e.skills),
        _decimal_text(e.confidence),  # ai_confidence_score
        "; ".join(e.confidence_reasons),  # confidence_reasoning
        e.sector_id,
        e.industry_group_id,
        e.industry_id,
        e.job_function_id,
        e.sector or None,
        e.industry_group or None,
        e.industry or None,
        e.job_function or None,
        e.industry_reasoning,  # ih_reasoning
        e.job_function_reasoning,  # jf_reasoning
        e.searchable_text,
    )


# A job without an enrichment: the same columns, empty.
_NO_ENRICHMENT = (None, None, "[]", "[]", "[]", "[]", *([None] * 13))


def row_digest(values: Sequence[Any]) -> str:
    """A digest of what the upsert of these `job_input` values would write over a stored row
    (not the last-seen run, nor the columns it keeps). Equal digests: equal rows."""
    digested = orjson.dumps(_DIGESTED(values))
    return hashlib.sha256(digested).hexdigest()[:32]  # SHA-NI: the fastest hash here


def _decimal_text(value: Any) -> str | None:
    """The number as JSON wrote it; NaN and infinities were JSON null, so NULL."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    text = orjson.dumps(value).decode()
    return None if text == "null" else text


async def placements(conn: Conn, hashes: Sequence[str]) -> dict[str, Placement]:
    """Where each of these jobs lives now (a job is in at most one table)."""
    union = " UNION ALL ".join(
        f"SELECT '{route.value}' AS route, job_hash, reviewed_by, first_seen_run, created_at, "
        f"row_digest, feed_id FROM {table} WHERE job_hash = ANY($1::text[])"
        for route, table in TABLES.items()
    )
    return {
        r["job_hash"]: Placement(
            Route(r["route"]),
            r["reviewed_by"],
            r["first_seen_run"],
            r["created_at"],
            r["row_digest"],
            r["feed_id"],
        )
        for r in await conn.fetch(union, list(hashes))
    }


@dataclass(slots=True)
class Placing:
    """Jobs to place, ready to send."""

    rows: dict[str, tuple[Route, tuple[Any, ...]]]  # job_hash -> (table, job_input value)
    unchanged: dict[str, str]  # job_hash -> digest, for jobs whose stored row is this one


async def place(conn: Conn, routed: Sequence[RoutedRow]) -> None:
    """Writes each job into its table and removes it from the other three (a move). A job
    that stays in its table with an unchanged row only has its last-seen run moved."""
    await place_prepared(conn, place_args(routed))


def place_args(routed: Sequence[RoutedRow]) -> Placing:
    # One row per job: a batch may hold a job twice (two runs, a redelivery); the later wins,
    # as it did row by row, and one INSERT may not touch a row twice.
    latest = {r.value[0]: r for r in routed}
    placing = Placing(rows={}, unchanged={})
    for job_hash, r in latest.items():
        placing.rows[job_hash] = (r.route, r.value)
        if r.digest_before is not None and r.digest_before == r.value[-1]:
            placing.unchanged[job_hash] = r.digest_before
    return placing


async def place_prepared(conn: Conn, placing: Placing) -> None:
    """The unchanged jobs' guarded last-seen update first; then every other job, and any
    unchanged one the guard missed (its row changed meanwhile), written whole."""
    seen: set[str] = set()
    if placing.unchanged:
        args: list[list[str]] = []
        for route in TABLES:
            mine = [
                (h, placing.rows[h][1][_LAST_SEEN_AT], d)
                for h, d in placing.unchanged.items()
                if placing.rows[h][0] is route
            ]
            args.extend([[m[0] for m in mine], [m[1] for m in mine], [m[2] for m in mine]])
        seen = {r["job_hash"] for r in await conn.fetch(_SEEN_SQL, *args)}
    rows = {h: v for h, v in placing.rows.items() if h not in seen}
    if not rows:
        return
    full: list[list[Any]] = []
    for route in TABLES:
        full.append([h for h, (r, _) in rows.items() if r is not route])
        full.append([value for r, value in rows.values() if r is route])
    await conn.execute(_PLACE_SQL, *full)


async def touch(conn: Conn, touched: Sequence[Touched]) -> None:
    """Jobs whose enrichment failed keep their place; only their last-seen run and error
    move. One UPDATE per table holding any of them; a job touched twice keeps the later."""
    latest = {t.job_hash: t for t in touched}
    for route, table in TABLES.items():
        mine = [t for t in latest.values() if t.route is route]
        if mine:
            await conn.execute(
                f"UPDATE {table} t SET last_seen_run = u.run_id, ai_enrichment_error = u.error, "
                "row_digest = NULL, updated_at = now() "
                "FROM unnest($1::text[], $2::text[], $3::text[]) AS u(job_hash, run_id, error) "
                "WHERE t.job_hash = u.job_hash",
                [t.job_hash for t in mine],
                [t.run_id for t in mine],
                [t.error for t in mine],
            )


async def lock_jobs(conn: Conn, hashes: Iterable[str]) -> None:
    """Holds these jobs until the transaction ends. A merge and its kept job can be routed by
    two replicas at once (they are keyed apart); each folds the job's locations from the rows
    it sees, so the later must see the earlier's: taken in one order, so never a deadlock."""
    await conn.execute(
        "SELECT count(pg_advisory_xact_lock(k)) FROM "
        "(SELECT DISTINCT hashtextextended(h, 0) AS k FROM unnest($1::text[]) AS h "
        "ORDER BY k OFFSET 0) AS ordered",
        sorted(set(hashes)),
    )


async def add_locations(conn: Conn, run_id: str, entries: Iterable[tuple[str, Location]]) -> None:
    """Locations are rows keyed by (job, location), so merges commute with their kept job."""
    rows = {(h, loc.key()): loc for h, loc in entries}
    if rows:
        await conn.execute(
            "INSERT INTO job_locations (job_hash, location_key, location, last_seen_run) "
            "SELECT h, k, l::jsonb, $4 FROM unnest($1::text[], $2::text[], $3::text[]) "
            "AS e(h, k, l) "
            "ON CONFLICT (job_hash, location_key) DO UPDATE "
            "SET last_seen_run = EXCLUDED.last_seen_run, updated_at = now()",
            [h for h, _ in rows],
            [k for _, k in rows],
            [orjson.dumps(location_dict(loc)).decode() for loc in rows.values()],
            run_id,
        )


def _refresh_sql() -> str:
    """The aggregate once, applied to the four tables by data-modifying CTEs. A job with one
    location row in the run, and not in `$3`, was written right with its own record: it is
    skipped (counted, not aggregated), as is any row already right, so the common case costs
    one index lookup. The lookups are the batch's hashes, one primary-key probe each (the
    OFFSET 0 fence keeps the planner from swapping them for a scan of every row of the run:
    the run's value is never in the statistics, so it guesses one row and scans the table)."""
    updates = ", ".join(
        f"""
        u_{table} AS (
            UPDATE {table} t
               SET locations = agg.locs, is_multi_location = agg.n > 1,
                   location_string = agg.label, is_international = agg.intl,
                   row_digest = NULL
              FROM agg
             WHERE t.job_hash = agg.job_hash AND t.last_seen_run = $1
               AND (t.locations, t.location_string, t.is_multi_location, t.is_international)
                   IS DISTINCT FROM (agg.locs, agg.label, agg.n > 1, agg.intl)
            RETURNING t.job_hash, t.locations)"""
        for table in TABLES.values()
    )
    changed = " UNION ALL ".join(f"SELECT * FROM u_{table}" for table in TABLES.values())
    return f"""
        WITH mine AS (
            SELECT l.*
            FROM unnest($2::text[]) AS b(job_hash),
                 LATERAL (SELECT * FROM job_locations l
                          WHERE l.job_hash = b.job_hash AND l.last_seen_run = $1
                          OFFSET 0) l
        ), folded AS (
            SELECT job_hash FROM mine
            GROUP BY job_hash
            HAVING count(*) > 1 OR job_hash = ANY($3::text[])
        ), agg AS (
            SELECT job_hash,
                   jsonb_agg(location ORDER BY location_key) AS locs,
                   count(*) AS n,
                   string_agg(concat_ws(' ', location->>'city', location->>'state',
                                        location->>'country'), ', '
                              ORDER BY location_key) AS label,
                   bool_or(coalesce(location->>'country', 'US') <> 'US') AS intl
            FROM mine WHERE job_hash IN (SELECT job_hash FROM folded)
            GROUP BY job_hash
        ), {updates}
        {changed}
    """


_REFRESH_SQL = _refresh_sql()


async def refresh_locations(
    conn: Conn, run_id: str, hashes: Sequence[str], *, refold: Sequence[str] = ()
) -> dict[str, list[Location]]:
    """Folds every location these jobs have in this run (their own and merged ones) into their
    rows. Run after every batch, so merges, kept jobs and redeliveries may come in any order;
    `refold` are jobs to fold even when they have a single location row (see `_refresh_sql`).
    Returns the jobs whose locations changed, with their new locations."""
    rows = await conn.fetch(_REFRESH_SQL, run_id, list(hashes), list(refold))
    return {r["job_hash"]: [Location.model_validate(loc) for loc in r["locations"]] for r in rows}


async def set_geo(conn: Conn, points: Mapping[str, Any]) -> None:
    """Each job's `_geo` (one point, or None), wherever the job lives."""
    if not points:
        return
    for table in TABLES.values():
        await conn.execute(
            f"UPDATE {table} t SET _geo = p.geo, row_digest = NULL "
            "FROM unnest($1::text[], $2::jsonb[]) AS p(job_hash, geo) "
            "WHERE t.job_hash = p.job_hash",
            list(points),
            list(points.values()),
        )


# A source of the feed that still lists a job on the board (open or in review).
_LIVE_SOURCE = f"""
    s.feed_id = $1 AND s.dropped_run IS NULL
    AND (EXISTS (SELECT 1 FROM {TABLES[Route.OPEN]} o WHERE o.job_hash = s.job_hash)
         OR EXISTS (SELECT 1 FROM {TABLES[Route.MANUAL_REVIEW]} m WHERE m.job_hash = s.job_hash))
"""


# The feed's live jobs that no feed lists (none of their sources is listed): an admin restored
# them from the archive, or they predate sources. Their owner's runs judge them as unseen,
# as every run judged its feed's jobs before sources.
_UNLISTED_OWN = " UNION ALL ".join(
    f"SELECT t.job_hash FROM {TABLES[route]} t WHERE t.feed_id = $1 AND NOT EXISTS "
    "(SELECT 1 FROM job_sources s WHERE s.job_hash = t.job_hash AND s.dropped_run IS NULL)"
    for route in (Route.OPEN, Route.MANUAL_REVIEW)
)


async def count_unseen(conn: Conn, feed_id: int, run_id: str) -> tuple[int, int]:
    """(live jobs the feed lists, how many of them this run did not produce): per source, so
    a job another feed owns counts for every feed that lists it; with the feed's own live
    jobs no feed lists, never produced."""
    row = await conn.fetchrow(
        "SELECT count(*) AS live, "
        "count(*) FILTER (WHERE s.last_seen_run IS DISTINCT FROM $2) AS unseen "
        f"FROM job_sources s WHERE {_LIVE_SOURCE}",
        feed_id,
        run_id,
    )
    assert row is not None
    unlisted = len(await _unlisted_own(conn, feed_id))
    return int(row["live"]) + unlisted, int(row["unseen"]) + unlisted


async def keep_listed(conn: Conn, feed_id: int, run_id: str, ingest: IngestFinished) -> int:
    """Marks the feed's live sources that the run's malformed records name (by external id
    or URL, else by the job's title) as seen by the run, so its archive keeps their jobs;
    returns how many."""
    if not ingest.malformed_listings and not ingest.malformed_titles:
        return 0
    same_title = " OR ".join(
        f"EXISTS (SELECT 1 FROM {TABLES[route]} t WHERE t.job_hash = s.job_hash "
        "AND lower(regexp_replace(btrim(t.title), '\\s+', ' ', 'g')) = ANY($4::text[]))"
        for route in (Route.OPEN, Route.MANUAL_REVIEW)
    )
    status = await conn.execute(
        f"UPDATE job_sources s SET last_seen_run = $2, last_change = '{SourceChange.KEPT}', "
        f"updated_at = now() WHERE {_LIVE_SOURCE} AND s.last_seen_run IS DISTINCT FROM $2 "
        "AND (s.external_job_id = ANY($3::text[]) OR s.application_url = ANY($3::text[]) "
        f"OR {same_title})",
        feed_id,
        run_id,
        list(ingest.malformed_listings),
        [" ".join(title.split()).lower() for title in ingest.malformed_titles],
    )
    return int(status.split()[-1])


async def _unlisted_own(conn: Conn, feed_id: int) -> list[str]:
    return [r["job_hash"] for r in await conn.fetch(_UNLISTED_OWN, feed_id)]


async def held_reasons(conn: Conn, run_id: str, prefix: str) -> list[str]:
    """The route reasons, starting with `prefix`, of the review jobs this run saw."""
    rows = await conn.fetch(
        "SELECT route_reason FROM manual_review_jobs "
        "WHERE last_seen_run = $1 AND starts_with(route_reason, $2)",
        run_id,
        prefix,
    )
    return [str(row["route_reason"]) for row in rows]


@dataclass(frozen=True, slots=True)
class Dropped:
    """What a run's archive did: the feed's sources it dropped, the jobs it archived (those
    no source lists any more)."""

    sources: int = 0
    jobs: int = 0


async def archive_unseen(conn: Conn, feed_id: int, run_id: str) -> Dropped:
    """Drops the feed's sources of live jobs this run did not produce; archives the jobs no
    source lists any more (another feed's listing keeps a job open)."""
    hashes = await _drop_sources(conn, feed_id, run_id, "s.last_seen_run IS DISTINCT FROM $2")
    unlisted = await _unlisted_own(conn, feed_id)
    return Dropped(len(hashes), await _archive_unlisted(conn, [*hashes, *unlisted]))


async def hold_unseen(conn: Conn, feed_id: int, run_id: str) -> int:
    """Remembers the live jobs this run did not produce, for an operator to confirm later."""
    status = await conn.execute(
        "INSERT INTO archive_hold_jobs (run_id, job_hash) "
        f"SELECT $2::text, s.job_hash FROM job_sources s WHERE {_LIVE_SOURCE} "
        "AND s.last_seen_run IS DISTINCT FROM $2 "
        f"UNION ALL SELECT $2::text, job_hash FROM ({_UNLISTED_OWN}) unlisted "
        "ON CONFLICT DO NOTHING",
        feed_id,
        run_id,
    )
    return int(status.split()[-1])


async def archive_held(conn: Conn, feed_id: int, run_id: str) -> Dropped:
    """Drops the feed's sources of the jobs a held archive named (those still live), and
    archives the ones no source lists any more."""
    held = "s.job_hash IN (SELECT job_hash FROM archive_hold_jobs WHERE run_id = $2)"
    hashes = await _drop_sources(conn, feed_id, run_id, held)
    named = await conn.fetch("SELECT job_hash FROM archive_hold_jobs WHERE run_id = $1", run_id)
    unlisted = set(await _unlisted_own(conn, feed_id)) & {r["job_hash"] for r in named}
    return Dropped(len(hashes), await _archive_unlisted(conn, [*hashes, *sorted(unlisted)]))


async def _drop_sources(conn: Conn, feed_id: int, run_id: str, which: str) -> list[str]:
    """Marks the feed's live sources matching `which` (SQL over $1 feed, $2 run) as dropped
    by `run_id`; returns their jobs."""
    rows = await conn.fetch(
        f"UPDATE job_sources s SET dropped_run = $2, updated_at = now() "
        f"WHERE {_LIVE_SOURCE} AND {which} RETURNING s.job_hash",
        feed_id,
        run_id,
    )
    return [r["job_hash"] for r in rows]


async def _archive_unlisted(conn: Conn, hashes: Sequence[str]) -> int:
    """Moves those of these live jobs that no source lists any more to the archive."""
    if not hashes:
        return 0
    unlisted = (
        "job_hash = ANY($1::text[]) AND NOT EXISTS (SELECT 1 FROM job_sources s "
        "WHERE s.job_hash = t.job_hash AND s.dropped_run IS NULL)"
    )
    moved = 0
    for table in (TABLES[Route.OPEN], TABLES[Route.MANUAL_REVIEW]):
        copied = await conn.fetch(
            f"""
            INSERT INTO archive_jobs ({_ALL})
            SELECT {_SELECT_AS_ARCHIVED}
              FROM {table} t WHERE {unlisted}
            ON CONFLICT (job_hash) DO UPDATE SET
              {", ".join(f"{c} = EXCLUDED.{c}" for c in JOB_COLUMNS if c != "job_hash")},
              row_digest = NULL, updated_at = now()
            RETURNING job_hash
            """,
            list(hashes),
        )
        moved_hashes = [r["job_hash"] for r in copied]
        deleted = await conn.execute(
            f"DELETE FROM {table} WHERE job_hash = ANY($1::text[])", moved_hashes
        )
        if int(deleted.split()[-1]) != len(moved_hashes):
            raise RuntimeError(
                f"archive of {table} moved {len(moved_hashes)} rows but deleted {deleted}"
            )
        moved += len(moved_hashes)
    return moved


@dataclass(frozen=True, slots=True)
class Sourced:
    """One feed's listing of a job in a run, and what it did (`SourceChange`)."""

    job_hash: str
    feed_id: int
    run_id: str
    external_job_id: str | None
    application_url: str | None
    change: SourceChange


class SourceChange(StrEnum):
    """What one feed's listing of a job did in a run."""

    NEW = "new"  # it put the job on the board
    UPDATED = "updated"  # it changed the owner's row
    UNCHANGED = "unchanged"
    KNOWN = "known"  # the job was on the board from another feed: only a source added
    KEPT = "kept"  # listed by a record the run could not read: kept as it was


async def record_sources(conn: Conn, sourced: Sequence[Sourced]) -> None:
    """Upserts each listing as a source of its job (listed again: no longer dropped). A
    batch may hold one listing twice (a redelivery, two runs): the later wins."""
    latest = {(s.job_hash, s.feed_id): s for s in sourced}
    if not latest:
        return
    rows = list(latest.values())
    await conn.execute(
        "INSERT INTO job_sources (job_hash, feed_id, external_job_id, application_url, "
        "first_seen_run, last_seen_run, last_change) "
        "SELECT h, f, e, u, r, r, c FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], "
        "$5::text[], $6::text[]) AS x(h, f, e, u, r, c) "
        "ON CONFLICT (job_hash, feed_id) DO UPDATE SET "
        "external_job_id = EXCLUDED.external_job_id, application_url = EXCLUDED.application_url, "
        "last_seen_run = EXCLUDED.last_seen_run, last_change = EXCLUDED.last_change, "
        "dropped_run = NULL, updated_at = now()",
        [r.job_hash for r in rows],
        [r.feed_id for r in rows],
        [r.external_job_id for r in rows],
        [r.application_url for r in rows],
        [r.run_id for r in rows],
        [r.change.value for r in rows],
    )


async def source_changes(conn: Conn, feed_id: int, run_id: str) -> dict[str, int]:
    """How many of the feed's sources this run listed, by what the listing did."""
    rows = await conn.fetch(
        "SELECT last_change, count(*) AS n FROM job_sources "
        "WHERE feed_id = $1 AND last_seen_run = $2 AND dropped_run IS NULL GROUP BY last_change",
        feed_id,
        run_id,
    )
    return {r["last_change"]: int(r["n"]) for r in rows}
