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
from schemas.status import ArchiveState, JobStatus
from services.router.config import SafetyLimits, Thresholds
from services.router.handlers import (
    ArchiveVerdict,
    Placement,
    RunTotals,
    allowed_archive_share,
    archive_verdict,
    decide,
    empty_feed_reason,
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
    assert decision.status == JobStatus.ENRICHMENT_FAILED


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


LIMITS = SafetyLimits()


def _verdict(
    ingest: IngestFinished | None = None,
    totals: RunTotals | None = None,
    *,
    live: int = 100,
    unseen: int = 0,
    history: tuple[float, ...] = (),
    replay: bool = False,
) -> ArchiveVerdict:
    return archive_verdict(
        ingest=ingest or _ingest(),
        totals=totals or _totals(approved=100),
        open_before=live,
        to_archive=unseen,
        history=history,
        limits=LIMITS,
        replay=replay,
    )


@pytest.mark.parametrize(
    ("ingest", "totals", "live", "unseen", "fragment"),
    [
        (_ingest(fetch_status="failed", error="HTTP 503"), _totals(), 10, 10, "fetch failed"),
        (_ingest(fetch_status="truncated"), _totals(), 10, 1, "fetch truncated"),
        (_ingest(emitted=0, parsed=0), _totals(), 10, 10, "the feed is empty"),
        (_ingest(), _totals(enrichment_failed=60), 10, 1, "enrichment failed for 60 of 100"),
    ],
)
def test_unsafe_runs_archive_nothing_and_say_why(
    ingest: IngestFinished, totals: RunTotals, live: int, unseen: int, fragment: str
) -> None:
    verdict = _verdict(ingest, totals, live=live, unseen=unseen)
    assert verdict.state is ArchiveState.SKIPPED
    assert verdict.reason is not None and fragment in verdict.reason


def test_a_healthy_run_may_archive_what_disappeared() -> None:
    verdict = _verdict(_ingest(), _totals(approved=95, enrichment_failed=5), unseen=10)
    assert verdict == ArchiveVerdict(ArchiveState.APPLIED, None)


def test_a_small_feed_that_drops_its_only_job_archives_it() -> None:
    """One open job gone is 100% of the feed, and a real change: few jobs always apply."""
    assert _verdict(live=1, unseen=1).state is ArchiveState.APPLIED
    assert _verdict(live=5, unseen=LIMITS.always_apply_jobs).state is ArchiveState.APPLIED
    assert _verdict(live=6, unseen=LIMITS.always_apply_jobs + 1).state is ArchiveState.HELD


def test_a_drop_beyond_the_normal_variation_is_held_with_the_count() -> None:
    verdict = _verdict(live=10_000, unseen=6_000)
    assert verdict.state is ArchiveState.HELD
    assert verdict.reason is not None
    assert verdict.reason.startswith("archive held: 6000 jobs, confirm or discard")
    assert "60%" in verdict.reason and "allows 50%" in verdict.reason


@pytest.mark.parametrize(
    ("history", "allowed"),
    [
        ((), 0.5),  # no history: the setting
        ((0.02, 0.01), 0.5),  # too little history
        ((0.02, 0.01, 0.0), 0.2),  # a steady feed: the floor
        ((0.10, 0.05, 0.08), 0.25),  # twice the largest share, plus five points
        ((0.30, 0.40, 0.35), 0.85),  # a feed that turns over a lot
        ((0.60, 0.50, 0.55), 0.9),  # never above the cap
    ],
)
def test_the_allowed_share_follows_the_feeds_history(
    history: tuple[float, ...], allowed: float
) -> None:
    assert allowed_archive_share(history, LIMITS) == pytest.approx(allowed)


def test_a_steady_feed_losing_a_third_is_held_a_churning_one_is_not() -> None:
    assert _verdict(unseen=33, history=(0.01, 0.02, 0.0)).state is ArchiveState.HELD
    assert _verdict(unseen=33, history=(0.2, 0.3, 0.25)).state is ArchiveState.APPLIED


def test_a_replay_never_judges_presence() -> None:
    verdict = _verdict(live=10, unseen=10, replay=True)
    assert verdict.state is ArchiveState.NOT_JUDGED and not verdict.applies
    assert run_status(_ingest(), _totals(approved=100), verdict) is RunStatus.SUCCESS


def test_run_status_tells_success_partial_and_failure_apart() -> None:
    applied = ArchiveVerdict(ArchiveState.APPLIED)
    held = ArchiveVerdict(ArchiveState.HELD, "archive held")
    skipped = ArchiveVerdict(ArchiveState.SKIPPED, "fetch truncated")
    assert run_status(_ingest(), _totals(approved=100), applied) is RunStatus.SUCCESS
    assert run_status(_ingest(), _totals(enrichment_failed=1), applied) is RunStatus.PARTIAL
    assert run_status(_ingest(malformed=2), _totals(), applied) is RunStatus.PARTIAL
    assert run_status(_ingest(), _totals(), held) is RunStatus.PARTIAL
    assert run_status(_ingest(fetch_status="truncated"), _totals(), skipped) is RunStatus.PARTIAL
    assert run_status(_ingest(fetch_status="failed"), _totals(), skipped) is RunStatus.FAILURE


def test_an_empty_complete_feed_is_a_failure_that_says_so() -> None:
    empty = _ingest(emitted=0, parsed=0)
    assert empty_feed_reason(empty) == "the feed is empty"
    assert run_status(empty, _totals(), _verdict(empty)) is RunStatus.FAILURE
    malformed = _ingest(emitted=0, parsed=0, malformed=3)
    assert empty_feed_reason(malformed) == "the feed is empty: all 3 records were malformed"
    assert empty_feed_reason(_ingest()) is None
    cut = _ingest(emitted=0, parsed=0, fetch_status="truncated", error="body ended early")
    assert empty_feed_reason(cut) is None, "an incomplete read says why itself"
    assert _verdict(cut).reason == "fetch truncated: body ended early"
    assert run_status(cut, _totals(), _verdict(cut)) is RunStatus.FAILURE


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
