"""Jobs waiting for review, written as the router writes them (real taxonomy ids and names)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import asyncpg
import orjson

from schemas.taxonomy import load_taxonomy

ROLES = (
    ("Registered Nurse", "Acme Health", "Austin, TX", "29-1141.00"),
    ("Line Cook", "Bistro Nine", "Denver, CO", "35-2014.00"),
    ("Forklift Operator", "Northwind Logistics", "Reno, NV", "53-7051.00"),
    ("Medical Assistant", "Acme Health", "Boise, ID", "31-9092.00"),
    ("Retail Sales Associate", "Corner Shop", "Tulsa, OK", "41-2031.00"),
)


@dataclass(frozen=True, slots=True)
class Classification:
    sector: tuple[int, str]
    group: tuple[int, str]
    industry: tuple[int, str]
    function: tuple[int, str]


def classification(industry_name: str, soc_code: str) -> Classification:
    taxonomy = load_taxonomy()
    industry = next(i for i in taxonomy.industries.values() if i.name == industry_name)
    function = next(f for f in taxonomy.functions.values() if f.code == soc_code)
    sector = taxonomy.sectors[industry.sector_id]
    group = taxonomy.groups[industry.group_id]
    return Classification(
        (sector.id, sector.name), (group.id, group.name), (industry.id, industry.name),
        (function.id, function.name),
    )  # fmt: skip


HOSPITALS = "Hospitals and Health Care"
RESTAURANTS = "Restaurants"


async def queue_jobs(
    db: asyncpg.Connection,
    feed_id: int,
    count: int,
    *,
    industry: str = HOSPITALS,
    tag: str = "",
) -> list[str]:
    """`count` jobs in the review queue, confidence falling from 0.85; their hashes in order."""
    hashes = []
    for n in range(count):
        title, company, where, soc = ROLES[n % len(ROLES)]
        taxonomy = classification(industry, soc)
        job_hash = f"{uuid.uuid4().hex[:22]}/+{uuid.uuid4().hex[:18]}=="
        confidence = Decimal("0.85") - Decimal(n) / Decimal(100)
        city, state = where.split(", ")
        await db.execute(
            "INSERT INTO manual_review_jobs (job_hash, feed_id, route, route_reason, status, "
            "title, company_name, description, description_text, application_url, "
            "locations, location_string, employment_type, ai_title, ai_skills, "
            "ai_confidence_score, confidence_reasoning, sector_id, sector, industry_group_id, "
            "industry_group, industry_id, industry, job_function_id, job_function, "
            "salary_min, salary_max, currency, salary_period) VALUES ($1, $2, 'manual_review', "
            "'confidence in the review band', 'MANUAL_REVIEW', $3, $4, $5, '', $6, $7, $8, "
            "'FULL_TIME', $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, "
            "40000, 52000, 'USD', 'YEAR')",
            job_hash, feed_id, f"{title} {tag}{n + 1}".strip(), company,
            f"<p>Join <b>{company}</b> as a {title}.</p><ul><li>Full time</li><li>Benefits"
            f"</li></ul><script>window.pwned = true</script>"
            f"<p onclick=\"window.pwned = true\">Apply today.</p>",
            f"https://jobs.example/{n}",
            orjson.dumps([{"city": city, "state": state, "country": "US"}]).decode(), where,
            title, orjson.dumps(["patient care", "teamwork"]).decode(), confidence,
            "hourly frontline role fits the audience; no degree required; "
            "title is a common frontline title",
            *taxonomy.sector, *taxonomy.group, *taxonomy.industry, *taxonomy.function,
        )  # fmt: skip
        hashes.append(job_hash)
    return hashes
