"""The offline enrichment backend: deterministic, local enrichment from the taxonomy and profile."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.profile import AudienceProfile, load_profile
from schemas.records import Enrichment, JobPosting, Salary
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.base import EnrichmentOutcome
from services.enricher.backends.offline import writing
from services.enricher.backends.offline.employer import employer_text
from services.enricher.backends.offline.industry import (
    EmployerEvidence,
    IndustryChoice,
    IndustryClassifier,
)
from services.enricher.backends.offline.matcher import FunctionMatch, FunctionMatcher
from services.enricher.backends.offline.salary import salary_from_text
from services.enricher.backends.offline.scoring import ConfidenceScorer, Evidence, Scorecard
from services.enricher.backends.offline.text import description_of, sentences, tokens
from services.enricher.backends.offline.titles import match_keys, standard_title

# bump when this backend's algorithm or lexicons change: cached enrichments are then redone
ALGORITHM_VERSION = "9"
_YIELD_EVERY = 64  # jobs between yields, so a large batch does not starve the event loop


@dataclass(frozen=True, slots=True)
class _Draft:
    """A job read before its industry is chosen."""

    ai_title: str
    description: str
    description_sentences: list[str]
    description_words: Sequence[str]
    match: FunctionMatch | None
    employer: EmployerEvidence


@dataclass(frozen=True, slots=True)
class _Reading:
    """What the backend read from one job before writing the enrichment."""

    ai_title: str
    description: str
    description_sentences: list[str]
    description_words: Sequence[str]
    title_words: list[str]
    match: FunctionMatch | None
    industry: IndustryChoice | None


class OfflineBackend:
    """Implements `EnrichmentBackend` with no network: same job in, same enrichment out."""

    def __init__(
        self, taxonomy: Taxonomy | None = None, profile: AudienceProfile | None = None
    ) -> None:
        self._taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        self._profile = profile if profile is not None else load_profile()
        self._matcher = FunctionMatcher(self._taxonomy)
        self._industries = IndustryClassifier(self._taxonomy)
        self._scorer = ConfidenceScorer(self._profile)
        self._skills = writing.SkillFinder()

    @property
    def version(self) -> str:
        return f"offline-{ALGORITHM_VERSION}+{self._taxonomy.version}+{self._profile.version}"

    async def enrich(self, jobs: Sequence[JobPosting]) -> list[EnrichmentOutcome]:
        """Each job on its own evidence: a job's enrichment never depends on its batch-mates,
        so a replay, a rebalance or another batch size gives the same tables."""
        outcomes: list[EnrichmentOutcome] = []
        for position, job in enumerate(jobs, start=1):
            outcomes.append(self._outcome(job))
            if position % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return outcomes

    async def aclose(self) -> None:
        return None

    def _outcome(self, job: JobPosting) -> EnrichmentOutcome:
        try:
            return EnrichmentOutcome(enrichment=self.enrich_one(job))
        except Exception as exc:  # one bad job must not fail its batch
            return EnrichmentOutcome(enrichment=None, error=f"offline enrichment failed: {exc!r}")

    def enrich_one(self, job: JobPosting) -> Enrichment:
        draft = self._draft(job)
        reading = self._read(draft)
        salary = _salary(job, reading.description)
        scorecard = self._scorer.score(
            Evidence(
                title_words=reading.title_words,
                description=reading.description,
                description_words=reading.description_words,
                first_sentence=next(iter(reading.description_sentences), ""),
            )
        )
        return self._compose(job, reading, salary, scorecard)

    def _draft(self, job: JobPosting) -> _Draft:
        ai_title = standard_title(job.title)
        description = description_of(job.description_html)
        description_sentences = sentences(description)
        text = employer_text(job.company_name, description_sentences, job.title)
        match = self._matcher.match(ai_title) if ai_title else None
        if match is None and job.title != ai_title:
            # the standard title drops brackets, which may hold the occupation itself
            # ("Ohjaaja (lähihoitaja)"): the title as written is read for it
            match = self._matcher.match(job.title)
        employer = self._industries.evidence(text, match.function if match else None)
        return _Draft(
            ai_title, description, description_sentences, text.description_words, match, employer
        )

    def _read(self, draft: _Draft) -> _Reading:
        match = draft.match
        industry = self._industries.classify(draft.employer)
        if match is not None and industry is not None:
            match = self._allowed_match(draft.ai_title, match, industry)
        return _Reading(
            ai_title=draft.ai_title,
            description=draft.description,
            description_sentences=draft.description_sentences,
            description_words=draft.description_words,
            title_words=tokens(draft.ai_title),
            match=match,
            industry=industry,
        )

    def _allowed_match(
        self, ai_title: str, match: FunctionMatch, industry: IndustryChoice
    ) -> FunctionMatch | None:
        industry_id = industry.industry.id
        if self._taxonomy.is_function_allowed(industry_id, match.function.id):
            return match
        allowed = self._taxonomy.functions_for(industry_id)
        return self._matcher.match_among(ai_title, allowed)

    def _compose(
        self, job: JobPosting, reading: _Reading, salary: Salary | None, scorecard: Scorecard
    ) -> Enrichment:
        function = reading.match.function if reading.match else None
        industry = reading.industry.industry if reading.industry else None
        skills = self._skills.find(
            reading.title_words, reading.description_words, reading.description
        )
        core_title = _core_title(reading.ai_title)
        tags = writing.tags(_segment_name(scorecard), industry, job, skills)
        terms = writing.search_terms(reading.ai_title, core_title, function, skills, job)
        return Enrichment(
            ai_title=reading.ai_title,
            ai_description=writing.summary(
                reading.ai_title, job, reading.description_sentences, salary
            ),
            tasks=tuple(writing.tasks(reading.description_sentences, function)),
            search_terms=tuple(terms),
            tags=tuple(tags),
            skills=tuple(skills),
            salary=salary,
            sector_id=industry.sector_id if industry else None,
            industry_group_id=industry.group_id if industry else None,
            industry_id=industry.id if industry else None,
            industry_reasoning=reading.industry.reasoning if reading.industry else _NO_INDUSTRY,
            sector=self._sector_name(industry.sector_id if industry else None),
            industry_group=self._group_name(industry.group_id if industry else None),
            industry=industry.name if industry else "",
            job_function=function.name if function else "",
            confidence=scorecard.confidence,
            confidence_reasons=(*scorecard.reasons, _function_reason(reading)),
            job_function_id=function.id if function else None,
            job_function_reasoning=_function_reason(reading),
            searchable_text=writing.searchable_text(
                [reading.ai_title, *tags, *terms, *skills, function.name if function else ""]
            ),
        )

    def _sector_name(self, sector_id: int | None) -> str:
        sector = self._taxonomy.sector(sector_id)
        return sector.name if sector else ""

    def _group_name(self, group_id: int | None) -> str:
        group = self._taxonomy.industry_group(group_id)
        return group.name if group else ""


_NO_INDUSTRY = "Neither the company name, the description nor the job function names an industry."


def _salary(job: JobPosting, description: str) -> Salary | None:
    given = job.salary
    if given is not None and (given.min is not None or given.max is not None):
        return given
    return salary_from_text(f"{job.title}\n{description}")


def _segment_name(scorecard: Scorecard) -> str | None:
    fit = scorecard.fit
    return fit.segment.name if fit.segment and fit.level in ("strong", "adjacent") else None


def _core_title(ai_title: str) -> str:
    keys = match_keys(ai_title)
    if not keys:
        return ""
    first_segment = ai_title.split(" - ", 1)[0]
    return first_segment if len(keys) == 1 else _title_case_key(keys[-1], first_segment)


def _title_case_key(key: str, original: str) -> str:
    # reuse the original words' casing where the key kept them
    by_lower = {w.lower(): w for w in original.split()}
    return " ".join(by_lower.get(w, w.capitalize()) for w in key.split())


def _function_reason(reading: _Reading) -> str:
    match = reading.match
    if match is None:
        shown = reading.ai_title or "(no title)"
        return f"Job function unknown: no occupation title resembles '{shown}'."
    return (
        f"Job function {match.function.name} ({match.function.code}): title matches "
        f"'{match.matched_title}' ({match.how}, {match.score:.0f}/100)."
    )
