"""XML repair gives the same text whatever the chunking of the stream."""

from __future__ import annotations

import random
from pathlib import Path

from services.ingestor.feeds.repair import XmlRepairer

FEEDS = Path(__file__).parents[1] / "data" / "feeds"
EXAMPLE = Path(__file__).parents[2] / "examples" / "feeds" / "sample-feed.xml"


def repaired(text: str, sizes: list[int]) -> str:
    repairer = XmlRepairer()
    out, at = [], 0
    for size in sizes:
        out.append(repairer.feed(text[at : at + size]))
        at += size
    out.append(repairer.feed(text[at:], final=True))
    return "".join(out)


def test_chunk_boundaries_do_not_change_the_repair() -> None:
    rng = random.Random(7)
    for path in (EXAMPLE, FEEDS / "entity-bomb.xml", FEEDS / "faults.xml", FEEDS / "rss.xml"):
        text = path.read_text(encoding="latin-1")
        whole = repaired(text, [])
        assert repaired(text, [1] * len(text)) == whole
        assert repaired(text, [rng.randint(1, 40) for _ in range(len(text) // 10)]) == whole


def test_what_the_repair_changes() -> None:
    text = '<?xml version="1.0"?><a>AT&T &nbsp;&amp;&#1;<![CDATA[x & y]]><!-- & --></a>'
    assert repaired(text, []) == "<a>AT&#38;T &#160;&#38;<![CDATA[x & y]]><!-- & --></a>"
