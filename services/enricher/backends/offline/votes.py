"""Job function from the words of a title that no known title matches.

The taxonomy knows each occupation by ~57 titles on average (O*NET's alternate titles:
"Procurement Analyst", "Cloud Architect", ...). A title none of them equals still shares
words with them: each word of the query votes for the occupations whose titles use it, in
proportion to how many of them do, weighted by how rare the word is among all titles (so
"data" says more than "senior"). The head noun (the last word: "engineer" in "big data
engineer") counts more than its modifiers. Votes are summed per SOC major group first, since
a word spread over many related occupations ("business ... specialist") still speaks for
their group, and the best occupation of the winning group is the answer.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas.taxonomy import JobFunction
from schemas.taxonomy.build import singular, title_key

HEAD_WEIGHT = 2.5  # the head noun's vote, against 1 for a modifier
MAX_WEIGHT = 6.0  # a rare word's weight is capped: rarity alone is not relevance
# words of titles that say nothing of the occupation
_FILLER = frozenset(
    {"and", "of", "the", "for", "in", "to", "a", "an", "or", "with", "at", "on", "&", "i",
     "ii", "iii", "iv", "senior", "sr", "junior", "jr", "lead", "principal", "staff",
     "trainee", "intern", "apprentice", "entry", "level", "all", "other", "except",
     "supervisory", "acting"}
)  # fmt: skip


def word_form(word: str) -> str:
    """One form for singular and plural ("nurses" -> "nurse", "technologies" -> "technology")."""
    if len(word) <= 3 or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("men"):
        return word[:-3] + "man"
    return word[:-1] if word.endswith("s") else word


def title_words(key: str) -> list[str]:
    """The meaningful words of a title key, in order, in their one form."""
    return [word_form(w) for w in key.split() if w not in _FILLER]


def _rarity(counts: Counter[int], titles: int) -> float:
    """How much a word says: the log of how rare it is among titles, capped."""
    return min(math.log(titles / sum(counts.values())), MAX_WEIGHT)


def _shares(counts: Counter[int], weight: float) -> dict[int, float]:
    """`weight` split between occupations in proportion to their titles using the word."""
    total = sum(counts.values())
    return {function_id: weight * n / total for function_id, n in sorted(counts.items())}


@dataclass(frozen=True, slots=True)
class Vote:
    function: JobFunction
    share: float  # the winning group's share of all votes, 0-1
    words: tuple[str, ...]  # the query words that voted


class TitleVotes:
    """Word -> occupations index over every known title, and the vote over it."""

    def __init__(self, functions: Iterable[JobFunction]) -> None:
        self._functions = {f.id: f for f in functions}
        uses: dict[str, Counter[int]] = defaultdict(Counter)
        heads: dict[str, Counter[int]] = defaultdict(Counter)
        titles = 0
        for function in self._functions.values():
            for title in dict.fromkeys((singular(function.name), *function.titles)):
                words = title_words(title_key(title))
                if not words:
                    continue
                titles += 1
                heads[words[-1]][function.id] += 1
                for word in set(words):
                    uses[word][function.id] += 1
        # each word's vote per occupation, weighted once here rather than per query
        self._uses = {
            word: _shares(counts, _rarity(counts, titles)) for word, counts in uses.items()
        }
        self._heads = {word: _shares(counts, HEAD_WEIGHT) for word, counts in heads.items()}

    def vote(self, key: str) -> Vote | None:
        """The occupation whose titles end in the key's last word (its head noun) and share
        most of its other words; None when no known title ends in that word."""
        words = title_words(key)
        head = words[-1] if words else ""
        by_head = self._heads.get(head)
        if by_head is None:
            return None
        by_function = dict(by_head)
        voters = [head]
        for word in dict.fromkeys(words):
            shares = self._uses.get(word) if word != head else None
            among = [(f, v) for f, v in shares.items() if f in by_head] if shares else []
            if among:
                voters.append(word)
                for function_id, vote in among:
                    by_function[function_id] += vote
        return self._winner(by_function, tuple(voters))

    def _winner(self, by_function: Mapping[int, float], words: tuple[str, ...]) -> Vote:
        by_group: dict[str, float] = defaultdict(float)
        for function_id, score in by_function.items():
            by_group[self._functions[function_id].code[:2]] += score
        total = sum(by_group.values())
        group = min(by_group, key=lambda g: (-by_group[g], g))
        share = by_group[group] / total if total else 0.0
        in_group = [f for f in by_function if self._functions[f].code[:2] == group]
        best = min(in_group, key=lambda f: (-by_function[f], f))
        return Vote(self._functions[best], share, words)
