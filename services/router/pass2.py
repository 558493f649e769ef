"""Pass-2 dedupe: near-duplicates merged again on the AI title, before routing."""

from __future__ import annotations

from schemas.dedupe import Keep, StateTable, decide_in, merge_record
from schemas.records import EnrichedJob, EnrichmentStatus, Record


def merge_pass2(table: StateTable, key: bytes, record: Record) -> Record:
    """An enriched job is kept or becomes a pass-2 merge; everything else passes through."""
    if not isinstance(record, EnrichedJob) or not _comparable(record):
        return record
    decision = decide_in(
        table,
        key,
        run_id=record.run_id,
        seq=record.seq,
        job_hash=record.job_hash,
        description=record.job.description_html,
        locations=record.job.locations,
    )
    if isinstance(decision, Keep):
        return record
    return merge_record(
        decision,
        run_id=record.run_id,
        feed_id=record.feed_id,
        seq=record.seq,
        duplicate_hash=record.job_hash,
        pass_number=2,
    )


def _comparable(job: EnrichedJob) -> bool:
    """Only open, enriched jobs merge: a closed or failed job must keep its own outcome."""
    return job.status is EnrichmentStatus.SUCCESS and job.job.closed_reason is None
