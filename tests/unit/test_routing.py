"""Routing decisions and the archive safety rules, as the operator relies on them."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from schemas.records import (
    EnrichedJob,
    Enrichment,
    EnrichmentStatus,
    IngestFinished,
    JobPosting,
    Location,
    Outcome,
    Route,
    RunStatus,
)
from services.router.config import SafetyLimits, Thresholds
from services.router.handlers import (
    Placement,
    RunTotals,
    archive_blocker,
    decide,
    location_dict,
    run_status,
)

THRESHOLDS = Thresholds()


def _job(
    confidence: float | None = 90.0, *, closed: str | None = None, failed: bool = False
) -> EnrichedJob:
    enrichment = (
        None
        if failed or confidence is None
        else Enrichment(ai_title="t", ai_description="d", confidence=confidence)
    )
    return EnrichedJob(
        run_id="run",
        feed_id=1,
        seq=0,
        job_hash="h",
        job=JobPosting(title="t", closed_reason=closed),
        status=EnrichmentStatus.FAILED if failed else EnrichmentStatus.SUCCESS,
        enrichment=enrichment,
        error="model timed out" if failed else None,
    )


def _placed(route: Route, reviewed_by: str | None = None) -> Placement:
    return Placement(route, reviewed_by, "older-run", datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("confidence", "route", "outcome"),
    [
        (49.99, Route.REJECTED, Outcome.REJECTED),
        (50.0, Route.MANUAL_REVIEW, Outcome.MANUAL_REVIEW),  # 0.50 goes to review
        (85.99, Route.MANUAL_REVIEW, Outcome.MANUAL_REVIEW),
        (86.0, Route.OPEN, Outcome.APPROVED),  # 0.86 is approved
        (100.0, Route.OPEN, Outcome.APPROVED),
    ],
)
def test_confidence_boundaries_match_the_original(
    confidence: float, route: Route, outcome: Outcome
) -> None:
    decision = decide(_job(confidence), thresholds=THRESHOLDS, bypass_filters=False, previous=None)
    assert (decision.route, decision.outcome) == (route, outcome)


def test_thresholds_are_settings() -> None:
    strict = Thresholds(manual_review=0.7, auto_approve=0.95)
    decision = decide(_job(90.0), thresholds=strict, bypass_filters=False, previous=None)
    assert decision.route is Route.MANUAL_REVIEW


def test_closed_jobs_are_rejected_with_reason_closed_even_when_confident() -> None:
    decision = decide(
        _job(99.0, closed="status: expired"),
        thresholds=THRESHOLDS,
        bypass_filters=True,
        previous=_placed(Route.OPEN),
    )
    assert (decision.route, decision.reason, decision.outcome) == (
        Route.REJECTED,
        "closed",
        Outcome.CLOSED,
    )


def test_bypass_filters_approves_every_enriched_job() -> None:
    decision = decide(_job(3.0), thresholds=THRESHOLDS, bypass_filters=True, previous=None)
    assert decision.route is Route.OPEN


def test_failed_enrichment_keeps_a_known_job_where_it_is() -> None:
    decision = decide(
        _job(failed=True), thresholds=THRESHOLDS, bypass_filters=False, previous=_placed(Route.OPEN)
    )
    assert decision.route is None
    assert decision.outcome is Outcome.ENRICHMENT_FAILED
    assert "model timed out" in decision.reason


def test_failed_enrichment_of_a_new_job_keeps_it_unpublished_for_a_retry() -> None:
    decision = decide(_job(failed=True), thresholds=THRESHOLDS, bypass_filters=False, previous=None)
    assert decision.route is Route.MANUAL_REVIEW
    assert decision.status == "ENRICHMENT_FAILED"


def test_a_reviewers_approval_stands_on_later_runs() -> None:
    decision = decide(
        _job(60.0),
        thresholds=THRESHOLDS,
        bypass_filters=False,
        previous=_placed(Route.OPEN, reviewed_by="ana"),
    )
    assert decision.route is Route.OPEN
    assert "ana" in decision.reason


def _ingest(**changes: object) -> IngestFinished:
    fields: dict[str, object] = {"run_id": "run", "feed_id": 1, "emitted": 100, "parsed": 100}
    fields.update(changes)
    return IngestFinished.model_validate(fields)


def _totals(**counts: int) -> RunTotals:
    return RunTotals(outcomes=Counter(counts))


@pytest.mark.parametrize(
    ("ingest", "totals", "live", "unseen", "fragment"),
    [
        (_ingest(fetch_status="failed", error="HTTP 503"), _totals(), 10, 10, "fetch failed"),
        (_ingest(fetch_status="truncated"), _totals(), 10, 1, "fetch truncated"),
        (_ingest(emitted=0, parsed=0), _totals(), 10, 10, "zero records"),
        (_ingest(), _totals(enrichment_failed=60), 10, 1, "enrichment failed for 60 of 100"),
        (_ingest(), _totals(approved=100), 100, 51, "51 of 100 open jobs"),
    ],
)
def test_unsafe_runs_archive_nothing_and_say_why(
    ingest: IngestFinished, totals: RunTotals, live: int, unseen: int, fragment: str
) -> None:
    reason = archive_blocker(
        ingest=ingest, totals=totals, open_before=live, to_archive=unseen, limits=SafetyLimits()
    )
    assert reason is not None and fragment in reason


def test_a_healthy_run_may_archive_what_disappeared() -> None:
    reason = archive_blocker(
        ingest=_ingest(),
        totals=_totals(approved=95, enrichment_failed=5),
        open_before=100,
        to_archive=10,
        limits=SafetyLimits(),
    )
    assert reason is None


def test_run_status_tells_success_partial_and_failure_apart() -> None:
    assert run_status(_ingest(), _totals(approved=100), None) is RunStatus.SUCCESS
    assert run_status(_ingest(), _totals(enrichment_failed=1), None) is RunStatus.PARTIAL
    assert run_status(_ingest(malformed=2), _totals(), None) is RunStatus.PARTIAL
    assert run_status(_ingest(), _totals(), "zero records") is RunStatus.PARTIAL
    assert run_status(_ingest(fetch_status="failed"), _totals(), "x") is RunStatus.FAILURE


def test_a_reviewers_rejection_stands_on_later_runs() -> None:
    decision = decide(
        _job(95.0),
        thresholds=THRESHOLDS,
        bypass_filters=True,
        previous=_placed(Route.REJECTED, reviewed_by="ana"),
    )
    assert (decision.route, decision.outcome) == (Route.REJECTED, Outcome.REJECTED)
    assert decision.reason == "rejected by ana"


@pytest.mark.parametrize(
    "location",
    [
        Location(),
        Location(city="Lyon", country="FR"),
        Location(city="A", state="B", country="US", postal_code="1"),
    ],
)
def test_location_dict_is_the_models_dump(location: Location) -> None:
    assert location_dict(location) == location.model_dump()
    assert list(location_dict(location)) == list(location.model_dump())
