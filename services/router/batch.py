"""Routes one batch of enriched records: place jobs, record outcomes. The batch is written as
parts split by job, each in one transaction, the parts at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.records import (
    EnrichedJob,
    JobMerged,
    JobsUnchanged,
    Location,
    Outcome,
    Record,
    Route,
    RoutedJob,
)
from schemas.usage import LLM_PAUSED
from services.router.adapters import jobs_repository as jobs
from services.router.adapters import ledger_repository as ledger
from services.router.adapters.ledger_repository import OutcomeRow
from services.router.config import Thresholds
from services.router.errors import RouterError
from services.router.geo import job_geo
from services.router.handlers import Decision, FeedInfo, Placement, decide
from services.router.ports import Connections
from services.shared.database import Conn


@dataclass(slots=True)
class BatchResult:
    routed: list[RoutedJob] = field(default_factory=list)
    runs: set[str] = field(default_factory=set)


class PartFailedError(RouterError):
    """A part of the batch failed and rolled back alone; `committed` holds what the other
    parts wrote. The batch's retry skips those records (they have outcomes), so their
    routing events must be published before the failure goes on."""

    def __init__(self, error: BaseException, committed: BatchResult) -> None:
        super().__init__(f"a part of the batch failed: {error!r}")
        self.error = error
        self.committed = committed


@dataclass(frozen=True, slots=True)
class _Placed:
    """A job routed to a table; its row is built when it is written."""

    job: EnrichedJob
    decision: Decision
    previous: Placement | None
    feed: FeedInfo


@dataclass(slots=True)
class _Work:
    placed: list[_Placed] = field(default_factory=list)
    touched: list[jobs.Touched] = field(default_factory=list)
    outcomes: list[OutcomeRow] = field(default_factory=list)
    locations: list[tuple[str, str, Location]] = field(default_factory=list)
    # (run, job) whose location list needs folding even with one location row: merge
    # targets, and jobs without a location of their own (a merged one would be their first)
    refold: set[tuple[str, str]] = field(default_factory=set)
    routed: list[RoutedJob] = field(default_factory=list)
    sources: list[jobs.Sourced] = field(default_factory=list)
    # job_hash -> (owner, route) of jobs this batch placed: a listing of the same job by
    # another feed later in the batch is judged as it would be in a later batch
    owners: dict[str, tuple[int, Route]] = field(default_factory=dict)
    # (feed, run) -> kept jobs of unchanged records: their listing and last-seen run move
    unchanged: dict[tuple[int, str], list[str]] = field(default_factory=dict)


# A batch is written as this many parts at once, each in a transaction on a connection of
# its own: while PostgreSQL stores one part, the router builds another's rows, and the two
# sides cost about the same CPU per job. A job's records, and the merges into it, fall in one
# part, so no two parts ever write the same job row.
WRITERS = 2


async def route_batch(
    db: Connections, records: Sequence[Record], *, thresholds: Thresholds
) -> BatchResult:
    # Unchanged records are a part of their own: they write only last-seen runs.
    unchanged = [r for r in records if isinstance(r, JobsUnchanged)]
    parts = split_by_job([r for r in records if not isinstance(r, JobsUnchanged)], WRITERS)
    settled = await asyncio.gather(
        *(_route_part(db, part, thresholds) for part in parts),
        *([_route_unchanged(db, unchanged, thresholds)] if unchanged else []),
        return_exceptions=True,
    )
    result, failure = BatchResult(), None
    for part in settled:
        # A part that failed rolled back alone: the batch's retry skips the parts that
        # committed (their records have outcomes) and routes this one again.
        if isinstance(part, BaseException):
            failure = failure or part
            continue
        result.routed.extend(part.routed)
        result.runs |= part.runs
    if failure is not None:
        if not isinstance(failure, Exception):
            raise failure  # a cancellation or an exit: nothing more to do
        raise PartFailedError(failure, result) from failure
    return result


async def _route_unchanged(
    db: Connections, markers: Sequence[JobsUnchanged], thresholds: Thresholds
) -> BatchResult:
    """A transaction per message: each locks its thousand jobs at most (a batch's worth of
    them at once would outgrow PostgreSQL's lock table). Those that committed have their
    outcomes, so a retry after a failure skips them."""
    result = BatchResult()
    for marker in markers:
        result.runs |= (await _route_part(db, [marker], thresholds)).runs
    return result


def split_by_job(records: Sequence[Record], count: int) -> list[list[Record]]:
    parts: list[list[Record]] = [[] for _ in range(count)]
    for record in records:
        parts[hash(job_of(record)) % count].append(record)
    return [part for part in parts if part]


def job_of(record: Record) -> str:
    """The job row a record writes: its own, or the one it is merged into."""
    if isinstance(record, EnrichedJob):
        return record.job_hash
    if isinstance(record, JobMerged):
        return record.kept_hash
    return ""


def _unchanged_rows(marker: JobsUnchanged) -> list[OutcomeRow]:
    return [
        OutcomeRow(
            run_id=marker.run_id,
            seq=seq,
            outcome=Outcome.UNCHANGED,
            job_hash=job_hash,
            kept_hash=kept_hash,
        )
        for seq, job_hash, kept_hash in zip(
            marker.seqs, marker.job_hashes, marker.kept_hashes, strict=True
        )
    ]


async def _route_part(
    db: Connections, records: Sequence[Record], thresholds: Thresholds
) -> BatchResult:
    work = _Work()
    async with db.connection() as conn, conn.transaction():
        # A batch's reads are a few hundred index probes; parallel workers cost more to start
        # than they save (figures: bench/HISTORY.md).
        await conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        # Nor is a whole-table scan ever right here, but a plan made while a table was small
        # (a fresh database, statistics not yet refreshed) chose one and kept it as the table
        # grew.
        await conn.execute("SET LOCAL enable_seqscan = off")
        enriched = [r for r in records if isinstance(r, EnrichedJob)]
        merges = [r for r in records if isinstance(r, JobMerged)]
        markers = [r for r in records if isinstance(r, JobsUnchanged)]
        unchanged = [row for marker in markers for row in _unchanged_rows(marker)]
        kept_unchanged = [u.job_hash for u in unchanged if u.kept_hash is None and u.job_hash]
        await jobs.lock_jobs(conn, [*(job_of(r) for r in records if job_of(r)), *kept_unchanged])
        runs = {r.run_id: r.feed_id for r in enriched} | {m.run_id: m.feed_id for m in merges}
        runs |= {m.run_id: m.feed_id for m in markers}
        await ledger.ensure_runs(conn, runs)
        # A record with an outcome was fully applied in the same transaction as its outcome:
        # routing it again could only undo later runs (resurrect archived or closed jobs).
        keys = [(r.run_id, r.seq) for r in enriched] + [(m.run_id, m.seq) for m in merges]
        keys += [(u.run_id, u.seq) for u in unchanged]
        done = await ledger.recorded(conn, keys)
        enriched = [r for r in enriched if (r.run_id, r.seq) not in done]
        merges = [m for m in merges if (m.run_id, m.seq) not in done]
        for row in unchanged:
            if (row.run_id, row.seq) not in done:
                _record_unchanged(row, runs[row.run_id], work)
        previous = await jobs.placements(conn, [r.job_hash for r in enriched])
        feeds = {f: await ledger.feed_info(conn, f) for f in {r.feed_id for r in enriched}}
        for job in enriched:
            _route_one(job, previous.get(job.job_hash), feeds[job.feed_id], thresholds, work)
        for merge in merges:
            _record_merge(merge, work)
        await _write(conn, work)
    return BatchResult(routed=work.routed, runs=set(runs))


def _route_one(
    job: EnrichedJob,
    previous: Placement | None,
    feed: FeedInfo,
    thresholds: Thresholds,
    work: _Work,
) -> None:
    decision = decide(
        job, thresholds=thresholds, bypass_filters=feed.bypass_filters, previous=previous
    )
    owner = work.owners.get(job.job_hash)
    if owner is None and previous is not None and previous.owned_elsewhere(job.feed_id):
        assert previous.feed_id is not None
        owner = (previous.feed_id, previous.route)
    work.outcomes.append(
        OutcomeRow(
            run_id=job.run_id,
            seq=job.seq,
            outcome=decision.outcome,
            job_hash=job.job_hash,
            cache_hit=job.cache_hit,
            llm_calls=job.llm_calls,
            input_tokens=job.input_tokens,
            output_tokens=job.output_tokens,
            llm_usage={stage: used.model_dump() for stage, used in job.llm_usage.items()} or None,
            llm_paused_reason=job.error if job.error and job.error.startswith(LLM_PAUSED) else None,
        )
    )
    if owner is not None and _known_elsewhere(owner, job.feed_id, decision):
        # Known from another feed: the owner's row, its route and its Xano record stay.
        work.sources.append(_sourced(job, jobs.SourceChange.KNOWN))
        return
    if decision.route is not None:
        work.owners[job.job_hash] = (job.feed_id, decision.route)
    work.locations.extend((job.run_id, job.job_hash, loc) for loc in job.job.locations)
    if not job.job.locations:
        work.refold.add((job.run_id, job.job_hash))
    if decision.route is None:
        assert previous is not None
        work.touched.append(jobs.Touched(previous.route, job.job_hash, job.run_id, decision.reason))
        work.sources.append(_sourced(job, jobs.SourceChange.UNCHANGED))
        return
    work.placed.append(_Placed(job, decision, previous, feed))
    work.routed.append(
        RoutedJob(
            feed_id=job.feed_id,
            job_hash=job.job_hash,
            route=decision.route,
            reason=decision.reason,
            run_id=job.run_id,
        )
    )


def _known_elsewhere(owner: tuple[int, Route], feed_id: int, decision: Decision) -> bool:
    """Whether a listing only adds a source to a job another feed owns. A job its owner's
    routing rejected is taken over by a listing that passes this feed's routing (a job is on
    the board while one source lists it and passes routing); else the owner's row stays."""
    owner_feed, owner_route = owner
    if owner_feed == feed_id:
        return False
    passes = decision.route in (Route.OPEN, Route.MANUAL_REVIEW)
    return not (owner_route is Route.REJECTED and passes)


def _sourced(job: EnrichedJob, change: jobs.SourceChange) -> jobs.Sourced:
    return jobs.Sourced(
        job_hash=job.job_hash,
        feed_id=job.feed_id,
        run_id=job.run_id,
        external_job_id=job.job.external_job_id,
        application_url=job.job.application_url,
        change=change,
    )


def _change(placed: _Placed, row: jobs.RoutedRow) -> jobs.SourceChange:
    previous = placed.previous
    off_board = previous is None or previous.route in (Route.ARCHIVED, Route.REJECTED)
    if off_board and row.route is not Route.REJECTED:
        return jobs.SourceChange.NEW
    if previous is None:
        return jobs.SourceChange.NEW
    if row.digest_before is not None and row.digest_before == row.value[-1]:
        return jobs.SourceChange.UNCHANGED
    return jobs.SourceChange.UPDATED


def _routed_row(placed: _Placed) -> jobs.RoutedRow:
    job, decision, previous = placed.job, placed.decision, placed.previous
    assert decision.route is not None
    stays = previous is not None and decision.route is previous.route
    value = jobs.job_input(
        job,
        decision,
        placed.feed,
        first_seen_run=previous.first_seen_run if previous else job.run_id,
        created_at=previous.created_at if previous else datetime.now(UTC),
        # the reviewer's decision stands while the job stays where they put it
        reviewed_by=previous.reviewed_by if previous and stays else None,
    )
    digest_before = previous.digest if previous and stays else None
    return jobs.RoutedRow(decision.route, value, digest_before=digest_before)


def _record_unchanged(row: OutcomeRow, feed_id: int, work: _Work) -> None:
    """An unchanged record: its outcome; a kept job's listing is seen by this run."""
    work.outcomes.append(row)
    if row.kept_hash is None and row.job_hash:
        work.unchanged.setdefault((feed_id, row.run_id), []).append(row.job_hash)


def _record_merge(merge: JobMerged, work: _Work) -> None:
    work.outcomes.append(
        OutcomeRow(
            run_id=merge.run_id,
            seq=merge.seq,
            outcome=Outcome(merge.outcome),
            job_hash=merge.duplicate_hash,
            merge_pass=merge.pass_number,
            kept_hash=merge.kept_hash,
        )
    )
    work.locations.extend((merge.run_id, merge.kept_hash, loc) for loc in merge.locations)
    if merge.locations:
        work.refold.add((merge.run_id, merge.kept_hash))


async def _write(conn: Conn, work: _Work) -> None:
    for (feed_id, run_id), seen in work.unchanged.items():
        await jobs.see_unchanged(conn, feed_id, run_id, seen)
    await _place(conn, work.placed, work.sources)
    await jobs.touch(conn, work.touched)
    await jobs.record_sources(conn, work.sources)
    for run_id in {run for run, _, _ in work.locations}:
        entries = [(h, loc) for run, h, loc in work.locations if run == run_id]
        await jobs.add_locations(conn, run_id, entries)
    for run_id, hashes in _hashes_by_run(work).items():
        refold = sorted(h for run, h in work.refold if run == run_id)
        folded = await jobs.refresh_locations(conn, run_id, sorted(hashes), refold=refold)
        # A merge changes where a job is: its one representative point moves with it.
        await jobs.set_geo(conn, {h: job_geo(locations) for h, locations in folded.items()})
    await ledger.record_outcomes(conn, work.outcomes)


async def _place(conn: Conn, placed: Sequence[_Placed], sources: list[jobs.Sourced]) -> None:
    """Writes the placed jobs' rows, and adds their listings to `sources`."""
    # One row per job: a batch may hold a job twice (two runs, a redelivery); the later wins.
    latest = {p.job.job_hash: p for p in placed}
    rows = {h: _routed_row(p) for h, p in latest.items()}
    for p in placed:
        sources.append(_sourced(p.job, _change(p, rows[p.job.job_hash])))
    await jobs.place(conn, list(rows.values()))


def _hashes_by_run(work: _Work) -> dict[str, set[str]]:
    """The jobs whose location list this batch may have changed: placed or merged into."""
    touched: dict[str, set[str]] = {}
    for routed in work.routed:
        if routed.run_id is not None:
            touched.setdefault(routed.run_id, set()).add(routed.job_hash)
    for run_id, job_hash, _ in work.locations:
        touched.setdefault(run_id, set()).add(job_hash)
    return touched
