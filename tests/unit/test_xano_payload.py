"""The Xano payload built from an open_jobs row, and its change fingerprint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from schemas.status import JobStatus
from services.syncer.payload import DEFAULT_FIELD_MAP, epoch_ms, fingerprint, to_xano_payload


def open_job_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "job_hash": "hash-1",
        "feed_id": 7,
        "status": JobStatus.ACTIVE.value,  # as the database returns it
        "execution_id": None,
        "external_job_id": "ext-1",
        "partner_id": 3,
        "title": "Nurse",
        "company_name": "Acme Health",
        "description": "<p>Care</p>",
        "application_url": "https://jobs.example/1",
        "posted_at": datetime(2025, 9, 1, 9, 15, tzinfo=timezone(timedelta(hours=-5))),
        "employment_type": "CONTRACT",
        "is_remote": True,
        "is_multi_location": False,
        "is_international": False,
        "locations": [{"city": "Austin", "state": "TX", "country": "US", "postal_code": "78701"}],
        "location_string": "Austin, TX",
        "_geo": '{"lat": 30.27, "lng": -97.74}',
        "salary_min": Decimal("50000"),
        "salary_max": None,
        "salary_period": "YEARLY",
        "cpc": 0.5,
        "cpa": None,
        "ai_title": "Registered Nurse",
        "ai_description": "Cares for patients.",
        "ai_job_tasks": '["chart", "triage"]',
        "ai_search_terms": ["nurse"],
        "ai_top_tags": [],
        "ai_skills": ("triage",),
        "ai_confidence_score": Decimal("92.7"),
        "sector_id": 1,
        "industry_group_id": None,
        "industry_id": 14,
        "job_function_id": 29,
        "sector": "Health",
        "industry_group": None,
        "industry": "Hospitals",
        "searchable_text": "registered nurse austin",
        "ai_enrichment_status": "success",
        "ai_enrichment_error": None,
    }
    return {**row, **overrides}


def test_payload_follows_the_original_field_names_and_values() -> None:
    payload = to_xano_payload(open_job_row(), eid="e" * 32)

    assert payload["eid"] == "e" * 32
    assert payload["company"] == "Acme Health"
    assert payload["status"] == JobStatus.ACTIVE
    assert payload["company_logo_url"] == ""
    assert payload["ai_confidence_score"] == 92
    assert payload["feed_id"] == 7
    assert payload["execution_id"] == 0


def test_posted_at_is_epoch_ms_of_the_real_instant_not_the_wall_clock() -> None:
    payload = to_xano_payload(open_job_row(), eid="e")

    # 09:15 at UTC-5 is 14:15 UTC.
    assert payload["posted_at"] == int(datetime(2025, 9, 1, 14, 15, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0),
        (datetime(1970, 1, 1, 0, 0, 1), 1000),  # naive is taken as UTC, not server local time
        ("2025-09-01T14:15:00Z", 1756736100000),
        ("ASAP", 0),
    ],
)
def test_epoch_ms_edge_cases(value: Any, expected: int) -> None:
    assert epoch_ms(value) == expected


@pytest.mark.parametrize(
    ("stored", "label"),
    [
        ("FULL_TIME", "Full-time"),
        ("PART_TIME", "Part-time"),
        ("CONTRACT", "Contract"),
        ("TEMPORARY", "Temporary"),
        ("INTERNSHIP", "Internship"),
        ("OTHER", "Other"),
        (None, "Other"),
        ("SEASONAL", "Other"),
    ],
)
def test_employment_types_beyond_full_and_part_time_keep_their_meaning(
    stored: str | None, label: str
) -> None:
    assert (
        to_xano_payload(open_job_row(employment_type=stored), eid="e")["employment_type"] == label
    )


def test_missing_money_becomes_zero_floats_as_the_original_sent() -> None:
    payload = to_xano_payload(open_job_row(), eid="e")

    assert (payload["salary_min"], payload["salary_max"]) == (50000.0, 0.0)
    assert (payload["cpc"], payload["cpa"]) == (0.5, 0.0)
    assert isinstance(payload["salary_min"], float)


def test_json_columns_are_sent_as_lists_and_objects_never_as_strings() -> None:
    payload = to_xano_payload(open_job_row(), eid="e")

    assert payload["ai_job_tasks"] == ["chart", "triage"]
    assert payload["ai_skills"] == ["triage"]
    assert payload["ai_top_tags"] == []
    assert payload["_geo"] == {"lat": 30.27, "lng": -97.74}
    assert payload["location"] == [{"city": "Austin", "state": "TX", "country": "US"}]


def test_locations_stored_as_json_text_are_decoded() -> None:
    row = open_job_row(locations='[{"city": "Lyon", "state": null, "country": "FR"}]')

    assert to_xano_payload(row, eid="e")["location"] == [
        {"city": "Lyon", "state": None, "country": "FR"}
    ]


def test_taxonomy_ids_keep_null_but_an_absent_column_gives_zero() -> None:
    row = open_job_row()
    del row["job_function_id"]
    payload = to_xano_payload(row, eid="e")

    assert payload["industry_group_id"] is None
    assert payload["job_function_id"] == 0
    assert payload["industry_id"] == 14


def test_field_map_renames_payload_fields_and_keeps_conversions() -> None:
    field_map = {**DEFAULT_FIELD_MAP, "date_posted": "posted_at", "company_name": "company_name"}
    del field_map["posted_at"]

    payload = to_xano_payload(open_job_row(), eid="e", field_map=field_map)

    assert "posted_at" not in payload
    assert payload["date_posted"] == epoch_ms(open_job_row()["posted_at"])
    assert payload["company_name"] == "Acme Health"


def test_payload_survives_a_json_round_trip_unchanged() -> None:
    payload = to_xano_payload(open_job_row(), eid="e")

    assert json.loads(json.dumps(payload)) == payload


def test_fingerprint_ignores_eid_and_changes_with_content() -> None:
    base = to_xano_payload(open_job_row(), eid="a")

    assert fingerprint(base) == fingerprint(to_xano_payload(open_job_row(), eid="b"))
    assert fingerprint(base) != fingerprint(to_xano_payload(open_job_row(title="RN"), eid="a"))


def test_fingerprint_of_a_record_read_back_from_xano_matches_what_was_sent() -> None:
    sent = to_xano_payload(open_job_row(), eid="a")
    # Xano adds its own fields, may drop nulls, and hands whole floats back as ints.
    read_back = {k: v for k, v in sent.items() if v is not None}
    read_back |= {"id": 41, "created_at": 1757000000000, "salary_max": 0, "cpa": 0}

    assert fingerprint(read_back, fields=sent.keys()) == fingerprint(sent)


def test_fingerprint_does_not_depend_on_key_order() -> None:
    payload = to_xano_payload(open_job_row(), eid="a")
    reversed_payload = dict(reversed(list(payload.items())))

    assert fingerprint(reversed_payload) == fingerprint(payload)
