"""Matches a job title to the taxonomy's job functions (exact title index, then rapidfuzz)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz, process

from schemas.taxonomy import JobFunction, Taxonomy
from schemas.taxonomy.build import singular, title_key
from services.enricher.backends.offline import title_groups
from services.enricher.backends.offline.lexicon import GENERIC_HEADS
from services.enricher.backends.offline.titles import match_keys, other_keys
from services.enricher.backends.offline.votes import TitleVotes

FUZZY_CUTOFF = 90.0
HEAD_SCORE = 50.0
GENERIC_SCORE = 60.0  # a title that is only a generic head noun says little
VOTE_SCORE = 40.0  # plus up to 30 for the winning group's share of the votes
_CACHE_SIZE = 65_536


_NONE: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


def _sorted_words(key: str) -> str:
    return " ".join(sorted(key.split()))


# where a title's role ends and what qualifies it begins: "of", "for", a comma, a bracket,
# a dash
_QUALIFIER = re.compile(r"\s+(?:of|for)\s+|\s*[,(]\s*|\s+[-–—]\s+", re.IGNORECASE)
QUALIFIER_PENALTY = 10.0
CLERICAL = "43-"  # SOC major group 43, Office and Administrative Support


@dataclass(frozen=True, slots=True)
class FunctionMatch:
    function: JobFunction
    score: float  # 0-100: how closely the title matched a known title of the function
    matched_title: str
    how: str  # "exact", "fuzzy", "partial", "head noun" or "closest allowed"


class FunctionMatcher:
    """Title -> job function. Exact lookups are O(1); the fuzzy fallback only compares
    against known titles that share the query's head noun (its last word), which keeps
    each miss to a few hundred comparisons instead of ~50,000. A title still unmatched is
    given the occupation its words vote for among the titles that share its head noun."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._functions = taxonomy.functions
        self._exact: dict[str, tuple[int, str]] = {}
        for function in taxonomy.functions.values():
            for title in (*function.titles, singular(function.name), function.name):
                self._exact.setdefault(title_key(title), (function.id, title))
        by_code = {f.code: f for f in taxonomy.functions.values()}
        for key, code in title_groups.load().items():
            if key in self._exact and code in by_code:
                self._exact[key] = (by_code[code].id, self._exact[key][1])
        self._generic = {
            word: (by_code[code].id, by_code[code].name)
            for word, code in GENERIC_HEADS.items()
            if code in by_code
        }
        by_head: dict[str, list[str]] = {}
        for key in self._exact:
            by_head.setdefault(key.rsplit(" ", 1)[-1], []).append(key)
        # token_sort_ratio is the plain ratio of the words sorted: sorted once here, each
        # comparison is the plain ratio
        self._by_head = {
            head: (tuple(keys), tuple(_sorted_words(k) for k in keys))
            for head, keys in by_head.items()
        }
        self._votes = TitleVotes(taxonomy.functions.values())
        self.match = lru_cache(maxsize=_CACHE_SIZE)(self._professional)

    def _professional(self, title: str) -> FunctionMatch | None:
        """An analyst is not a clerk: O*NET lists some analyst titles under clerical
        occupations ("Procurement Analyst" under Procurement Clerks), where SOC's coding
        puts analysts among business, computer or science professionals; such a match
        gives way to the broad analyst occupation. So does a specialist title that only a
        part or the words of the title tied to a clerical occupation ("Housing Program
        Specialist" by its "Program Specialist")."""
        found = self._match(title)
        if found is None or not found.function.code.startswith(CLERICAL):
            return found
        keys = match_keys(title)
        head = singular(keys[0].rsplit(" ", 1)[-1]) if keys else ""
        if head != "analyst" and (head != "specialist" or found.how == "exact"):
            # a specialist title O*NET itself lists as clerical is one ("Payroll
            # Specialist"); one read from part of the title or its words is not
            return found
        broad = self._generic.get(head)
        return self._result(broad, found.score, f"a {head}, not a clerk") if broad else found

    def _match(self, title: str) -> FunctionMatch | None:
        keys = match_keys(title)
        broad = self._generic.get(singular(keys[0])) if keys and " " not in keys[0] else None
        if broad is not None:
            # a bare "Director" or "Analyst" names no specialty: O*NET's one-word alternate
            # titles ("Director" under Producers and Directors) must not pick one
            return self._result(broad, GENERIC_SCORE, "a generic title")
        for rank, key in enumerate(keys):
            found = self._exact.get(key)
            if found is not None:
                return self._result(found, 100.0 - 3 * min(rank, 3), "exact")
        # most titles stop above: the alternatives and translations are only read for the rest
        others = other_keys(title)
        for rank, key in enumerate(others, start=len(keys)):
            found = self._exact.get(key)
            if found is not None:
                return self._result(found, 100.0 - 3 * min(rank, 3), "exact")
        keys = (*keys, *others)
        for key in keys:
            fuzzy = self._fuzzy(key)
            if fuzzy is not None:
                return fuzzy
        if not keys:
            return None
        # an English reading of the title (its translation, its alternatives) votes first
        read = self._part(keys[0]) or self._vote((*others, *keys)) or self._head(keys[0])
        return read or self._before_qualifier(title)

    def _before_qualifier(self, title: str) -> FunctionMatch | None:
        """The role before what qualifies it, when the whole title says nothing known
        ("Managing Director of Travel Insurance", "Nurse (SANE) Emergency Room"): read
        with less confidence, since the qualifier may have changed the occupation."""
        role = _QUALIFIER.split(title, maxsplit=1)[0].strip()
        if not role or role == title.strip():
            return None
        found = self.match(role)
        if found is None:
            return None
        return FunctionMatch(found.function, found.score - QUALIFIER_PENALTY, found.matched_title,
                             f"{found.how}, before its qualifier")  # fmt: skip

    def _vote(self, keys: tuple[str, ...]) -> FunctionMatch | None:
        """The occupation the title's words vote for (see `votes`), from the first key whose
        last word is a known head noun ("big data engineer", not "engineer data lyon")."""
        for key in keys:
            vote = self._votes.vote(key)
            if vote is not None:
                score = VOTE_SCORE + 30.0 * vote.share
                return FunctionMatch(vote.function, score, " ".join(vote.words), "title words")
        return None

    def _part(self, key: str) -> FunctionMatch | None:
        """Longest run of 2+ words that is a known title ("truck driver cdl a")."""
        words = key.split()
        for size in range(len(words) - 1, 1, -1):
            for start in range(len(words) - size + 1):
                found = self._exact.get(" ".join(words[start : start + size]))
                if found is not None:
                    return self._result(found, 60.0 + 30.0 * size / len(words), "partial")
        return None

    def _head(self, key: str) -> FunctionMatch | None:
        """Last resort: the head noun alone, when it is a title ("python developer" ->
        "developer"), or the word before a trailing qualifier ("physician dha"); weak
        evidence, so a low score. A generic head ("analyst") names its broad occupation."""
        words = key.split()
        if len(words) < 2:
            return None
        for word in (words[-1], words[-2]):
            found = (
                self._generic.get(word)
                or self._generic.get(singular(word))
                or self._exact.get(word)
                or self._exact.get(singular(word))
            )
            if found is not None:
                return self._result(found, HEAD_SCORE, "head noun")
        return None

    def _fuzzy(self, key: str) -> FunctionMatch | None:
        head = key.rsplit(" ", 1)[-1]
        keys, sorted_keys = self._by_head.get(head) or self._by_head.get(singular(head), _NONE)
        best = process.extractOne(
            _sorted_words(key), sorted_keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
        )
        if best is None:
            return None
        return self._result(self._exact[keys[best[2]]], float(best[1]), "fuzzy")

    def _result(self, found: tuple[int, str], score: float, how: str) -> FunctionMatch:
        function_id, title = found
        return FunctionMatch(self._functions[function_id], score, title, how)

    def match_among(self, title: str, functions: Iterable[JobFunction]) -> FunctionMatch | None:
        """Best match restricted to some functions (an industry's allowed list)."""
        choices = {title_key(t): (f.id, t) for f in functions for t in (f.name, *f.titles)}
        keys = match_keys(title)
        if not keys or not choices:
            return None
        title_found, score, _ = process.extractOne(
            keys[0], list(choices), scorer=fuzz.token_set_ratio
        )
        return self._result(choices[title_found], float(score), "closest allowed")
