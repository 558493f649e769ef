"""Helpers of the adversarial feed corpus: read a feed, measure its time and the process's RSS."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.ingestor.feeds import FeedReader, FeedSettings, FetchError, MalformedItem, ParsedJob
from services.ingestor.feeds.model import FeedStats

RSS_LIMIT_MB = 300
TIME_LIMIT_S = 30.0


@dataclass
class Outcome:
    titles: list[str]
    malformed: list[MalformedItem]
    stats: FeedStats
    seconds: float

    @property
    def reasons(self) -> list[str]:
        return [m.reason for m in self.malformed]


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


async def read(source: str | Path, settings: FeedSettings, **mapping: Any) -> Outcome:
    """Everything the reader gives, then checks the time and memory bounds."""
    reader = FeedReader(str(source), mapping=mapping or None, settings=settings)
    titles: list[str] = []
    malformed: list[MalformedItem] = []
    started = time.monotonic()
    try:
        async for item in reader:
            if isinstance(item, ParsedJob):
                titles.append(item.job.title)
            else:
                malformed.append(item)
    except FetchError:
        pass  # the stats carry it; every test asserts the fetch status
    seconds = time.monotonic() - started
    assert seconds < TIME_LIMIT_S, f"took {seconds:.1f} s"
    assert peak_rss_mb() < RSS_LIMIT_MB, f"peak RSS {peak_rss_mb():.0f} MB"
    return Outcome(titles, malformed, reader.stats, seconds)
