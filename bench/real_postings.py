"""Real public job postings with labels, read from `../shared/data/labelled/` when present.

The files stay outside the repository (their README says where each came from); this module
only reads them and maps their labels onto the project's targets:

* OPM occupational series -> SOC major group through the folder's own crosswalk; a posting
  whose series are unlisted or map to several groups has no SOC label. Every USAJOBS
  employer is a federal agency, so its sector is *Government Administration*.
* LinkedIn industry -> LinkedIn V2 sector through `linkedin-industry-codes-v2.csv` (beside
  the folder, in `../taxonomy/`): an exact label, else the first V2 label a joined list
  ("IT Services and IT Consulting and Construction") starts with, else `LINKEDIN_V1` below.
* French NAF rév. 2 activity -> V2 sector through `bench/data/naf-to-v2-sector.csv` (the
  class when listed, else its division); division 45 (motor trade) is ambiguous and unlisted.
* Google's O*NET-SOC code (JSearch) -> its first two digits.

Each posting is held out (never looked at while tuning) by a hash of its source and id, so
the split is fixed whatever order the files are read in.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.records import JobPosting

FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "labelled"
NAF_TABLE = Path(__file__).with_name("data") / "naf-to-v2-sector.csv"
HELD_OUT_PERCENT = 30
GOVERNMENT = "Government Administration"

# LinkedIn V1 industry names still found on company pages, and the V2 sector LinkedIn's own
# V1 -> V2 renaming put them in.
LINKEDIN_V1: Mapping[str, str] = {
    "Computer Hardware": "Manufacturing",
    "Information Technology & Services": "Professional Services",
    "Consumer Goods": "Manufacturing",
    "Automotive": "Manufacturing",
    "Medical Device": "Manufacturing",
    "Human Resources": "Professional Services",
    "Health, Wellness & Fitness": "Entertainment Providers",
    "Food Production": "Manufacturing",
    "Aviation & Aerospace": "Manufacturing",
}

USAJOBS_FILES = {
    "usajobs-hhs": "usajobs_historical_jobs_department_of_health_and_human_services.json",
    "usajobs-energy": "usajobs_historical_jobs_department_of_energy.json",
    "usajobs-hud": "usajobs_historical_jobs_department_of_housing_and_urban_development.json",
    "usajobs-education": "usajobs_historical_jobs_department_of_education.json",
}
FRANCE_TRAVAIL_FILES = {
    "francetravail-sysadmin": "francetravail_2024-11_offres_sysadmin_1049.json",
    "francetravail-ripeur": "francetravail_2024-11_offres_ripeur_521.json",
    "francetravail-biostat": "francetravail_2024-11_offres_biostat_179.json",
}


@dataclass(frozen=True, slots=True)
class RealPosting:
    """One labelled posting: either label may be missing (None) for its source."""

    source: str
    id: str
    title: str
    company: str
    description: str
    soc_major: str | None
    sector: str | None

    @property
    def held_out(self) -> bool:
        digest = hashlib.sha256(f"{self.source}:{self.id}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT

    def posting(self) -> JobPosting:
        return JobPosting(
            title=self.title, company_name=self.company, description_html=self.description
        )


def available(folder: Path = FOLDER) -> bool:
    return (folder / "opm_series_to_soc_major.json").is_file()


def load(folder: Path = FOLDER) -> list[RealPosting]:
    """Every labelled posting the folder holds (with a title and at least one label)."""
    rows = [*_usajobs(folder), *_linkedin_fi(folder), *_linkedin_us(folder)]
    rows += [*_france_travail(folder), *_jsearch(folder)]
    return [r for r in rows if r.title.strip() and (r.soc_major or r.sector)]


def _read_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def _usajobs(folder: Path) -> Iterator[RealPosting]:
    crosswalk = {
        k: v for k, v in _read_json(folder / "opm_series_to_soc_major.json").items() if k[0] != "_"
    }
    for source, name in USAJOBS_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        for job in _read_json(path):
            series = job.get("occupation_series") or []
            majors = {crosswalk[str(s)[:4]] for s in series if str(s)[:4] in crosswalk}
            soc = majors.pop() if len(majors) == 1 else None
            yield RealPosting(
                source=source,
                id=str(job["control_number"]),
                title=job.get("position_title") or "",
                company=_agency(job),
                description="",
                soc_major=soc,
                sector=GOVERNMENT,
            )


def _agency(job: Mapping[str, Any]) -> str:
    """The hiring agency as USAJOBS shows it ("National Institutes of Health")."""
    agency = str(job.get("agency") or "")
    return str(job.get("department") or "") if agency.startswith("Other Agencies") else agency


def _v2_sectors(folder: Path) -> dict[str, str]:
    path = folder.parent / "taxonomy" / "linkedin-industry-codes-v2.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return {r["label"]: r["hierarchy"].split(" > ")[0] for r in csv.DictReader(handle)}


def linkedin_sector(industry: str, v2: Mapping[str, str]) -> str | None:
    """V2 sector of a LinkedIn industry field, which may join several industries."""
    industry = industry.strip()
    if industry in v2:
        return v2[industry]
    starts = [label for label in v2 if industry.startswith(f"{label},")]
    starts += [label for label in v2 if industry.startswith(f"{label} and ")]
    if starts:
        return v2[max(starts, key=len)]
    return LINKEDIN_V1.get(industry)


def _linkedin_fi(folder: Path) -> Iterator[RealPosting]:
    path = folder / "linkedin_fi_2023_jobs_industries.csv"
    if not path.is_file():
        return
    v2 = _v2_sectors(folder)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            industry = row.get("Industries") or ""
            yield RealPosting(
                source="linkedin-fi",
                id=row["Job ID"],
                title=row.get("Job Title") or "",
                company=row.get("Company") or "",
                description="",
                soc_major=None,
                sector=linkedin_sector(industry, v2) if industry else None,
            )


def _linkedin_us(folder: Path) -> Iterator[RealPosting]:
    """The API gives no job text; the company's own LinkedIn description stands in for
    the "about us" part a posting carries."""
    path = folder / "linkedin_api_us_2025_jobs_org_industry.json"
    if not path.is_file():
        return
    v2 = _v2_sectors(folder)
    for job in _read_json(path):
        industry = str(job.get("linkedin_org_industry") or "")
        yield RealPosting(
            source="linkedin-us",
            id=str(job["id"]),
            title=str(job.get("title") or ""),
            company=str(job.get("organization") or ""),
            description=str(job.get("linkedin_org_description") or ""),
            soc_major=None,
            sector=linkedin_sector(industry, v2) if industry else None,
        )


def naf_table(path: Path = NAF_TABLE) -> dict[str, str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {r["code"]: r["v2_sector"] for r in csv.DictReader(handle)}


def naf_sector(code: str, table: Mapping[str, str]) -> str | None:
    """ "62.02A" -> its class's sector if listed, else its division's ("62")."""
    code = code.strip().upper()
    if not code:
        return None
    return table.get(code) or table.get(code[:2])


def _france_travail(folder: Path) -> Iterator[RealPosting]:
    table = naf_table()
    for source, name in FRANCE_TRAVAIL_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        for offer in _read_json(path):
            company = offer.get("entreprise") or {}
            about = str(company.get("description") or "")
            yield RealPosting(
                source=source,
                id=str(offer["id"]),
                title=str(offer.get("intitule") or ""),
                company=str(company.get("nom") or ""),
                description="\n".join(p for p in (about, str(offer.get("description") or "")) if p),
                soc_major=None,
                sector=naf_sector(str(offer.get("codeNAF") or ""), table),
            )


def _jsearch(folder: Path) -> Iterator[RealPosting]:
    path = folder / "jsearch_2025_jobs_multi_board.json"
    if not path.is_file():
        return
    for job in _read_json(path):
        code = str(job.get("job_onet_soc") or "")
        yield RealPosting(
            source="jsearch",
            id=str(job["job_id"]),
            title=str(job.get("job_title") or ""),
            company=str(job.get("employer_name") or ""),
            description=str(job.get("job_description") or ""),
            soc_major=code[:2] if code[:2].isdigit() else None,
            sector=None,
        )
