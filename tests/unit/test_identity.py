"""The canonical content hash must stay byte-compatible with rows the original system wrote."""

from __future__ import annotations

from schemas.identity import canonical_job_hash, canonical_string, dedupe_key, job_hash
from schemas.records import EmploymentType, JobPosting

VECTOR = {
    "title": "  Senior Data Analyst ",
    "company_name": "Northwind Retail Group",
    "employment_type": "Full Time",
    "description": "<p>Hello, World! Visit https://x.example/z now &amp; café</p>",
}


def test_reference_vector_canonical_string_and_hash() -> None:
    assert canonical_string(**VECTOR) == (
        "Senior Data Analyst|Northwind Retail Group|FULL_TIME|hello world visit now amp caf"
    )
    assert canonical_job_hash(**VECTOR) == "b62TYLZy5MV9tIMwpOZYTBI5w8/SRk8BXp+0ovd16Xg="


def test_all_empty_job_vector() -> None:
    empty = {"title": None, "company_name": None, "employment_type": None, "description": None}
    assert canonical_string(**empty) == "||PART_TIME|"
    assert canonical_job_hash(**empty) == "xTUfa+4+MRalQks97KvJ/s0Bx+peZqjoM6wZFlSy72U="


def test_job_hash_uses_description_html_and_non_full_types_hash_as_part_time() -> None:
    job = JobPosting(
        title="Nurse",
        company_name="Mercy",
        description_html="<p>Care</p><p>Nights</p>",
        employment_type=EmploymentType.CONTRACT,
    )
    expected = canonical_job_hash(
        title="Nurse", company_name="Mercy", employment_type="PART_TIME", description="care nights"
    )
    assert job_hash(job) == expected
    full = job.model_copy(update={"employment_type": EmploymentType.FULL_TIME})
    assert job_hash(full) != job_hash(job)


def test_locations_and_ids_do_not_change_the_hash() -> None:
    job = JobPosting(title="A", company_name="B", description_html="x", external_job_id="1")
    assert job_hash(job) == job_hash(job.model_copy(update={"external_job_id": "2"}))


def test_dedupe_key_is_lowercased_stripped_and_pipe_joined() -> None:
    key = dedupe_key(" Senior Data Analyst", "Northwind Retail Group ", EmploymentType.FULL_TIME)
    assert key == "senior data analyst|northwind retail group|full_time"
