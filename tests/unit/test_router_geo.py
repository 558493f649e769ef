"""`_geo`: one representative point per job from the offline gazetteer (original §8.1 rules)."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.records import Location
from services.router.geo import Gazetteer, gazetteer, job_geo, place_key


def _city(
    name: str, country: str, admin1: str, lat: float, lng: float, people: int
) -> dict[str, Any]:
    return {"name": name, "countrycode": country, "admin1code": admin1,
            "latitude": lat, "longitude": lng, "population": people}  # fmt: skip


SMALL = Gazetteer.from_records(
    [
        _city("Austin", "US", "TX", 30.0, -97.0, 1_000),
        _city("Dallas", "US", "TX", 33.0, -97.0, 3_000),
        _city("Denver", "US", "CO", 40.0, -105.0, 1_000),
        _city("Portland", "US", "OR", 45.5, -122.7, 600),
        _city("Portland", "US", "ME", 43.7, -70.3, 60),
        _city("St. Louis", "US", "MO", 38.6, -90.2, 300),
        _city("Munich", "DE", "02", 48.1, 11.6, 1_500),
    ],
    [{"code": "TX", "name": "Texas"}, {"code": "ME", "name": "Maine"}],
)


def _at(city: str | None, state: str | None, country: str | None = "US") -> Location:
    return Location(city=city, state=state, country=country)


def test_one_location_is_its_city_in_its_state() -> None:
    assert job_geo([_at("Austin", "TX")], SMALL) == {"lat": 30.0, "lng": -97.0}
    assert job_geo([_at("Portland", "ME")], SMALL) == {"lat": 43.7, "lng": -70.3}
    assert job_geo([_at("Portland", "Maine")], SMALL) == {"lat": 43.7, "lng": -70.3}
    assert job_geo([_at("saint louis", "MO")], SMALL) == {"lat": 38.6, "lng": -90.2}


def test_a_city_the_gazetteer_lacks_falls_back_to_its_state_then_its_country() -> None:
    # Texas' point is the population-weighted centre of its cities: (1*30 + 3*33) / 4.
    assert job_geo([_at("Tinyville", "TX")], SMALL) == {"lat": 32.25, "lng": -97.0}
    assert job_geo([_at(None, "TX")], SMALL) == {"lat": 32.25, "lng": -97.0}
    assert job_geo([_at("Nowhere", "ZZ", "DE")], SMALL) == {"lat": 48.1, "lng": 11.6}


def test_outside_the_us_a_city_is_found_whatever_the_feed_calls_its_state() -> None:
    assert job_geo([_at("Munich", "Bavaria", "DE")], SMALL) == {"lat": 48.1, "lng": 11.6}


def test_several_locations_in_one_state_are_that_state() -> None:
    jobs = [_at("Austin", "TX"), _at("Dallas", "TX"), _at("Houston", "TX")]
    assert job_geo(jobs, SMALL) == {"lat": 32.25, "lng": -97.0}


def test_several_states_or_no_location_are_the_first_country() -> None:
    us = job_geo([_at(None, None)], SMALL)
    assert us is not None
    assert job_geo([_at("Austin", "TX"), _at("Denver", "CO")], SMALL) == us
    assert job_geo([], SMALL) == us  # a job without a location is placed in the US
    assert job_geo([_at("Munich", None, "DE"), _at("Austin", "TX")], SMALL) == {
        "lat": 48.1,
        "lng": 11.6,
    }


def test_an_unknown_country_has_no_point() -> None:
    assert job_geo([_at("Atlantis", None, "ZZ")], SMALL) is None


def test_place_keys_ignore_case_accents_punctuation_and_saint() -> None:
    assert place_key("St. Louis") == place_key("SAINT LOUIS") == "st louis"
    assert place_key("Montréal") == "montreal"


@pytest.mark.parametrize(
    ("location", "lat", "lng"),
    [
        (_at("Boston", "MA"), 42.36, -71.06),
        (_at("Portland", "OR"), 45.52, -122.68),
        (_at("Portland", "Maine"), 43.66, -70.26),
        (_at("London", None, "GB"), 51.51, -0.13),
    ],
)
def test_the_shipped_gazetteer_places_real_cities(
    location: Location, lat: float, lng: float
) -> None:
    point = job_geo([location], gazetteer())
    assert point is not None
    assert (round(point["lat"], 2), round(point["lng"], 2)) == (lat, lng)


def test_the_shipped_gazetteer_puts_the_us_centre_inside_the_country() -> None:
    point = job_geo([], gazetteer())
    assert point is not None
    assert 30 < point["lat"] < 45 and -105 < point["lng"] < -80
