"""Pure text helpers: HTML to text, tokens, sentences, and fast phrase lookup."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_TAG_BREAK = re.compile(r"<\s*(?:br|/p|/li|/h[1-6]|/div|li|p)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
# a token never ends in "." "/" or "-" ("driver." -> driver), so none needs stripping
_TOKEN = re.compile(r"[a-z0-9+#&](?:[a-z0-9+#&./-]*[a-z0-9+#&])?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
# no sentence ends at a company's legal form or a title ("Acme Inc. (NASDAQ: ACME) is a…",
# "St. Mary's"): pieces ending so are joined again (rare, so cheaper than a lookbehind each)
_NOT_AN_END = tuple(
    f"{word}."
    for word in ("Inc", "inc", "INC", "Ltd", "ltd", "LTD", "Co", "Corp", "LLC", "Jr", "Sr",
                 "St", "Dr", "Mr", "Ms", "Mrs", "No", "vs")
)  # fmt: skip
_BULLET = re.compile(r"^\s*(?:[-*•·▪◦‣–]|\d{1,2}[.)])\s*")
_SPACES = re.compile(r"[ \t]+")  # within a line: splitlines() breaks at \r, \f and \v


def description_of(html_text: str) -> str:
    """The job's description as plain text, one line per paragraph or list item."""
    if not html_text.strip():
        return ""
    without_scripts = _SCRIPT.sub(" ", html_text)
    with_breaks = _TAG_BREAK.sub("\n", without_scripts)
    return normalise_lines(html.unescape(_TAG.sub(" ", with_breaks)))


def normalise_lines(text: str) -> str:
    # one pass over the whole text, as the spaces pattern never spans a line break
    lines = (line.strip() for line in _SPACES.sub(" ", text).splitlines())
    return "\n".join(line for line in lines if line)


def tokens(text: str) -> list[str]:
    """Lowercase word tokens; possessives and trailing dots dropped ("driver's" -> driver),
    accents folded so French or Finnish words match their plain spelling ("intérim")."""
    found: list[str] = _TOKEN.findall(folded(text.lower().replace("'s ", " ").replace("’s ", " ")))
    return found


def folded(text: str) -> str:
    """Text without accents ("société" -> "societe"); ASCII text is returned as it is."""
    if text.isascii():
        return text
    # accents decompose into a base letter and a mark; dropping what is not ASCII drops the
    # marks (and other non-ASCII signs, which no token pattern matches anyway)
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'"))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def sentences(text: str) -> list[str]:
    """Items and sentences of a description, bullet marks removed, in order."""
    result: list[str] = []
    for item in _items(text):
        pieces = _SENTENCE_END.split(item)
        if len(pieces) > 1:
            pieces = _rejoined(pieces)
        result.extend(s.strip() for s in pieces if s.strip())
    return result


def _rejoined(pieces: list[str]) -> list[str]:
    joined = [pieces[0]]
    for piece in pieces[1:]:
        last = joined[-1]
        if last.endswith(_NOT_AN_END) and _ends_with_word(last):
            joined[-1] = f"{last} {piece}"
        else:
            joined.append(piece)
    return joined


def _ends_with_word(piece: str) -> bool:
    """The abbreviation is a whole word ("Acme Inc.", not "Zinc.")."""
    head = piece[: piece.rfind(".")]
    cut = max(head.rfind(" "), head.rfind("("), head.rfind("\t"))
    return head[cut + 1 :] + "." in _NOT_AN_END


def _items(text: str) -> list[str]:
    """Bullets and paragraphs, re-joining prose that the feed hard-wrapped mid-sentence."""
    items: list[str] = []
    for line in text.splitlines():
        bullet = _BULLET.match(line)
        is_bullet = bullet is not None
        stripped = (line[bullet.end() :] if bullet else line).strip()
        if not stripped:
            continue
        if items and not is_bullet and not items[-1].endswith((".", "!", "?", ":")):
            items[-1] = f"{items[-1]} {stripped}"
        else:
            items.append(stripped)
    return items


def word_count(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True, slots=True)
class PhraseMatcher:
    """Finds known multi-word phrases in a token list in one pass.

    Phrases are indexed by their first token, longest first, so scanning costs one dict
    lookup per token whatever the number of phrases.
    """

    by_first: Mapping[str, tuple[tuple[str, ...], ...]]

    @classmethod
    def of(cls, phrases: Iterable[str]) -> PhraseMatcher:
        index: dict[str, list[tuple[str, ...]]] = {}
        for phrase in dict.fromkeys(phrases):
            words = tuple(tokens(phrase))
            if words:
                index.setdefault(words[0], []).append(words)
        ordered = {k: tuple(sorted(v, key=len, reverse=True)) for k, v in index.items()}
        return cls(ordered)

    def find(self, words: Sequence[str]) -> list[str]:
        """Distinct phrases present in `words`, in order of first appearance."""
        by_first = self.by_first
        # most words start no phrase: one set intersection (in C) finds those that do
        starts = by_first.keys() & set(words)
        if not starts:
            return []
        found: dict[str, None] = {}
        for position, word in enumerate(words):
            if word not in starts:
                continue
            for phrase in by_first[word]:
                if len(phrase) == 1 or tuple(words[position : position + len(phrase)]) == phrase:
                    found[" ".join(phrase)] = None
                    break
        return list(found)

    def find_at(self, words: Sequence[str]) -> list[tuple[int, str]]:
        """Every phrase present in `words` with the position it starts at, in order."""
        by_first = self.by_first
        starts = by_first.keys() & set(words)
        found: list[tuple[int, str]] = []
        if not starts:
            return found
        for position, word in enumerate(words):
            if word not in starts:
                continue
            for phrase in by_first[word]:
                if tuple(words[position : position + len(phrase)]) == phrase:
                    found.append((position, " ".join(phrase)))
                    break
        return found


def positions(words: list[str], word: str) -> list[int]:
    """Where `word` occurs in `words`."""
    found: list[int] = []
    try:
        while True:
            found.append(words.index(word, found[-1] + 1 if found else 0))
    except ValueError:
        return found
