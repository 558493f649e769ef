"""Built-in field presets for the feed dialects we meet, and their auto-detection.

A preset maps each internal field to candidate record paths (lower-case local names,
``/`` for nesting, ``@`` for attributes); the first candidate with a value wins.
"""

from __future__ import annotations

from dataclasses import dataclass

ATOM_NS = "http://www.w3.org/2005/Atom"
FieldPaths = dict[str, tuple[str, ...]]

INTERNAL_FIELDS = (
    "title",
    "company_name",
    "description",
    "application_url",
    "posted_at",
    "expires_at",
    "external_job_id",
    "city",
    "state",
    "country",
    "postal_code",
    "location",
    "employment_type",
    "is_remote",
    "salary",
    "salary_min",
    "salary_max",
    "salary_period",
    "currency",
    "status",
    "action",
    "cpc",
    "cpa",
)

_GENERIC: FieldPaths = {
    "title": ("title", "jobtitle", "job_title", "position_title", "name", "vtitle", "text"),
    "company_name": (
        "company",
        "company_name",
        "companyname",
        "employer",
        "hiringorganization/name",
        "hiringorganization",
        "hiring_organization",
        "advertisername",
        "company/name",
        "subcompany",
    ),
    "description": (
        "description",
        "body",
        "content",
        "jobdescription",
        "job_description",
        "full_description",
        "details",
        "descriptionhtml",
    ),
    "application_url": (
        "url",
        "apply_url",
        "applyurl",
        "link",
        "job_url",
        "applylink",
        "application_url",
        "applicationurl",
        "absolute_url",
        "hostedurl",
    ),
    "posted_at": (
        "date",
        "dateposted",
        "date_posted",
        "datepublished",
        "pubdate",
        "publishdate",
        "publication_date",
        "posted_at",
        "listdate",
        "listed_date",
        "createdat",
        "created_at",
        "post_date",
        "updated_at",
    ),
    "expires_at": (
        "expirationdate",
        "expiration_date",
        "expirydate",
        "expire",
        "expires",
        "closing_date",
        "validthrough",
        "valid-through",
        "enddate",
    ),
    "external_job_id": (
        "referencenumber",
        "@id",
        "id",
        "requisitionid",
        "reference_id",
        "reference",
        "partnerjobid",
        "job_id",
        "jobid",
        "ref_id",
        "refnumber",
        "identifier/value",
        "guid",
    ),
    "city": (
        "city",
        "location/city",
        "address/city",
        "joblocation/address/addresslocality",
        "location/addresslocality",
    ),
    "state": (
        "state",
        "region",
        "location/state",
        "location/region",
        "address/state",
        "joblocation/address/addressregion",
    ),
    "country": (
        "country",
        "location/country",
        "address/country",
        "joblocation/address/addresscountry",
    ),
    "postal_code": (
        "postalcode",
        "postal_code",
        "zipcode",
        "zip",
        "postcode",
        "location/postalcode",
        "location/zip",
        "joblocation/address/postalcode",
    ),
    "location": (
        "location",
        "locations",
        "job_location",
        "joblocation",
        "location/name",
        "categories/location",
        "city_state",
        "work_location",
        "address",
    ),
    "employment_type": (
        "jobtype",
        "job_type",
        "job-type",
        "type",
        "employmenttype",
        "employment_type",
        "contract_time",
        "working_hours",
        "contract_type",
        "positiontype",
        "typeofemployment",
        "categories/commitment",
        "schedule",
        "contract",
    ),
    "is_remote": (
        "remote",
        "isremote",
        "is_remote",
        "remotetype",
        "remote_type",
        "workplacetype",
        "joblocationtype",
    ),
    "salary": ("salary", "compensation", "pay"),
    "salary_min": (
        "salary_min",
        "min_salary",
        "minimum_salary",
        "salary_from",
        "min",
        "basesalary/value/minvalue",
    ),
    "salary_max": (
        "salary_max",
        "max_salary",
        "maximum_salary",
        "salary_to",
        "max",
        "basesalary/value/maxvalue",
    ),
    "salary_period": (
        "salary_period",
        "period",
        "salary_frequency",
        "pay_period",
        "salarytype",
        "basesalary/value/unittext",
    ),
    "currency": ("currency", "salary_currency", "basesalary/currency"),
    "status": ("status", "job_status"),
    "action": ("action",),
    "cpc": ("cpc", "bid"),
    "cpa": ("cpa",),
}


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    fields: FieldPaths


def _preset(name: str, **overrides: tuple[str, ...]) -> Dialect:
    return Dialect(name, {**_GENERIC, **overrides})


DIALECTS: dict[str, Dialect] = {
    "indeed": _preset("indeed"),
    "jobs": _preset("jobs"),
    "rss": _preset(
        "rss",
        description=("encoded", "description", "summary"),
        application_url=("link", "guid"),
        external_job_id=("guid", "link", "vacancyid", "id"),
        company_name=("company", "author", "creator", "employer"),
        title=("title", "vtitle"),
    ),
    "atom": _preset(
        "atom",
        description=("content", "summary"),
        application_url=("link/@href", "link"),
        external_job_id=("id",),
        posted_at=("published", "updated"),
        company_name=("author/name", "company", "author"),
    ),
    "tabular": _preset("tabular"),
}


def detect_dialect(root_tag: str | None, record_tag: str | None, namespace: str | None) -> Dialect:
    """Pick the preset from the document's root and record element names."""
    if record_tag == "item":
        return DIALECTS["rss"]
    if record_tag == "entry" and (namespace == ATOM_NS or root_tag == "feed"):
        return DIALECTS["atom"]
    if root_tag == "source":
        return DIALECTS["indeed"]
    return DIALECTS["jobs"]
