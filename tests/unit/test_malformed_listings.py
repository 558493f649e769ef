"""A malformed record still names its listing when its external id (else its URL) can be
read: the run reports it, so the archive keeps that job (the record is unreadable, not gone).
A malformed record with content but no readable listing is counted as unidentified, which
holds the archive; an empty shell is neither."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.ingestor.feeds import FeedReader, MalformedItem
from services.ingestor.feeds import reader as reader_module
from services.ingestor.handlers import ingest_finished
from tests.feed_sources import local_settings

NOW = datetime(2025, 9, 10, tzinfo=UTC)


def job(n: int, body: str | None = None) -> str:
    inner = body or f"<title>Baker {n}</title><description>Bread {n}</description>"
    return (
        f"<job><referencenumber>R-{n}</referencenumber><url>https://x.test/{n}</url>{inner}</job>"
    )


def feed(*records: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><source>{"".join(records)}</source>'


async def read(tmp_path: Path, text: str) -> FeedReader:
    path = tmp_path / "feed.xml"
    path.write_text(text, encoding="utf-8")
    reader = FeedReader(str(path), mapping=None, settings=local_settings(), now=NOW)
    async for _ in reader:
        pass
    return reader


async def test_a_record_broken_after_its_id_names_its_listing(tmp_path: Path) -> None:
    broken = job(2, "<title>Porter</title><description>Carry <b>bags</description>")
    reader = await read(tmp_path, feed(job(1), broken, job(3)))
    stats = reader.stats
    assert (stats.parsed, stats.malformed) == (2, 1)
    assert stats.malformed_listings == ["R-2"]
    assert stats.malformed_unidentified == 0
    finished = ingest_finished("run", 7, 2, stats)
    assert finished.malformed_listings == ("R-2",)


async def test_without_an_id_the_url_names_the_listing(tmp_path: Path) -> None:
    broken = "<job><title>Porter</title><url>https://x.test/p</url><description>a<b></job>"
    reader = await read(tmp_path, feed(job(1), broken))
    assert reader.stats.malformed_listings == ["https://x.test/p"]


async def test_a_record_with_an_id_but_no_job_text_names_its_listing(tmp_path: Path) -> None:
    emptied = "<title></title><description> </description>"
    reader = await read(tmp_path, feed(job(1), job(2, emptied)))
    stats = reader.stats
    assert stats.malformed == 1 and stats.malformed_listings == ["R-2"]


async def test_a_broken_record_with_only_a_title_names_it(tmp_path: Path) -> None:
    nameless = "<job><title>Night  Porter</title><description>Carry <b>bags</description></job>"
    reader = await read(tmp_path, feed(job(1), nameless))
    stats = reader.stats
    assert (stats.malformed_listings, stats.malformed_titles) == ([], ["Night  Porter"])
    assert stats.malformed_unidentified == 0
    assert ingest_finished("run", 7, 1, stats).malformed_titles == ("Night  Porter",)


async def test_a_broken_record_naming_nothing_is_unidentified(tmp_path: Path) -> None:
    unnamed = "<job><description>Carry <b>bags</description><city>Reno</city></job>"
    shell = "<job><title> </title></job>"  # nothing job-like: neither kept nor unidentified
    reader = await read(tmp_path, feed(job(1), unnamed, shell, job(3)))
    stats = reader.stats
    assert stats.malformed == 2
    assert (stats.malformed_listings, stats.malformed_titles) == ([], [])
    assert stats.malformed_unidentified == 1
    assert ingest_finished("run", 7, 2, stats).malformed_unidentified == 1


async def test_listings_beyond_the_cap_count_as_unidentified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader_module, "MAX_MALFORMED_LISTINGS", 3)
    broken = [job(n, f"<title>T{n}</title><description>a<b></description>") for n in range(5)]
    reader = await read(tmp_path, feed(job(100), *broken))
    assert reader.stats.malformed_listings == ["R-0", "R-1", "R-2"]
    assert reader.stats.malformed_unidentified == 2


async def test_inspect_shows_the_listing_of_a_malformed_record(tmp_path: Path) -> None:
    broken = job(2, "<title>Porter</title><description>Carry <b>bags</description>")
    path = tmp_path / "feed.xml"
    path.write_text(feed(job(1), broken), encoding="utf-8")
    reader = FeedReader(str(path), mapping=None, settings=local_settings(), now=NOW)
    items = [item async for item in reader]
    (bad,) = [item for item in items if isinstance(item, MalformedItem)]
    assert bad.listing == "R-2"
