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
TIME_LIMIT_S = 60.0  # seconds, not minutes, on a shared and loaded machine


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


class RssWatch:
    """The peak RSS a read adds to the process (Linux resets the peak: /proc/self/clear_refs).

    A test process starts at about 60 MB, so a read adding under `READ_LIMIT_MB` keeps the
    process under `RSS_LIMIT_MB`. Where the peak cannot be reset, the process's own peak is
    held to `RSS_LIMIT_MB`.
    """

    READ_LIMIT_MB = RSS_LIMIT_MB - 60

    def __init__(self) -> None:
        self.resettable = _reset_peak()
        self.start_mb = _status_mb("VmRSS") if self.resettable else 0.0

    def check(self) -> None:
        if self.resettable:
            added = _status_mb("VmHWM") - self.start_mb
            assert added < self.READ_LIMIT_MB, f"the read added {added:.0f} MB of RSS"
        else:
            assert peak_rss_mb() < RSS_LIMIT_MB, f"peak RSS {peak_rss_mb():.0f} MB"


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/self/status")


async def read(source: str | Path, settings: FeedSettings, **mapping: Any) -> Outcome:
    """Everything the reader gives, then checks the time and memory bounds."""
    reader = FeedReader(str(source), mapping=mapping or None, settings=settings)
    titles: list[str] = []
    malformed: list[MalformedItem] = []
    rss = RssWatch()
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
    rss.check()
    return Outcome(titles, malformed, reader.stats, seconds)
