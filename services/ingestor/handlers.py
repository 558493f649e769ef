"""Pure ingestor logic: feed items become RawJobs; a read's statistics become IngestFinished."""

from __future__ import annotations

from schemas.identity import dedupe_key, job_hash
from schemas.records import IngestFinished, JobPosting, RawJob
from services.ingestor.feeds.model import FeedStats


def raw_job(run_id: str, feed_id: int, seq: int, job: JobPosting) -> RawJob:
    return RawJob(
        run_id=run_id,
        feed_id=feed_id,
        seq=seq,
        job_hash=job_hash(job),
        dedupe_key=dedupe_key(job.title, job.company_name, job.employment_type),
        job=job,
    )


def ingest_finished(run_id: str, feed_id: int, emitted: int, stats: FeedStats) -> IngestFinished:
    return IngestFinished(
        run_id=run_id,
        feed_id=feed_id,
        emitted=emitted,
        parsed=stats.parsed,
        malformed=stats.malformed,
        closed=stats.closed,
        bytes_compressed=stats.bytes_compressed,
        bytes_uncompressed=stats.bytes_uncompressed,
        fetch_status=stats.fetch_status,
        error=stats.error,
        malformed_samples=tuple(m.as_record() for m in stats.malformed_samples[:20]),
        malformed_listings=tuple(stats.malformed_listings),
        malformed_titles=tuple(stats.malformed_titles),
        malformed_unidentified=stats.malformed_unidentified,
    )


def failed_before_reading(run_id: str, feed_id: int, error: str) -> IngestFinished:
    """A run that could not even start reading still closes, as a failure with the reason."""
    return IngestFinished(
        run_id=run_id, feed_id=feed_id, emitted=0, fetch_status="failed", error=error
    )
