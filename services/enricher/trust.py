"""Bounded authority: the checks an LLM's enrichment must pass before the router may publish
the job on the model's word alone.

The model's confidence is one input. An independent check (the offline scorer, which reads
the posting with word lists and cannot be talked into anything) must come within a set
distance of it, and the output must be consistent with the posting: a title related to the
original, only a salary the text states, the sector of the company's other jobs. Each failed
check is a review reason; the router sends a job it would approve to manual review instead,
with those reasons. Pure, apart from the independent backend it is given.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from schemas.records import Enrichment, JobPosting, Salary
from services.enricher.backends.base import EnrichmentBackend

# the reasons' fixed leading words (the report counts jobs by them); details follow in brackets
DISAGREE = "model and checks disagree"
TITLE_UNRELATED = "AI title unrelated to the original title"
SALARY_NOT_IN_TEXT = "salary not in the posting"
SECTOR_INCONSISTENT = "sector inconsistent with the company's other jobs"
ADDRESSES_MODEL = "the posting addresses the model"

DEFAULT_MAX_CONFIDENCE_GAP = 20.0
# a company's other jobs speak for its sector when at least this many agree, and this share
COMPANY_MIN_JOBS = 2
COMPANY_MIN_SHARE = 2 / 3

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_FILLER = frozenset(
    {
        "a", "an", "and", "at", "for", "in", "of", "on", "or", "the", "to", "with", "m", "f",
        "w", "d", "h", "x", "i", "ii", "iii", "iv", "sr", "jr", "senior", "junior", "lead",
        "remote", "hybrid", "full", "part", "time", "new", "job", "position", "role",
    }
)  # fmt: skip
_ABBREVIATIONS = {
    "eng": "engineer", "engr": "engineer", "mgr": "manager", "mgmt": "management",
    "dev": "developer", "devs": "developer", "swe": "software engineer", "admin": "administrator",
    "asst": "assistant", "assoc": "associate", "coord": "coordinator", "dir": "director",
    "rep": "representative", "tech": "technician", "spec": "specialist", "acct": "accountant",
    "exec": "executive", "ops": "operations", "qa": "quality assurance", "hr": "human resources",
    "it": "information technology", "pm": "project manager", "cdl": "driver",
}  # fmt: skip
_MODEL_NAMES = r"(?:ai|a\.i\.|model|assistant|classifier|llm|bot|enrichment engine|approver)"
# words that address a model, not a job seeker; narrow on purpose ("give clients confidence",
# "an AI engineer", "forget the old rules" are job text): a hit only sends a job to review
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,30}\b(?:instructions?|prompts?"
    r"|system message)\b"
    r"|\b(?:ignore|disregard)\s+(?:all\s+|any\s+|the\s+)*(?:previous|prior|above|earlier)\b"
    r"|\bsystem prompt\b|\bnew instructions?\s*:"
    rf"|\byou are now (?:a |an |the )?{_MODEL_NAMES}\b"
    r"|\b(?:set|give|assign|rate|score|output|return)\b[^.\n]{0,30}\b(?:confidence|score"
    r"|rating)\s*(?:to|=|:|of|as)?\s*\d"
    r"|\b(?:confidence|score)\s*(?:[:=]|of|to|is)\s*(?:100|1\.0)\b"
    r"|\bauto[- ]?approve"
    rf"|\b(?:notes?|messages?|instructions?|reminders?) (?:to|for) (?:the |any |all )?"
    rf"{_MODEL_NAMES}s?\b"
    r"|(?:^|[\[(\s])(?:system|assistant)\s*[:\])]\s*(?:you|ignore|set|rate|give|classify"
    r"|treat)\b",
    re.IGNORECASE,
)
# zero-width and bidirectional-control characters: a way to hide words from a word match
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_AMOUNT = re.compile(
    r"(?<![\w.])(\d{1,3}(?:[,.\u00a0\u202f ]\d{3})+|\d+)(?:[.,](\d{1,2}))?(?!\d)\s*([kK])?"
)


@dataclass(frozen=True, slots=True)
class Checked:
    """One job's enrichment with what the independent check made of the same posting."""

    job: JobPosting
    enrichment: Enrichment
    check: Enrichment | None  # None: the independent check could not read the job


def review_reasons(item: Checked, *, company_sector: int | None, max_gap: float) -> tuple[str, ...]:
    """Why this enrichment may not be published on the model's word; empty when it may."""
    job, enrichment, check = item.job, item.enrichment, item.check
    reasons: list[str] = []
    if check is None:
        reasons.append(f"{DISAGREE} (the independent check could not read the job)")
    elif abs(enrichment.confidence - check.confidence) > max_gap:
        reasons.append(
            f"{DISAGREE} (model confidence {enrichment.confidence:.0f}, "
            f"offline check {check.confidence:.0f}, allowed distance {max_gap:g})"
        )
    if not title_related(job.title, enrichment.ai_title, check.ai_title if check else None):
        reasons.append(f"{TITLE_UNRELATED} ({enrichment.ai_title!r} for {job.title!r})")
    missing = salary_not_stated(job, enrichment.salary)
    if missing:
        reasons.append(f"{SALARY_NOT_IN_TEXT} ({missing})")
    if company_sector is not None and enrichment.sector_id != company_sector:
        reasons.append(
            f"{SECTOR_INCONSISTENT} (sector {enrichment.sector_id}, "
            f"their other jobs {company_sector})"
        )
    found = instructions_in(job)
    if found:
        reasons.append(f"{ADDRESSES_MODEL} ({found!r})")
    # the router joins reasons with "; " and appends its own in "[...]": details keep neither
    return tuple(_no_separators(reason) for reason in reasons)


def _no_separators(reason: str) -> str:
    return reason.replace(";", ",").replace("[", "(").replace("]", ")")


def review_batch(
    items: Sequence[Checked],
    *,
    max_gap: float,
    keys: Sequence[str] | None = None,
    known: Sequence[Mapping[str, int | None]] | None = None,
) -> list[tuple[str, ...]]:
    """Review reasons for one feed's jobs; the company evidence pools within them and, with
    `keys` (job hashes) and `known` (per job, the sectors its company's other jobs of the
    feed were given earlier, by job hash), with those too."""
    sectors = company_sectors(items, keys=keys, known=known)
    return [
        review_reasons(item, company_sector=sectors[index], max_gap=max_gap)
        for index, item in enumerate(items)
    ]


def company_sectors(
    items: Sequence[Checked],
    *,
    keys: Sequence[str] | None = None,
    known: Sequence[Mapping[str, int | None]] | None = None,
) -> list[int | None]:
    """Per job: the sector its company's other jobs agree on, when they do (else None).

    A job's own key never counts, so a job enriched again in a later run is not its own
    witness; the batch's answer for a key replaces an earlier one.
    """
    names = keys if keys is not None else [str(index) for index in range(len(items))]
    by_company: dict[str, dict[str, int | None]] = defaultdict(dict)
    for name, item in zip(names, items, strict=True):
        company = company_key(item.job.company_name)
        if company:
            by_company[company][name] = item.enrichment.sector_id
    agreed: list[int | None] = []
    for index, (name, item) in enumerate(zip(names, items, strict=True)):
        company = company_key(item.job.company_name)
        if not company:
            agreed.append(None)
            continue
        pooled = {**(known[index] if known else {}), **by_company[company]}
        pooled.pop(name, None)
        agreed.append(_agreed_sector(Counter(pooled.values())))
    return agreed


def _agreed_sector(others: Counter[int | None]) -> int | None:
    if not others:
        return None
    sector, count = others.most_common(1)[0]
    share = count / sum(others.values())
    return sector if count >= COMPANY_MIN_JOBS and share >= COMPANY_MIN_SHARE else None


class CompanyMemory:
    """The sectors the model gave each company's recent jobs, per feed: evidence beyond one
    batch (in memory, per process, bounded: the least recently seen companies go first)."""

    def __init__(self, companies: int = 20_000, jobs_per_company: int = 50) -> None:
        self._companies = companies
        self._jobs_per_company = jobs_per_company
        self._sectors: OrderedDict[tuple[int, str], OrderedDict[str, int | None]] = OrderedDict()

    def known(self, feed_id: int, company: str) -> dict[str, int | None]:
        return dict(self._sectors.get((feed_id, company_key(company)), {}))

    def remember(self, feed_id: int, company: str, job_key: str, sector: int | None) -> None:
        name = company_key(company)
        if not name:
            return
        jobs = self._sectors.pop((feed_id, name), None) or OrderedDict()
        jobs.pop(job_key, None)
        jobs[job_key] = sector
        while len(jobs) > self._jobs_per_company:
            jobs.popitem(last=False)
        self._sectors[(feed_id, name)] = jobs
        while len(self._sectors) > self._companies:
            self._sectors.popitem(last=False)


def company_key(name: str) -> str:
    return " ".join(word.lower() for word in _WORD.findall(name))


def _folded(text: str) -> str:
    """Lower case without accents: "Développeur" and "developer" share their stem."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _stems(text: str) -> set[str]:
    words: list[str] = []
    for word in _WORD.findall(_folded(text)):
        words.extend(_ABBREVIATIONS.get(word, word).split())
    return {word[:4] if len(word) > 4 else word for word in words if word not in _FILLER}


def _initials(text: str) -> set[str]:
    """Acronyms the words of a title make ("Registered Nurse" -> "rn")."""
    words = [w for w in _WORD.findall(_folded(text)) if w not in _FILLER]
    return {
        "".join(word[0] for word in words[start:end])
        for start in range(len(words))
        for end in range(start + 2, min(start + 5, len(words)) + 1)
    }


def title_related(original: str, ai_title: str, check_title: str | None = None) -> bool:
    """Whether the AI title shares a word (or an acronym) with the original title, or with
    the title the independent check read from it (which reads common non-English titles)."""
    ai_stems = _stems(ai_title)
    if not _stems(original) or not ai_stems:
        return True  # nothing to compare: an empty title has no meaning to contradict
    for reference in (original, check_title or ""):
        if ai_stems & _stems(reference):
            return True
        acronyms = {w for w in _WORD.findall(_folded(reference)) if 2 <= len(w) <= 5}
        if acronyms & _initials(ai_title):
            return True
    return False


def amounts_in(text: str) -> list[float]:
    """Every amount the text writes: "85,000", "85.000", "85k", "42.50", "$120K"."""
    found: list[float] = []
    for whole, cents, thousands in _AMOUNT.findall(text):
        digits = re.sub(r"\D", "", whole)
        value = float(digits) + (float(f"0.{cents}") if cents else 0.0)
        found.append(value * 1000 if thousands else value)
        if cents and not thousands and len(cents) == 1:
            found.append(float(digits + cents))  # "85.5k"-like misreads stay harmless
    return found


def _stated(value: float, amounts: Iterable[float]) -> bool:
    return any(abs(value - amount) <= max(0.5, value * 0.01) for amount in amounts)


def salary_not_stated(job: JobPosting, salary: Salary | None) -> str:
    """The model's salary figures the posting does not state ("" when all are stated)."""
    if salary is None:
        return ""
    figures = [value for value in (salary.min, salary.max) if value is not None]
    feed = job.salary
    stated = [value for value in ((feed.min, feed.max) if feed else ()) if value is not None]
    amounts = [*stated, *amounts_in(f"{job.title} {job.description_text}")]
    missing = [value for value in figures if not _stated(value, amounts)]
    return ", ".join(f"{value:g}" for value in missing)


def instructions_in(job: JobPosting) -> str:
    """Words in the posting that address a model rather than a job seeker ("" when none)."""
    for text in (job.title, job.company_name, job.description_text):
        match = _INSTRUCTIONS.search(_INVISIBLE.sub("", text))
        if match:
            return match.group(0)[:80]
    return ""


class TrustChecks:
    """Runs the independent check on one feed's jobs and gives each its review reasons."""

    def __init__(
        self, independent: EnrichmentBackend, *, max_gap: float = DEFAULT_MAX_CONFIDENCE_GAP
    ) -> None:
        self._independent = independent
        self._max_gap = max_gap
        self._memory = CompanyMemory()

    async def review(
        self,
        jobs: Sequence[JobPosting],
        enrichments: Sequence[Enrichment],
        *,
        feed: tuple[int, Sequence[str]] | None = None,
    ) -> list[tuple[str, ...]]:
        """`feed`: the jobs' feed id and their hashes; the company evidence then also pools
        what earlier batches of the feed gave the same companies' jobs (and remembers it)."""
        outcomes = await self._independent.enrich(jobs)
        items = [
            Checked(job, enrichment, outcome.enrichment)
            for job, enrichment, outcome in zip(jobs, enrichments, outcomes, strict=True)
        ]
        if feed is None:
            return review_batch(items, max_gap=self._max_gap)
        feed_id, keys = feed
        known = [self._memory.known(feed_id, job.company_name) for job in jobs]
        reasons = review_batch(items, max_gap=self._max_gap, keys=keys, known=known)
        for key, item in zip(keys, items, strict=True):
            self._memory.remember(feed_id, item.job.company_name, key, item.enrichment.sector_id)
        return reasons

    async def aclose(self) -> None:
        await self._independent.aclose()
