"""Pass-1 dedupe over a batch of RawJobs, with the group state kept in a Faust table."""

from __future__ import annotations

from schemas.dedupe import StateTable, merge_of
from schemas.records import DedupedJob, JobMerged, RawJob

DedupeOutput = DedupedJob | JobMerged


def dedupe_one(table: StateTable, raw: RawJob) -> DedupeOutput:
    """The job kept, or a merge into the job it duplicates."""
    if raw.closed:
        return _kept(raw)  # closed jobs are routed as they are; nothing merges into them
    merged = merge_of(table, raw.dedupe_key.encode(), raw, pass_number=1)
    return _kept(raw) if merged is None else merged


def _kept(raw: RawJob) -> DedupedJob:
    return DedupedJob(
        run_id=raw.run_id,
        feed_id=raw.feed_id,
        seq=raw.seq,
        job_hash=raw.job_hash,
        job=raw.job,
        refresh=raw.refresh,
    )


def output_key(output: DedupeOutput) -> str:
    return output.job_hash if isinstance(output, DedupedJob) else output.kept_hash
