"""The four job tables and their column whitelist, shared by every service that moves jobs.

Only these column names are ever interpolated into SQL, so a move between tables can list
its columns without trusting any input.
"""

from __future__ import annotations

from schemas.records import Route

TABLES: dict[Route, str] = {
    Route.OPEN: "open_jobs",
    Route.MANUAL_REVIEW: "manual_review_jobs",
    Route.REJECTED: "rejected_jobs",
    Route.ARCHIVED: "archive_jobs",
}

# Whitelist: the only job columns services write (ids and updated_at are the database's).
JOB_COLUMNS: tuple[str, ...] = (
    "job_hash", "feed_id", "route", "route_reason", "status", "first_seen_run",
    "last_seen_run", "execution_id", "external_job_id", "job_source", "partner_id", "title",
    "company_name", "description", "description_text", "application_url", "posted_at",
    "expires_at", "employment_type", "is_remote", "is_multi_location", "is_international",
    "locations", "location_string", "_geo", "salary_min", "salary_max", "salary_period",
    "currency", "cpc", "cpa", "closed_reason", "ai_title", "ai_description", "ai_job_tasks",
    "ai_search_terms", "ai_top_tags", "ai_skills", "ai_confidence_score",
    "confidence_reasoning", "sector_id", "industry_group_id", "industry_id", "job_function_id",
    "sector", "industry_group", "industry", "job_function", "ih_reasoning", "jf_reasoning",
    "searchable_text", "ai_enrichment_status", "ai_enrichment_error", "enrichment_version",
    "reviewed_by", "reviewed_at", "created_at",
)  # fmt: skip
