"""Salary text ("$70K per year", "£15,009 - £16,075", "22-26 EUR/h") to a `Salary`."""

from __future__ import annotations

import re
from functools import lru_cache

from schemas.records import Salary, SalaryPeriod

_SYMBOLS = {"$": "USD", "£": "GBP", "€": "EUR", "¥": "JPY", "₹": "INR", "₩": "KRW"}
_PREFIXED = {"C$": "CAD", "CA$": "CAD", "A$": "AUD", "AU$": "AUD", "US$": "USD", "NZ$": "NZD"}
_CODES = frozenset(
    {
        "USD",
        "EUR",
        "GBP",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "JPY",
        "INR",
        "MXN",
        "BRL",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "ZAR",
        "SGD",
        "HKD",
        "CNY",
    }
)
_NUMBER = re.compile(r"(\d[\d,.\s]*\d|\d)\s*([kKmM])?(?![a-zA-Z])")
_PERIODS: tuple[tuple[re.Pattern[str], SalaryPeriod], ...] = (
    (re.compile(r"\b(hour|hourly|hr|hrs|ph|heure|stunde)\b|/\s*h\b", re.I), SalaryPeriod.HOURLY),
    (re.compile(r"\b(day|daily|diem|jour|tag)\b", re.I), SalaryPeriod.DAILY),
    (re.compile(r"\b(week|weekly|wk|semaine|woche)\b", re.I), SalaryPeriod.WEEKLY),
    (re.compile(r"\b(month|monthly|mo|mois|monat|mes)\b", re.I), SalaryPeriod.MONTHLY),
    (
        re.compile(r"\b(year|yearly|yr|annum|annual|annually|pa|an|jahr|salary)\b", re.I),
        SalaryPeriod.YEARLY,
    ),
)
_MULTIPLIERS = {"k": 1_000.0, "m": 1_000_000.0}


# Feeds repeat the same salary texts across thousands of jobs; results are immutable.
@lru_cache(maxsize=4096)
def parse_salary(text: str | None) -> Salary | None:
    """Amounts (one, or a range), period and currency from free text; None if no amount."""
    value = (text or "").strip()
    parsed = [_amount(number, suffix) for number, suffix in _NUMBER.findall(value)]
    amounts = [a for a in parsed if a is not None and a > 0]
    if not amounts:
        return None
    low, high = min(amounts[:2]), max(amounts[:2])
    return Salary(min=low, max=high, period=parse_period(value), currency=parse_currency(value))


def _amount(number: str, suffix: str | None) -> float | None:
    digits = number.replace(" ", "")
    if re.search(r"\.\d{3}(?:,\d{1,2})?$", digits) or re.search(r",\d{1,2}$", digits):
        digits = digits.replace(".", "").replace(",", ".")  # European 1.600,50
    else:
        digits = digits.replace(",", "")
    try:
        amount = float(digits)
    except ValueError:
        return None
    return amount * _MULTIPLIERS.get((suffix or "").lower(), 1.0)


def parse_period(text: str | None) -> SalaryPeriod | None:
    for pattern, period in _PERIODS:
        if pattern.search(text or ""):
            return period
    return None


def parse_currency(text: str | None) -> str | None:
    value = text or ""
    for prefix, code in _PREFIXED.items():
        if prefix in value:
            return code
    for word in re.findall(r"\b[A-Za-z]{3}\b", value):
        if word.upper() in _CODES and (word.isupper() or len(value) == 3):
            return str(word).upper()
    for symbol, code in _SYMBOLS.items():
        if symbol in value:
            return code
    return None


@lru_cache(maxsize=4096)
def parse_amount(text: str | None) -> float | None:
    """A single number such as cpc or a structured salary bound; None when not a number."""
    match = _NUMBER.search(text or "")
    if match is None or not re.fullmatch(r"[^\d]{0,4}[\d,.\s]+[kKmM]?[^\d]{0,4}", text or ""):
        return None
    return _amount(match.group(1), match.group(2))
