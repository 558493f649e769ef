"""Feed date text to an aware UTC datetime that keeps the instant the feed meant.

Understood: epoch seconds or milliseconds (also as strings, e.g. ``1757000000``),
ISO-8601, RFC-822 with offsets or zone names, and common US/EU day formats. A value
without a zone is taken as UTC. Anything else, or a year outside 1970-2100, is None.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache

from dateutil import parser as dateutil_parser

_EPOCH = re.compile(r"^\d{9,13}(?:\.\d+)?$")
_MILLIS_FLOOR = 1e11  # larger epoch values are milliseconds (1e11 s is the year 5138)
_DAY_FIRST = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})\b")
_MIN_YEAR, _MAX_YEAR = 1970, 2100


def _zone(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


ZONE_NAMES: dict[str, timezone] = {
    "UTC": UTC,
    "UT": UTC,
    "GMT": UTC,
    "Z": UTC,
    "WET": UTC,
    "EST": _zone(-5),
    "EDT": _zone(-4),
    "CST": _zone(-6),
    "CDT": _zone(-5),
    "MST": _zone(-7),
    "MDT": _zone(-6),
    "PST": _zone(-8),
    "PDT": _zone(-7),
    "AKST": _zone(-9),
    "AKDT": _zone(-8),
    "HST": _zone(-10),
    "BST": _zone(1),
    "IST": _zone(5.5),
    "CET": _zone(1),
    "CEST": _zone(2),
    "EET": _zone(2),
    "EEST": _zone(3),
    "WEST": _zone(1),
    "MSK": _zone(3),
    "JST": _zone(9),
    "KST": _zone(9),
    "AEST": _zone(10),
    "AEDT": _zone(11),
    "NZST": _zone(12),
    "NZDT": _zone(13),
    "SGT": _zone(8),
    "HKT": _zone(8),
}


def parse_datetime(text: str | None) -> datetime | None:
    """Parse one feed date; None when the text is not a date we can trust."""
    value = (text or "").strip()
    if not value:
        return None
    known, moment = _parse_exactly(value)
    if known:
        return moment
    parsed = _from_dateutil(value)  # not cached: it fills missing parts from today's date
    return _checked(parsed) if parsed is not None else None


# Feeds repeat the same date strings many times; the exact parsers depend on nothing else.
@lru_cache(maxsize=8192)
def _parse_exactly(value: str) -> tuple[bool, datetime | None]:
    for attempt in (_from_epoch, _from_iso, _from_rfc822, _from_day_first):
        parsed = attempt(value)
        if parsed is not None:
            return True, _checked(parsed)
    return False, None


def _checked(moment: datetime) -> datetime | None:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment if _MIN_YEAR <= moment.year <= _MAX_YEAR else None


def _from_epoch(value: str) -> datetime | None:
    if not _EPOCH.match(value):
        return None
    number = float(value)
    seconds = number / 1000 if number >= _MILLIS_FLOOR else number
    return datetime.fromtimestamp(seconds, tz=UTC)


def _from_iso(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _from_rfc822(value: str) -> datetime | None:
    if not value[:1].isalpha() or "," not in value[:5]:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    zone = value.rsplit(" ", 1)[-1].upper()
    if parsed.tzinfo is None and zone in ZONE_NAMES:
        return parsed.replace(tzinfo=ZONE_NAMES[zone])
    return parsed


def _from_day_first(value: str) -> datetime | None:
    # "dd.mm.yyyy" and "dd-mm-yyyy" are European; with "/" the US month-first reading
    # wins unless the first number cannot be a month
    match = _DAY_FIRST.match(value)
    if match is None:
        return None
    separator = value[len(match.group(1))]
    day_first = separator in ".-" or int(match.group(1)) > 12
    return _dateutil(value, day_first=day_first)


def _from_dateutil(value: str) -> datetime | None:
    if len(re.findall(r"\d+", value)) < 2:
        return None
    return _dateutil(value, day_first=False)


def _dateutil(value: str, *, day_first: bool) -> datetime | None:
    try:
        return dateutil_parser.parse(value, dayfirst=day_first, tzinfos=ZONE_NAMES)
    except (ValueError, OverflowError, TypeError):
        return None
