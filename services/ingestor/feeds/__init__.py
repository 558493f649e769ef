"""Feed reading for the ingestor: the API the Kafka shell and `jobstream inspect` call.

    reader = FeedReader(url, mapping=mapping, settings=FeedSettings())
    async for item in reader:            # ParsedJob | MalformedItem, in feed order
        ...
    reader.stats                          # FeedStats, final after the loop (also on error)

`read_feed` is the same as a plain async generator that fills a caller-owned `FeedStats`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.records import JobPosting
from services.ingestor.feeds.mapping import MappingError, load_mapping
from services.ingestor.feeds.model import (
    FeedItem,
    FeedStats,
    FetchError,
    MalformedItem,
    ParsedJob,
    RawRecord,
)
from services.ingestor.feeds.reader import FeedReader
from services.ingestor.feeds.settings import FeedSettings

__all__ = [
    "FeedInspection",
    "FeedItem",
    "FeedReader",
    "FeedSettings",
    "FeedStats",
    "FetchError",
    "InspectedRecord",
    "MalformedItem",
    "MappingError",
    "ParsedJob",
    "inspect_feed",
    "inspect_feed_async",
    "load_mapping",
    "read_feed",
]


async def read_feed(
    source_url: str,
    *,
    mapping: Mapping[str, Any] | None,
    settings: FeedSettings,
    stats: FeedStats | None = None,
) -> AsyncIterator[FeedItem]:
    """Yield the feed's items; `stats`, when given, is updated in place as reading goes."""
    reader = FeedReader(source_url, mapping=mapping, settings=settings)
    if stats is not None:
        reader.stats = stats
    async for item in reader:
        yield item


@dataclass(frozen=True, slots=True)
class InspectedRecord:
    position: int
    raw: dict[str, str]
    job: JobPosting


@dataclass(slots=True)
class FeedInspection:
    """What `jobstream inspect` prints: mapped records and skipped ones with reasons."""

    records: list[InspectedRecord] = field(default_factory=list)
    skipped: list[MalformedItem] = field(default_factory=list)
    stats: FeedStats = field(default_factory=FeedStats)


async def inspect_feed_async(
    source: str,
    *,
    mapping: Mapping[str, Any] | None = None,
    settings: FeedSettings | None = None,
    limit: int | None = None,
) -> FeedInspection:
    """Parse only: up to `limit` records with their raw fields; every skip is listed."""
    reader = FeedReader(source, mapping=mapping, settings=settings or FeedSettings())
    reader.raw_records = []
    inspection = FeedInspection(stats=reader.stats)
    raw_by_position: dict[int, RawRecord] = {}
    try:
        async for item in reader:
            raw_by_position.update((r.position, r) for r in reader.raw_records)
            reader.raw_records.clear()
            _collect(inspection, item, raw_by_position, limit)
    except FetchError:
        pass  # the stats carry the error; inspect shows what was read before it
    return inspection


def _collect(
    inspection: FeedInspection, item: FeedItem, raw: dict[int, RawRecord], limit: int | None
) -> None:
    if isinstance(item, MalformedItem):
        inspection.skipped.append(item)
    elif limit is None or len(inspection.records) < limit:
        fields = raw.pop(item.position).fields if item.position in raw else {}
        inspection.records.append(InspectedRecord(item.position, fields, item.job))
    raw.pop(item.position, None)


def inspect_feed(
    source: str,
    *,
    mapping: Mapping[str, Any] | None = None,
    settings: FeedSettings | None = None,
    limit: int | None = None,
) -> FeedInspection:
    """Synchronous `inspect_feed_async` for the CLI (not callable inside a running loop)."""
    return asyncio.run(inspect_feed_async(source, mapping=mapping, settings=settings, limit=limit))
