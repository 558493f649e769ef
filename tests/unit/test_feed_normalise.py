"""Normalisation tables: dates, salaries, employment types, locations, closed words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.records import EmploymentType, Location, Salary, SalaryPeriod
from schemas.text import html_to_text
from services.ingestor.feeds.dates import parse_datetime
from services.ingestor.feeds.normalise import (
    closed_reason,
    employment_type,
    normalise,
)
from services.ingestor.feeds.places import location_from_text
from services.ingestor.feeds.salary import parse_amount, parse_salary

NOW = datetime(2025, 9, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1757000000", datetime(2025, 9, 4, 15, 33, 20, tzinfo=UTC)),
        ("1757000000000", datetime(2025, 9, 4, 15, 33, 20, tzinfo=UTC)),
        ("2025-09-05T14:30:00Z", datetime(2025, 9, 5, 14, 30, tzinfo=UTC)),
        ("2025-09-05T14:30:00.000+02:00", datetime(2025, 9, 5, 12, 30, tzinfo=UTC)),
        ("2025-04-10 08:24:04", datetime(2025, 4, 10, 8, 24, 4, tzinfo=UTC)),
        ("Tue, 02 Sep 2025 09:15:00 -0500", datetime(2025, 9, 2, 14, 15, tzinfo=UTC)),
        ("Fri, 19 Dec 2014 22:49:39 GMT", datetime(2014, 12, 19, 22, 49, 39, tzinfo=UTC)),
        ("Fri, 19 Dec 2014 22:49:39 EST", datetime(2014, 12, 20, 3, 49, 39, tzinfo=UTC)),
        ("Mon, 01 Sep 2025 10:00:00 BST", datetime(2025, 9, 1, 9, 0, tzinfo=UTC)),
        ("July 24, 2025", datetime(2025, 7, 24, tzinfo=UTC)),
        ("09/05/2025", datetime(2025, 9, 5, tzinfo=UTC)),
        ("25/09/2025", datetime(2025, 9, 25, tzinfo=UTC)),
        ("19.10.2018", datetime(2018, 10, 19, tzinfo=UTC)),
        ("ASAP", None),
        ("undisclosed", None),
        ("", None),
        ("-1", None),
    ],
)
def test_dates_keep_the_instant_in_utc(text: str, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$70K per year", Salary(min=70000, max=70000, period=SalaryPeriod.YEARLY, currency="USD")),
        ("£15,009 - £16,075", Salary(min=15009, max=16075, currency="GBP")),
        (
            "Pay: $22 - $26 per hour",
            Salary(min=22, max=26, period=SalaryPeriod.HOURLY, currency="USD"),
        ),
        (
            "De 500€ à 1700€ par mois",
            Salary(min=500, max=1700, period=SalaryPeriod.MONTHLY, currency="EUR"),
        ),
        ("1160 - 1600", Salary(min=1160, max=1600)),
        (
            "Up to $75,000/year",
            Salary(min=75000, max=75000, period=SalaryPeriod.YEARLY, currency="USD"),
        ),
        (
            "45.000,50 EUR monthly",
            Salary(min=45000.5, max=45000.5, period=SalaryPeriod.MONTHLY, currency="EUR"),
        ),
        ("Competitive", None),
    ],
)
def test_salary_text(text: str, expected: Salary | None) -> None:
    assert parse_salary(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("0.85", 0.85), ("n/a", None), ("$1.20", 1.2), ("", None)]
)
def test_single_amounts(text: str, expected: float | None) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Full-time", EmploymentType.FULL_TIME),
        ("Full Time", EmploymentType.FULL_TIME),
        ("full_time", EmploymentType.FULL_TIME),
        ("Full-Time/Permanent", EmploymentType.FULL_TIME),
        ("fulltime, parttime", EmploymentType.PART_TIME),
        ("Part Time", EmploymentType.PART_TIME),
        ("Contract", EmploymentType.CONTRACT),
        ("Temporary", EmploymentType.TEMPORARY),
        ("Per Diem", EmploymentType.TEMPORARY),
        ("Internship", EmploymentType.INTERNSHIP),
        ("Efetivo, tempo inteiro", EmploymentType.FULL_TIME),
        ("International", EmploymentType.OTHER),
        ("", EmploymentType.OTHER),
    ],
)
def test_employment_types_form_a_closed_set(text: str, expected: EmploymentType) -> None:
    assert employment_type(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CA, US", Location(state="CA", country="US")),
        ("Boston, MA", Location(city="Boston", state="MA", country="US")),
        ("London, UK", Location(city="London", country="GB")),
        ("Suite 5, Boston, MA, USA", Location(city="Boston", state="MA", country="US")),
        (
            "Austin, TX 78701",
            Location(city="Austin", state="TX", country="US", postal_code="78701"),
        ),
        ("Paris, France", Location(city="Paris", country="FR")),
        ("Remote - US", Location(country="US")),
        ("Remote", None),
    ],
)
def test_location_text(text: str, expected: Location | None) -> None:
    assert location_from_text(text, default_country="US") == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Expired", "status: expired"),
        ("CLOSED", "status: closed"),
        ("Position filled", "status: filled"),
        ("inactive", "status: inactive"),
        ("Not Available", "status: not available"),
        ("unfilled", None),
        ("not filled", None),
        ("Active", None),
        ("open", None),
    ],
)
def test_closed_words_are_whole_words(status: str, expected: str | None) -> None:
    assert closed_reason({"status": status}, None, NOW) == expected


def test_delete_action_and_past_expiry_close_a_job() -> None:
    assert closed_reason({"action": "Delete"}, None, NOW) == "action: delete"
    past = datetime(2025, 1, 1, tzinfo=UTC)
    assert closed_reason({}, past, NOW) == f"expired at {past.isoformat()}"
    assert closed_reason({}, datetime(2026, 1, 1, tzinfo=UTC), NOW) is None


def test_description_text_is_clean_and_html_is_kept() -> None:
    job = normalise(
        {"title": " Cook ", "description": "<p>Fry&nbsp;fish &amp;amp; chips</p><p>Nights</p>"},
        now=NOW,
        default_country="US",
    )
    assert job.title == "Cook"
    assert job.description_html == "<p>Fry\xa0fish &amp; chips</p><p>Nights</p>"
    assert job.description_text == "Fry fish & chips Nights"
    assert html_to_text("a<br>b  \n c") == "a b c"


def test_remote_from_explicit_field_beats_text_cues() -> None:
    remote = normalise({"title": "Agent", "is_remote": "Yes"}, now=NOW, default_country=None)
    onsite = normalise(
        {"title": "Remote Agent", "is_remote": "false"}, now=NOW, default_country=None
    )
    by_title = normalise({"title": "Support (Remote)"}, now=NOW, default_country=None)
    assert (remote.is_remote, onsite.is_remote, by_title.is_remote) == (True, False, True)
