"""Pass-1 dedupe glue for the ingestor: feeds a `RawJob` to the shared merge rule."""

from __future__ import annotations

from schemas.dedupe import AccuracyMode, Decision, GroupState, decide
from schemas.records import RawJob


def decide_raw_job(
    state: GroupState | None, raw: RawJob, *, mode: AccuracyMode = AccuracyMode.BALANCED
) -> tuple[GroupState, Decision]:
    """Decide a raw job against its group's state (the table value under `raw.dedupe_key`)."""
    return decide(
        state,
        run_id=raw.run_id,
        seq=raw.seq,
        job_hash=raw.job_hash,
        text=raw.job.description_text,
        locations=raw.job.locations,
        mode=mode,
    )
