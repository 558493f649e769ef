"""Finds what a job posting says about its employer: the name, and the sentences where the
employer describes itself ("We are a leading insurer…", "Acme Bank is…", "Notre société…")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.enricher.offline.industry import EmployerText
from services.enricher.offline.text import folded, tokens

# Openings of a self-description in English, French and Finnish (lowercase, accents folded).
_SELF_DESCRIPTION = re.compile(
    r"\b(?:we are|we're|we’re|our (?:company|firm|group|organi[sz]ation|bank|hospital|agency|"
    r"client|mission)|the company|about us|who we are|(?:is|are) (?:a|an|the) (?:leading|"
    r"global|national|regional|local|family|independent|fast)|is (?:a|an) |leading provider|"
    r"leader in|founded|headquartered|established in|"
    r"nous sommes|notre (?:societe|entreprise|groupe|structure|cabinet|agence|client|"
    r"collectivite|commune|etablissement)|qui sommes|a propos|specialise|leader|acteur|"
    r"filiale|est une? |olemme|yrityksemme)"
)
_MAX_SENTENCES = 60  # self-descriptions open or close a posting; long ones are cut here
# words of company names that say nothing of who the company is
_NAME_NOISE = frozenset(
    {"the", "inc", "llc", "ltd", "group", "company", "co", "corp", "oy", "ab", "sa", "sas",
     "and", "of", "de", "la", "le", "les", "des", "du"}
)  # fmt: skip


def employer_text(
    company: str, sentences: Sequence[str], description_words: Sequence[str]
) -> EmployerText:
    """The company's name words, its self-describing sentences' words, and the rest."""
    name_words = tokens(company)
    own = _own_name_word(name_words)
    named = re.compile(rf"\b{re.escape(own)}\b") if own else None
    about: list[str] = []
    for sentence in sentences[:_MAX_SENTENCES]:
        lowered = folded(sentence.lower())
        if _SELF_DESCRIPTION.search(lowered) or (named and named.search(lowered)):
            about.extend(tokens(sentence))
    return EmployerText(name_words, about, description_words)


def _own_name_word(name_words: Sequence[str]) -> str:
    """The company's first distinctive name word ("Acme" in "The Acme Group"), if any."""
    return next((w for w in name_words if len(w) > 2 and w not in _NAME_NOISE), "")
