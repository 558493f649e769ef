"""Job identity: the original system's content hash, byte for byte, and the dedupe group key.

Canonical string (UTF-8), exactly as the original `get_canonical_job_hash` built it::

    f"{title.strip()}|{company_name.strip()}|{EMPLOYMENT}|{cleaned_description}"

* EMPLOYMENT is ``FULL_TIME`` when the upper-cased employment type contains ``FULL``,
  else ``PART_TIME`` (so our CONTRACT, TEMPORARY, INTERNSHIP and OTHER hash as PART_TIME).
* cleaned_description, from the description *with its HTML markup, once html-unescaped*
  (our `JobPosting.description_html`, which is what the original hashed): HTML tags
  ``<[^>]+>`` -> space; URLs ``https?://\\S+`` -> space; every character outside
  ``[a-zA-Z0-9\\s]`` -> space (non-ASCII letters go too); whitespace runs collapsed,
  stripped; lower-cased.
* Digest: SHA-256 in standard Base64 with padding (44 characters; may hold ``+ / =``).

`description_text` must not be used: its tag removal joins words the original split.
Known divergences, where we fixed the reference's bugs: an employment type the
original mis-read (``Full-Time/Permanent`` was PART_TIME, is FULL_TIME now), and
non-XML entity references inside CDATA (the original hashed ``&#8217;`` as ``8217``,
we hash the decoded character), give a different hash for those jobs.
"""

from __future__ import annotations

import base64
import hashlib
import re

from schemas.records import EmploymentType, JobPosting

_TAGS = re.compile(r"<[^>]+>")
_URLS = re.compile(r"https?://\S+")
# After the character rule, every character outside [a-zA-Z0-9] is whitespace of some kind,
# so the cleaned text is simply the runs of ASCII letters and digits joined by one space.
# Computing it that way on bytes beats two regex passes (the ingest hot path).
_ALNUM_OR_SPACE = bytes(b if chr(b).isascii() and chr(b).isalnum() else 0x20 for b in range(256))


def hash_employment_type(employment_type: EmploymentType | str | None) -> str:
    return "FULL_TIME" if "FULL" in str(employment_type or "").upper() else "PART_TIME"


def clean_description(description: str | None) -> str:
    text = _TAGS.sub(" ", description or "")
    text = _URLS.sub(" ", text)
    # non-ASCII characters become "?" here and a separator below, as in the original
    folded = text.encode("ascii", "replace").translate(_ALNUM_OR_SPACE)
    return b" ".join(folded.split()).decode("ascii").lower()


def canonical_string(
    *,
    title: str | None,
    company_name: str | None,
    employment_type: EmploymentType | str | None,
    description: str | None,
) -> str:
    parts = (
        (title or "").strip(),
        (company_name or "").strip(),
        hash_employment_type(employment_type),
        clean_description(description),
    )
    return "|".join(parts)


def canonical_job_hash(
    *,
    title: str | None,
    company_name: str | None,
    employment_type: EmploymentType | str | None,
    description: str | None,
) -> str:
    canonical = canonical_string(
        title=title,
        company_name=company_name,
        employment_type=employment_type,
        description=description,
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def job_hash(job: JobPosting) -> str:
    """The content hash of a normalised job (compatible with existing rows)."""
    return canonical_job_hash(
        title=job.title,
        company_name=job.company_name,
        employment_type=job.employment_type,
        description=job.description_html,
    )


def dedupe_key(
    title: str | None, company_name: str | None, employment_type: EmploymentType | str | None
) -> str:
    """Group key for dedupe: each part stripped and lower-cased, joined with ``|``."""
    kind = employment_type.value if isinstance(employment_type, EmploymentType) else employment_type
    return "|".join((part or "").strip().lower() for part in (title, company_name, kind))
