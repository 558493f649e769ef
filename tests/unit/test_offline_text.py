"""The offline backend's pure text pieces: title cleanup and salary reading."""

from __future__ import annotations

import pytest

from schemas.records import Salary, SalaryPeriod
from services.enricher.backends.offline.salary import salary_from_text
from services.enricher.backends.offline.text import sentences
from services.enricher.backends.offline.titles import standard_title


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Sr. Data Analyst", "Senior Data Analyst"),
        ("Marketing Mgr", "Marketing Manager"),
        ("RN - ICU - Dallas, TX", "Registered Nurse - ICU"),
        ("Registered Nurse (RN) #12345", "Registered Nurse"),
        ("Customer Support Representative (remote, part-time)", "Customer Support Representative"),
        ("WAREHOUSE ASSOCIATE - $18/hr", "Warehouse Associate"),
        ("Sales Rep, Chicago, IL", "Sales Representative"),
        ("Cashier in Austin, TX", "Cashier"),
        ("Staff Acct - Req 4432", "Staff Accountant"),
        ("Admin Asst", "Administrative Assistant"),
        ("software engineer - remote - $150,000 - $180,000", "Software Engineer"),
        ("Forklift Operator 2nd Shift", "Forklift Operator"),
        ("HVAC TECH", "HVAC Technician"),
        ("vp of marketing", "VP of Marketing"),
        ("", ""),
    ],
)
def test_standard_title(raw: str, clean: str) -> None:
    assert standard_title(raw) == clean


@pytest.mark.parametrize(
    ("text", "salary"),
    [
        ("Pay: $25 - $30/hr", Salary(min=25, max=30, period=SalaryPeriod.HOURLY, currency="USD")),
        (
            "$80k to $100k per year",
            Salary(min=80000, max=100000, period=SalaryPeriod.YEARLY, currency="USD"),
        ),
        (
            "Salary €45,000",
            Salary(min=45000, max=45000, period=SalaryPeriod.YEARLY, currency="EUR"),
        ),
        ("£3,000 a month", Salary(min=3000, max=3000, period=SalaryPeriod.MONTHLY, currency="GBP")),
        (
            "Earn $19.50 hourly",
            Salary(min=19.5, max=19.5, period=SalaryPeriod.HOURLY, currency="USD"),
        ),
    ],
)
def test_salary_from_text(text: str, salary: Salary) -> None:
    assert salary_from_text(text) == salary


@pytest.mark.parametrize("text", ["", "a $5 gift card", "we raised $3 billion", "401k match"])
def test_no_salary_when_nothing_plausible(text: str) -> None:
    assert salary_from_text(text) is None


def test_a_sentence_does_not_end_at_a_companys_legal_form_or_a_title() -> None:
    text = (
        "Acme athletica Inc. (NASDAQ: ACME) is an apparel company. We are hiring. "
        "Join St. Mary Hospital. Report to Dr. Jones. Done."
    )
    assert sentences(text) == [
        "Acme athletica Inc. (NASDAQ: ACME) is an apparel company.",
        "We are hiring.",
        "Join St. Mary Hospital.",
        "Report to Dr. Jones.",
        "Done.",
    ]
