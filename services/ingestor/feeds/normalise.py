"""Mapped feed fields (internal name -> text) to a normalised `JobPosting`: pure, no I/O.

Every text value is html-unescaped once, as the original did, so `description_html` is
exactly the string the original system hashed (see `schemas.identity`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from schemas.records import EmploymentType, JobPosting, Location, Salary
from schemas.text import html_to_text
from services.ingestor.feeds.dates import parse_datetime
from services.ingestor.feeds.places import (
    is_remote_text,
    location_from_fields,
    location_from_text,
)
from services.ingestor.feeds.salary import parse_amount, parse_currency, parse_period, parse_salary

_CLOSED_WORDS = re.compile(r"(?<!not )\b(closed|expired|filled|inactive|not available)\b", re.I)
_DELETE_ACTIONS = frozenset({"delete", "deleted", "remove", "removed", "close", "expire"})
_TRUE_WORDS = frozenset(
    {"true", "1", "yes", "y", "remote", "fully remote", "full remote", "100% remote"}
)
_FALSE_WORDS = frozenset({"false", "0", "no", "n", "on-site", "onsite", "on site", "office"})
_REMOTE_PHRASES = re.compile(
    r"\b(fully remote|100% remote|remote (position|role|job|opportunity)|work from home|"
    r"work-from-home|telecommute)\b",
    re.I,
)
# every phrase _REMOTE_PHRASES matches holds one of these, in lower case, in the HTML too
_REMOTE_CUES = ("remote", "home", "telecommute")
_EMPLOYMENT_CUES: tuple[tuple[re.Pattern[str], EmploymentType], ...] = (
    (re.compile(r"\bintern(ship)?s?\b|praktikum|trainee", re.I), EmploymentType.INTERNSHIP),
    (
        re.compile(
            r"part[\s_-]*time|parttime|\bpt\b|teilzeit|temps partiel|tiempo parcial|"
            r"tempo parcial",
            re.I,
        ),
        EmploymentType.PART_TIME,
    ),
    (
        re.compile(
            r"full[\s_-]*time|fulltime|\bft\b|permanent|vollzeit|temps plein|cdi\b|"
            r"tiempo completo|tempo inteiro|efetivo|regular",
            re.I,
        ),
        EmploymentType.FULL_TIME,
    ),
    (
        re.compile(r"contract|contractor|freelance|c2c|1099|corp[\s-]to[\s-]corp", re.I),
        EmploymentType.CONTRACT,
    ),
    (
        re.compile(r"temp\b|temporary|seasonal|per[\s-]diem|casual|locum", re.I),
        EmploymentType.TEMPORARY,
    ),
)


def unescape(text: str | None) -> str:
    return html.unescape((text or "").strip())


@lru_cache(maxsize=1024)
def employment_type(text: str | None) -> EmploymentType:
    """The closed set; the first matching cue wins, so "Full-Time/Permanent" is FULL_TIME."""
    for pattern, kind in _EMPLOYMENT_CUES:
        if pattern.search(text or ""):
            return kind
    return EmploymentType.OTHER


def closed_reason(
    fields: Mapping[str, str], expires_at: datetime | None, now: datetime
) -> str | None:
    """Why the feed says this job is closed, or None when it is open."""
    status = unescape(fields.get("status"))
    if match := _CLOSED_WORDS.search(status):
        return f"status: {match.group(1).lower()}"
    if unescape(fields.get("action")).lower() in _DELETE_ACTIONS:
        return "action: delete"
    if expires_at is not None and expires_at < now:
        return f"expired at {expires_at.isoformat()}"
    return None


def is_remote(fields: Mapping[str, str], title: str, description_html: str) -> bool:
    explicit = unescape(fields.get("is_remote")).lower()
    if explicit in _TRUE_WORDS or (explicit and "remote" in explicit and "not" not in explicit):
        return True
    if explicit in _FALSE_WORDS or explicit.startswith(("hybrid", "on")):
        return False
    return (
        is_remote_text(title)
        or is_remote_text(fields.get("location"))
        or has_remote_phrase(description_html)
    )


def has_remote_phrase(description_html: str) -> bool:
    """Text cues for remote work; the plain text is made only when the HTML holds a cue."""
    lowered = description_html.lower()
    if not any(cue in lowered for cue in _REMOTE_CUES):
        return False
    return bool(_REMOTE_PHRASES.search(html_to_text(description_html)))


def locations(fields: Mapping[str, str], default_country: str | None) -> tuple[Location, ...]:
    structured = location_from_fields(
        unescape(fields.get("city")),
        unescape(fields.get("state")),
        unescape(fields.get("country")),
        unescape(fields.get("postal_code")),
        default_country=default_country,
    )
    if structured is not None:
        return (structured,)
    free_text = unescape(fields.get("location"))
    if not free_text or "<" in free_text:
        return ()
    found = [
        location_from_text(part, default_country=default_country) for part in free_text.split("|")
    ]
    return tuple(dict.fromkeys(loc for loc in found if loc is not None))


def salary(fields: Mapping[str, str]) -> Salary | None:
    low, high = parse_amount(fields.get("salary_min")), parse_amount(fields.get("salary_max"))
    text = fields.get("salary", "")
    parsed = parse_salary(text)
    if low is None and high is None:
        return parsed
    period = parse_period(fields.get("salary_period")) or (parsed.period if parsed else None)
    currency = parse_currency(fields.get("currency")) or parse_currency(text)
    return Salary(
        min=low if low is not None else high,
        max=high if high is not None else low,
        period=period,
        currency=currency,
    )


def listing_of(fields: Mapping[str, str]) -> str | None:
    """What identifies a record's listing when the record itself cannot be read: its
    external id, else its URL (as `normalise` reads them)."""
    return (
        unescape(fields.get("external_job_id")) or unescape(fields.get("application_url")) or None
    )


def normalise(
    fields: Mapping[str, str], *, now: datetime, default_country: str | None
) -> JobPosting:
    """Build the job from mapped fields; `now` decides whether an expiry is in the past."""
    title = unescape(fields.get("title"))
    description_html = unescape(fields.get("description"))
    expires_at = parse_datetime(fields.get("expires_at"))
    return JobPosting(
        external_job_id=unescape(fields.get("external_job_id")) or None,
        title=title,
        company_name=unescape(fields.get("company_name")),
        description_html=description_html,
        application_url=unescape(fields.get("application_url")) or None,
        posted_at=parse_datetime(fields.get("posted_at")),
        expires_at=expires_at,
        employment_type=employment_type(fields.get("employment_type")),
        is_remote=is_remote(fields, title, description_html),
        locations=locations(fields, default_country),
        salary=salary(fields),
        cpc=parse_amount(fields.get("cpc")),
        cpa=parse_amount(fields.get("cpa")),
        closed_reason=closed_reason(fields, expires_at, now),
    )
