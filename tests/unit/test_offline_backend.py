"""The offline backend: honest, deterministic enrichment whose ids exist in the taxonomy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from schemas.profile import load_profile
from schemas.records import EmploymentType, Enrichment, JobPosting, Location, Salary, SalaryPeriod
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.base import EnrichmentBackend
from services.enricher.backends.offline.backend import ALGORITHM_VERSION, OfflineBackend

NURSE = """Mercy General Hospital is a 400-bed acute care hospital serving the Sacramento region.
Join our award-winning nursing team.
Responsibilities:
- Provide direct patient care to adult patients on a medical-surgical unit.
- Administer medications and monitor vital signs.
- Collaborate with physicians and the care team to develop care plans.
- Document patient assessments in Epic EHR.
Requirements:
- Active RN license in California. BLS and ACLS certification required.
- 2+ years of acute care experience preferred."""

ANALYST = """Acme Analytics helps retailers make better decisions with data. We are looking for a
Senior Data Analyst to join our growing team.
Responsibilities
- Build dashboards in Tableau and Looker to track revenue and growth.
- Analyze large datasets with SQL and Python to improve pricing outcomes.
- Partner with product and finance stakeholders to define KPIs.
Qualifications
- 5+ years of experience in data analysis. Expert SQL, strong Python, Snowflake.
Salary: $120,000 - $140,000 per year."""

MARKETER = """Bright Foods Co. is a fast-growing consumer brand. As Marketing Manager you will
lead our brand campaigns across social media, email and paid channels.
What you'll do:
- Own the marketing calendar and drive campaign strategy.
- Manage a $2M budget across Google Ads and Meta.
- Lead a team of two content creators.
- Analyze campaign performance with Google Analytics and report results.
Requirements: 5 years of marketing experience, strong copywriting skills."""

WAREHOUSE = """Join our warehouse team! Pick, pack and ship customer orders in a fast-paced
distribution center.
- Load and unload trucks.
- Operate pallet jack and RF scanner.
- Lift up to 50 lbs.
Must be 18+. Pay $18/hr. Apply now!"""

HELPER = """Ride along with our delivery drivers and help load and unload furniture at customer
homes. Must be able to lift 75 lbs. Clean driving record a plus."""

SUPPORT = """TechHelp Inc. provides software support for small businesses. We are hiring
part-time remote customer support representatives.
- Respond to customer questions by phone, email and live chat.
- Troubleshoot basic software issues and escalate tickets in Zendesk.
- Document interactions in our CRM.
Requirements: 1 year of customer service experience, excellent communication skills.
$17-$19 per hour."""

ENGINEER = """Northwind Bank is modernising its payments platform. You will build and operate
backend services in Java and Kotlin on AWS, own features end to end and improve reliability.
Requirements: 4+ years of backend development, experience with Kubernetes and SQL."""


@dataclass(frozen=True)
class Case:
    job: JobPosting
    function_code: str | None
    sector: str | None
    low: float
    high: float


def _job(title: str, company: str, text: str, **extra: Any) -> JobPosting:
    return JobPosting(title=title, company_name=company, description_html=text, **extra)


CASES = {
    "nurse": Case(
        _job(
            "Registered Nurse - Med/Surg - Sacramento, CA",
            "Mercy General Hospital",
            NURSE,
            employment_type=EmploymentType.FULL_TIME,
            locations=(Location(city="Sacramento", state="CA", country="US"),),
        ),
        "29-1141.00",
        "Hospitals and Health Care",
        86,
        100,
    ),
    "analyst": Case(
        _job("Sr. Data Analyst", "Acme Analytics", ANALYST, is_remote=True),
        "15-2051.01",
        "Technology, Information and Media",
        86,
        100,
    ),
    "marketer": Case(
        _job("Marketing Manager", "Bright Foods Co.", MARKETER),
        "11-2021.00",
        "Manufacturing",
        86,
        100,
    ),
    "engineer": Case(
        _job("Software Engineer II - Backend", "Northwind Bank", ENGINEER),
        "15-1252.00",
        "Financial Services",
        86,
        100,
    ),
    "warehouse": Case(
        _job("WAREHOUSE ASSOCIATE - 2nd Shift - $18/hr", "QuickShip Logistics", WAREHOUSE),
        "53-7062.00",
        "Transportation, Logistics, Supply Chain and Storage",
        0,
        50,
    ),
    "helper": Case(_job("Driver's Helper", "HomeStyle Furniture", HELPER), None, None, 0, 50),
    "support": Case(
        _job(
            "Customer Support Representative (remote, part-time)",
            "TechHelp Inc.",
            SUPPORT,
            employment_type=EmploymentType.PART_TIME,
            is_remote=True,
        ),
        "43-4051.00",
        None,
        50,
        86,
    ),
}


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="module")
def backend(taxonomy: Taxonomy) -> OfflineBackend:
    return OfflineBackend(taxonomy, load_profile())


@pytest.fixture(scope="module")
def enriched(backend: OfflineBackend) -> dict[str, Enrichment]:
    return {name: backend.enrich_one(case.job) for name, case in CASES.items()}


def test_implements_the_backend_interface(backend: OfflineBackend) -> None:
    as_protocol: EnrichmentBackend = backend
    assert (
        as_protocol.version
        == f"offline-{ALGORITHM_VERSION}+{load_taxonomy().version}+morning-brew-v1"
    )


@pytest.mark.parametrize("name", list(CASES))
def test_confidence_lands_in_the_expected_band(name: str, enriched: dict[str, Enrichment]) -> None:
    case, result = CASES[name], enriched[name]
    assert case.low <= result.confidence < case.high or (
        case.high == 100 and result.confidence == 100
    ), (name, result.confidence, result.confidence_reasons)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.function_code])
def test_job_function_matches_the_title(
    name: str, enriched: dict[str, Enrichment], taxonomy: Taxonomy
) -> None:
    function = taxonomy.job_function(enriched[name].job_function_id)
    assert function is not None and function.code == CASES[name].function_code
    assert enriched[name].job_function == function.name


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.sector])
def test_industry_comes_from_the_company(
    name: str, enriched: dict[str, Enrichment], taxonomy: Taxonomy
) -> None:
    sector = taxonomy.sector(enriched[name].sector_id)
    assert sector is not None and sector.name == CASES[name].sector
    assert enriched[name].industry_reasoning


def test_ids_exist_and_form_one_path(enriched: dict[str, Enrichment], taxonomy: Taxonomy) -> None:
    for result in enriched.values():
        if result.industry_id is not None:
            assert taxonomy.is_consistent(
                result.sector_id, result.industry_group_id, result.industry_id
            )
        if result.job_function_id is not None:
            assert result.job_function_id in taxonomy.functions
            if result.industry_id is not None:
                assert taxonomy.is_function_allowed(result.industry_id, result.job_function_id)


def test_reasons_say_what_matched(enriched: dict[str, Enrichment]) -> None:
    nurse = " ".join(enriched["nurse"].confidence_reasons)
    assert "Healthcare Brew" in nurse and "nurse" in nurse
    warehouse = " ".join(enriched["warehouse"].confidence_reasons)
    assert "warehouse" in warehouse


def test_title_is_cleaned(enriched: dict[str, Enrichment]) -> None:
    assert enriched["nurse"].ai_title == "Registered Nurse - Med/Surg"
    assert enriched["analyst"].ai_title == "Senior Data Analyst"
    assert enriched["warehouse"].ai_title == "Warehouse Associate"
    assert enriched["support"].ai_title == "Customer Support Representative"


def test_lists_come_from_the_text(enriched: dict[str, Enrichment]) -> None:
    analyst = enriched["analyst"]
    assert {"SQL", "Python", "Tableau"} <= set(analyst.skills)
    assert 3 <= len(analyst.tasks) <= 4
    assert analyst.tasks[0].startswith("Build dashboards")
    assert 4 <= len(analyst.search_terms) <= 6
    assert 3 <= len(analyst.tags) <= 4
    assert len(enriched["nurse"].skills) >= 4


def test_description_has_three_to_five_sentences(enriched: dict[str, Enrichment]) -> None:
    for result in enriched.values():
        count = len(re.findall(r"[.!?](?:\s+[A-Z]|$)", result.ai_description))
        assert 3 <= count <= 5, result.ai_description


def test_salary_from_the_text_when_the_feed_has_none(enriched: dict[str, Enrichment]) -> None:
    assert enriched["analyst"].salary == Salary(
        min=120000, max=140000, period=SalaryPeriod.YEARLY, currency="USD"
    )
    assert enriched["support"].salary == Salary(
        min=17, max=19, period=SalaryPeriod.HOURLY, currency="USD"
    )


def test_feed_salary_wins(backend: OfflineBackend) -> None:
    given = Salary(min=50, max=60, period=SalaryPeriod.HOURLY, currency="USD")
    job = _job("Sr. Data Analyst", "Acme Analytics", ANALYST, salary=given)
    assert backend.enrich_one(job).salary == given


def test_searchable_text_is_deduplicated_keywords(enriched: dict[str, Enrichment]) -> None:
    text = enriched["analyst"].searchable_text or ""
    keywords = text.split(", ")
    assert len(keywords) == len(set(keywords)) > 5
    assert "sql" in keywords


@pytest.mark.parametrize(
    "job",
    [
        JobPosting(),
        _job("asdf qwerty", "", ""),
        _job("!!!", "", "<<< >>> ###"),
    ],
)
def test_empty_or_garbage_gives_low_confidence_and_a_reason(
    backend: OfflineBackend, job: JobPosting
) -> None:
    result = backend.enrich_one(job)
    assert result.confidence < 20
    assert any("Audience fit none" in r for r in result.confidence_reasons)
    assert result.job_function_id is None


def test_a_good_title_without_description_is_not_auto_approved(backend: OfflineBackend) -> None:
    result = backend.enrich_one(_job("Registered Nurse", "", ""))
    assert 50 <= result.confidence < 86
    assert any("Empty description" in r for r in result.confidence_reasons)


async def test_enrich_is_ordered_deterministic_and_free(backend: OfflineBackend) -> None:
    jobs = [case.job for case in CASES.values()] * 3
    first = await backend.enrich(jobs)
    again = await OfflineBackend(load_taxonomy(), load_profile()).enrich(jobs)
    assert first == again
    assert len(first) == len(jobs)
    assert all(o.succeeded and o.llm_calls == 0 and o.input_tokens == 0 for o in first)
    titles = [o.enrichment.ai_title for o in first if o.enrichment]
    assert titles[0] == "Registered Nurse - Med/Surg" and titles[7] == titles[0]
    await backend.aclose()


def test_function_respects_the_industry_allowed_list() -> None:
    base = load_taxonomy()
    hospitals = 2081
    allowed = {hospitals: frozenset({29114100, 29117100})}  # RNs and nurse practitioners
    restricted = Taxonomy(
        version="restricted",
        sectors=base.sectors,
        groups=base.groups,
        industries=base.industries,
        functions=base.functions,
        allowed=allowed,
    )
    job = _job("Nurse Practitioner - Family Medicine", "St. Luke's Hospital", NURSE)
    result = OfflineBackend(restricted, load_profile()).enrich_one(job)
    assert result.industry_id == hospitals
    assert result.job_function_id in allowed[hospitals]


def test_the_company_names_head_word_decides_its_industry() -> None:
    backend = OfflineBackend()

    def industry(company: str) -> str:
        job = JobPosting(title="Business Analyst", company_name=company, description_html="")
        return backend.enrich_one(job).industry

    assert industry("Meridian Health Insurance Plan") == "Insurance"
    assert industry("Verve Apparel Manufacturing") == "Manufacturing"
    # a cue inside a longer cue does not count on its own: an animal hospital is a vet
    assert industry("Oakwood Animal Hospital") == "Veterinary Services"


@pytest.mark.parametrize(
    ("title", "company", "function", "sector"),
    [
        # the occupation in brackets, the rest a place ("instructor (practical nurse)")
        (
            "Ohjaaja (lähihoitaja), Kotikoti, Kuopio",
            "Hoiva Oy",
            "31-1131",
            "Hospitals and Health Care",
        ),
        # Finnish plural and partitive plural of known titles
        ("Sairaanhoitajat (2), Kotihoito", "Hoiva Oy", "29-1141", "Hospitals and Health Care"),
        ("Myyjiä liikkeeseen Ouluun", "Kauppa Oy", "41-2031", "Retail"),
        # a wellbeing services county runs health care, though it is a county
        ("Kirjanpitäjä", "Etelä-Savon hyvinvointialue", "43-3031", "Hospitals and Health Care"),
    ],
)
async def test_finnish_titles_in_their_written_forms_and_employers(
    backend: OfflineBackend, taxonomy: Taxonomy, title: str, company: str, function: str,
    sector: str,
) -> None:  # fmt: skip
    job = JobPosting(title=title, company_name=company, description_html="")
    [outcome] = await backend.enrich([job])
    found = outcome.enrichment
    assert found is not None
    chosen = taxonomy.job_function(found.job_function_id)
    assert chosen is not None and chosen.code.startswith(function)
    named = taxonomy.sector(found.sector_id)
    assert named is not None and named.name == sector


async def test_a_self_description_after_the_legal_form_names_the_industry(
    backend: OfflineBackend, taxonomy: Taxonomy
) -> None:
    description = (
        "<p>If you seek a job with Acme, note that our recruiters only write from acme.com.</p>"
        "<p>Acme athletica inc. (NASDAQ: AXQ) is an athletic apparel company for yoga and "
        "running.</p>"
    )
    job = JobPosting(title="Store Manager", company_name="acme", description_html=description)
    [outcome] = await backend.enrich([job])
    assert outcome.enrichment is not None
    industry = taxonomy.industry(outcome.enrichment.industry_id)
    assert industry is not None and "Apparel" in industry.name  # not "Staffing and Recruiting"


@pytest.mark.parametrize(
    ("title", "company", "function", "industry"),
    [
        ("DBA SQL server junior", "Banque Dupont", "15-1242", None),
        ("Chef de projet", "Dupont Conseil", "13-1082", "Business Consulting and Services"),
        ("Infirmier", "CHRU Nancy", "29-", "Hospitals"),
        ("Infirmier", "Assistance Publique Hopitaux de Paris", "29-", "Hospitals"),
    ],
)
async def test_abbreviated_titles_and_french_firm_names(
    backend: OfflineBackend, taxonomy: Taxonomy, title: str, company: str, function: str,
    industry: str | None,
) -> None:  # fmt: skip
    job = JobPosting(title=title, company_name=company, description_html="")
    [outcome] = await backend.enrich([job])
    found = outcome.enrichment
    assert found is not None
    chosen = taxonomy.job_function(found.job_function_id)
    assert chosen is not None and chosen.code.startswith(function)
    if industry is not None:
        assert found.industry_id == _industry_id(taxonomy, industry)


def _industry_id(taxonomy: Taxonomy, name: str) -> int:
    return next(i.id for i in taxonomy.industries.values() if i.name == name)


@pytest.mark.parametrize(
    ("title", "function"),
    [
        ("Managing Director of Travel Insurance", "11-"),
        ("Senior Manager, Sourcing, Europe", "11-"),
        ("Managing Director for Finland", "11-"),
        ("Nurse (SANE) Emergency Room", "29-"),
    ],
)
async def test_the_role_before_its_qualifier_is_read_when_the_whole_title_is_unknown(
    backend: OfflineBackend, taxonomy: Taxonomy, title: str, function: str
) -> None:
    job = JobPosting(title=title, company_name="Acme", description_html="")
    [outcome] = await backend.enrich([job])
    found = outcome.enrichment
    assert found is not None
    chosen = taxonomy.job_function(found.job_function_id)
    assert chosen is not None and chosen.code.startswith(function)
    assert any("before its qualifier" in reason for reason in found.confidence_reasons)


async def test_an_analyst_is_not_read_as_a_clerk(
    backend: OfflineBackend, taxonomy: Taxonomy
) -> None:
    # O*NET lists "Procurement Analyst" under Procurement Clerks (43-3061)
    job = JobPosting(title="Procurement Analyst", company_name="Acme", description_html="")
    [outcome] = await backend.enrich([job])
    assert outcome.enrichment is not None
    chosen = taxonomy.job_function(outcome.enrichment.job_function_id)
    assert chosen is not None and chosen.code.startswith("13-")
    clerk = JobPosting(title="Procurement Clerk", company_name="Acme", description_html="")
    [outcome] = await backend.enrich([clerk])
    assert outcome.enrichment is not None
    chosen = taxonomy.job_function(outcome.enrichment.job_function_id)
    assert chosen is not None and chosen.code == "43-3061.00"


@pytest.mark.parametrize(
    ("title", "soc_major"),
    [
        # "Program Specialist" is an O*NET title of Eligibility Interviewers (43-4061), but
        # a housing program specialist runs a programme, not an interview desk
        ("Housing Program Specialist", "13"),
        ("Disbursement Specialist", "13"),
        # O*NET's own clerical title, written in full, is kept
        ("Payroll Specialist", "43"),
        ("Accounts Payable Specialist", "43"),
    ],
)
def test_a_specialist_read_from_part_of_the_title_is_not_a_clerk(
    backend: OfflineBackend, taxonomy: Taxonomy, title: str, soc_major: str
) -> None:
    found = backend.enrich_one(JobPosting(title=title, company_name="Acme", description_html=""))
    chosen = taxonomy.job_function(found.job_function_id)
    assert chosen is not None and chosen.code[:2] == soc_major


@pytest.mark.parametrize(
    ("title", "code"),
    [
        # O*NET lists "Director" under Producers and Directors and "Analyst" under
        # Intelligence Analysts; a posting that says no more names no such specialty
        ("Director, Office of Communications", "11-9199.00"),
        ("Director (Transactions Management)", "11-9199.00"),
        ("Analyst", "13-1111.00"),
    ],
)
def test_a_bare_generic_title_is_its_broad_occupation(
    backend: OfflineBackend, taxonomy: Taxonomy, title: str, code: str
) -> None:
    found = backend.enrich_one(JobPosting(title=title, company_name="Acme", description_html=""))
    chosen = taxonomy.job_function(found.job_function_id)
    assert chosen is not None and chosen.code == code


def test_a_stage_director_is_still_a_producer_or_director(
    backend: OfflineBackend, taxonomy: Taxonomy
) -> None:
    found = backend.enrich_one(
        JobPosting(title="Stage Director", company_name="Acme", description_html="")
    )
    chosen = taxonomy.job_function(found.job_function_id)
    assert chosen is not None and chosen.code == "27-2012.00"
