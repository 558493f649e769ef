"""A routed job's `job_input` value is built by position: each position holds its column."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.job_tables import JOB_COLUMNS
from schemas.records import (
    EmploymentType,
    EnrichedJob,
    Enrichment,
    EnrichmentStatus,
    JobPosting,
    Location,
    Outcome,
    Route,
    Salary,
    SalaryPeriod,
)
from schemas.status import JobStatus
from services.router.adapters.jobs_repository import job_input, row_digest
from services.router.geo import job_geo
from services.router.handlers import Decision, FeedInfo

POSTED = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
EXPIRES = datetime(2026, 12, 1, tzinfo=UTC)
CREATED = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
FEED = FeedInfo(feed_id=7, name="Partner feed", partner_id=42, bypass_filters=False)
DECISION = Decision(Route.OPEN, JobStatus.ACTIVE, "confidence 0.95 >= 0.86", Outcome.APPROVED)


def _posting(**changes: Any) -> JobPosting:
    fields: dict[str, Any] = {
        "external_job_id": "ext-1",
        "title": "Registered Nurse",
        "company_name": "Mercy Health",
        "description_html": "<p>Care for <b>patients</b>.</p>",
        "application_url": "https://jobs.example/1",
        "posted_at": POSTED,
        "expires_at": EXPIRES,
        "employment_type": EmploymentType.PART_TIME,
        "is_remote": True,
        "locations": (
            Location(city="Lyon", country="FR"),
            Location(city="Boston", state="MA", country="US"),
        ),
        "salary": Salary(min=30.5, max=40.0, period=SalaryPeriod.HOURLY, currency="EUR"),
        "cpc": 0.25,
        "cpa": 3.5,
    }
    return JobPosting(**(fields | changes))


ENRICHMENT = Enrichment(
    ai_title="RN",
    ai_description="Nursing care.",
    tasks=("assess patients",),
    search_terms=("nurse", "rn"),
    tags=("healthcare",),
    skills=("BLS",),
    sector_id=62,
    industry_group_id=621,
    industry_id=6221,
    industry_reasoning="a hospital",
    sector="Health Care",
    industry_group="Ambulatory Care",
    industry="Hospitals",
    job_function="Nursing",
    confidence=95.5,
    confidence_reasons=("clear title", "clinical duties"),
    job_function_id=291141,
    job_function_reasoning="nursing duties",
    searchable_text="registered nurse care",
)


def _job(posting: JobPosting, enrichment: Enrichment | None) -> EnrichedJob:
    return EnrichedJob(
        run_id="run-2",
        feed_id=7,
        seq=3,
        job_hash="hash-1",
        job=posting,
        status=EnrichmentStatus.SUCCESS if enrichment else EnrichmentStatus.FAILED,
        enrichment=enrichment,
        error=None if enrichment else "timeout",
        enrichment_version="v4",
    )


def _columns(job: EnrichedJob, decision: Decision = DECISION) -> dict[str, Any]:
    value = job_input(
        job, decision, FEED, first_seen_run="run-1", created_at=CREATED, reviewed_by="ana"
    )
    assert len(value) == len(JOB_COLUMNS) + 1
    return dict(zip((*JOB_COLUMNS, "row_digest"), value, strict=True))


def test_every_position_holds_its_column() -> None:
    columns = _columns(_job(_posting(), ENRICHMENT))
    assert columns == {
        "job_hash": "hash-1",
        "feed_id": 7,
        "route": "open",
        "route_reason": "confidence 0.95 >= 0.86",
        "status": JobStatus.ACTIVE,
        "first_seen_run": "run-1",
        "last_seen_run": "run-2",
        "execution_id": None,
        "external_job_id": "ext-1",
        "job_source": "Partner feed",
        "partner_id": 42,
        "title": "Registered Nurse",
        "company_name": "Mercy Health",
        "description": "<p>Care for <b>patients</b>.</p>",
        "description_text": "Care for patients.",
        "application_url": "https://jobs.example/1",
        "posted_at": POSTED,
        "expires_at": EXPIRES,
        "employment_type": "PART_TIME",
        "is_remote": True,
        "is_multi_location": True,
        "is_international": True,
        "locations": orjson.dumps(
            [
                {"city": "Lyon", "state": None, "country": "FR", "postal_code": None},
                {"city": "Boston", "state": "MA", "country": "US", "postal_code": None},
            ]
        ).decode(),
        "location_string": "Lyon FR, Boston MA US",
        "_geo": columns["_geo"],  # the gazetteer's point: tested in test_router_geo
        "salary_min": "30.5",
        "salary_max": "40.0",
        "salary_period": "HOURLY",
        "currency": "EUR",
        "cpc": 0.25,
        "cpa": 3.5,
        "closed_reason": None,
        "ai_title": "RN",
        "ai_description": "Nursing care.",
        "ai_job_tasks": '["assess patients"]',
        "ai_search_terms": '["nurse","rn"]',
        "ai_top_tags": '["healthcare"]',
        "ai_skills": '["BLS"]',
        "ai_confidence_score": "95.5",
        "confidence_reasoning": "clear title; clinical duties",
        "sector_id": 62,
        "industry_group_id": 621,
        "industry_id": 6221,
        "job_function_id": 291141,
        "sector": "Health Care",
        "industry_group": "Ambulatory Care",
        "industry": "Hospitals",
        "job_function": "Nursing",
        "ih_reasoning": "a hospital",
        "jf_reasoning": "nursing duties",
        "searchable_text": "registered nurse care",
        "ai_enrichment_status": "success",
        "ai_enrichment_error": None,
        "enrichment_version": "v4",
        "reviewed_by": "ana",
        "reviewed_at": None,
        "created_at": CREATED,
        "row_digest": columns["row_digest"],
    }
    assert isinstance(orjson.loads(columns["_geo"])["lat"], float)
    assert columns["row_digest"] == row_digest(list(columns.values())[:-1])


def test_a_job_without_enrichment_has_empty_enrichment_columns() -> None:
    decision = Decision(
        Route.MANUAL_REVIEW,
        JobStatus.ENRICHMENT_FAILED,
        "enrichment failed: timeout",
        Outcome.ENRICHMENT_FAILED,
    )
    columns = _columns(_job(_posting(salary=None, locations=()), None), decision)
    assert columns["route"] == "manual_review"
    assert columns["status"] == JobStatus.ENRICHMENT_FAILED
    assert columns["ai_enrichment_status"] == "failed"
    assert columns["ai_enrichment_error"] == "timeout"
    for name in ("ai_job_tasks", "ai_search_terms", "ai_top_tags", "ai_skills", "locations"):
        assert columns[name] == "[]"
    enrichment_columns = JOB_COLUMNS[
        JOB_COLUMNS.index("ai_title") : JOB_COLUMNS.index("ai_enrichment_status")
    ]
    lists = {"ai_job_tasks", "ai_search_terms", "ai_top_tags", "ai_skills"}
    assert all(columns[c] is None for c in enrichment_columns if c not in lists)
    assert [columns[c] for c in ("salary_min", "salary_max", "salary_period", "currency")] == [
        None
    ] * 4
    assert columns["location_string"] == ""
    assert columns["_geo"] == orjson.dumps(job_geo(())).decode()  # the default country's point


def test_the_enrichments_salary_wins_and_a_nan_salary_is_null() -> None:
    enriched = ENRICHMENT.model_copy(
        update={"salary": Salary(min=float("nan"), max=90000, period=SalaryPeriod.YEARLY)}
    )
    columns = _columns(_job(_posting(), enriched))
    assert columns["salary_min"] is None
    assert columns["salary_max"] == "90000.0"  # a float field, as JSON wrote it
    assert columns["salary_period"] == "YEARLY"
    assert columns["currency"] is None


def test_the_digest_covers_content_but_not_the_last_seen_run() -> None:
    job = _job(_posting(), ENRICHMENT)
    again = job.model_copy(update={"run_id": "run-3"})
    retitled = job.model_copy(update={"job": _posting(title="Charge Nurse")})
    digest = _columns(job)["row_digest"]
    assert _columns(again)["row_digest"] == digest
    assert _columns(retitled)["row_digest"] != digest
