"""Writes the enrichment's prose and keyword lists from what the job's own text says."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

from schemas.records import EmploymentType, JobPosting, Salary, SalaryPeriod
from schemas.taxonomy import Industry, JobFunction
from schemas.taxonomy.build import singular
from services.enricher.backends.offline.lexicon import ACTION_VERBS, CASE_SENSITIVE_SKILLS, SKILLS
from services.enricher.backends.offline.text import PhraseMatcher, tokens

MAX_SKILLS = 6
MAX_TASKS = 4
MAX_TERMS = 6
MAX_TAGS = 4
MAX_TASK_WORDS = 14
_SUMMARY_SENTENCES = 3
_MIN_SENTENCE, _MAX_SENTENCE = 30, 220
_BOILERPLATE = (
    "equal opportunity", "eoe", "apply", "click", "background check", "drug", "accommodation",
    "disability", "veteran", "e-verify", "http", "www.", "@", "salary", "$", "pay range",
)  # fmt: skip
_BOILERPLATE_FOUND = re.compile("|".join(re.escape(b) for b in _BOILERPLATE))
_EMPLOYMENT_PHRASES = {
    EmploymentType.FULL_TIME: "full-time",
    EmploymentType.PART_TIME: "part-time",
    EmploymentType.CONTRACT: "contract",
    EmploymentType.TEMPORARY: "temporary",
    EmploymentType.INTERNSHIP: "internship",
}
_PERIOD_WORDS = {
    SalaryPeriod.HOURLY: "hour",
    SalaryPeriod.DAILY: "day",
    SalaryPeriod.WEEKLY: "week",
    SalaryPeriod.MONTHLY: "month",
    SalaryPeriod.YEARLY: "year",
}
_CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£"}
# said plainly when the posting is too thin for three sentences of its own
_FILLERS = (
    "The posting gives no further detail about the role.",
    "Schedule and pay were not stated.",
)
_REQUIREMENT_MARKERS = ("a plus", "required", "preferred", "must ")
_FUNCTION_SENTENCE = re.compile(r"(?<=\.)\s+")


class SkillFinder:
    """Known skills named in a title or description, most prominent first."""

    def __init__(self) -> None:
        self._display = {" ".join(tokens(k)): v for k, v in SKILLS.items()}
        self._matcher = PhraseMatcher.of(self._display)

    def find(self, title_words: Sequence[str], words: Sequence[str], raw: str) -> list[str]:
        found = self._matcher.find(title_words) + self._matcher.find(words)
        trusted = [f for f in found if f not in CASE_SENSITIVE_SKILLS or self._display[f] in raw]
        return list(dict.fromkeys(self._display[f] for f in trusted))[:MAX_SKILLS]


def summary(
    ai_title: str,
    job: JobPosting,
    description_sentences: Sequence[str],
    salary: Salary | None,
) -> str:
    """3-5 sentences: who hires for what, up to three of the posting's own informative
    sentences, and the terms (schedule, remote, pay)."""
    # the first few informative sentences: later ones are never read
    firsts = islice(_informative(description_sentences), _SUMMARY_SENTENCES)
    picked = [_as_sentence(s) for s in firsts]
    parts = [p for p in (_opening(ai_title, job), *picked, _terms(job, salary)) if p]
    missing = max(0, 3 - len(parts))
    return " ".join([parts[0], *_FILLERS[:missing], *parts[1:]])


def informative(candidates: Iterable[str]) -> list[str]:
    return list(_informative(candidates))


def _informative(candidates: Iterable[str]) -> Iterator[str]:
    return (s for s in candidates if _MIN_SENTENCE <= len(s) <= _MAX_SENTENCE and _plain(s))


def _plain(sentence: str) -> bool:
    return _BOILERPLATE_FOUND.search(sentence.lower()) is None


def _opening(ai_title: str, job: JobPosting) -> str:
    role = f"{_article(ai_title)} {ai_title}" if ai_title else "a role with no clear title"
    place = _place(job)
    if job.company_name.strip():
        return f"{job.company_name.strip()} is hiring {role}{place}."
    return f"This posting is for {role}{place}."


def _place(job: JobPosting) -> str:
    if not job.locations:
        return ""
    first = job.locations[0]
    named = ", ".join(p for p in (first.city, first.state) if p)
    return f" in {named}" if named else ""


def _terms(job: JobPosting, salary: Salary | None) -> str:
    kind = _EMPLOYMENT_PHRASES.get(job.employment_type, "")
    descriptors = ", ".join(d for d in (kind, "remote" if job.is_remote else "") if d)
    position = f"It is {_article(descriptors)} {descriptors} position" if descriptors else ""
    pay = pay_phrase(salary)
    if position and pay:
        return f"{position} paying {pay}."
    if pay:
        return f"The pay is {pay}."
    return f"{position}." if position else ""


def pay_phrase(salary: Salary | None) -> str:
    if salary is None or (salary.min is None and salary.max is None):
        return ""
    sign = _CURRENCY_SIGNS.get(salary.currency or "", "")
    suffix = "" if sign or not salary.currency else f" {salary.currency}"
    low, high = salary.min or salary.max, salary.max or salary.min
    amount = f"{sign}{low:,.0f}" if low == high else f"{sign}{low:,.0f}-{sign}{high:,.0f}"
    period = _PERIOD_WORDS.get(salary.period) if salary.period else None
    return f"{amount}{suffix}" + (f" per {period}" if period else "")


def tasks(description_sentences: Sequence[str], function: JobFunction | None) -> list[str]:
    """Responsibilities the posting states (sentences starting with a verb), topped up from
    the occupation's standard description."""
    found = [_as_task(s) for s in description_sentences if _is_task(s)]
    if len(found) < 3 and function is not None:
        standard = _FUNCTION_SENTENCE.split(function.description)
        found += [_as_task(s) for s in standard if _is_task(s)]
    return list(dict.fromkeys(t for t in found if t))[:MAX_TASKS]


def search_terms(
    ai_title: str,
    core_title: str,
    function: JobFunction | None,
    skills: Sequence[str],
    job: JobPosting,
) -> list[str]:
    terms = [ai_title, core_title]
    if function is not None:
        terms.append(singular(function.name))
    if core_title:
        terms += [f"{core_title} jobs", f"remote {core_title}" if job.is_remote else ""]
        terms += [f"{skill} {core_title}" for skill in skills[:2]]
    return _distinct(terms)[:MAX_TERMS]


def tags(
    segment_name: str | None, industry: Industry | None, job: JobPosting, skills: Sequence[str]
) -> list[str]:
    values = [
        segment_name or "",
        industry.name if industry else "",
        "Remote" if job.is_remote else "",
        _EMPLOYMENT_PHRASES.get(job.employment_type, "").capitalize(),
        *skills[:2],
    ]
    return _distinct(values)[:MAX_TAGS]


def searchable_text(parts: Iterable[str]) -> str:
    return ", ".join(_distinct(p.lower() for p in parts))


def _distinct(values: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        cleaned = " ".join(value.split())
        if cleaned:
            seen.setdefault(cleaned.lower(), cleaned)
    return list(seen.values())


def _is_task(sentence: str) -> bool:
    """Starts with an action verb and is not a requirement ("Clean record a plus")."""
    first = sentence.split(" ", 1)[0].lower().strip(",.:;")
    starts_with_verb = first in ACTION_VERBS or first.rstrip("s") in ACTION_VERBS
    lowered = sentence.lower()
    return starts_with_verb and not any(m in lowered for m in _REQUIREMENT_MARKERS)


def _as_task(sentence: str) -> str:
    text = sentence.strip().rstrip(".;:!")
    words = text.split()
    if len(words) > MAX_TASK_WORDS:
        # cut at the first clause boundary rather than mid-phrase
        text = " ".join(words[:MAX_TASK_WORDS]).split(",")[0].rsplit(" and ", 1)[0]
    text = text.rstrip(",;: ")
    return text[:1].upper() + text[1:]


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?" else f"{text}."


def _article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"
