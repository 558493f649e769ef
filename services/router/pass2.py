"""Pass-2 dedupe: near-duplicates merged again on the AI title, before routing."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import cast

import orjson

from schemas.dedupe import Duplicate, GroupState, Keep, decide
from schemas.records import EnrichedJob, EnrichmentStatus, JobMerged, Outcome, Record

StateTable = MutableMapping[bytes, bytes]


def merge_pass2(table: StateTable, key: bytes, record: Record) -> Record:
    """An enriched job is kept or becomes a pass-2 merge; everything else passes through."""
    if not isinstance(record, EnrichedJob) or not _comparable(record):
        return record
    stored = table.get(key)
    state = cast(GroupState, orjson.loads(stored)) if stored else None
    new_state, decision = decide(
        state,
        run_id=record.run_id,
        seq=record.seq,
        job_hash=record.job_hash,
        text=record.job.description_text,
        locations=record.job.locations,
    )
    table[key] = orjson.dumps(new_state)
    if isinstance(decision, Keep):
        return record
    return JobMerged(
        run_id=record.run_id,
        feed_id=record.feed_id,
        seq=record.seq,
        kept_hash=decision.kept_hash,
        duplicate_hash=record.job_hash,
        outcome=Outcome.DUPLICATE if isinstance(decision, Duplicate) else Outcome.MERGED,
        pass_number=2,
        locations=() if isinstance(decision, Duplicate) else decision.new_locations,
    )


def _comparable(job: EnrichedJob) -> bool:
    """Only open, enriched jobs merge: a closed or failed job must keep its own outcome."""
    return job.status is EnrichmentStatus.SUCCESS and job.job.closed_reason is None
