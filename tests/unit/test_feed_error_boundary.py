"""No exception escapes the reader: each failure is a malformed record or a failed fetch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.ingestor.feeds import FeedReader, FeedSettings, FetchError
from services.ingestor.feeds import reader as reader_module
from services.ingestor.feeds.normalise import normalise
from tests.unit.feed_corpus import read

CSV = "title,description\n" + "".join(f"T{i},d\n" for i in range(5))


def feed(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "f.csv"
    path.write_text(text)
    return path


async def test_a_stored_mapping_that_no_longer_loads_fails_the_run(tmp_path: Path) -> None:
    reader = FeedReader(
        str(feed(tmp_path)), mapping={"fields": {"wage": "pay"}},
        settings=FeedSettings(local_dirs=(tmp_path,)),
    )  # fmt: skip
    with pytest.raises(FetchError) as raised:
        _ = [item async for item in reader]
    assert raised.value.kind == "mapping" and "unknown target field 'wage'" in str(raised.value)
    assert reader.stats.fetch_status == "failed"


async def test_a_record_that_breaks_normalisation_is_one_malformed_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fragile(mapped: dict[str, str], **kwargs: Any) -> Any:
        if mapped["title"] == "T2":
            raise ArithmeticError("a value no normaliser expected")
        return normalise(mapped, **kwargs)

    monkeypatch.setattr(reader_module, "normalise", fragile)
    outcome = await read(feed(tmp_path), FeedSettings(local_dirs=(tmp_path,)))
    assert outcome.titles == ["T0", "T1", "T3", "T4"]
    assert outcome.reasons == ["cannot normalise: ArithmeticError: a value no normaliser expected"]
    assert outcome.stats.fetch_status == "ok"


async def test_an_unexpected_error_while_reading_is_a_failed_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> AsyncIterator[bytes]:
        yield CSV.encode()[:30]
        raise MemoryError("the host ran out")

    monkeypatch.setattr(reader_module, "fetch_body", broken)
    reader = FeedReader("https://example.com/f.csv", mapping=None, settings=FeedSettings())
    with pytest.raises(FetchError) as raised:
        _ = [item async for item in reader]
    assert raised.value.kind == "internal" and "MemoryError: the host ran out" in str(raised.value)
    assert reader.stats.fetch_status == "failed"


async def test_a_feed_raises_its_own_decompressed_size_cap(tmp_path: Path) -> None:
    settings = FeedSettings(local_dirs=(tmp_path,), max_uncompressed_bytes=40)
    small = await read(feed(tmp_path), settings)
    assert small.stats.fetch_status == "failed" and "exceeds 40 bytes" in (small.stats.error or "")
    raised = FeedReader(
        str(feed(tmp_path)), mapping={"max_uncompressed_bytes": 10_000}, settings=settings
    )
    titles = [item async for item in raised]
    assert len(titles) == 5 and raised.stats.fetch_status == "ok"
