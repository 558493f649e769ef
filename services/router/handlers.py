"""Pure routing logic: where a job goes, whether a run may archive, and the run's verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.records import (
    EnrichedJob,
    EnrichmentStatus,
    IngestFinished,
    Location,
    Outcome,
    Route,
    RunStatus,
)
from services.router.config import SafetyLimits, Thresholds
from services.router.geo import job_geo

STATUS_BY_ROUTE = {
    Route.OPEN: "ACTIVE",
    Route.MANUAL_REVIEW: "MANUAL_REVIEW",
    Route.REJECTED: "REJECTED",
    Route.ARCHIVED: "ARCHIVED",
}
ENRICHMENT_FAILED_STATUS = "ENRICHMENT_FAILED"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a job lives before this record is routed."""

    route: Route
    reviewed_by: str | None
    first_seen_run: str | None
    created_at: datetime
    digest: str | None = None  # its row's `row_digest`: what the router last wrote there


@dataclass(frozen=True, slots=True)
class Decision:
    """`route` None means: leave the job where it is (only its last-seen run moves)."""

    route: Route | None
    status: str
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
        return Decision(Route.REJECTED, "REJECTED", "closed", Outcome.CLOSED)
    if job.status is not EnrichmentStatus.SUCCESS or job.enrichment is None:
        return _enrichment_failed(job, previous)
    reviewed = _reviewers_decision(previous)
    if reviewed is not None:
        return reviewed
    if bypass_filters:
        return Decision(Route.OPEN, "ACTIVE", "bypass_filters", Outcome.APPROVED)
    return _by_confidence(job.enrichment.confidence / 100.0, thresholds)


def _reviewers_decision(previous: Placement | None) -> Decision | None:
    """Same hash means same content: a reviewer's approval or rejection stands."""
    if previous is None or not previous.reviewed_by:
        return None
    if previous.route is Route.OPEN:
        reason = f"approved by {previous.reviewed_by}"
        return Decision(Route.OPEN, "ACTIVE", reason, Outcome.APPROVED)
    if previous.route is Route.REJECTED:
        reason = f"rejected by {previous.reviewed_by}"
        return Decision(Route.REJECTED, "REJECTED", reason, Outcome.REJECTED)
    return None


def _enrichment_failed(job: EnrichedJob, previous: Placement | None) -> Decision:
    reason = f"enrichment failed: {job.error or 'unknown error'}"
    if previous is not None and previous.route is not Route.ARCHIVED:
        return Decision(None, ENRICHMENT_FAILED_STATUS, reason, Outcome.ENRICHMENT_FAILED)
    # A new job waits in the review table, unpublished, until a later run enriches it.
    return Decision(
        Route.MANUAL_REVIEW, ENRICHMENT_FAILED_STATUS, reason, Outcome.ENRICHMENT_FAILED
    )


def _by_confidence(confidence: float, thresholds: Thresholds) -> Decision:
    shown = f"confidence {confidence:.2f}"
    if confidence < thresholds.manual_review:
        reason = f"{shown} < {thresholds.manual_review:.2f}"
        return Decision(Route.REJECTED, "REJECTED", reason, Outcome.REJECTED)
    if confidence < thresholds.auto_approve:
        reason = f"{shown} < {thresholds.auto_approve:.2f}"
        return Decision(Route.MANUAL_REVIEW, "MANUAL_REVIEW", reason, Outcome.MANUAL_REVIEW)
    reason = f"{shown} >= {thresholds.auto_approve:.2f}"
    return Decision(Route.OPEN, "ACTIVE", reason, Outcome.APPROVED)


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

    def count(self, outcome: Outcome) -> int:
        return self.outcomes.get(outcome.value, 0)


def archive_blocker(
    *,
    ingest: IngestFinished,
    totals: RunTotals,
    open_before: int,
    to_archive: int,
    limits: SafetyLimits,
) -> str | None:
    """Why archiving would be unsafe for this run, or None when it may go ahead."""
    if ingest.fetch_status != "ok":
        return f"fetch {ingest.fetch_status}: {ingest.error or 'no detail'}"
    if ingest.emitted == 0:
        return "the feed produced zero records"
    enriched = ingest.emitted - totals.count(Outcome.CLOSED)
    failed = totals.count(Outcome.ENRICHMENT_FAILED)
    if enriched > 0 and failed / enriched > limits.max_enrichment_failure_rate:
        return (
            f"enrichment failed for {failed} of {enriched} jobs "
            f"(limit {limits.max_enrichment_failure_rate:.0%})"
        )
    if open_before > 0 and to_archive / open_before > limits.max_archive_share:
        return (
            f"{to_archive} of {open_before} open jobs would be archived "
            f"(limit {limits.max_archive_share:.0%})"
        )
    return None


def run_status(ingest: IngestFinished, totals: RunTotals, blocker: str | None) -> RunStatus:
    if ingest.fetch_status == "failed":
        return RunStatus.FAILURE
    if blocker or ingest.malformed or totals.count(Outcome.ENRICHMENT_FAILED):
        return RunStatus.PARTIAL
    return RunStatus.SUCCESS


def report_counters(
    ingest: IngestFinished, totals: RunTotals, *, archived: int, blocker: str | None
) -> dict[str, Any]:
    """The execution_reports columns a completed run fills in."""
    approved = totals.count(Outcome.APPROVED)
    manual = totals.count(Outcome.MANUAL_REVIEW)
    rejected = totals.count(Outcome.REJECTED)
    return {
        "total_in_feed": ingest.parsed,
        "malformed_records": ingest.malformed,
        "processed_successfully": approved + manual + rejected,
        "skipped_closed": totals.count(Outcome.CLOSED),
        "skipped_duplicate": totals.count(Outcome.DUPLICATE) + totals.count(Outcome.MERGED),
        "skipped_duplicate_initial_aggregation": totals.duplicates_pass1,
        "skipped_duplicate_ai_aggregation": totals.duplicates_pass2,
        "records_failed": totals.count(Outcome.ENRICHMENT_FAILED),
        "jobs_closed": archived,
        "jobs_archived": archived,
        "archive_skipped_reason": blocker,
        "jobs_auto_approved": approved,
        "jobs_manual_review": manual,
        "jobs_rejected": rejected,
        "api_calls_gemini": totals.llm_calls,
        "cache_hits": totals.cache_hits,
        "gemini_input_tokens": totals.input_tokens,
        "gemini_output_tokens": totals.output_tokens,
        "gemini_total_tokens": totals.input_tokens + totals.output_tokens,
        "feed_file_size_bytes": ingest.bytes_compressed,
        "feed_uncompressed_bytes": ingest.bytes_uncompressed,
    }


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


def location_dict(location: Location) -> dict[str, Any]:
    """`location.model_dump()`: a flat model of plain fields and no extras keeps exactly its
    field values in `__dict__`; copying that skips pydantic's serializer, several times
    slower per call."""
    return dict(location.__dict__)


# Columns a routed row leaves to the batch (first seen, created, a standing review) or to
# no one (execution_id): every row carries every whitelisted column.
_NOT_DECIDED_HERE: dict[str, Any] = dict.fromkeys(
    ("first_seen_run", "execution_id", "reviewed_by", "reviewed_at", "created_at")
)


def job_row(job: EnrichedJob, decision: Decision, *, feed: FeedInfo) -> dict[str, Any]:
    """The job-table row for a routed job; its keys are exactly the whitelisted columns.
    (Per job on the router's hot path: enum values are read as `_value_`, a plain attribute,
    where `.value` is a descriptor several times slower.)"""
    posting, enrichment = job.job, job.enrichment
    salary = (enrichment.salary if enrichment else None) or posting.salary
    locations = posting.locations
    row: dict[str, Any] = {
        "job_hash": job.job_hash,
        "feed_id": job.feed_id,
        "route": decision.route._value_ if decision.route else None,
        "route_reason": decision.reason,
        "status": decision.status,
        "last_seen_run": job.run_id,
        "external_job_id": posting.external_job_id,
        "job_source": feed.name,
        "partner_id": feed.partner_id,
        "title": posting.title,
        "company_name": posting.company_name,
        "description": posting.description_html,
        "description_text": posting.description_text,
        "application_url": posting.application_url,
        "posted_at": posting.posted_at,
        "expires_at": posting.expires_at,
        "employment_type": posting.employment_type._value_,
        "is_remote": posting.is_remote,
        "is_multi_location": len(locations) > 1,
        "is_international": any(loc.country not in (None, "US") for loc in locations),
        "locations": [location_dict(loc) for loc in locations],
        "location_string": location_string(job),
        "_geo": job_geo(locations),
        "salary_min": salary.min if salary else None,
        "salary_max": salary.max if salary else None,
        "salary_period": salary.period._value_ if salary and salary.period else None,
        "currency": salary.currency if salary else None,
        "cpc": posting.cpc,
        "cpa": posting.cpa,
        "closed_reason": posting.closed_reason,
        "ai_enrichment_status": job.status._value_,
        "ai_enrichment_error": job.error,
        "enrichment_version": job.enrichment_version or None,
        **_NOT_DECIDED_HERE,
    }
    row.update(_enrichment_columns(job))
    return row


_NO_ENRICHMENT_NULLS = (
    "ai_title", "ai_description", "ai_confidence_score", "confidence_reasoning", "sector_id",
    "industry_group_id", "industry_id", "job_function_id", "sector", "industry_group",
    "industry", "job_function", "ih_reasoning", "jf_reasoning", "searchable_text",
)  # fmt: skip
_NO_ENRICHMENT: dict[str, Any] = {
    **dict.fromkeys(_NO_ENRICHMENT_NULLS),
    "ai_job_tasks": [],
    "ai_search_terms": [],
    "ai_top_tags": [],
    "ai_skills": [],
}


def _enrichment_columns(job: EnrichedJob) -> dict[str, Any]:
    e = job.enrichment
    if e is None:
        return dict(_NO_ENRICHMENT)
    return {
        "ai_title": e.ai_title,
        "ai_description": e.ai_description,
        "ai_job_tasks": list(e.tasks),
        "ai_search_terms": list(e.search_terms),
        "ai_top_tags": list(e.tags),
        "ai_skills": list(e.skills),
        "ai_confidence_score": e.confidence,
        "confidence_reasoning": "; ".join(e.confidence_reasons),
        "sector_id": e.sector_id,
        "industry_group_id": e.industry_group_id,
        "industry_id": e.industry_id,
        "job_function_id": e.job_function_id,
        "sector": e.sector or None,
        "industry_group": e.industry_group or None,
        "industry": e.industry or None,
        "job_function": e.job_function or None,
        "ih_reasoning": e.industry_reasoning,
        "jf_reasoning": e.job_function_reasoning,
        "searchable_text": e.searchable_text,
    }
