"""Pass-2 dedupe: near-duplicates merged again on the AI title, before routing."""

from __future__ import annotations

from schemas.dedupe import StateTable, merge_of
from schemas.records import EnrichedJob, EnrichmentStatus, Record


def merge_pass2(table: StateTable, key: bytes, record: Record) -> Record:
    """An enriched job is kept or becomes a pass-2 merge; everything else passes through."""
    if not isinstance(record, EnrichedJob) or not _comparable(record):
        return record
    merged = merge_of(table, key, record, pass_number=2)
    return record if merged is None else merged


def _comparable(job: EnrichedJob) -> bool:
    """Only open, enriched jobs merge: a closed or failed job must keep its own outcome."""
    return job.status is EnrichmentStatus.SUCCESS and job.job.closed_reason is None
