"""Finds what a job posting says about its employer: the name, and the sentences where the
employer describes itself ("We are a leading insurer…", "Acme Bank is…", "Notre société…")."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from services.enricher.backends.offline.industry import EmployerText
from services.enricher.backends.offline.text import PhraseMatcher, positions, tokens

# Openings of a self-description in English, French and Finnish, as tokens (lowercase,
# accents folded, apostrophes split: "we're" -> "we re"). None starts with a word as common
# as "is" or "the", which would make the scan slow; "Acme is a…" is found by the name.
_SELF_DESCRIPTION = PhraseMatcher.of(
    (
        "we are", "we re", "our company", "our firm", "our group", "our organization",
        "our organisation", "our bank", "our hospital", "our agency", "our client",
        "our mission", "about us", "who we are", "leading provider", "leader in", "founded",
        "headquartered", "established in", "nous sommes", "notre societe",
        "notre entreprise", "notre groupe", "notre structure", "notre cabinet",
        "notre agence", "notre client", "notre collectivite", "notre commune",
        "notre etablissement", "qui sommes", "propos", "specialise", "specialisee",
        "leader", "acteur", "filiale", "olemme", "yrityksemme",
    )
)  # fmt: skip
# self-descriptions open or close a posting: only so many sentences at each end are read
_OPENING_SENTENCES = 15
_CLOSING_SENTENCES = 10
# words of company names that say nothing of who the company is
_NAME_NOISE = frozenset(
    {"the", "inc", "llc", "ltd", "group", "company", "co", "corp", "oy", "ab", "sa", "sas",
     "and", "of", "de", "la", "le", "les", "des", "du"}
)  # fmt: skip


def employer_text(company: str, sentences: Sequence[str], title: str = "") -> EmployerText:
    """The company's name words, its self-describing sentences' words, all the words of
    the description (given as its sentences), and the job title."""
    # one tokenizer pass over the whole text, sentences kept apart by a marker word
    words = tokens(_BREAK_JOIN.join(sentences))
    breaks = positions(words, _BREAK)
    name_words = tokens(company)
    own = _own_name_word(name_words)
    last = len(breaks)  # the index of the last sentence
    hits: list[int] = []
    for start, end in _ends(breaks, len(words)):
        hits += [start + at for at, _ in _SELF_DESCRIPTION.find_at(words[start:end])]
        if own:
            hits += [start + at for at in positions(words[start:end], own)]
    about: list[str] = []
    for index in sorted({bisect_left(breaks, hit) for hit in hits}):
        start = breaks[index - 1] + 1 if index else 0
        end = breaks[index] if index < last else len(words)
        about.extend(words[start:end])
    return EmployerText(name_words, about, _without(words, breaks), title)


def _without(words: list[str], breaks: list[int]) -> list[str]:
    """`words` without the sentence-break markers at `breaks` (slices copy in C)."""
    if not breaks:
        return words
    kept = words[: breaks[0]]
    for start, end in zip(breaks, [*breaks[1:], len(words)], strict=True):
        kept += words[start + 1 : end]
    return kept


def _ends(breaks: list[int], length: int) -> list[tuple[int, int]]:
    """Word ranges of the opening and closing sentences (all of them in a short text)."""
    sentences = len(breaks) + 1
    if sentences <= _OPENING_SENTENCES + _CLOSING_SENTENCES:
        return [(0, length)]
    opening_end = breaks[_OPENING_SENTENCES - 1]
    closing_start = breaks[sentences - _CLOSING_SENTENCES - 1] + 1
    return [(0, opening_end), (closing_start, length)]


_BREAK = "zq-sentence-break-qz"  # a token no text has
_BREAK_JOIN = f" {_BREAK} "


def _own_name_word(name_words: Sequence[str]) -> str:
    """The company's first distinctive name word ("Acme" in "The Acme Group"), if any."""
    return next((w for w in name_words if len(w) > 2 and w not in _NAME_NOISE), "")
