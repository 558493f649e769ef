"""Pass-1 dedupe over a batch of RawJobs, with the group state kept in a Faust table."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import cast

import orjson

from schemas.dedupe import Duplicate, GroupState, Keep
from schemas.records import DedupedJob, JobMerged, Outcome, RawJob
from services.ingestor.dedupe import decide_raw_job

DedupeOutput = DedupedJob | JobMerged

# The table maps a dedupe key (the jobs.raw message key) to its group's JSON state.
StateTable = MutableMapping[bytes, bytes]


def dedupe_one(table: StateTable, raw: RawJob) -> DedupeOutput:
    """The job kept, or a merge into the job it duplicates."""
    if raw.closed:
        return _kept(raw)  # closed jobs are routed as they are; nothing merges into them
    key = raw.dedupe_key.encode()
    stored = table.get(key)
    state = cast(GroupState, orjson.loads(stored)) if stored else None
    new_state, decision = decide_raw_job(state, raw)
    table[key] = orjson.dumps(new_state)
    if isinstance(decision, Keep):
        return _kept(raw)
    outcome = Outcome.DUPLICATE if isinstance(decision, Duplicate) else Outcome.MERGED
    locations = () if isinstance(decision, Duplicate) else decision.new_locations
    return JobMerged(
        run_id=raw.run_id,
        feed_id=raw.feed_id,
        seq=raw.seq,
        kept_hash=decision.kept_hash,
        duplicate_hash=raw.job_hash,
        outcome=outcome,
        pass_number=1,
        locations=locations,
    )


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
