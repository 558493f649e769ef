"""A 100k-record feed parses with flat memory: records are released as they are read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from services.ingestor.feeds.model import FeedStats, RawRecord
from services.ingestor.feeds.parse import XmlRecordExtractor
from services.ingestor.feeds.settings import FeedSettings

RECORDS = 100_000
TEMPLATE = (
    "<job><title><![CDATA[Warehouse Associate {i}]]></title><company>Keystone & Co</company>"
    "<city>Reno</city><state>NV</state><date>2025-09-0{d}T10:00:00Z</date>"
    "<description><![CDATA[<p>Pick, pack and ship orders {i}. {pad}</p>]]></description></job>\n"
)


async def generated_feed() -> AsyncIterator[str]:
    yield "<?xml version='1.0'?><source><publisher>Bench</publisher>\n"
    batch: list[str] = []
    for i in range(RECORDS):
        batch.append(TEMPLATE.format(i=i, d=i % 9 + 1, pad="x" * 400))
        if len(batch) == 200:
            yield "".join(batch)
            batch.clear()
    yield "".join(batch) + "</source>"


def resident_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


async def test_hundred_thousand_records_parse_with_flat_memory() -> None:
    extractor = XmlRecordExtractor(FeedSettings(), FeedStats())
    parsed = 0
    samples: list[int] = []
    async for text in generated_feed():
        items = extractor.feed(text)
        parsed += sum(isinstance(item, RawRecord) for item in items)
        if parsed and parsed % 10_000 < 200:
            samples.append(resident_bytes())
    parsed += sum(isinstance(i, RawRecord) for i in extractor.feed("", final=True))
    assert parsed == RECORDS and extractor.incomplete is None
    # the feed is ~55 MB of text; keeping records would grow the process by far more
    assert max(samples) - samples[0] < 20_000_000
