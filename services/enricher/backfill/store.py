"""A backfill's state in PostgreSQL (migration 0010), on a plain asyncpg connection (JSONB
as text), and the job tables it reads its jobs from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from schemas.records import EmploymentType, JobPosting, Location, Salary, SalaryPeriod
from schemas.usage import StageUsage
from services.enricher.backends.gemini.schemas import ITEM_MODELS, Stage
from services.enricher.backfill.stages import Item, Ref

# pg_advisory_lock(namespace, backfill_id): held by the one process driving a backfill; a
# killed process's session ends and lets the next one take over
DRIVER_LOCK_NAMESPACE = 0x6266  # "bf"
# the feed run lock the API's trigger and `jobstream replay` take (runs_repository)
FEED_LOCK_NAMESPACE = 0x6A73

Conn = asyncpg.Connection


@dataclass(frozen=True, slots=True)
class Backfill:
    backfill_id: int
    feed_id: int | None
    batch_api: bool
    version: str
    status: str
    jobs: int
    token: str


@dataclass(frozen=True, slots=True)
class BatchRow:
    number: int
    stage: Stage
    display_name: str
    requests: list[list[Ref]]
    name: str | None
    state: str


async def create(
    conn: Conn, feed_id: int | None, *, batch_api: bool, version: str, stage: str = "enrich"
) -> int:
    """A backfill of the feed's (every feed's) open and review jobs as they are now."""
    async with conn.transaction():
        backfill_id: int = await conn.fetchval(
            "INSERT INTO backfills (feed_id, stage, batch_api, version) VALUES ($1, $2, $3, $4) "
            "RETURNING backfill_id",
            feed_id,
            stage,
            batch_api,
            version,
        )
        seqs: dict[int, int] = {}
        records = []
        for job in await live_jobs(conn, feed_id):
            seq = seqs[job.feed_id] = seqs.get(job.feed_id, 0) + 1
            records.append(
                (backfill_id, job.feed_id, seq, job.job_hash, job.posting.model_dump_json())
            )
        await conn.executemany(
            "INSERT INTO backfill_items (backfill_id, feed_id, seq, job_hash, job) "
            "VALUES ($1, $2, $3, $4, $5)",
            records,
        )
        await conn.execute(
            "UPDATE backfills SET jobs = $2 WHERE backfill_id = $1", backfill_id, len(records)
        )
    return backfill_id


@dataclass(frozen=True, slots=True)
class LiveJob:
    """An open or review job: its keys and the posting its row was written from."""

    job_hash: str
    feed_id: int
    posting: JobPosting


async def live_jobs(conn: Conn, feed_id: int | None) -> list[LiveJob]:
    """The open and review jobs, oldest first (by feed, then id)."""
    query = " UNION ALL ".join(
        f"SELECT job_hash, feed_id, id, {_POSTING_COLUMNS}, '{table}' AS t FROM {table} "
        "WHERE ($1::int IS NULL OR feed_id = $1)"
        for table in ("open_jobs", "manual_review_jobs")
    )
    rows = await conn.fetch(f"{query} ORDER BY feed_id, t, id", feed_id)
    return [LiveJob(row["job_hash"], row["feed_id"], posting_of(row)) for row in rows]


_POSTING_COLUMNS = (
    "external_job_id, title, company_name, description, application_url, posted_at, "
    "expires_at, employment_type, is_remote, locations::text AS locations, salary_min, "
    "salary_max, salary_period, currency, cpc, cpa, closed_reason"
)


def posting_of(row: Any) -> JobPosting:
    """The posting a job row was written from (the salary: the one the row shows)."""
    salary = None
    if row["salary_min"] is not None or row["salary_max"] is not None:
        period = row["salary_period"]
        salary = Salary(
            min=float(row["salary_min"]) if row["salary_min"] is not None else None,
            max=float(row["salary_max"]) if row["salary_max"] is not None else None,
            period=SalaryPeriod(period) if period else None,
            currency=row["currency"],
        )
    return JobPosting(
        external_job_id=row["external_job_id"],
        title=row["title"],
        company_name=row["company_name"],
        description_html=row["description"],
        application_url=row["application_url"],
        posted_at=row["posted_at"],
        expires_at=row["expires_at"],
        employment_type=EmploymentType(row["employment_type"]),
        is_remote=row["is_remote"],
        locations=tuple(Location.model_validate(loc) for loc in orjson.loads(row["locations"])),
        salary=salary,
        cpc=row["cpc"],
        cpa=row["cpa"],
        closed_reason=row["closed_reason"],
    )


async def get(conn: Conn, backfill_id: int) -> Backfill | None:
    row = await conn.fetchrow(
        "SELECT backfill_id, feed_id, batch_api, version, status, jobs, token FROM backfills "
        "WHERE backfill_id = $1",
        backfill_id,
    )
    return Backfill(**dict(row)) if row else None


async def unfinished(conn: Conn) -> list[int]:
    """Batch API backfills still running, oldest first."""
    rows = await conn.fetch(
        "SELECT backfill_id FROM backfills WHERE status = 'running' AND batch_api "
        "ORDER BY backfill_id"
    )
    return [row["backfill_id"] for row in rows]


async def try_lock(conn: Conn, backfill_id: int) -> bool:
    locked: bool = await conn.fetchval(
        "SELECT pg_try_advisory_lock($1, $2)", DRIVER_LOCK_NAMESPACE, backfill_id
    )
    return locked


_STAGE_COLUMNS = {
    Stage.ENRICH: "enrich",
    Stage.FUNCTION: "function",
    Stage.SEARCHABLE: "searchable",
}


async def items(conn: Conn, backfill_id: int) -> list[Item]:
    rows = await conn.fetch(
        "SELECT feed_id, seq, job_hash, job::text AS job, enrich::text AS enrich, "
        "function::text AS function, searchable::text AS searchable, error, incomplete, "
        "attempts, usage::text AS usage "
        "FROM backfill_items WHERE backfill_id = $1 ORDER BY feed_id, seq",
        backfill_id,
    )
    loaded = []
    for row in rows:
        item = Item(
            row["feed_id"], row["seq"], row["job_hash"], JobPosting.model_validate_json(row["job"])
        )
        for stage, column in _STAGE_COLUMNS.items():
            if row[column] is not None:
                raw = orjson.loads(row[column])
                item.answers[stage] = (
                    None if raw is None else ITEM_MODELS[stage].model_validate(raw)
                )
        item.error, item.incomplete = row["error"], row["incomplete"]
        item.attempts = row["attempts"]
        item.usage = _usage_of(row["usage"])
        loaded.append(item)
    return loaded


async def save(conn: Conn, backfill_id: int, changed: list[Item]) -> None:
    """The items' stage answers and usage (call inside the transaction that closes their
    batch: a batch's tokens are then counted once, whatever crashes)."""
    await conn.executemany(
        "UPDATE backfill_items SET enrich = $4, function = $5, searchable = $6, error = $7, "
        "incomplete = $8, attempts = $9, usage = $10 "
        "WHERE backfill_id = $1 AND feed_id = $2 AND seq = $3",
        [
            (
                backfill_id,
                item.feed_id,
                item.seq,
                *(_answer_json(item, stage) for stage in _STAGE_COLUMNS),
                item.error,
                item.incomplete,
                item.attempts,
                _usage_json(item.usage),
            )
            for item in changed
        ],
    )


def _usage_json(usage: dict[str, StageUsage]) -> str | None:
    if not usage:
        return None
    return orjson.dumps({label: used.model_dump() for label, used in usage.items()}).decode()


def _usage_of(raw: str | None) -> dict[str, StageUsage]:
    if raw is None:
        return {}
    return {label: StageUsage.model_validate(used) for label, used in orjson.loads(raw).items()}


def _answer_json(item: Item, stage: Stage) -> str | None:
    if stage not in item.answers:
        return None
    answer = item.answers[stage]
    return "null" if answer is None else str(answer.model_dump_json())


async def batches(conn: Conn, backfill_id: int) -> list[BatchRow]:
    rows = await conn.fetch(
        "SELECT number, stage, display_name, requests::text AS requests, name, state "
        "FROM backfill_batches WHERE backfill_id = $1 ORDER BY number",
        backfill_id,
    )
    return [
        BatchRow(
            row["number"],
            Stage(row["stage"]),
            row["display_name"],
            [[(ref[0], ref[1]) for ref in request] for request in orjson.loads(row["requests"])],
            row["name"],
            row["state"],
        )
        for row in rows
    ]


async def plan_batch(conn: Conn, backfill_id: int, batch: BatchRow) -> None:
    await conn.execute(
        "INSERT INTO backfill_batches (backfill_id, number, stage, display_name, requests) "
        "VALUES ($1, $2, $3, $4, $5)",
        backfill_id,
        batch.number,
        batch.stage.value,
        batch.display_name,
        orjson.dumps(batch.requests).decode(),
    )


async def mark_batch(
    conn: Conn, backfill_id: int, number: int, state: str, name: str | None
) -> None:
    await conn.execute(
        "UPDATE backfill_batches SET state = $3, name = $4 WHERE backfill_id = $1 AND number = $2",
        backfill_id,
        number,
        state,
        name,
    )


@dataclass(frozen=True, slots=True)
class FeedRun:
    run_id: str
    seqs: frozenset[int]
    published: bool


async def feed_run(conn: Conn, backfill_id: int, feed_id: int) -> FeedRun | None:
    row = await conn.fetchrow(
        "SELECT run_id, seqs, published FROM backfill_runs WHERE backfill_id = $1 AND feed_id = $2",
        backfill_id,
        feed_id,
    )
    return FeedRun(row["run_id"], frozenset(row["seqs"]), row["published"]) if row else None


async def claim_feed(
    conn: Conn, backfill_id: int, feed_id: int, run_id: str, items: list[Item]
) -> FeedRun | str:
    """Starts the feed's backfill run (reason `replay`: it never archives) when the feed has no
    run in progress, as the API's trigger does, else returns the run in progress. The run
    carries the items whose job is still live as it was read: a job a later run changed or
    took out is that run's."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", FEED_LOCK_NAMESPACE, feed_id)
        running: str | None = await conn.fetchval(
            "SELECT run_id FROM runs WHERE feed_id = $1 AND status = 'RUNNING' LIMIT 1", feed_id
        )
        if running is not None:
            return running
        live = {job.job_hash: job.posting for job in await live_jobs(conn, feed_id)}
        seqs = frozenset(item.seq for item in items if live.get(item.job_hash) == item.job)
        await conn.execute(
            "INSERT INTO runs (run_id, feed_id, reason) VALUES ($1, $2, 'replay') "
            "ON CONFLICT (run_id) DO NOTHING",
            run_id,
            feed_id,
        )
        await conn.execute(
            "INSERT INTO backfill_runs (backfill_id, feed_id, run_id, seqs) "
            "VALUES ($1, $2, $3, $4)",
            backfill_id,
            feed_id,
            run_id,
            sorted(seqs),
        )
    return FeedRun(run_id, seqs, False)


async def mark_published(conn: Conn, backfill_id: int, feed_id: int) -> None:
    await conn.execute(
        "UPDATE backfill_runs SET published = TRUE WHERE backfill_id = $1 AND feed_id = $2",
        backfill_id,
        feed_id,
    )


async def complete(conn: Conn, backfill_id: int) -> None:
    await conn.execute(
        "UPDATE backfills SET status = 'completed', finished_at = now() WHERE backfill_id = $1",
        backfill_id,
    )
