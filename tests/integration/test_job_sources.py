"""One job, many sources (issue #19): the router's side on the real PostgreSQL. A job listed
by two feeds is one row owned by the feed that put it on the board, with a source per feed;
another feed's listing never rewrites it; it is archived only when every source dropped it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from cli.main import main
from cli.stack import StackInfo
from schemas.records import (
    ArchiveDecided,
    EmploymentType,
    EnrichedJob,
    Enrichment,
    EnrichmentStatus,
    IngestFinished,
    JobPosting,
    Location,
    RequestReason,
    Route,
    RunStarted,
)
from schemas.report import ExecutionReport
from schemas.status import JobStatus
from services.api.adapters import console_repository
from services.router import completion
from services.router.adapters import ledger_repository as ledger
from services.router.batch import route_batch
from services.router.config import SafetyLimits, Thresholds
from services.shared.database import Database, PoolConnections
from services.shared.settings import Secret

THRESHOLDS = Thresholds()
LIMITS = SafetyLimits()


@pytest.fixture(scope="module")
async def pool(stack: StackInfo) -> AsyncIterator[asyncpg.Pool]:
    db = Database(Secret(stack.dsn), min_size=1, max_size=4)
    try:
        yield await db.pool()
    finally:
        await db.close()


async def _feed(pool: asyncpg.Pool, name: str) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "INSERT INTO feeds (name, source_url) VALUES ($1, 'test://') RETURNING id", name
            )
        )


@pytest.fixture
async def feeds(pool: asyncpg.Pool) -> tuple[int, int]:
    """Two feeds per test, so no test's runs archive another's jobs."""
    return await _feed(pool, "sources A"), await _feed(pool, "sources B")


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


def _listing(tag: str, n: int, feed_id: int, run_id: str, seq: int) -> EnrichedJob:
    """Job `n` as feed `feed_id` lists it: the same content (hash) whatever the feed, with
    the feed's own external id and apply URL."""
    posting = JobPosting(
        external_job_id=f"{feed_id}-{n}",
        title=f"Pharmacist {n}",
        company_name=f"Shared Care {tag}",
        description_html=f"<p>Dispense medicines, job {n}.</p>",
        application_url=f"https://feed{feed_id}.example/apply/{n}",
        employment_type=EmploymentType.FULL_TIME,
        locations=(Location(city="Austin", state="TX", country="US"),),
    )
    return EnrichedJob(
        run_id=run_id,
        feed_id=feed_id,
        seq=seq,
        job_hash=f"src-{tag}-{n}",
        job=posting,
        status=EnrichmentStatus.SUCCESS,
        enrichment=Enrichment(ai_title=posting.title, ai_description="Pharmacy.", confidence=95),
    )


def _run(tag: str, feed_id: int, jobs: Sequence[int]) -> list[EnrichedJob]:
    run_id = str(uuid.uuid4())
    return [_listing(tag, n, feed_id, run_id, seq) for seq, n in enumerate(jobs)]


def _low(records: Sequence[EnrichedJob]) -> list[EnrichedJob]:
    """The records with a confidence the thresholds reject."""
    return [
        r.model_copy(update={"enrichment": r.enrichment.model_copy(update={"confidence": 10})})
        for r in records
        if r.enrichment is not None
    ]


async def _open_run(
    pool: asyncpg.Pool, records: Sequence[EnrichedJob], reason: RequestReason
) -> None:
    first = records[0]
    async with pool.acquire() as conn:
        await ledger.run_started(
            conn,
            RunStarted(
                run_id=first.run_id,
                feed_id=first.feed_id,
                reason=reason,
                started_at=datetime.now(UTC),
            ),
        )
        await ledger.ingest_finished(
            conn,
            IngestFinished(
                run_id=first.run_id,
                feed_id=first.feed_id,
                emitted=len(records),
                parsed=len(records),
            ),
        )


async def _route_and_close(
    pool: asyncpg.Pool,
    records: Sequence[EnrichedJob],
    reason: RequestReason = RequestReason.CLI,
) -> ExecutionReport:
    """One complete run: opened, its records routed as one batch, closed, its report."""
    await _open_run(pool, records, reason)
    await route_batch(PoolConnections(pool), records, thresholds=THRESHOLDS)
    return await _close(pool, records[0].run_id)


async def _close(pool: asyncpg.Pool, run_id: str) -> ExecutionReport:
    await completion.complete_run(PoolConnections(pool), run_id, limits=LIMITS)
    async with pool.acquire() as conn:
        return await ledger.report(conn, run_id)


async def _board(pool: asyncpg.Pool, tag: str) -> dict[str, tuple[str, int]]:
    """job_hash -> (table, owner feed) of the tag's jobs, wherever they are."""
    found: dict[str, tuple[str, int]] = {}
    async with pool.acquire() as conn:
        for table in ("open_jobs", "manual_review_jobs", "rejected_jobs", "archive_jobs"):
            for r in await conn.fetch(
                f"SELECT job_hash, feed_id FROM {table} WHERE job_hash LIKE $1", f"src-{tag}-%"
            ):
                assert r["job_hash"] not in found, f"{r['job_hash']} is in two tables"
                found[r["job_hash"]] = (table, r["feed_id"])
    return found


async def _sources(pool: asyncpg.Pool, tag: str) -> dict[str, dict[int, dict[str, Any]]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM job_sources WHERE job_hash LIKE $1", f"src-{tag}-%")
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["job_hash"], {})[r["feed_id"]] = dict(r)
    return out


async def _rows(pool: asyncpg.Pool, tag: str) -> dict[str, tuple[Any, ...]]:
    """The open rows' content and write time: equal before and after means nothing written."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT job_hash, feed_id, external_job_id, application_url, last_seen_run, "
            "row_digest, updated_at FROM open_jobs WHERE job_hash LIKE $1",
            f"src-{tag}-%",
        )
    return {r["job_hash"]: tuple(r.values()) for r in rows}


@pytest.mark.parametrize("first_is_a", [True, False], ids=["A then B", "B then A"])
async def test_the_second_feed_adds_sources_and_leaves_the_owners_rows_alone(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str, first_is_a: bool
) -> None:
    first, second = feeds if first_is_a else feeds[::-1]
    report_1 = await _route_and_close(pool, _run(tag, first, range(4)))
    before = await _rows(pool, tag)
    report_2 = await _route_and_close(pool, _run(tag, second, range(4)))

    board = await _board(pool, tag)
    assert board == {f"src-{tag}-{n}": ("open_jobs", first) for n in range(4)}
    assert await _rows(pool, tag) == before, "the second feed's run rewrote the owner's rows"
    sources = await _sources(pool, tag)
    for n in range(4):
        listed = sources[f"src-{tag}-{n}"]
        assert set(listed) == {first, second}
        assert listed[second]["external_job_id"] == f"{second}-{n}"
        assert listed[second]["application_url"] == f"https://feed{second}.example/apply/{n}"
        assert listed[second]["dropped_run"] is None
    assert (report_1.jobs_new, report_1.jobs_known_elsewhere) == (4, 0)
    assert (report_2.jobs_new, report_2.jobs_known_elsewhere, report_2.jobs_updated) == (0, 4, 0)
    async with pool.acquire() as conn:
        stats = await conn.fetchrow("SELECT * FROM feeds WHERE id = $1", second)
    assert stats is not None and stats["last_run_jobs_known_elsewhere"] == 4


async def test_concurrent_runs_of_two_feeds_give_one_owner_per_job(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    a, b = feeds
    run_a, run_b = _run(tag, a, range(12)), _run(tag, b, range(12))
    await _open_run(pool, run_a, RequestReason.CLI)
    await _open_run(pool, run_b, RequestReason.CLI)
    # each run in small batches, interleaved: the router's replicas and batch parts race
    await asyncio.gather(
        *(route_batch(PoolConnections(pool), run[i : i + 3], thresholds=THRESHOLDS)
          for i in range(0, 12, 3) for run in (run_a, run_b))
    )  # fmt: skip
    report_a = await _close(pool, run_a[0].run_id)
    report_b = await _close(pool, run_b[0].run_id)

    board = await _board(pool, tag)
    assert len(board) == 12 and all(table == "open_jobs" for table, _ in board.values())
    sources = await _sources(pool, tag)
    assert all(set(sources[h]) == {a, b} for h in board)
    owned_by_a = sum(1 for _, owner in board.values() if owner == a)
    assert report_a.jobs_new == owned_by_a and report_b.jobs_new == 12 - owned_by_a
    assert report_a.jobs_known_elsewhere + report_b.jobs_known_elsewhere == 12


async def test_both_feeds_in_one_batch_give_one_owner(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    """A topic partition carries both runs' records of a job: one batch may hold both."""
    a, b = feeds
    run_a, run_b = _run(tag, a, range(3)), _run(tag, b, range(3))
    await _open_run(pool, run_a, RequestReason.CLI)
    await _open_run(pool, run_b, RequestReason.CLI)
    await route_batch(PoolConnections(pool), [*run_a, *run_b], thresholds=THRESHOLDS)
    assert await _board(pool, tag) == {f"src-{tag}-{n}": ("open_jobs", a) for n in range(3)}
    report_b = await _close(pool, run_b[0].run_id)
    assert (report_b.jobs_new, report_b.jobs_known_elsewhere) == (0, 3)


async def test_a_job_stays_open_until_every_feed_has_dropped_it(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    a, b = feeds
    await _route_and_close(pool, _run(tag, a, range(4)))
    await _route_and_close(pool, _run(tag, b, range(4)))
    gone = f"src-{tag}-0"

    # the owner drops job 0: feed B still lists it, so it stays on the board, still A's
    dropped_by_a = await _route_and_close(pool, _run(tag, a, range(1, 4)))
    assert (dropped_by_a.jobs_dropped, dropped_by_a.jobs_archived) == (1, 0)
    assert (await _board(pool, tag))[gone] == ("open_jobs", a)
    assert (await _sources(pool, tag))[gone][a]["dropped_run"] == dropped_by_a.run_id

    # B drops it too: no source lists it any more, so B's run archives it
    dropped_by_b = await _route_and_close(pool, _run(tag, b, range(1, 4)))
    assert (dropped_by_b.jobs_dropped, dropped_by_b.jobs_archived) == (1, 1)
    board = await _board(pool, tag)
    assert board[gone] == ("archive_jobs", a)
    assert all(board[f"src-{tag}-{n}"] == ("open_jobs", a) for n in range(1, 4))
    async with pool.acquire() as conn:
        stats = await conn.fetchrow("SELECT * FROM feeds WHERE id = $1", b)
    assert stats is not None
    assert (stats["last_run_jobs_dropped"], stats["last_run_jobs_archived"]) == (1, 1)

    # listed again by B: back on the board as B's (its first listing since), new to it
    back = await _route_and_close(pool, _run(tag, b, range(4)))
    assert (back.jobs_new, back.jobs_known_elsewhere) == (1, 3)
    assert (await _board(pool, tag))[gone] == ("open_jobs", b)
    assert (await _sources(pool, tag))[gone][a]["dropped_run"] == dropped_by_a.run_id


async def test_a_non_owner_dropping_a_job_drops_only_its_source(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    a, b = feeds
    await _route_and_close(pool, _run(tag, a, range(3)))
    await _route_and_close(pool, _run(tag, b, range(3)))
    report = await _route_and_close(pool, _run(tag, b, range(1, 3)))
    assert (report.jobs_dropped, report.jobs_archived) == (1, 0)
    assert (await _board(pool, tag))[f"src-{tag}-0"] == ("open_jobs", a)


async def test_an_unsafe_run_drops_no_source(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    """A run whose fetch was cut short proves nothing about what its feed lists."""
    a, b = feeds
    await _route_and_close(pool, _run(tag, a, range(3)))
    await _route_and_close(pool, _run(tag, b, range(3)))
    truncated = _run(tag, b, [1])
    first = truncated[0]
    async with pool.acquire() as conn:
        await ledger.run_started(
            conn,
            RunStarted(run_id=first.run_id, feed_id=b, reason=RequestReason.CLI,
                       started_at=datetime.now(UTC)),
        )  # fmt: skip
        await ledger.ingest_finished(
            conn,
            IngestFinished(run_id=first.run_id, feed_id=b, emitted=1, parsed=1,
                           fetch_status="truncated", error="connection reset"),
        )  # fmt: skip
    await route_batch(PoolConnections(pool), truncated, thresholds=THRESHOLDS)
    report = await _close(pool, first.run_id)
    assert (report.jobs_dropped, report.jobs_archived) == (0, 0)
    sources = await _sources(pool, tag)
    assert all(s[b]["dropped_run"] is None for s in sources.values())


async def test_a_held_archive_confirmed_keeps_jobs_another_feed_lists(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    """B drops most of its jobs: the guard holds; the operator confirms; the jobs A still
    lists stay open, the ones only B listed are archived."""
    a, b = feeds
    await _route_and_close(pool, _run(tag, a, range(0, 4)))
    await _route_and_close(pool, _run(tag, b, range(0, 10)))
    held_run = await _route_and_close(pool, _run(tag, b, [9]))
    assert held_run.jobs_archive_held == 9 and held_run.jobs_dropped == 0
    await completion.decide_archive(
        PoolConnections(pool),
        ArchiveDecided(
            run_id=held_run.run_id,
            feed_id=b,
            confirm=True,
            decided_by="ops",
            decided_at=datetime.now(UTC),
        ),
    )
    board = await _board(pool, tag)
    assert all(board[f"src-{tag}-{n}"] == ("open_jobs", a) for n in range(4))
    assert all(board[f"src-{tag}-{n}"][0] == "archive_jobs" for n in range(4, 9))
    assert board[f"src-{tag}-9"] == ("open_jobs", b)


async def test_replaying_either_feeds_run_changes_nothing(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    a, b = feeds
    run_a = _run(tag, a, range(3))
    await _route_and_close(pool, run_a)
    await _route_and_close(pool, _run(tag, b, range(3)))
    await _route_and_close(pool, _run(tag, b, range(1, 3)))  # B dropped job 0
    rows, board = await _rows(pool, tag), await _board(pool, tag)
    sources = await _sources(pool, tag)

    # a replay re-sends a run's records under a new run id, and never archives
    for feed, jobs in ((b, range(3)), (a, [0])):
        replay = await _route_and_close(pool, _run(tag, feed, jobs), RequestReason.REPLAY)
        assert (replay.jobs_dropped, replay.jobs_archived, replay.jobs_new) == (0, 0, 0)
    assert await _board(pool, tag) == board
    after = await _sources(pool, tag)
    assert {h: set(s) for h, s in after.items()} == {h: set(s) for h, s in sources.items()}
    # the owner's replay rewrote nothing; only the replayed job's last-seen run moved
    now = await _rows(pool, tag)
    assert {h: r[:4] for h, r in now.items()} == {h: r[:4] for h, r in rows.items()}
    assert {h: r[5] for h, r in now.items()} == {h: r[5] for h, r in rows.items()}


async def test_a_redelivered_batch_changes_nothing(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    a, b = feeds
    await _route_and_close(pool, _run(tag, a, range(3)))
    run_b = _run(tag, b, range(3))
    await _open_run(pool, run_b, RequestReason.CLI)
    await route_batch(PoolConnections(pool), run_b, thresholds=THRESHOLDS)
    rows, sources = await _rows(pool, tag), await _sources(pool, tag)
    await route_batch(PoolConnections(pool), run_b, thresholds=THRESHOLDS)
    assert await _rows(pool, tag) == rows and await _sources(pool, tag) == sources
    report = await _close(pool, run_b[0].run_id)
    assert report.jobs_known_elsewhere == 3


async def test_jobs_show_lists_the_owner_and_every_source(
    pool: asyncpg.Pool,
    feeds: tuple[int, int],
    tag: str,
    stack: StackInfo,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b = feeds
    await _route_and_close(pool, _run(tag, a, range(2)))
    await _route_and_close(pool, _run(tag, b, range(2)))
    dropped = await _route_and_close(pool, _run(tag, a, [1]))
    job = f"src-{tag}-0"

    command = ["jobs", "show", job, "--json", "--dsn", stack.dsn]
    assert await asyncio.to_thread(main, command) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["table"], shown["feed_id"]) == ("open_jobs", a)
    by_feed = {s["feed_id"]: s for s in shown["sources"]}
    assert set(by_feed) == {a, b}
    assert by_feed[a]["dropped_run"] == dropped.run_id and by_feed[b]["dropped_run"] is None
    assert (by_feed[b]["last_change"], by_feed[b]["external_job_id"]) == ("known", f"{b}-0")

    assert await asyncio.to_thread(main, ["jobs", "show", job, "--dsn", stack.dsn]) == 0
    assert "known" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["jobs", "show", "no-such", "--dsn", stack.dsn]) == 1


async def test_a_job_its_owner_rejected_is_taken_over_by_a_feed_whose_routing_passes_it(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    """On the board while one source lists it and passes routing: A's routing rejects the
    job (low confidence), B publishes whatever the confidence (`bypass_filters`)."""
    a, b = feeds
    async with pool.acquire() as conn:
        await conn.execute("UPDATE feeds SET bypass_filters = true WHERE id = $1", b)
    await _route_and_close(pool, _low(_run(tag, a, range(2))))
    assert set((await _board(pool, tag)).values()) == {("rejected_jobs", a)}

    taken = await _route_and_close(pool, _run(tag, b, range(2)))
    assert set((await _board(pool, tag)).values()) == {("open_jobs", b)}
    assert (taken.jobs_new, taken.jobs_known_elsewhere) == (2, 0)

    # A's rejecting listing again: the job is B's and on the board, A only a source
    again = await _route_and_close(pool, _low(_run(tag, a, range(2))))
    assert (again.jobs_known_elsewhere, again.jobs_archived) == (2, 0)
    assert set((await _board(pool, tag)).values()) == {("open_jobs", b)}


async def test_a_job_rejected_by_every_feed_stays_its_first_owners(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    a, b = feeds
    for feed in (a, b):
        report = await _route_and_close(pool, _low(_run(tag, feed, range(2))))
    assert report.jobs_known_elsewhere == 2
    assert set((await _board(pool, tag)).values()) == {("rejected_jobs", a)}


async def test_a_restored_job_no_feed_lists_is_archived_by_its_owners_next_run(
    pool: asyncpg.Pool, feeds: tuple[int, int], tag: str
) -> None:
    """An admin restores an archived job (every source dropped): its owner's next run that
    does not list it archives it again, as before sources; one that is held names it."""
    a, _ = feeds
    await _route_and_close(pool, _run(tag, a, range(3)))
    await _route_and_close(pool, _run(tag, a, range(1, 3)))
    restored = f"src-{tag}-0"
    assert (await _board(pool, tag))[restored] == ("archive_jobs", a)
    async with pool.acquire() as conn, conn.transaction():  # the console's move, by an admin
        moved = await console_repository.move_between(
            conn, restored, Route.ARCHIVED, Route.OPEN,
            status=JobStatus.ACTIVE, reason="restored", by="admin",
        )  # fmt: skip
    assert moved == a

    report = await _route_and_close(pool, _run(tag, a, range(1, 3)))
    assert (report.jobs_archived, report.jobs_dropped) == (1, 0)
    assert (await _board(pool, tag))[restored] == ("archive_jobs", a)
