"""The splitter's fast paths find exactly what its plain searches find.

`RecordSplitter` looks for a record's boundary with `_TagSearch` (candidates found by a
one-character search, each tried with the full tag pattern) and opens the next record
through `_next_record` (blank text, then the start tag) before falling back to the junk
scanner. Both exist for speed only: on any text, including soups of tag fragments, CDATA
and comment markers, prefixes, odd cases and non-ASCII names, the segments must be the
ones the plain searches give, in any chunking.
"""

from __future__ import annotations

import random
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingestor.feeds.split import RecordSplitter, Segment, _record_patterns, _TagSearch

NAMES = ("job", "item", "j", "JobPosting", "ßtraße", "vacancy")
PIECES = (
    "<NAME>", "</NAME>", "<NAME ", "</NAME >", "<a:NAME>", "</b:NAME>", ":NAME ", "/NAME>",
    "<NAMEs>", "NAME", "<", ":", "/", " ", ">", "\n", "x", "<x:y:NAME>", "<![CDATA[", "]]>",
    "<!--", "-->", "</ NAME>", "<_n-1.2:NAME/>", "<NAME/>", "ß", "SS", "<T>", "</T>",
    "<root>", "</root>", "&", "<?pi?>", "<!DOCTYPE r>",
)  # fmt: skip


def _soup(rng: random.Random, name: str, size: int) -> str:
    spelled = rng.choice((name, name.upper(), name.title(), name.swapcase()))
    return "".join(rng.choice(PIECES).replace("NAME", spelled) for _ in range(size))


@pytest.mark.parametrize("name", NAMES)
def test_tag_search_finds_what_the_pattern_finds(name: str) -> None:
    _, _, either = _record_patterns(name.lower())
    tags = _TagSearch.of(name.lower(), either)
    rng = random.Random(name)
    for _ in range(150):
        text = _soup(rng, name, 60)
        for at in range(len(text) + 1):
            fast, plain = tags.search(text, at), either.search(text, at)
            assert (fast and (fast.span(), fast.groups())) == (
                plain and (plain.span(), plain.groups())
            ), (text, at)


class _PlainSplitter(RecordSplitter):
    """The splitter with its fast paths off: the junk scanner and the full pattern only."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._tags = _Plain(self._either)  # type: ignore[assignment]
        self._next_record = re.compile(r"(?!)")


class _Plain:
    def __init__(self, either: re.Pattern[str]) -> None:
        self.either = either

    def search(self, buf: str, at: int) -> re.Match[str] | None:
        return self.either.search(buf, at)


Outcome = tuple[list[Segment], str | None, int, str | None]


def _split(splitter: RecordSplitter, text: str, cuts: list[int]) -> Outcome:
    """The segments of `text` fed in pieces cut at `cuts`, and what the splitter concluded."""
    segments: list[Segment] = []
    start = 0
    for cut in sorted(cuts):
        segments += splitter.feed(text[start:cut])
        start = cut
    segments += splitter.feed(text[start:], final=True)
    return segments, splitter.incomplete, splitter.count, splitter.root_name


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(NAMES),
    seed=st.integers(0, 2**32),
    size=st.integers(0, 120),
    cuts=st.lists(st.integers(0, 2_000), max_size=6),
)
def test_segments_are_the_plain_splitters(name: str, seed: int, size: int, cuts: list[int]) -> None:
    rng = random.Random(seed)
    body = _soup(rng, name, size)
    text = rng.choice(("", "<root>\n", "junk <root>")) + body + rng.choice(("", "</root>\n"))
    cuts = [cut for cut in cuts if cut <= len(text)]
    warnings: tuple[list[str], list[str]] = ([], [])
    fast = RecordSplitter(name.lower(), 400, warnings[0].append)
    plain = _PlainSplitter(name.lower(), 400, warnings[1].append)
    assert _split(fast, text, cuts) == _split(plain, text, cuts)
    assert warnings[0] == warnings[1]


def test_an_indeed_feed_splits_into_its_records() -> None:
    records = [
        f"<job><title><![CDATA[Cook {n}]]></title><jobtype>full</jobtype>"
        f"<url><![CDATA[https://jobs.example/{n}]]></url><description><![CDATA[<p>Cook</p>"
        f"<ul><li>meals</li></ul>]]></description></job>"
        for n in range(50)
    ]
    text = "<?xml version='1.0'?>\n<source>\n" + "\n".join(records) + "\n</source>\n"
    splitter = RecordSplitter("job", 10_000, lambda warning: None)
    segments = splitter.feed(text[:700]) + splitter.feed(text[700:], final=True)
    assert [getattr(segment, "text", None) for segment in segments] == records
    assert splitter.incomplete is None


def test_many_false_hits_in_one_record_cost_linear_time() -> None:
    """200,000 ":job " in text (each a place a prefixed tag could start) and the end tag
    far after them: each is tried once, and the search ahead is not repeated per hit."""
    _, _, either = _record_patterns("job")
    tags = _TagSearch.of("job", either)
    text = "<job>" + "x:job " * 200_000 + "</job>"
    started = time.process_time()
    match = tags.search(text, 1)
    assert match is not None and match.start() == len(text) - len("</job>")
    assert time.process_time() - started < 15  # minutes while each hit searched ahead


def test_prefixed_records_split_without_searching_the_buffer_per_record() -> None:
    records = [f"<ns:job><title>T{n}</title><p>a</p><p>b</p></ns:job>" for n in range(20_000)]
    text = "<root xmlns:ns='u'>\n" + "\n".join(records) + "\n</root>\n"
    splitter = RecordSplitter("job", 10_000, lambda warning: None)
    started = time.process_time()
    segments = splitter.feed(text, final=True)
    assert [getattr(segment, "text", None) for segment in segments] == records
    assert time.process_time() - started < 15  # minutes when searched once per record
