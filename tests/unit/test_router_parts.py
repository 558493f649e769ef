"""A batch is written as parts at once: a job's records, and merges into it, share a part."""

from __future__ import annotations

from collections import Counter

from schemas.records import (
    EnrichedJob,
    EnrichmentStatus,
    JobMerged,
    JobPosting,
    Outcome,
    Record,
)
from services.router.batch import job_of, split_by_job


def _job(job_hash: str, run_id: str, seq: int) -> EnrichedJob:
    return EnrichedJob(
        run_id=run_id,
        feed_id=1,
        seq=seq,
        job_hash=job_hash,
        job=JobPosting(title=job_hash),
        status=EnrichmentStatus.SKIPPED,
    )


def _merge(kept: str, duplicate: str, seq: int) -> JobMerged:
    return JobMerged(
        run_id="r1",
        feed_id=1,
        seq=seq,
        kept_hash=kept,
        duplicate_hash=duplicate,
        outcome=Outcome.MERGED,
    )


def test_a_jobs_records_and_the_merges_into_it_share_one_part() -> None:
    records: list[Record] = []
    for n in range(200):
        records += [_job(f"job-{n}", "r1", 3 * n), _merge(f"job-{n}", f"dup-{n}", 3 * n + 1)]
        records.append(_job(f"job-{n}", "r2", 3 * n + 2))  # the same job in a later run
    parts = split_by_job(records, 2)
    assert len(parts) == 2, "two hundred jobs fill both parts"
    assert Counter(id(r) for part in parts for r in part) == Counter(id(r) for r in records)
    for part in parts:
        assert {job_of(r) for r in part}.isdisjoint(
            job_of(r) for other in parts if other is not part for r in other
        )


def test_empty_parts_are_left_out_and_order_is_kept() -> None:
    records: list[Record] = [_job("only", "r1", 0), _job("only", "r2", 1)]
    assert split_by_job(records, 2) == [records]
    assert split_by_job([], 2) == []
