"""The run's close on real PostgreSQL: the archive guard (applied, held, confirmed, discarded,
superseded), an empty feed as a failure, the feed's statistics after runs of every status,
an operator failing a run, replays that never archive, and a half-committed batch whose
routing events still go out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from cli.stack import StackInfo
from schemas import topics
from schemas.records import (
    ArchiveDecided,
    EmploymentType,
    EnrichedJob,
    Enrichment,
    EnrichmentStatus,
    IngestFinished,
    JobPosting,
    Record,
    RequestReason,
    RoutedJob,
    RunCompleted,
    RunFailRequested,
    RunStarted,
    RunStatus,
)
from schemas.status import ArchiveState, RunState
from schemas.topics import TopicSpec
from services.router.adapters import jobs_repository as jobs
from services.router.adapters import ledger_repository as ledger
from services.router.config import RouterSettings
from services.router.service import Router
from services.shared.database import Conn, Database
from services.shared.settings import Secret

pytestmark = pytest.mark.integration


class RecordingPublisher:
    """Stands in for the Kafka producer: what the router published, in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Record]] = []

    async def send(self, spec: TopicSpec, key: str, record: Record) -> None:
        self.sent.append((spec.name, record))

    async def flush(self) -> None:
        return None

    async def send_now(self, spec: TopicSpec, key: str, record: Record) -> None:
        await self.send(spec, key, record)

    def completions(self) -> list[RunCompleted]:
        return [r for name, r in self.sent if isinstance(r, RunCompleted)]


@pytest.fixture(scope="module")
async def database(stack: StackInfo) -> AsyncIterator[Database]:
    db = Database(Secret(stack.dsn), min_size=1, max_size=3)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def published() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def router(stack: StackInfo, database: Database, published: RecordingPublisher) -> Router:
    settings = RouterSettings.from_env({"DATABASE_URL": stack.dsn})
    return Router(settings, database, published)


@pytest.fixture
async def feed_id(database: Database) -> int:
    async with database.connection() as conn:
        return int(
            await conn.fetchval(
                "INSERT INTO feeds (name, source_url) VALUES ('run guard', 'test://') RETURNING id"
            )
        )


def _job(feed_id: int, run_id: str, n: int, confidence: float) -> EnrichedJob:
    posting = JobPosting(
        external_job_id=str(n),
        title=f"Guard Nurse {n}",
        company_name=f"Guard Health {feed_id}",
        description_html=f"<p>Job {n}.</p>",
        employment_type=EmploymentType.FULL_TIME,
    )
    enrichment = Enrichment(ai_title=posting.title, ai_description="N.", confidence=confidence)
    return EnrichedJob(
        run_id=run_id,
        feed_id=feed_id,
        seq=n,
        job_hash=f"guard-{feed_id}-{n}",
        job=posting,
        status=EnrichmentStatus.SUCCESS,
        enrichment=enrichment,
    )


async def drive_run(
    router: Router,
    feed_id: int,
    jobs_in_feed: Sequence[int],
    *,
    confidence: float = 95.0,
    reason: RequestReason = RequestReason.CLI,
    malformed: int = 0,
    malformed_listings: Sequence[str] = (),
    malformed_titles: Sequence[str] = (),
    malformed_unidentified: int = 0,
    fetch_status: str = "ok",
    finish: bool = True,
) -> str:
    """One run of the feed through the router as the pipeline drives it: RunStarted, the
    enriched jobs in batches, then IngestFinished (which completes the run)."""
    run_id = str(uuid.uuid4())
    started = RunStarted(
        run_id=run_id, feed_id=feed_id, reason=reason, started_at=datetime.now(UTC)
    )
    await router.follow(started)
    records = [_job(feed_id, run_id, n, confidence) for n in jobs_in_feed]
    for start in range(0, len(records), 2000):
        await router.route(records[start : start + 2000])
    if finish:
        finished = IngestFinished.model_validate(
            {
                "run_id": run_id, "feed_id": feed_id, "emitted": len(records),
                "parsed": len(records), "malformed": malformed, "fetch_status": fetch_status,
                "malformed_listings": tuple(malformed_listings),
                "malformed_titles": tuple(malformed_titles),
                "malformed_unidentified": malformed_unidentified,
            }
        )  # fmt: skip
        await router.follow(finished)
    return run_id


async def _fetch(database: Database, query: str, *args: Any) -> dict[str, Any]:
    async with database.connection() as conn:
        row = await conn.fetchrow(query, *args)
    assert row is not None
    return dict(row)


async def _tables(database: Database, feed_id: int) -> dict[str, int]:
    return await _fetch(
        database,
        "SELECT (SELECT count(*) FROM open_jobs WHERE feed_id = $1) AS open, "
        "(SELECT count(*) FROM archive_jobs WHERE feed_id = $1) AS archived",
        feed_id,
    )


async def _report(database: Database, run_id: str) -> dict[str, Any]:
    return await _fetch(database, "SELECT * FROM execution_reports WHERE run_id = $1", run_id)


async def _archive_state(database: Database, run_id: str) -> str:
    row = await _fetch(database, "SELECT archive_state FROM runs WHERE run_id = $1", run_id)
    return str(row["archive_state"])


def _decision(run_id: str, feed_id: int, *, confirm: bool) -> ArchiveDecided:
    return ArchiveDecided(
        run_id=run_id, feed_id=feed_id, confirm=confirm, decided_by="ops",
        decided_at=datetime.now(UTC),
    )  # fmt: skip


async def test_a_one_job_feed_that_drops_its_job_archives_it(
    router: Router, database: Database, feed_id: int, published: RecordingPublisher
) -> None:
    await drive_run(router, feed_id, [0])
    dropped = await drive_run(router, feed_id, [1])  # the one job was replaced by another
    assert await _tables(database, feed_id) == {"open": 1, "archived": 1}
    report = await _report(database, dropped)
    assert report["run_status"] == RunStatus.SUCCESS and report["jobs_archived"] == 1
    assert published.completions()[-1].archived == 1


async def test_a_job_whose_record_is_malformed_stays_on_the_board(
    router: Router, database: Database, feed_id: int
) -> None:
    """Job 3's record could not be read this run, but its id could: it is still listed, so
    the archive keeps it; job 5 left the feed and is archived."""
    await drive_run(router, feed_id, range(10))
    run = await drive_run(
        router, feed_id, [0, 1, 2, 4, 6, 7, 8, 9], malformed=1, malformed_listings=["3"]
    )
    assert await _tables(database, feed_id) == {"open": 9, "archived": 1}
    archived = await _fetch(
        database, "SELECT job_hash FROM archive_jobs WHERE feed_id = $1", feed_id
    )
    assert archived["job_hash"] == f"guard-{feed_id}-5"
    report = await _report(database, run)
    assert report["run_status"] == RunStatus.PARTIAL and report["jobs_archived"] == 1
    assert "1 live job kept on the board: their records were malformed" in report["error_summary"]
    # the next run that reads job 3 again finds it as it was
    await drive_run(router, feed_id, [0, 1, 2, 3, 4, 6, 7, 8, 9])
    assert await _tables(database, feed_id) == {"open": 9, "archived": 1}
    # a record with no id or URL still names its job by title (any case and spacing)
    titled = await drive_run(
        router, feed_id, [0, 1, 2, 3, 4, 6, 7, 8], malformed=1, malformed_titles=["guard  NURSE 9"]
    )
    assert await _tables(database, feed_id) == {"open": 9, "archived": 1}
    (note,) = [n for n in (await _report(database, titled))["error_summary"] if "kept" in n]
    assert note.startswith("1 live job kept on the board")


async def test_a_malformed_record_without_a_listing_holds_the_archive(
    router: Router, database: Database, feed_id: int
) -> None:
    """A broken record with no readable id or URL may be any of the jobs the run did not
    see: even one such job is not taken down without an operator."""
    await drive_run(router, feed_id, range(10))
    run = await drive_run(router, feed_id, range(9), malformed=1, malformed_unidentified=1)
    assert await _tables(database, feed_id) == {"open": 10, "archived": 0}
    report = await _report(database, run)
    assert report["run_status"] == RunStatus.PARTIAL and report["jobs_archive_held"] == 1
    assert report["archive_skipped_reason"] == (
        "archive held: 1 jobs, confirm or discard (1 malformed record without a readable id, "
        "URL or title: the jobs they list cannot be told apart from jobs that left the feed)"
    )
    # a run that misses no job has nothing to hold
    whole = await drive_run(router, feed_id, range(10), malformed=1, malformed_unidentified=1)
    assert await _archive_state(database, whole) == ArchiveState.APPLIED


async def test_a_large_drop_is_held_and_applied_only_when_confirmed(
    router: Router, database: Database, feed_id: int, published: RecordingPublisher
) -> None:
    await drive_run(router, feed_id, range(10_000))
    lost = await drive_run(router, feed_id, range(4_000))  # 60% of the feed gone
    assert await _tables(database, feed_id) == {"open": 10_000, "archived": 0}
    report = await _report(database, lost)
    assert report["run_status"] == RunStatus.PARTIAL and report["jobs_archive_held"] == 6_000
    assert report["archive_skipped_reason"].startswith(
        "archive held: 6000 jobs, confirm or discard"
    )
    assert await _archive_state(database, lost) == ArchiveState.HELD

    await router.follow(_decision(lost, feed_id, confirm=True))
    assert await _tables(database, feed_id) == {"open": 4_000, "archived": 6_000}
    again = published.completions()[-1]
    assert (again.run_id, again.archived) == (lost, 6_000), "the syncer is told to reconcile"
    report = await _report(database, lost)
    assert report["jobs_archived"] == 6_000 and report["archive_skipped_reason"] is None
    assert "archive of 6000 held jobs confirmed by ops" in report["error_summary"]
    assert await _archive_state(database, lost) == ArchiveState.CONFIRMED

    # Answered once: a second confirmation (a redelivery) changes nothing and says nothing.
    count = len(published.sent)
    await router.follow(_decision(lost, feed_id, confirm=True))
    assert len(published.sent) == count
    assert await _tables(database, feed_id) == {"open": 4_000, "archived": 6_000}


async def test_a_discarded_hold_archives_nothing(
    router: Router, database: Database, feed_id: int, published: RecordingPublisher
) -> None:
    await drive_run(router, feed_id, range(40))
    lost = await drive_run(router, feed_id, range(10))
    await router.follow(_decision(lost, feed_id, confirm=False))
    assert await _tables(database, feed_id) == {"open": 40, "archived": 0}
    assert await _archive_state(database, lost) == ArchiveState.DISCARDED
    report = await _report(database, lost)
    assert report["archive_skipped_reason"] == "archive of 30 held jobs discarded by ops"
    assert published.completions()[-1].run_id == lost


async def test_a_later_run_supersedes_a_hold_and_a_late_confirmation_moves_nothing(
    router: Router, database: Database, feed_id: int
) -> None:
    """The jobs came back in the next run: confirming the old hold must not take them down."""
    await drive_run(router, feed_id, range(40))
    lost = await drive_run(router, feed_id, range(10))
    back = await drive_run(router, feed_id, range(40))
    assert await _archive_state(database, lost) == ArchiveState.SUPERSEDED
    assert await _archive_state(database, back) == ArchiveState.APPLIED
    await router.follow(_decision(lost, feed_id, confirm=True))
    assert await _tables(database, feed_id) == {"open": 40, "archived": 0}
    report = await _report(database, lost)
    assert report["archive_skipped_reason"] == f"archive hold superseded by run {back}: not applied"


async def test_a_confirmation_while_a_later_run_is_in_flight_moves_nothing(
    router: Router, database: Database, feed_id: int
) -> None:
    await drive_run(router, feed_id, range(40))
    lost = await drive_run(router, feed_id, range(10))
    live = await drive_run(router, feed_id, range(40), finish=False)
    await router.follow(_decision(lost, feed_id, confirm=True))
    assert await _tables(database, feed_id) == {"open": 40, "archived": 0}
    assert await _archive_state(database, lost) == ArchiveState.SUPERSEDED
    report = await _report(database, lost)
    assert report["archive_skipped_reason"] == f"archive hold superseded by run {live}: not applied"


async def test_an_empty_complete_feed_is_a_failure_and_archives_nothing(
    router: Router, database: Database, feed_id: int
) -> None:
    await drive_run(router, feed_id, range(3))
    empty = await drive_run(router, feed_id, [])
    assert await _tables(database, feed_id) == {"open": 3, "archived": 0}
    report = await _report(database, empty)
    assert report["run_status"] == RunStatus.FAILURE
    assert report["error_summary"][0] == "the feed is empty"
    feed = await _fetch(database, "SELECT * FROM feeds WHERE id = $1", feed_id)
    assert feed["last_run_status"] == RunStatus.FAILURE and feed["error_count"] == 1
    assert feed["consecutive_failure_count"] == 1
    assert feed["last_error_message"].startswith("the feed is empty")


async def test_feed_statistics_after_success_partial_and_failure_runs(
    router: Router, database: Database, feed_id: int
) -> None:
    """Last-run values are the last run's (re-runs do not add up), totals count by status,
    and a PARTIAL run is neither a success nor a failure."""

    async def feed() -> dict[str, Any]:
        return await _fetch(database, "SELECT * FROM feeds WHERE id = $1", feed_id)

    first = await drive_run(router, feed_id, range(8))
    after_success = await feed()
    assert after_success | {"last_succeeded_at": None} == after_success | {
        "runs_count": 1, "success_count": 1, "partial_count": 0, "error_count": 0,
        "consecutive_failure_count": 0, "last_run_status": RunStatus.SUCCESS, "last_run_id": first,
        "unique_jobs_processed": 8, "auto_approved_jobs": 8, "last_error_message": None,
        "last_succeeded_at": None,
    }  # fmt: skip
    assert after_success["last_succeeded_at"] is not None

    failed = await drive_run(router, feed_id, [], fetch_status="failed")
    after_failure = await feed()
    assert after_failure["error_count"] == 1 and after_failure["consecutive_failure_count"] == 1
    assert after_failure["last_run_status"] == RunStatus.FAILURE
    assert after_failure["last_run_id"] == failed

    await drive_run(router, feed_id, range(8), malformed=1)  # the same jobs again, one bad record
    after_partial = await feed()
    assert after_partial["last_run_status"] == RunStatus.PARTIAL
    assert after_partial["partial_count"] == 1
    assert after_partial["consecutive_failure_count"] == 1, "a partial run resets nothing"
    assert after_partial["last_succeeded_at"] == after_success["last_succeeded_at"]
    assert after_partial["unique_jobs_processed"] == 8, "the last run's, not a sum"
    assert after_partial["auto_approved_jobs"] == 8

    await drive_run(router, feed_id, range(6), confidence=70.0)  # two gone, the rest to review
    final = await feed()
    assert final | {"last_succeeded_at": None, "avg_processing_time": None} == final | {
        "runs_count": 4, "success_count": 2, "partial_count": 1, "error_count": 1,
        "consecutive_failure_count": 0, "last_run_status": RunStatus.SUCCESS,
        "unique_jobs_processed": 6, "auto_approved_jobs": 0, "last_error_message": None,
        "last_succeeded_at": None, "avg_processing_time": None,
    }  # fmt: skip
    assert final["last_succeeded_at"] > after_success["last_succeeded_at"]
    assert final["avg_processing_time"] >= 0 and final["last_run_duration_seconds"] >= 0


async def test_an_operator_fails_a_run_that_cannot_complete(
    router: Router, database: Database, feed_id: int, published: RecordingPublisher
) -> None:
    await drive_run(router, feed_id, range(5))
    stuck = await drive_run(router, feed_id, range(2), finish=False)  # IngestFinished never comes
    request = RunFailRequested(
        run_id=stuck, feed_id=feed_id, reason="the ingestor lost the run", requested_by="ops",
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    await router.follow(request)
    report = await _report(database, stuck)
    assert report["run_status"] == RunStatus.FAILURE
    assert report["error_summary"][0] == "failed by ops: the ingestor lost the run"
    assert await _tables(database, feed_id) == {"open": 5, "archived": 0}
    run = await _fetch(database, "SELECT status FROM runs WHERE run_id = $1", stuck)
    assert run["status"] == RunState.COMPLETED, "the feed is free for its next run"
    assert published.completions()[-1].status is RunStatus.FAILURE
    count = len(published.sent)
    await router.follow(request)  # once closed, a second request changes nothing
    assert len(published.sent) == count


async def test_a_claimed_run_that_never_started_can_be_failed(
    router: Router, database: Database, feed_id: int, published: RecordingPublisher
) -> None:
    """The API's trigger claims the feed with a runs row; if the ingestor never announces the
    run, it has no report, and failing it must still close it and free the feed."""
    never_started = str(uuid.uuid4())
    async with database.connection() as conn:
        await conn.execute(
            "INSERT INTO runs (run_id, feed_id, reason) VALUES ($1, $2, 'api')",
            never_started,
            feed_id,
        )
    request = RunFailRequested(
        run_id=never_started, feed_id=feed_id, reason="never started", requested_by="ops",
        requested_at=datetime.now(UTC),
    )  # fmt: skip
    await router.follow(request)
    report = await _report(database, never_started)
    assert report["run_status"] == RunStatus.FAILURE
    assert report["error_summary"][0] == "failed by ops: never started"
    run = await _fetch(database, "SELECT status FROM runs WHERE run_id = $1", never_started)
    assert run["status"] == RunState.COMPLETED


async def test_a_replay_never_archives(router: Router, database: Database, feed_id: int) -> None:
    await drive_run(router, feed_id, range(10))
    replay = await drive_run(router, feed_id, range(3), reason=RequestReason.REPLAY)
    assert await _tables(database, feed_id) == {"open": 10, "archived": 0}
    assert await _archive_state(database, replay) == ArchiveState.NOT_JUDGED
    assert (await _report(database, replay))["run_status"] == RunStatus.SUCCESS


async def test_a_committed_parts_routing_events_go_out_when_its_sibling_fails(
    router: Router,
    feed_id: int,
    published: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = str(uuid.uuid4())
    records = [_job(feed_id, run_id, n, 95.0) for n in range(40)]
    original, failures = jobs.place_prepared, [RuntimeError("the database went away")]

    async def fail_once(conn: Conn, placing: jobs.Placing) -> None:
        if failures:
            raise failures.pop()
        await original(conn, placing)

    monkeypatch.setattr(jobs, "place_prepared", fail_once)
    with pytest.raises(RuntimeError, match="went away"):
        await router.route(records)
    first = {r.job_hash for name, r in published.sent if isinstance(r, RoutedJob)}
    assert 0 < len(first) < len(records), "the committed part's events were published"
    await router.route(records)  # the retry routes only the part that rolled back
    routed = [
        r.job_hash
        for name, r in published.sent
        if name == topics.JOBS_ROUTED.name and isinstance(r, RoutedJob)
    ]
    assert sorted(routed) == sorted(r.job_hash for r in records), "each job's event, once"


async def test_archive_history_reads_only_applied_runs_over_enough_jobs(
    router: Router, database: Database, feed_id: int
) -> None:
    """The share is of the feed's live jobs once the run has routed its own."""
    for size in (40, 36, 40, 38):
        await drive_run(router, feed_id, range(size))
    # 10 of 40 lost: the history allows 2 x 10% + 5 points = 25%, so 75% is held
    held = await drive_run(router, feed_id, range(10))
    assert await _archive_state(database, held) == ArchiveState.HELD
    assert "allows 25%" in (await _report(database, held))["archive_skipped_reason"]
    async with database.connection() as conn:
        shares = await ledger.archive_history(conn, feed_id, "none", runs=10, min_open=20)
        fewer = await ledger.archive_history(conn, feed_id, "none", runs=2, min_open=20)
        too_small = await ledger.archive_history(conn, feed_id, "none", runs=10, min_open=41)
    assert sorted(shares) == pytest.approx([0.0, 0.0, 2 / 40, 4 / 40])
    assert fewer == pytest.approx([2 / 40, 0.0]), "the latest runs first"
    assert too_small == []


async def test_a_hold_names_its_jobs_so_a_confirmation_moves_only_those(
    router: Router, database: Database, feed_id: int
) -> None:
    """A replay after the hold touches jobs again; the confirmation still moves the held ones."""
    await drive_run(router, feed_id, range(40))
    lost = await drive_run(router, feed_id, range(10))
    await drive_run(router, feed_id, range(5), reason=RequestReason.REPLAY)
    await router.follow(_decision(lost, feed_id, confirm=True))
    assert await _tables(database, feed_id) == {"open": 10, "archived": 30}
    async with database.connection() as conn:
        held = await conn.fetchval("SELECT count(*) FROM archive_hold_jobs WHERE run_id = $1", lost)
    assert held == 30


async def test_a_later_run_that_could_not_judge_leaves_the_hold_to_answer(
    router: Router, database: Database, feed_id: int
) -> None:
    """A truncated fetch proves nothing about presence: the earlier hold stays answerable."""
    await drive_run(router, feed_id, range(40))
    lost = await drive_run(router, feed_id, range(10))
    cut = await drive_run(router, feed_id, range(3), fetch_status="truncated")
    assert await _archive_state(database, cut) == ArchiveState.SKIPPED
    assert await _archive_state(database, lost) == ArchiveState.HELD
    await router.follow(_decision(lost, feed_id, confirm=True))
    assert await _archive_state(database, lost) == ArchiveState.CONFIRMED
    assert await _tables(database, feed_id) == {"open": 10, "archived": 30}
