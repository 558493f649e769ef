"""Reads a salary (range, period, currency) out of free text when the feed gave none."""

from __future__ import annotations

import re

from schemas.records import Salary, SalaryPeriod

_AMOUNT = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s?([kK])?"
_SALARY = re.compile(
    rf"([$€£])\s?{_AMOUNT}(?:\s?(?:-|–|—|to)\s?[$€£]?\s?{_AMOUNT})?"
    r"(?P<tail>[^.\n$€£]{0,30})"
)
_CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP"}
_PERIOD_WORDS: tuple[tuple[re.Pattern[str], SalaryPeriod], ...] = (
    (re.compile(r"\b(?:hour|hourly|hr)\b"), SalaryPeriod.HOURLY),
    (re.compile(r"\b(?:day|daily)\b"), SalaryPeriod.DAILY),
    (re.compile(r"\b(?:week|weekly|wk)\b"), SalaryPeriod.WEEKLY),
    (re.compile(r"\b(?:month|monthly|mo)\b"), SalaryPeriod.MONTHLY),
    (re.compile(r"\b(?:year|yearly|yr|annual|annually|annum|salary)\b"), SalaryPeriod.YEARLY),
)
_MAX_HOURLY = 300.0
_MIN_YEARLY = 10_000.0
_MIN_PLAUSIBLE = 7.0
_MAX_PLAUSIBLE = 2_000_000.0


def salary_from_text(text: str) -> Salary | None:
    """The first plausible pay mention, e.g. '$25-$30/hr' or '$80k to $100k per year'."""
    for match in _SALARY.finditer(text):
        salary = _salary_of(match)
        if salary is not None:
            return salary
    return None


def _salary_of(match: re.Match[str]) -> Salary | None:
    low = _amount(match.group(2), match.group(3), match.group(4))
    high = _amount(match.group(5), match.group(6), match.group(7)) if match.group(5) else low
    if low > high:
        low, high = high, low
    if low < _MIN_PLAUSIBLE or high > _MAX_PLAUSIBLE:
        return None
    period = _period(match.group("tail").lower(), high)
    if period is None:
        return None
    return Salary(min=low, max=high, period=period, currency=_CURRENCIES[match.group(1)])


def _amount(digits: str, cents: str | None, thousands: str | None) -> float:
    value = float(digits.replace(",", "") + (f".{cents}" if cents else ""))
    return value * 1000 if thousands else value


def _period(tail: str, high: float) -> SalaryPeriod | None:
    for pattern, period in _PERIOD_WORDS:
        if pattern.search(tail):
            return period
    # no unit given: only the unambiguous magnitudes are trusted
    if high <= _MAX_HOURLY:
        return SalaryPeriod.HOURLY
    if high >= _MIN_YEARLY:
        return SalaryPeriod.YEARLY
    return None
