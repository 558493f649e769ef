"""Pure routing logic: where a job goes, whether a run may archive, and the run's verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from schemas.records import (
    EnrichedJob,
    EnrichmentStatus,
    IngestFinished,
    Location,
    Outcome,
    Route,
    RunStatus,
)
from schemas.report import RunCounts
from schemas.status import ArchiveState, JobStatus
from schemas.usage import LLM_PAUSED, StageUsage, overall
from services.router.config import SafetyLimits, Thresholds


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a job lives before this record is routed."""

    route: Route
    reviewed_by: str | None
    first_seen_run: str | None
    created_at: datetime
    digest: str | None = None  # its row's `row_digest`: what the router last wrote there
    feed_id: int | None = None  # the row's owner: the feed whose listing put it on the board

    def owned_elsewhere(self, feed_id: int) -> bool:
        """The job is on the board (in any table but the archive) from another feed: a run of
        `feed_id` only adds itself as a source, the owner's row stays as it is."""
        live = self.route is not Route.ARCHIVED
        return live and self.feed_id is not None and self.feed_id != feed_id


@dataclass(frozen=True, slots=True)
class Decision:
    """`route` None means: leave the job where it is (only its last-seen run moves)."""

    route: Route | None
    status: JobStatus
    reason: str
    outcome: Outcome


def decide(
    job: EnrichedJob,
    *,
    thresholds: Thresholds,
    bypass_filters: bool,
    previous: Placement | None,
) -> Decision:
    if job.job.closed_reason is not None:
        return Decision(Route.REJECTED, JobStatus.REJECTED, "closed", Outcome.CLOSED)
    if job.status is not EnrichmentStatus.SUCCESS or job.enrichment is None:
        return _enrichment_failed(job, previous)
    reviewed = _reviewers_decision(previous)
    if reviewed is not None:
        return reviewed
    if bypass_filters:
        return Decision(Route.OPEN, JobStatus.ACTIVE, "bypass_filters", Outcome.APPROVED)
    decision = _by_confidence(job.enrichment.confidence / 100.0, thresholds)
    if decision.outcome is Outcome.APPROVED and job.review_reasons:
        return held_for_review(decision, job.review_reasons)
    return decision


HELD_FOR_REVIEW = "held for review: "


def held_for_review(approval: Decision, reasons: Sequence[str]) -> Decision:
    """The model would publish the job, but the enricher's trust checks did not agree."""
    reason = f"{HELD_FOR_REVIEW}{'; '.join(reasons)} [{approval.reason}]"
    return Decision(Route.MANUAL_REVIEW, JobStatus.MANUAL_REVIEW, reason, Outcome.MANUAL_REVIEW)


def held_reason_counts(route_reasons: Iterable[str]) -> Counter[str]:
    """How many jobs each trust check held, from their `route_reason`s: the words before a
    reason's bracketed detail name the check."""
    counts: Counter[str] = Counter()
    for route_reason in route_reasons:
        if not route_reason.startswith(HELD_FOR_REVIEW):
            continue
        listed = route_reason[len(HELD_FOR_REVIEW) :].rsplit(" [", 1)[0]
        kinds = {part.split(" (", 1)[0].strip() for part in listed.split("; ")}
        counts.update(kind for kind in kinds if kind)
    return counts


def paused_note(totals: RunTotals) -> list[str]:
    """The report's note on jobs the run's LLM cost ceiling kept from the LLM."""
    if not totals.llm_paused:
        return []
    reason = (totals.llm_paused_reason or LLM_PAUSED).removeprefix(LLM_PAUSED)
    jobs = f"{totals.llm_paused} job{'s' if totals.llm_paused != 1 else ''}"
    return [f"LLM calls paused: {jobs} not enriched, {reason}"]


def kept_note(kept: int) -> list[str]:
    """The report's note on live jobs whose records this run could not read (kept listed)."""
    if not kept:
        return []
    return [f"{plural(kept, 'live job')} kept on the board: their records were malformed"]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


def held_notes(counts: Counter[str]) -> list[str]:
    """The report's notes on jobs the trust checks held for review, most frequent first."""
    return [
        f"{count} job{'s' if count != 1 else ''} held for review: {kind}"
        for kind, count in counts.most_common()
    ]


def _reviewers_decision(previous: Placement | None) -> Decision | None:
    """Same hash means same content: a reviewer's approval or rejection stands."""
    if previous is None or not previous.reviewed_by:
        return None
    if previous.route is Route.OPEN:
        reason = f"approved by {previous.reviewed_by}"
        return Decision(Route.OPEN, JobStatus.ACTIVE, reason, Outcome.APPROVED)
    if previous.route is Route.REJECTED:
        reason = f"rejected by {previous.reviewed_by}"
        return Decision(Route.REJECTED, JobStatus.REJECTED, reason, Outcome.REJECTED)
    return None


def _enrichment_failed(job: EnrichedJob, previous: Placement | None) -> Decision:
    reason = f"enrichment failed: {job.error or 'unknown error'}"
    if previous is not None and previous.route is not Route.ARCHIVED:
        return Decision(None, JobStatus.ENRICHMENT_FAILED, reason, Outcome.ENRICHMENT_FAILED)
    # A new job waits in the review table, unpublished, until a later run enriches it.
    return Decision(
        Route.MANUAL_REVIEW, JobStatus.ENRICHMENT_FAILED, reason, Outcome.ENRICHMENT_FAILED
    )


def _by_confidence(confidence: float, thresholds: Thresholds) -> Decision:
    shown = f"confidence {confidence:.2f}"
    if confidence < thresholds.manual_review:
        reason = f"{shown} < {thresholds.manual_review:.2f}"
        return Decision(Route.REJECTED, JobStatus.REJECTED, reason, Outcome.REJECTED)
    if confidence < thresholds.auto_approve:
        reason = f"{shown} < {thresholds.auto_approve:.2f}"
        return Decision(Route.MANUAL_REVIEW, JobStatus.MANUAL_REVIEW, reason, Outcome.MANUAL_REVIEW)
    reason = f"{shown} >= {thresholds.auto_approve:.2f}"
    return Decision(Route.OPEN, JobStatus.ACTIVE, reason, Outcome.APPROVED)


@dataclass(frozen=True, slots=True)
class RunTotals:
    """Outcome counts and LLM usage summed over a run's ledger."""

    outcomes: Counter[str]
    cache_hits: int = 0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    duplicates_pass1: int = 0
    duplicates_pass2: int = 0
    usage_by_stage: Mapping[str, StageUsage] = field(default_factory=dict)
    llm_paused: int = 0  # jobs not sent to the LLM: the run reached its cost ceiling
    llm_paused_reason: str | None = None

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.get(outcome.value, 0)


@dataclass(frozen=True, slots=True)
class ArchiveVerdict:
    state: ArchiveState
    reason: str | None = None  # why held or skipped, for the report

    @property
    def applies(self) -> bool:
        return self.state is ArchiveState.APPLIED


EMPTY_FEED = "the feed is empty"


def empty_feed_reason(ingest: IngestFinished) -> str | None:
    """A complete read of zero records is a failure, never a reason to archive a feed."""
    if ingest.emitted > 0 or ingest.fetch_status != "ok":
        return None  # an incomplete read has its own reason
    if ingest.malformed:
        return f"{EMPTY_FEED}: all {ingest.malformed} records were malformed"
    return EMPTY_FEED


def allowed_archive_share(history: Sequence[float], limits: SafetyLimits) -> float:
    """The largest share of a feed's live jobs one run may archive without an operator.

    `history` holds the shares the feed's recent runs archived. With too little of it, the
    `max_archive_share` setting; with enough, twice the largest recent share plus five
    points (a feed that turns over 30% a day may lose 65%, one that turns over 2% may lose
    20%), never under `share_floor` nor over `share_cap`.
    """
    if len(history) < limits.min_history_runs:
        return limits.max_archive_share
    normal = 2 * max(history) + 0.05
    return min(limits.share_cap, max(limits.share_floor, normal))


def archive_verdict(
    *,
    ingest: IngestFinished,
    totals: RunTotals,
    open_before: int,
    to_archive: int,
    history: Sequence[float],
    limits: SafetyLimits,
    replay: bool = False,
) -> ArchiveVerdict:
    """Whether this run archives the `to_archive` live jobs it did not produce."""
    if replay:
        return ArchiveVerdict(ArchiveState.NOT_JUDGED, None)
    if ingest.fetch_status != "ok":
        reason = f"fetch {ingest.fetch_status}: {ingest.error or 'no detail'}"
        return ArchiveVerdict(ArchiveState.SKIPPED, reason)
    empty = empty_feed_reason(ingest)
    if empty:
        return ArchiveVerdict(ArchiveState.SKIPPED, empty)
    enriched = ingest.emitted - totals.count(Outcome.CLOSED)
    failed = totals.count(Outcome.ENRICHMENT_FAILED)
    if enriched > 0 and failed / enriched > limits.max_enrichment_failure_rate:
        reason = (
            f"enrichment failed for {failed} of {enriched} jobs "
            f"(limit {limits.max_enrichment_failure_rate:.0%})"
        )
        return ArchiveVerdict(ArchiveState.SKIPPED, reason)
    if ingest.malformed_unidentified and to_archive:
        # any job the run did not see may be one of those records: an operator decides
        unreadable = plural(ingest.malformed_unidentified, "malformed record")
        reason = (
            f"{held_message(to_archive)} ({unreadable} without a readable id, URL or title: "
            "the jobs they list cannot be told apart from jobs that left the feed)"
        )
        return ArchiveVerdict(ArchiveState.HELD, reason)
    if to_archive <= limits.always_apply_jobs:
        return ArchiveVerdict(ArchiveState.APPLIED)
    share, allowed = to_archive / open_before, allowed_archive_share(history, limits)
    if share > allowed:
        reason = (
            f"{held_message(to_archive)} ({to_archive} of {open_before} live jobs, "
            f"{share:.0%}; this feed's normal variation allows {allowed:.0%})"
        )
        return ArchiveVerdict(ArchiveState.HELD, reason)
    return ArchiveVerdict(ArchiveState.APPLIED)


def held_message(jobs: int) -> str:
    return f"archive held: {jobs} jobs, confirm or discard"


def run_status(ingest: IngestFinished, totals: RunTotals, verdict: ArchiveVerdict) -> RunStatus:
    if ingest.fetch_status == "failed" or ingest.emitted == 0:
        return RunStatus.FAILURE  # nothing was processed
    unsafe = verdict.state in (ArchiveState.HELD, ArchiveState.SKIPPED)
    if unsafe or ingest.malformed or totals.count(Outcome.ENRICHMENT_FAILED):
        return RunStatus.PARTIAL
    return RunStatus.SUCCESS


def report_counters(
    ingest: IngestFinished, totals: RunTotals, *, archived: int, held: int
) -> RunCounts:
    """The counts a completed run fills in its report."""
    approved = totals.count(Outcome.APPROVED)
    used = overall(totals.usage_by_stage)
    manual = totals.count(Outcome.MANUAL_REVIEW)
    rejected = totals.count(Outcome.REJECTED)
    unchanged = totals.count(Outcome.UNCHANGED)
    return RunCounts(
        total_in_feed=ingest.parsed,
        malformed_records=ingest.malformed,
        processed_successfully=approved + manual + rejected + unchanged,
        skipped_closed=totals.count(Outcome.CLOSED),
        skipped_duplicate=totals.count(Outcome.DUPLICATE) + totals.count(Outcome.MERGED),
        skipped_duplicate_initial_aggregation=totals.duplicates_pass1,
        skipped_duplicate_ai_aggregation=totals.duplicates_pass2,
        records_failed=totals.count(Outcome.ENRICHMENT_FAILED),
        jobs_closed=archived,
        jobs_archived=archived,
        jobs_archive_held=held,
        jobs_auto_approved=approved,
        jobs_manual_review=manual,
        jobs_rejected=rejected,
        jobs_unchanged=unchanged,
        api_calls_gemini=totals.llm_calls,
        cache_hits=totals.cache_hits,
        gemini_input_tokens=totals.input_tokens,
        gemini_output_tokens=totals.output_tokens,
        gemini_total_tokens=used.tokens,
        gemini_cached_input_tokens=used.cached_input,
        gemini_thinking_tokens=used.thinking,
        llm_cost_usd=used.cost_usd,
        llm_usage_by_stage={
            stage: stage_usage.model_dump() for stage, stage_usage in totals.usage_by_stage.items()
        },
        llm_paused_jobs=totals.llm_paused,
        feed_file_size_bytes=ingest.bytes_compressed,
        feed_uncompressed_bytes=ingest.bytes_uncompressed,
    )


def with_source_counts(counts: RunCounts, changes: Mapping[str, int], *, dropped: int) -> RunCounts:
    """The report's per-source counts: what each of the feed's listings in the run did (by
    `SourceChange` value) and how many of its sources the run dropped."""
    return replace(
        counts,
        jobs_new=changes.get("new", 0),
        jobs_known_elsewhere=changes.get("known", 0),
        jobs_updated=changes.get("updated", 0),
        jobs_dropped=dropped,
    )


@dataclass(frozen=True, slots=True)
class FeedInfo:
    feed_id: int
    name: str
    partner_id: int | None
    bypass_filters: bool


def location_string(job: EnrichedJob) -> str:
    """ "Austin TX US, Denver CO US", as the original built it."""
    parts = []
    for loc in job.job.locations:
        part = " ".join([p for p in (loc.city, loc.state, loc.country) if p])
        if part:
            parts.append(part)
    return ", ".join(parts)


def location_dict(location: Location) -> dict[str, object]:
    """`location.model_dump()`: a flat model of plain fields and no extras keeps exactly its
    field values in `__dict__`; copying that skips pydantic's serializer, several times
    slower per call."""
    return dict(location.__dict__)
