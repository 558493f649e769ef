"""Picks the employer's industry from employer evidence, else from what its jobs are.

Evidence, strongest first: the company name (its head word most: "Department of Energy" is a
department, "Apparel Manufacturing" a manufacturer), the sentences in which the employer
describes itself ("we are a leading insurer"), words only an intermediary writes ("our
client", "intérim"), then industry words anywhere in the description. Only with none of it
does the job function stand in. A job is read on its own: pooling a company's jobs within a
batch made a job's sector depend on its batch-mates, so replays and rebalances changed tables.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.taxonomy import Industry, JobFunction, Taxonomy
from services.enricher.backends.offline.lexicon import (
    EMPLOYER_CUES,
    INDUSTRY_CUES,
    INTERMEDIARY_CUES,
    NAME_HEAD_BREAKS,
    NAME_ONLY_CUES,
    SOC_MAJOR_INDUSTRY,
)
from services.enricher.backends.offline.text import PhraseMatcher

NAME_WEIGHT = 3
HEAD_BONUS = 2  # for the cue that heads the company name
ABOUT_WEIGHT = 2  # a cue in a sentence where the employer describes itself
INTERMEDIARY_WEIGHT = 3
BODY_WEIGHT = 1
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
        "advertising", "software", "healthcare", "health care", "county", "academy", "conseil",
    }
)  # fmt: skip
MIN_DESCRIPTION_EVIDENCE = 2
GOVERNMENT = "Government Administration"
# A US federal pay plan with its series or grade in the title ("GS-1530-13", "AD-2210-00",
# "FPL GS-13") is written only for a federal position: the employer is a public body
# whatever its name says ("Institute of Education Sciences" is no school).
FEDERAL_GRADE = re.compile(
    r"\b(?:GS|GG|GM|AD|ES|WG|WL|WS)-\d{1,4}(?:-\d{1,2})?\b|\bFPL:?\s*(?:GS-?)?\d{1,2}\b"
)
FEDERAL_GRADE_WEIGHT = 10  # outweighs any company name


def _outermost(cues: list[str]) -> list[str]:
    """Drops cues found inside a longer cue ("hospital" in "animal hospital")."""
    return [c for c in cues if not any(c != o and f" {c} " in f" {o} " for o in cues)]


@dataclass(frozen=True, slots=True)
class IndustryChoice:
    industry: Industry
    reasoning: str


@dataclass(frozen=True, slots=True)
class EmployerText:
    """The words of one job that speak about its employer."""

    name_words: Sequence[str]
    about_words: Sequence[str]  # the sentences where the employer describes itself
    description_words: Sequence[str]
    title: str = ""  # the job title as written, for the pay plan a public body writes in it


@dataclass(slots=True)
class EmployerEvidence:
    """Industry scores from one job."""

    scores: Counter[int] = field(default_factory=Counter)
    cues: dict[str, None] = field(default_factory=dict)  # in order of weight, then of finding
    strong: bool = False  # the name, a self-description or an intermediary spoke
    functions: Counter[str] = field(default_factory=Counter)  # SOC majors of the jobs

    def add(self, industry_id: int, cue: str, weight: int) -> None:
        self.scores[industry_id] += weight
        self.cues.setdefault(cue, None)


class IndustryClassifier:
    """Scores industries by cue phrases; the company name outweighs the description."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        by_name = {i.name.lower(): i for i in taxonomy.industries.values()}
        self._cues = {
            phrase: by_name[label.lower()]
            for phrase, label in (*EMPLOYER_CUES, *INDUSTRY_CUES)
            if label.lower() in by_name
        }
        self._order = {phrase: rank for rank, phrase in enumerate(self._cues)}
        self._matcher = PhraseMatcher.of(self._cues)
        self._about = PhraseMatcher.of(p for p in self._cues if p not in NAME_ONLY_CUES)
        general = {phrase for phrase, _ in INDUSTRY_CUES} - COMPANY_ONLY_CUES
        self._body = PhraseMatcher.of(
            p for p in self._cues if p in general or p in INTERMEDIARY_CUES
        )
        self._government = by_name.get(GOVERNMENT.lower())
        if self._government is not None:  # a cue read from the title, not matched as a phrase
            self._cues[_FEDERAL_CUE] = self._government
            self._order[_FEDERAL_CUE] = -1
        self._by_soc = {
            major: by_name[label.lower()]
            for major, label in SOC_MAJOR_INDUSTRY.items()
            if label.lower() in by_name
        }

    def evidence(self, text: EmployerText, function: JobFunction | None) -> EmployerEvidence:
        """What one job says about its employer's industry."""
        found = EmployerEvidence()
        self._name_evidence(text.name_words, found)
        if self._government is not None and FEDERAL_GRADE.search(text.title):
            found.add(self._government.id, _FEDERAL_CUE, FEDERAL_GRADE_WEIGHT)
            found.strong = True
        for cue in _outermost(self._about.find(text.about_words)):
            found.add(self._cues[cue].id, cue, ABOUT_WEIGHT)
            found.strong = True
        for cue in self._body.find(text.description_words):
            intermediary = cue in INTERMEDIARY_CUES
            found.add(self._cues[cue].id, cue, INTERMEDIARY_WEIGHT if intermediary else BODY_WEIGHT)
            found.strong = found.strong or intermediary
        if function is not None and function.code:
            found.functions[function.code[:2]] += 1
        return found

    def _name_evidence(self, words: Sequence[str], found: EmployerEvidence) -> None:
        placed = self._matcher.find_at(words)
        cues = _outermost([cue for _, cue in placed])
        if not cues:
            return
        # English names are head-final ("Health Insurance Plan" is an insurer) unless a
        # preposition follows the head ("Department of Energy", "Centre hospitalier de Lyon")
        split = next((i for i, w in enumerate(words) if i and w in NAME_HEAD_BREAKS), len(words))
        before = [cue for start, cue in placed if start < split and cue in cues]
        head = before[-1] if before else cues[-1]
        first_start, first = placed[0]
        if first_start == 0 and self._cues[first].name == GOVERNMENT:
            head = first  # "Government National Mortgage Association" is a public body
        found.add(self._cues[head].id, head, HEAD_BONUS)
        for cue in cues:
            found.add(self._cues[cue].id, cue, NAME_WEIGHT)
        found.strong = True

    def classify(self, evidence: EmployerEvidence) -> IndustryChoice | None:
        choice = self._from_cues(evidence)
        return choice if choice is not None else self._from_functions(evidence.functions)

    def _from_cues(self, evidence: EmployerEvidence) -> IndustryChoice | None:
        scores = evidence.scores
        if not scores:
            return None
        # each industry's cues in order of finding, and its best (lowest) lexicon rank
        by_industry: dict[int, list[str]] = {}
        for cue in evidence.cues:
            by_industry.setdefault(self._cues[cue].id, []).append(cue)
        best_id = max(
            scores, key=lambda i: (scores[i], -min(self._order[c] for c in by_industry[i]))
        )
        if not evidence.strong and scores[best_id] < MIN_DESCRIPTION_EVIDENCE:
            return None
        matched = by_industry[best_id]
        return IndustryChoice(self._cues[matched[0]], _reason(matched, self._cues[matched[0]]))

    def _from_functions(self, functions: Counter[str]) -> IndustryChoice | None:
        if not functions:
            return None
        # the most common group among the company's jobs; ties go to the lower code
        major = min(functions, key=lambda m: (-functions[m], m))
        industry = self._by_soc.get(major)
        if industry is None:
            return None
        reason = (
            f"No industry named by the company or description; inferred from the job "
            f"functions (SOC group {major}), whose jobs are mostly in {industry.name}."
        )
        return IndustryChoice(industry, reason)


_FEDERAL_CUE = "a federal pay grade in the title"


def _reason(matched: list[str], industry: Industry) -> str:
    listed = ", ".join(f"'{c}'" for c in matched[:4])
    return f"Company name or description mentions {listed}, which points to {industry.name}."
