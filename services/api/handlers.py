"""Pure logic of the API: authentication, input validation, paging, and the rows it reads
(the views it answers with are `views.py`)."""

from __future__ import annotations

import hmac
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypedDict, cast

import orjson

from schemas.records import RunStatus
from schemas.status import ArchiveState, RunState
from services.api.errors import BadRequestError, UnauthorizedError
from services.ingestor.feeds.mapping import MappingError, load_mapping
from services.shared.redact import holds_mask
from services.shared.settings import Secret

FEED_FORMATS = ("auto", "xml", "csv", "json")
SOURCE_SCHEMES = ("http://", "https://", "file://", "/")
MAX_FREQUENCY_MINUTES = 7 * 24 * 60
MAX_PAGE = 500
MAX_TEXT = 500
MAX_MAPPING_BYTES = 64 * 1024
MAX_ID = 2**31 - 1  # PostgreSQL INTEGER


def check_token(header: str | None, token: Secret) -> None:
    """Bearer auth with a constant-time compare; an API without a token refuses mutations."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise UnauthorizedError("this endpoint needs 'Authorization: Bearer <token>'")
    if not token or not hmac.compare_digest(given.strip().encode(), token.value.encode()):
        raise UnauthorizedError("the bearer token is not valid")


def parse_id(raw: str, what: str) -> int:
    """A positive PostgreSQL integer id from a path segment."""
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise BadRequestError(f"{what} must be a positive integer, got {raw[:40]!r}")
    return int(raw)


def parse_paging(query: Mapping[str, str]) -> tuple[int, int]:
    """`limit` (1..500, default 50) and `offset` (>= 0, default 0)."""
    limit = _query_int(query, "limit", 50, 1, MAX_PAGE)
    offset = _query_int(query, "offset", 0, 0, MAX_ID)
    return limit, offset


def optional_feed_filter(query: Mapping[str, str]) -> int | None:
    raw = query.get("feed_id")
    return None if raw is None else parse_id(raw, "feed_id")


def _query_int(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequestError(f"{name} must be an integer from {low} to {high}, got {raw[:40]!r}")
    return int(raw)


# --- feeds ---------------------------------------------------------------------------------


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{name} must be a non-empty string")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise BadRequestError(f"{name} must be at most {MAX_TEXT} characters without NUL")
    return value.strip()


def _source_url(value: Any) -> str:
    text = _text(value, "source_url", required=True)
    assert text is not None
    if not text.startswith(SOURCE_SCHEMES):
        raise BadRequestError("source_url must be an http(s):// or file:// URL or an absolute path")
    try:
        urllib.parse.urlsplit(text)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL": a 400, never a 500
        raise BadRequestError(f"source_url is not a valid URL: {exc}") from exc
    if holds_mask(text):
        raise BadRequestError(
            "source_url holds a masked part (***) copied from a redacted view: send the full URL"
        )
    return text


def _format(value: Any) -> str:
    if value not in FEED_FORMATS:
        raise BadRequestError(f"format must be one of {', '.join(FEED_FORMATS)}")
    return str(value)


def _mapping(value: Any) -> dict[str, Any] | None:
    """The ingestor's mapping document (its shape is the ingestor's business): an object."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequestError("mapping must be a JSON object or null")
    if len(orjson.dumps(value)) > MAX_MAPPING_BYTES:
        raise BadRequestError(f"mapping must be at most {MAX_MAPPING_BYTES} bytes of JSON")
    if _has_nul(value):  # PostgreSQL's jsonb cannot store U+0000
        raise BadRequestError("mapping must not contain NUL characters")
    try:
        load_mapping(value)  # the ingestor's own loader: a saved mapping always loads
    except MappingError as exc:
        raise BadRequestError(f"invalid mapping: {exc}") from exc
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _optional_int(value: Any, name: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequestError(f"{name} must be an integer from {low} to {high} or null")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequestError(f"{name} must be true or false")
    return value


_FIELD_CHECKS: dict[str, Any] = {
    "name": lambda v: _text(v, "name", required=True),
    "source_url": _source_url,
    "format": _format,
    "mapping": _mapping,
    "company_name": lambda v: _text(v, "company_name", required=False),
    "partner_id": lambda v: _optional_int(v, "partner_id", 0, MAX_ID),
    "bypass_filters": lambda v: _bool(v, "bypass_filters"),
    "is_active": lambda v: _bool(v, "is_active"),
    "check_frequency_minutes": lambda v: _optional_int(
        v, "check_frequency_minutes", 1, MAX_FREQUENCY_MINUTES
    ),
}
FEED_FIELDS = tuple(_FIELD_CHECKS)
REQUIRED_ON_CREATE = ("name", "source_url")


class FeedFields(TypedDict, total=False):
    """A feed's settings as a client sets them: all of them, or on a create the required
    ones and any others, each checked by `_FIELD_CHECKS`."""

    name: str
    source_url: str
    format: str
    mapping: dict[str, Any] | None  # the ingestor's mapping document (free-form JSON)
    company_name: str | None
    partner_id: int | None
    bypass_filters: bool
    is_active: bool
    check_frequency_minutes: int | None


def validate_feed(body: Any, *, partial: bool) -> FeedFields:
    """The checked feed fields of a create (`partial=False`) or an update body."""
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    unknown = sorted(set(body) - set(FEED_FIELDS))
    if unknown:
        raise BadRequestError(f"unknown field(s): {', '.join(unknown)[:200]}")
    missing = [] if partial else [f for f in REQUIRED_ON_CREATE if f not in body]
    if missing:
        raise BadRequestError(f"missing field(s): {', '.join(missing)}")
    if partial and not body:
        raise BadRequestError("nothing to update: give at least one field")
    checked = {name: _FIELD_CHECKS[name](value) for name, value in body.items()}
    return cast(FeedFields, checked)  # each name is a FeedFields key, its value checked


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedRow:
    """A feed as stored: its settings and the statistics its runs keep (the router's)."""

    id: int
    name: str
    source_url: str
    format: str
    mapping: dict[str, Any] | None
    company_name: str | None
    partner_id: int | None
    bypass_filters: bool
    is_active: bool
    check_frequency_minutes: int | None
    next_check_at: datetime | None
    last_checked_at: datetime | None
    last_run_status: RunStatus | None
    last_succeeded_at: datetime | None
    last_error_message: str | None
    consecutive_failure_count: int
    runs_count: int
    unique_jobs_processed: int
    auto_approved_jobs: int
    created_at: datetime
    updated_at: datetime
    last_run_id: str | None
    last_run_duration_seconds: float | None
    last_run_feed_size_bytes: int | None
    success_count: int
    partial_count: int
    error_count: int
    avg_processing_time: float | None
    avg_feed_size: float | None
    # the last run's per-source counts (issue #19)
    last_run_jobs_new: int = 0
    last_run_jobs_known_elsewhere: int = 0
    last_run_jobs_updated: int = 0
    last_run_jobs_dropped: int = 0
    last_run_jobs_archived: int = 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FeedRow:
        status = row["last_run_status"]
        return cls(**{**row, "last_run_status": None if status is None else RunStatus(status)})

    def as_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- review --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    reviewer: str
    reason: str | None


def validate_review(body: Any, *, needs_reason: bool) -> ReviewDecision:
    """Who decided (`reviewer`), and for a rejection why (`reason`)."""
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object with 'reviewer'")
    unknown = sorted(set(body) - {"reviewer", "reason"})
    if unknown:
        raise BadRequestError(f"unknown field(s): {', '.join(unknown)[:200]}")
    reviewer = _text(body.get("reviewer"), "reviewer", required=True)
    reason = _text(body.get("reason"), "reason", required=needs_reason)
    assert reviewer is not None
    return ReviewDecision(reviewer, reason)


def check_job_hash(raw: str) -> str:
    """Job hashes are Base64 SHA-256 digests; anything far from that cannot name a job."""
    if not 1 <= len(raw) <= 128 or not raw.isascii() or not raw.isprintable():
        raise BadRequestError("job_hash must be 1 to 128 printable ASCII characters")
    return raw


# --- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunAction:
    """Who acts on a run (`by`), and for a failure why (`reason`)."""

    by: str
    reason: str | None


def validate_run_action(body: Any, *, needs_reason: bool) -> RunAction:
    """`{"by": ..., "reason": ...}`; `by` defaults to "operator", `reason` to none given."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object with 'by' (and 'reason')")
    unknown = sorted(set(body) - {"by", "reason"})
    if unknown:
        raise BadRequestError(f"unknown field(s): {', '.join(unknown)[:200]}")
    by = _text(body.get("by", "operator"), "by", required=True)
    reason = _text(body.get("reason"), "reason", required=False)
    assert by is not None
    return RunAction(by, reason or ("no reason given" if needs_reason else None))


# --- progress ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """A run's ledger row as the API shows it (`runs`, less the router's bookkeeping)."""

    run_id: str
    feed_id: int
    reason: str
    status: RunState
    refresh: bool
    emitted: int | None  # None until the ingestor said how many records it emitted
    started_at: datetime
    ingest_finished_at: datetime | None
    last_progress_at: datetime | None
    completed_at: datetime | None
    failure_reason: str | None
    open_before: int | None
    archive_candidates: int | None
    archive_state: ArchiveState | None  # None until the run is judged
    archive_decided_by: str | None
    archive_decided_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRow:
        values = dict(row)
        values["status"] = RunState(values["status"])
        state = values["archive_state"]
        values["archive_state"] = None if state is None else ArchiveState(state)
        return cls(**values)

    def as_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
