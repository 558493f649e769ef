"""Turns a feed's raw job title into a clean, standard one (and a key for matching it)."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from schemas.taxonomy.build import title_key
from services.enricher.backends.offline.lexicon import (
    ACRONYMS,
    EMPLOYMENT_TERMS,
    FOREIGN_TITLE_FILLER,
    FOREIGN_TITLE_WORDS,
    FOREIGN_TITLES,
    SENIORITY_WORDS,
    SMALL_WORDS,
    TITLE_ABBREVIATIONS,
    US_STATES,
)
from services.enricher.backends.offline.text import PhraseMatcher, folded

_BRACKETED = re.compile(r"\([^)]*\)?|\[[^\]]*\]?|\{[^}]*\}?")
_SALARY = re.compile(
    r"(?:up to\s*)?[$€£]\s?\d[\d,.]*\s?[kK]?"
    r"(?:\s?(?:-|–|to)\s?[$€£]?\s?\d[\d,.]*\s?[kK]?)?"
    r"(?:\s?(?:/|per|an|a)\s?(?:hr|hour|year|yr|annum|week|wk|month|mo|day))?\+?",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"#\s?[\w-]+|\b(?:req|job|ref|requisition|posting)\s*(?:#|no\.?|id)?\s*:?\s*[a-z]*\d[\w-]*"
    r"|\b[a-z]{0,4}-?\d{3,}[\w/-]*"
    # US federal pay plans and grades: "GS-0905-14", "GS-13", "FPL 14", "FPL GS-13"
    r"|\b(?:fpl\s*)?(?:gs|gg|gm|ad|es|wg|wl|ws|nf|nh|nd|gp|vm)-?\d{1,4}(?:[-/]\d{1,4})*\b"
    r"|\bfpl\s*\d+\b",
    re.IGNORECASE,
)
# gender marks of European titles: "H/F", "F/H/X", "m/f/d"
_GENDER = re.compile(r"\b[hfmwxd](?:\s?/\s?[hfmwxdn]{1,2}){1,2}\b", re.IGNORECASE)
_SEGMENT_SPLIT = re.compile(r"\s+[-–—|:]\s+|\s*\|\s*|\s+[–—]\s*")
_IN_PLACE = re.compile(r"\s+(?:in|near)\s+[A-Z][\w .'-]*,\s*[A-Z]{2}\b.*$")
_CITY_STATE = re.compile(r"^[A-Za-z .'-]+,\s*[A-Z]{2}$")
_ROLE_CITY_STATE = re.compile(r"^(.+?),\s*[A-Za-z .'-]+,\s*[A-Z]{2}$")
_SHIFT = re.compile(
    r"\b(?:1st|2nd|3rd|first|second|third|night|day|overnight|swing|weekend)\s+shifts?\b",
    re.IGNORECASE,
)
_EDGE_PUNCTUATION = " -,;/.:*"
_WORD = re.compile(r"\S+")
# abbreviations whose expansion depends on whether they end the title ("Admin Assistant")
_LAST_WORD_ONLY = {
    "tech": "Technician",
    "admin": "Administrator",
    "eng": "Engineer",
    "dev": "Developer",
    "acct": "Accountant",
}
_INNER_ONLY = {
    "tech": "Tech",
    "admin": "Administrative",
    "eng": "Engineering",
    "dev": "Development",
    "acct": "Account",
}
_MAX_SEGMENTS = 2


@lru_cache(maxsize=65_536)  # feeds repeat titles a lot; the function is pure
def standard_title(raw: str) -> str:
    """Title without location, salary, codes or employment terms; abbreviations expanded."""
    text = " ".join(html.unescape(raw).split())
    text = _BRACKETED.sub(" ", text)
    text = _SALARY.sub(" ", text)
    text = _CODE.sub(" ", text)
    text = _GENDER.sub(" ", text)
    text = _SHIFT.sub(" ", text)
    text = _IN_PLACE.sub("", " ".join(text.split()))
    text = " - ".join(_role_segments(text))
    text = _expand_abbreviations(text)
    return _fix_case(text.strip(_EDGE_PUNCTUATION))


def _role_segments(text: str) -> list[str]:
    segments = [s.strip(_EDGE_PUNCTUATION) for s in _SEGMENT_SPLIT.split(text)]
    kept = [_drop_trailing_place(s) for s in segments if s and not _is_place_or_terms(s)]
    return [s for s in kept if s][:_MAX_SEGMENTS]


def _is_place_or_terms(segment: str) -> bool:
    lowered = segment.lower().strip(" .")
    if lowered in US_STATES or lowered in EMPLOYMENT_TERMS or _CITY_STATE.match(segment):
        return True
    parts = [p.strip() for p in re.split(r"[,/&]| and ", lowered) if p.strip()]
    return bool(parts) and all(p in EMPLOYMENT_TERMS or p in US_STATES for p in parts)


def _drop_trailing_place(segment: str) -> str:
    # "Sales Rep, Chicago, IL" -> "Sales Rep"
    match = _ROLE_CITY_STATE.match(segment)
    return match.group(1).strip(_EDGE_PUNCTUATION) if match else segment


def _expand_abbreviations(text: str) -> str:
    words = _WORD.findall(text)
    return " ".join(_expand(word, i == len(words) - 1) for i, word in enumerate(words))


def _expand(word: str, is_last: bool) -> str:
    bare = word.rstrip(".,").lower()
    if bare in _LAST_WORD_ONLY:
        return _LAST_WORD_ONLY[bare] if is_last else _INNER_ONLY[bare]
    if bare in TITLE_ABBREVIATIONS:
        return TITLE_ABBREVIATIONS[bare]
    return word


def _fix_case(text: str) -> str:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return text
    shouting_or_flat = all(c.isupper() for c in letters) or all(c.islower() for c in letters)
    words = _WORD.findall(text)
    return " ".join(_case_word(w, i, shouting_or_flat) for i, w in enumerate(words))


def _case_word(word: str, position: int, recase: bool) -> str:
    lowered = word.lower()
    if lowered in ACRONYMS and (recase or word.islower()):
        return word.upper()
    if not recase:
        return word
    if position > 0 and lowered in SMALL_WORDS:
        return lowered
    return "-".join(part[:1].upper() + part[1:] for part in lowered.split("-"))


@lru_cache(maxsize=65_536)  # read by the matcher and again for the core title: pure
def match_keys(title: str) -> tuple[str, ...]:
    """Keys to look the title up by, most specific first: whole title, then its first
    segment ("Registered Nurse - ICU" -> "registered nurse"), each also without seniority;
    then the `other_keys`."""
    title = folded(title)
    first_segment = title.split(" - ", 1)[0]
    keys: dict[str, None] = {}
    for text in (title, first_segment):
        keys.update(dict.fromkeys(_plain_and_core(text)))
    # "Director of Nursing" is listed as "Nursing Director": try the inverted form last
    keys.update(dict.fromkeys(inverted for key in list(keys) if (inverted := _invert(key))))
    return tuple(keys)


def other_keys(title: str) -> tuple[str, ...]:
    """Further keys, tried when `match_keys` find nothing: each of the title's alternatives
    ("Engineer/Physical Scientist"), the first word of a hyphenated pair
    ("Attorney-Adviser"), and the English of a French or Finnish title."""
    first_segment = folded(title).split(" - ", 1)[0]
    keys: dict[str, None] = {}
    for alternative in _alternatives(first_segment):
        keys.update(dict.fromkeys(_plain_and_core(alternative)))
    texts = (first_segment, *_alternatives(first_segment), _rejoined(first_segment))
    readings = [found for text in texts if text and (found := _foreign(title_key(text)))]
    if not readings:
        # "Ohjaaja (lähihoitaja)": the occupation in brackets, when the rest says nothing
        readings = [
            found
            for inner in _IN_BRACKETS.findall(folded(title))
            if (found := _foreign(title_key(inner)))
        ]
    if readings:
        # the reading of the longest known title wins ("administrateur systeme et reseaux"
        # over "administrateur"), the first one on a tie
        keys[max(readings, key=lambda r: r[0])[1]] = None
    tried = match_keys(title)
    return tuple(k for k in keys if k not in tried)


def _rejoined(segment: str) -> str:
    """ "Administrateur / Administratrice système" -> "Administrateur système": a gendered
    pair written out, with the words after it belonging to both."""
    parts = [p.strip() for p in segment.split("/")]
    if len(parts) < 2 or " " in parts[0]:
        return ""
    return " ".join([parts[0], *parts[-1].split()[1:]])


def _plain_and_core(text: str) -> list[str]:
    full = title_key(text)
    core = " ".join(w for w in full.split() if w not in SENIORITY_WORDS)
    return [k for k in (full, core) if k]


def _alternatives(segment: str) -> list[str]:
    """ "A/B" -> A, B; "Attorney-Adviser" -> Attorney (the role before its qualifier)."""
    parts = [p.strip() for p in segment.split("/") if p.strip()]
    found = parts if len(parts) > 1 else []
    hyphenated = _HYPHENATED.match(segment)
    if hyphenated:
        found.append(hyphenated.group(1))
    return found


_HYPHENATED = re.compile(r"^(?:\w+ )*?(\w+)-\w+")


def _foreign(key: str) -> tuple[int, str] | None:
    """The English of a French or Finnish title, with the number of words of the known
    title read: the one it starts with, after the words that qualify it ("ingenieur big
    data" -> "big data engineer"), else the longest one it contains."""
    words = key.split()
    found = _FOREIGN.find_at(words)
    if not found:
        return _compound(words)
    opening = [phrase for start, phrase in found if start == 0]
    if not opening:
        longest = max((p for _, p in found), key=len)
        return len(longest.split()), FOREIGN_TITLES[longest]
    size = len(opening[0].split())
    qualifiers = [
        FOREIGN_TITLE_WORDS.get(w, w) for w in words[size:] if w not in FOREIGN_TITLE_FILLER
    ]
    return size, " ".join([*qualifiers, FOREIGN_TITLES[opening[0]]])


_FOREIGN = PhraseMatcher.of(FOREIGN_TITLES)
# Finnish writes a title as one compound whose last part is the occupation
# ("tehdassiivooja", a factory cleaner): the known one-word titles it may end in
_COMPOUND_ENDS = tuple(
    sorted((t for t in FOREIGN_TITLES if " " not in t and len(t) >= 6), key=len, reverse=True)
)


def _compound(words: list[str]) -> tuple[int, str] | None:
    """The English of the first word that is, or ends in, a known one-word title, in its
    Finnish plural or partitive too ("sairaanhoitajat", "myyjiä")."""
    for word in words:
        for form in (word, *_finnish_singulars(word)):
            if form in _ONE_WORD:
                return 1, FOREIGN_TITLES[form]
            if len(form) > 8 and form.endswith(_COMPOUND_ENDS):
                end = next(t for t in _COMPOUND_ENDS if form.endswith(t))
                return 1, FOREIGN_TITLES[end]
    return None


def _finnish_singulars(word: str) -> tuple[str, ...]:
    """The nominative singular a Finnish plural may be: "-t" (hoitajat), partitive "-ia"
    (myyjia, accents folded)."""
    forms: list[str] = []
    if len(word) > 5 and word.endswith("t"):
        forms.append(word[:-1])
    if len(word) > 5 and word.endswith("ia"):
        forms.append(word[:-2] + "a")
    return tuple(forms)


_ONE_WORD = frozenset(t for t in FOREIGN_TITLES if " " not in t)
_IN_BRACKETS = re.compile(r"\(([^()]{3,})\)")


_ROLE_OF = re.compile(
    r"^(director|head|vp|vice president|manager|supervisor|chief) of (?:the )?(.+)$"
)
# a head or vice president of a function is, for classification, its director
_ROLE_AS = {"head": "director", "vp": "director", "vice president": "director"}


def _invert(key: str) -> str | None:
    match = _ROLE_OF.match(key)
    if match is None:
        return None
    role, field = match.groups()
    return f"{field} {_ROLE_AS.get(role, role)}"
