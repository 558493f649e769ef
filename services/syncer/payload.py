"""Turns an `open_jobs` row into the Xano job payload, and fingerprints payloads to spot changes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from schemas.clean import (
    AI_DESCRIPTION_MAX,
    AI_TITLE_MAX,
    FEED_TEXT_MAX,
    SEARCHABLE_TEXT_MAX,
    plain_list,
    plain_text,
    sanitise_html,
    web_url,
)
from schemas.status import JobStatus
from services.syncer.ports import JsonRecord

# Payload field -> open_jobs column; the original system's field names (reference §7.1).
DEFAULT_FIELD_MAP: Mapping[str, str] = {
    "job_hash": "job_hash",
    "external_job_id": "external_job_id",
    "application_url": "application_url",
    "title": "title",
    "description": "description",
    "ai_title": "ai_title",
    "ai_description": "ai_description",
    "is_multi_location": "is_multi_location",
    "is_remote": "is_remote",
    "is_international": "is_international",
    "salary_min": "salary_min",
    "salary_max": "salary_max",
    "salary_period": "salary_period",
    "cpc": "cpc",
    "cpa": "cpa",
    "sector_id": "sector_id",
    "industry_group_id": "industry_group_id",
    "industry_id": "industry_id",
    "job_function_id": "job_function_id",
    "location_string": "location_string",
    "_geo": "_geo",
    "feed_id": "feed_id",
    "execution_id": "execution_id",
    "partner_id": "partner_id",
    "ai_enrichment_status": "ai_enrichment_status",
    "ai_enrichment_error": "ai_enrichment_error",
    "status": "status",
    "company": "company_name",
    "location": "locations",
    "posted_at": "posted_at",
    "ai_confidence_score": "ai_confidence_score",
    "employment_type": "employment_type",
    "ai_job_tasks": "ai_job_tasks",
    "ai_skills": "ai_skills",
    "ai_search_terms": "ai_search_terms",
    "ai_top_tags": "ai_top_tags",
    "sector": "sector",
    "industry_group": "industry_group",
    "industry": "industry",
    "searchable_text": "searchable_text",
}

EMPLOYMENT_TYPE_LABELS: Mapping[str, str] = {
    "FULL_TIME": "Full-time",
    "PART_TIME": "Part-time",
    "CONTRACT": "Contract",
    "TEMPORARY": "Temporary",
    "INTERNSHIP": "Internship",
    "OTHER": "Other",
}

# Fields Xano or the syncer set that say nothing about the job's content.
NON_CONTENT_FIELDS = frozenset({"eid", "id", "created_at", "updated_at"})

_MISSING: Any = object()


def to_xano_payload(
    row: Mapping[str, object], *, eid: str, field_map: Mapping[str, str] | None = None
) -> JsonRecord:
    """The Xano job for one open_jobs row; `field_map` (payload field -> column) renames fields."""
    payload: JsonRecord = {"eid": eid, "company_logo_url": ""}
    for field, column in (field_map or DEFAULT_FIELD_MAP).items():
        payload[field] = _convert(column, row.get(column, _MISSING))
    return payload


def _convert(column: str, value: Any) -> Any:
    converter = _CONVERTERS.get(column)
    if converter is not None:
        return converter(value)
    return None if value is _MISSING else _plain(value)


def _float_or_zero(value: Any) -> float:
    return 0.0 if value is None or value is _MISSING else float(value)


def _int_or_zero(value: Any) -> int:
    return 0 if value is None or value is _MISSING else int(value)


def _taxonomy_id(value: Any) -> int | None:
    # As the original: a stored NULL stays null, only an absent column becomes 0.
    if value is _MISSING:
        return 0
    return None if value is None else int(value)


def _bool(value: Any) -> bool:
    return bool(value) if value is not _MISSING else False


def _status(value: Any) -> str:
    return JobStatus.ACTIVE if value is None or value is _MISSING else str(value)


def _employment_label(value: Any) -> str:
    key = "OTHER" if value is None or value is _MISSING else str(value).upper()
    return EMPLOYMENT_TYPE_LABELS.get(key, "Other")


def _confidence(value: Any) -> int:
    # int() truncates as the original did: 92.7 -> 92.
    return 0 if value is None or value is _MISSING else int(value)


def epoch_ms(value: Any) -> int:
    """Epoch milliseconds of an instant; naive values are taken as UTC, None (or junk) gives 0."""
    if isinstance(value, str):
        value = _parse_iso(value)
    if not isinstance(value, datetime):
        return 0
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


def _parse_iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _json_value(value: Any) -> Any:
    """A JSONB value as Python data: asyncpg without a codec hands JSONB over as text."""
    if value is _MISSING:
        return None
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return _plain(value)


def _json_list(value: Any) -> list[Any]:
    decoded = _json_value(value)
    return list(decoded) if isinstance(decoded, list | tuple) else []


def _locations(value: Any) -> list[dict[str, Any]]:
    """Only city, state and country, as the original sent them."""
    return [
        {"city": item.get("city"), "state": item.get("state"), "country": item.get("country")}
        for item in _json_list(value)
        if isinstance(item, Mapping)
    ]


def _geo(value: Any) -> dict[str, Any] | None:
    decoded = _json_value(value)
    if not isinstance(decoded, Mapping) or decoded.get("lat") is None:
        return None
    return {"lat": float(decoded["lat"]), "lng": float(decoded["lng"])}


def _plain(value: Any) -> Any:
    """Database types that JSON cannot carry, turned into ones it can."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return epoch_ms(value)
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _text(limit: int) -> Callable[[Any], str]:
    """An AI-written field as plain text within `limit` (rows stored before clean output)."""
    return lambda value: plain_text(value if isinstance(value, str) else None, limit)


def _description(value: Any) -> str:
    return sanitise_html(value) if isinstance(value, str) else ""


def _web_url(value: Any) -> str | None:
    return web_url(value) if isinstance(value, str) else None


def _text_list(value: Any) -> list[str]:
    return list(plain_list([str(item) for item in _json_list(value)]))


def _searchable(value: Any) -> str | None:
    text = _text(SEARCHABLE_TEXT_MAX)(value)
    return text or None


_CONVERTERS: Mapping[str, Callable[[Any], Any]] = {
    # clean output: Xano receives only the markup and addresses it expects
    "description": _description,
    "application_url": _web_url,
    "title": _text(FEED_TEXT_MAX),
    "company_name": _text(FEED_TEXT_MAX),
    "ai_title": _text(AI_TITLE_MAX),
    "ai_description": _text(AI_DESCRIPTION_MAX),
    "searchable_text": _searchable,
    "salary_min": _float_or_zero,
    "salary_max": _float_or_zero,
    "cpc": _float_or_zero,
    "cpa": _float_or_zero,
    "feed_id": _int_or_zero,
    "execution_id": _int_or_zero,
    "partner_id": _int_or_zero,
    "sector_id": _taxonomy_id,
    "industry_group_id": _taxonomy_id,
    "industry_id": _taxonomy_id,
    "job_function_id": _taxonomy_id,
    "is_multi_location": _bool,
    "is_remote": _bool,
    "is_international": _bool,
    "status": _status,
    "employment_type": _employment_label,
    "ai_confidence_score": _confidence,
    "posted_at": epoch_ms,
    "locations": _locations,
    "_geo": _geo,
    "ai_job_tasks": _text_list,
    "ai_skills": _text_list,
    "ai_search_terms": _text_list,
    "ai_top_tags": _text_list,
}


def fingerprint(payload: Mapping[str, Any], fields: Collection[str] | None = None) -> str:
    """A stable hash of the payload's content (eid and Xano bookkeeping left out).

    With `fields`, only those fields count and a missing one counts as null: that is how a
    record read back from Xano (which adds its own fields) is compared with the one we sent.
    """
    names = payload.keys() if fields is None else fields
    content = {
        name: _canonical(payload.get(name)) for name in names if name not in NON_CONTENT_FIELDS
    }
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _canonical(value: Any) -> Any:
    """Equal content, equal form: Xano may hand 0.0 back as 0, or a tuple as a list."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return str(value)
