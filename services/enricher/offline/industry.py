"""Picks the employer's industry from company-name and description cues, else the function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from schemas.taxonomy import Industry, JobFunction, Taxonomy
from services.enricher.offline.lexicon import INDUSTRY_CUES, SOC_MAJOR_INDUSTRY
from services.enricher.offline.text import PhraseMatcher

COMPANY_WEIGHT = 3
# Generic words that name an industry in a company name ("Acme Health") but, in a
# description, mostly appear in passing ("health insurance", "our platform").
COMPANY_ONLY_CUES: frozenset[str] = frozenset(
    {
        "health", "medical", "insurance", "assurance", "capital", "app", "platform", "store",
        "stores", "agency", "media", "delivery", "technology", "tech", "technologies",
        "finance", "financial", "foundation", "industries", "properties", "energy", "oil",
        "education", "state of", "federal", "government", "school", "schools", "college",
        "university", "marketing", "retail", "consulting", "analytics", "logistics",
        "supply chain", "warehouse", "fitness", "facilities", "personnel", "recruiting",
        "advertising", "software", "healthcare", "health care", "county", "academy",
    }
)  # fmt: skip
MIN_DESCRIPTION_EVIDENCE = 2
HEAD_BONUS = 1  # for the company name's last cue


def _outermost(cues: list[str]) -> list[str]:
    """Drops cues found inside a longer cue ("hospital" in "animal hospital")."""
    return [c for c in cues if not any(c != o and f" {c} " in f" {o} " for o in cues)]


@dataclass(frozen=True, slots=True)
class IndustryChoice:
    industry: Industry
    reasoning: str


class IndustryClassifier:
    """Scores industries by cue phrases; the company name outweighs the description."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        by_name = {i.name.lower(): i for i in taxonomy.industries.values()}
        self._cues = {
            phrase: by_name[label.lower()]
            for phrase, label in INDUSTRY_CUES
            if label.lower() in by_name
        }
        self._order = {phrase: rank for rank, phrase in enumerate(self._cues)}
        self._matcher = PhraseMatcher.of(self._cues)
        self._by_soc = {
            major: by_name[label.lower()]
            for major, label in SOC_MAJOR_INDUSTRY.items()
            if label.lower() in by_name
        }

    def classify(
        self,
        company_words: Sequence[str],
        description_words: Sequence[str],
        function: JobFunction | None,
    ) -> IndustryChoice | None:
        company_cues = _outermost(self._matcher.find(company_words))
        description_cues = [
            c for c in self._matcher.find(description_words) if c not in COMPANY_ONLY_CUES
        ]
        choice = self._from_cues(company_cues, description_cues)
        return choice if choice is not None else self._from_function(function)

    def _from_cues(
        self, company_cues: list[str], description_cues: list[str]
    ) -> IndustryChoice | None:
        scores: dict[int, int] = {}
        for cue in company_cues:
            scores[self._cues[cue].id] = scores.get(self._cues[cue].id, 0) + COMPANY_WEIGHT
        if company_cues:
            # English names are head-final: "Health Insurance Plan" is an insurer,
            # "Apparel Manufacturing" a manufacturer
            head = self._cues[company_cues[-1]].id
            scores[head] += HEAD_BONUS
        for cue in description_cues:
            scores[self._cues[cue].id] = scores.get(self._cues[cue].id, 0) + 1
        if not scores:
            return None
        cues = company_cues + description_cues
        best_id = max(scores, key=lambda i: (scores[i], -self._first_rank(i, cues)))
        if not company_cues and scores[best_id] < MIN_DESCRIPTION_EVIDENCE:
            return None
        return IndustryChoice(self._industry(best_id, cues), self._reason(best_id, cues))

    def _first_rank(self, industry_id: int, cues: list[str]) -> int:
        return min(self._order[c] for c in cues if self._cues[c].id == industry_id)

    def _industry(self, industry_id: int, cues: list[str]) -> Industry:
        return next(self._cues[c] for c in cues if self._cues[c].id == industry_id)

    def _reason(self, industry_id: int, cues: list[str]) -> str:
        matched = [c for c in cues if self._cues[c].id == industry_id][:4]
        listed = ", ".join(f"'{c}'" for c in dict.fromkeys(matched))
        name = self._industry(industry_id, cues).name
        return f"Company name or description mentions {listed}, which points to {name}."

    def _from_function(self, function: JobFunction | None) -> IndustryChoice | None:
        if function is None or not function.code:
            return None
        industry = self._by_soc.get(function.code[:2])
        if industry is None:
            return None
        reason = (
            f"No industry named by the company or description; inferred from the job "
            f"function {function.name}, whose jobs are mostly in {industry.name}."
        )
        return IndustryChoice(industry, reason)
