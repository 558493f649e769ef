"""Builds the adversarial XML feeds of the corpus tests, and reads a feed with its cost measured.

Feeds are generated, never stored: big ones (a gigabyte text node, gigabytes of
whitespace) are written as small gzips, streamed, so building them costs little memory.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.ingestor.feeds import FeedItem, FeedReader, MalformedItem, ParsedJob
from services.ingestor.feeds.model import FetchError
from tests.feed_sources import local_settings

NOW = datetime(2025, 9, 10, tzinfo=UTC)
RSS_LIMIT_MB = 300.0
# what one read may add: a fresh test process holds about 60 MB, and the suite's process more
READ_RSS_LIMIT_MB = RSS_LIMIT_MB - 60


def job(n: int, *, description: str | None = None, title: str | None = None) -> str:
    """One Indeed-style record, numbered: its title says which record it is."""
    return (
        f"<job><title><![CDATA[{title or f'Cook {n}'}]]></title>"
        f"<referencenumber>R-{n}</referencenumber><company>Diner &amp; Co</company>"
        f"<city>Austin</city><state>TX</state>"
        f"<description>{description or f'Cook meals, shift {n}.'}</description></job>\n"
    )


def feed(records: Iterable[str], *, root: str = "source", preamble: str = "") -> str:
    body = "".join(records)
    return f'{preamble}<?xml version="1.0" encoding="utf-8"?>\n<{root}>\n{body}</{root}>\n'


def numbered(count: int, faulty: Mapping[int, str] | None = None) -> list[str]:
    """`count` records, the ones in `faulty` (1-based) replaced by the given text."""
    faulty = faulty or {}
    return [faulty.get(n, job(n)) for n in range(1, count + 1)]


def write_gzip(path: Path, pieces: Iterable[bytes | tuple[bytes, int]]) -> Path:
    """One gzip member of the pieces in order; `(block, n)` is the block n times over.

    Each distinct block is deflated once and ended with a full flush (no reference to
    earlier data), so its compressed form can be written n times: a gigabyte costs a
    CRC pass to build, not a minute of compression.
    """
    crc, size = 0, 0
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip header, no name
        for piece in pieces:
            block, times = piece if isinstance(piece, tuple) else (piece, 1)
            squeezer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            deflated = squeezer.compress(block) + squeezer.flush(zlib.Z_FULL_FLUSH)
            for _ in range(times):
                out.write(deflated)
                crc = zlib.crc32(block, crc)
            size += len(block) * times
        out.write(zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS).flush())  # last block
        out.write(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return path


MEBIBYTE = 1024**2


def repeated(block: bytes, total: int) -> tuple[bytes, int]:
    """`total` bytes of `block` over and over, as a write_gzip piece of 16 MiB blocks."""
    unit = block * (16 * MEBIBYTE // len(block))
    assert total % len(unit) == 0
    return unit, total // len(unit)


@dataclass(slots=True)
class Outcome:
    items: list[FeedItem]
    reader: FeedReader
    seconds: float
    added_rss_mb: float  # the peak resident memory while reading, over the start
    error: FetchError | None = None
    titles: list[str] = field(default_factory=list)
    malformed: list[MalformedItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.titles = [i.job.title for i in self.items if isinstance(i, ParsedJob)]
        self.malformed = [i for i in self.items if isinstance(i, MalformedItem)]


def _resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1024**2


class _RssSampler:
    """Samples this process's resident memory every few milliseconds while reading."""

    def __init__(self) -> None:
        self.start = self.peak = _resident_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _resident_mb())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _resident_mb())


async def read_measured(
    source: Path | str, mapping: Mapping[str, Any] | None = None, **settings: Any
) -> Outcome:
    """Reads the feed to its end (a FetchError is kept, not raised), timing it and sampling RSS."""
    reader = FeedReader(str(source), mapping=mapping, settings=local_settings(**settings), now=NOW)
    items: list[FeedItem] = []
    error: FetchError | None = None
    started = time.perf_counter()
    with _RssSampler() as rss:
        try:
            async for item in reader:
                items.append(item)
                await asyncio.sleep(0)
        except FetchError as exc:
            error = exc
    return Outcome(items, reader, time.perf_counter() - started, rss.peak - rss.start, error)


def reasons(outcome: Outcome) -> dict[int, str]:
    return {item.position: item.reason for item in outcome.malformed}
