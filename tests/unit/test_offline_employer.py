"""The offline backend reads the employer's sector from what the posting says about the
employer (its name, its self-description, an intermediary's words), not from the job's
function, whatever jobs share its batch; and it reads federal, French and Finnish titles."""

from __future__ import annotations

import asyncio

import pytest

from schemas.records import Enrichment, JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.offline.backend import OfflineBackend
from services.enricher.backends.offline.employer import employer_text
from services.enricher.backends.offline.text import tokens

DUTIES = "You will build forecasting models in Python and present results to leadership."


@pytest.fixture(scope="module")
def backend() -> OfflineBackend:
    return OfflineBackend()


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def _enrich(backend: OfflineBackend, title: str, company: str, description: str) -> Enrichment:
    job = JobPosting(title=title, company_name=company, description_html=description)
    return backend.enrich_one(job)


def _soc_major(taxonomy: Taxonomy, enrichment: Enrichment) -> str:
    function = taxonomy.job_function(enrichment.job_function_id)
    return function.code[:2] if function else ""


def test_a_data_scientist_at_an_insurer_is_in_financial_services(backend: OfflineBackend) -> None:
    about = "Northwind is a leading insurer protecting two million families. "
    with_employer = _enrich(backend, "Data Scientist", "Northwind", about + DUTIES)
    without = _enrich(backend, "Data Scientist", "Northwind", DUTIES)

    assert with_employer.industry == "Insurance"
    assert with_employer.sector == "Financial Services"
    # with nothing said about the employer, the job function is all there is to go on
    assert without.sector != "Financial Services"


def test_a_self_description_in_the_first_person_names_the_employer(
    backend: OfflineBackend,
) -> None:
    text = f"We are a community bank serving three counties since 1921. {DUTIES}"
    assert _enrich(backend, "Data Scientist", "Harbor & Pine", text).industry == "Banking"


@pytest.mark.parametrize(
    ("company", "sector"),
    [
        ("Department of Energy", "Government Administration"),
        ("Federal Energy Regulatory Commission", "Government Administration"),
        ("Government National Mortgage Association", "Government Administration"),
        ("Office for Civil Rights", "Government Administration"),
        ("University of Michigan", "Education"),
        ("Harris County Hospital District", "Hospitals and Health Care"),
        ("Centre hospitalier de Lyon", "Hospitals and Health Care"),
        ("Mairie de Bordeaux", "Government Administration"),
    ],
)
def test_the_head_of_the_company_name_decides(
    backend: OfflineBackend, company: str, sector: str
) -> None:
    assert _enrich(backend, "Program Analyst", company, "").sector == sector


@pytest.mark.parametrize(
    "description",
    [
        "Our client, a leading manufacturer of industrial pumps, is seeking a buyer.",
        "Notre agence d'intérim recherche pour son client un acheteur.",
        "Dans le cadre d'une mission en travail temporaire, vous rejoindrez l'atelier.",
    ],
)
def test_an_intermediarys_posting_is_in_staffing(backend: OfflineBackend, description: str) -> None:
    enrichment = _enrich(backend, "Buyer", "Apex", description)
    assert enrichment.industry == "Staffing and Recruiting"
    assert enrichment.sector == "Administrative and Support Services"


def test_public_body_words_in_prose_do_not_make_an_employer_government(
    backend: OfflineBackend,
) -> None:
    text = (
        "Acme Widgets is a manufacturer of precision valves. You will work with the finance "
        "department and our United States customers, and report to the office of the CFO."
    )
    enrichment = _enrich(backend, "Cost Accountant", "Acme Widgets", text)
    assert enrichment.sector == "Manufacturing"


def test_a_jobs_enrichment_does_not_depend_on_its_batch_mates(backend: OfflineBackend) -> None:
    """Replays, rebalances and batch sizes regroup jobs: the tables must not change."""
    named = JobPosting(
        title="Registered Nurse",
        company_name="Contoso",
        description_html="Contoso is a regional hospital with 300 beds. Care for patients.",
    )
    unnamed = JobPosting(title="Accountant", company_name="Contoso", description_html=DUTIES)
    hospital = JobPosting(
        title="Accountant", company_name="", description_html="We are a regional hospital."
    )
    unknown = JobPosting(title="Accountant", company_name="", description_html=DUTIES)
    jobs = [named, unnamed, hospital, unknown]

    alone = [backend.enrich_one(job) for job in jobs]
    together = asyncio.run(backend.enrich(jobs))
    reversed_ = asyncio.run(backend.enrich(jobs[::-1]))[::-1]

    assert [o.enrichment for o in together] == alone
    assert [o.enrichment for o in reversed_] == alone
    assert alone[0].industry == "Hospitals" and alone[2].industry == "Hospitals"
    assert alone[1].industry != "Hospitals"  # its colleague's evidence is not borrowed
    assert alone[3].industry != "Hospitals"


def test_one_failing_job_does_not_fail_its_batch_mates(backend: OfflineBackend) -> None:
    good = JobPosting(title="Accountant", company_name="Contoso", description_html=DUTIES)
    bad = JobPosting(title="Accountant", company_name="Contoso", description_html=DUTIES)
    object.__setattr__(bad, "description_html", None)  # a malformed record slipped through

    outcomes = asyncio.run(backend.enrich([good, bad]))

    assert outcomes[0].succeeded and not outcomes[1].succeeded
    assert outcomes[1].error and "offline enrichment failed" in outcomes[1].error


def test_employer_text_keeps_the_sentences_about_the_employer() -> None:
    sentences = [
        "Join a team that cares.",
        "Acme is a regional bank.",
        "You will reconcile accounts.",
        "We are an equal opportunity employer.",
    ]
    text = employer_text("Acme Bank", sentences)

    assert text.name_words == ["acme", "bank"]
    about = tokens("Acme is a regional bank.") + tokens("We are an equal opportunity employer.")
    assert text.about_words == about
    assert text.description_words == tokens(" ".join(sentences))


def test_accents_are_folded_so_european_words_match() -> None:
    assert tokens("Agence d’intérim — Société Générale") == [
        "agence", "d", "interim", "societe", "generale",
    ]  # fmt: skip
    assert tokens("driver. e.g. node.js, c++") == ["driver", "e.g", "node.js", "c++"]


@pytest.mark.parametrize(
    ("title", "major"),
    [
        ("Administrateur / Administratrice systèmes et réseaux (H/F)", "15"),
        ("Ripeur / Ripeuse", "53"),
        ("Chauffeur poids lourd H/F", "53"),
        ("Sairaanhoitaja", "29"),
        ("Supervisory General Attorney GS-0905-14, FPL 14 (Remote Eligible)", "23"),
        ("Attorney-Adviser (General)", "23"),
        ("Librarian, GS-1410-09/11 (FPL GS-11)", "25"),
        ("Energy Industry Analyst", "13"),
        ("Supervisory Physician (Administration)-DHA", "29"),
    ],
)
def test_federal_french_and_finnish_titles_find_their_occupation(
    backend: OfflineBackend, taxonomy: Taxonomy, title: str, major: str
) -> None:
    assert _soc_major(taxonomy, _enrich(backend, title, "", "")) == major


@pytest.mark.parametrize(
    "title",
    [
        "Statistician (Education), GS-1530-13 (FPL GS-14) (Remote Eligible)",
        "Executive Director, AD-0301-00 (Term NTE 3 Years)",
        "Librarian, GS-1410-09/11 (Telework Eligible)",
    ],
)
def test_a_federal_pay_grade_in_the_title_makes_the_employer_a_public_body(
    backend: OfflineBackend, title: str
) -> None:
    """A federal agency's name may say what it studies ("Institute of Education Sciences"),
    but only a federal position carries a GS or AD pay plan: the sector is government."""
    enrichment = _enrich(backend, title, "Institute of Education Sciences", "")
    assert enrichment.sector == "Government Administration"
    assert "federal pay grade" in enrichment.industry_reasoning


@pytest.mark.parametrize("title", ["Statistician", "Boeing 737-800 Mechanic", "GSM Engineer 5G"])
def test_a_title_without_a_pay_grade_leaves_the_name_to_decide(
    backend: OfflineBackend, title: str
) -> None:
    assert _enrich(backend, title, "Ridgeview School of Education", "").sector == "Education"


@pytest.mark.parametrize(
    "company", ["Riverside Family Medicine Associates", "Lakeside Internal Medicine"]
)
def test_a_physicians_practice_is_in_health_care(backend: OfflineBackend, company: str) -> None:
    enrichment = _enrich(backend, "Medical Billing Specialist", company, "")
    assert enrichment.sector == "Hospitals and Health Care"


@pytest.mark.parametrize(
    ("company", "description"),
    [
        ("Crit", "Nous recherchons pour l'un de nos clients un ripeur (H/F) à Nice."),
        ("Temporis", "Vous rejoindrez nos intérimaires sur le site de production."),
        ("Team Emploi", "Contrôle qualité des pièces en fin de ligne."),
        ("Lynx RH", "Administration des serveurs Windows."),
        ("Groupement d'employeurs Alsace Lorraine", "Entretien du domaine public."),
    ],
)
def test_a_french_employment_agency_is_in_staffing(
    backend: OfflineBackend, company: str, description: str
) -> None:
    """An agency's posting describes the client's job; its employer is the agency."""
    enrichment = _enrich(backend, "Opérateur de production", company, description)
    assert enrichment.industry == "Staffing and Recruiting"


def test_a_mutuelle_offered_as_a_benefit_does_not_make_an_insurer(
    backend: OfflineBackend,
) -> None:
    text = "Synergie collecte les déchets à Cambrai. Avantages Synergie : mutuelle, CSE."
    assert _enrich(backend, "Ripeur", "Synergie", text).sector != "Financial Services"
    assert _enrich(backend, "Conseiller", "Mutuelle de Bretagne", "").industry == "Insurance"


@pytest.mark.parametrize(
    ("company", "sector"),
    [
        ("Loire Forez Agglomération", "Government Administration"),
        ("Comm Com du Golfe de Saint-Tropez", "Government Administration"),
        ("Communauté Communes Arve et Salève", "Government Administration"),
        ("Rectorat", "Government Administration"),
        ("Office public de l'habitat du Var", "Real Estate and Equipment Rental Services"),
        ("SA HLM de l'Oise", "Real Estate and Equipment Rental Services"),
        ("Groupe hospitalier universitaire Paris", "Hospitals and Health Care"),
        ("Ramsay Santé", "Hospitals and Health Care"),
    ],
)
def test_french_public_bodies_landlords_and_hospitals_are_read_from_their_name(
    backend: OfflineBackend, company: str, sector: str
) -> None:
    assert _enrich(backend, "Administrateur systèmes et réseaux", company, "").sector == sector


def test_an_habitat_treatment_in_the_prose_is_not_a_landlord(backend: OfflineBackend) -> None:
    text = "Acme Nuisibles traite l'habitat des particuliers contre les termites."
    assert _enrich(backend, "Technicien", "Acme Nuisibles", text).sector != (
        "Real Estate and Equipment Rental Services"
    )
