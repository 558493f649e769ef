"""Runs one feed end to end: fetch, decode, extract records, map, normalise, count.

Records already yielded stay yielded when the body later proves truncated; the error is
raised after them and `FeedStats.fetch_status` says "truncated" (or "failed").
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from services.ingestor.feeds.decode import HEAD_BYTES, TextDecoder, detect_encoding
from services.ingestor.feeds.dialects import DIALECTS, FieldPaths, detect_dialect
from services.ingestor.feeds.fetch import fetch_body
from services.ingestor.feeds.mapping import (
    FeedMapping,
    MappingError,
    PathIndex,
    apply_mapping,
    index_fields,
    load_mapping,
    resolve_fields,
)
from services.ingestor.feeds.model import (
    ExtractedItem,
    FeedItem,
    FeedStats,
    FetchError,
    MalformedItem,
    ParsedJob,
    RawRecord,
)
from services.ingestor.feeds.normalise import listing_of, normalise, unescape
from services.ingestor.feeds.parse import XmlRecordExtractor
from services.ingestor.feeds.settings import FeedSettings
from services.ingestor.feeds.tabular import CsvExtractor, JsonExtractor
from services.shared.retry import Sleep

EMPTY_RECORD = "empty record: no title or description"
# the ids, URLs or titles of malformed records a run reports (each keeps its job from the
# archive); beyond them a malformed record counts as unidentified, which holds the archive
MAX_MALFORMED_LISTINGS = 5_000
MAX_LISTING_CHARS = 500


class _TextExtractor(Protocol):
    def feed(self, text: str, *, final: bool = False) -> list[ExtractedItem]: ...


def sniff_format(text: str, declared: str | None) -> str:
    """xml, json or csv from the first characters; an HTML page is a failed fetch."""
    head = text.lstrip("\ufeff \t\r\n").lower()
    if head.startswith(("<!doctype html", "<html")) or (
        head.startswith("<head") and declared != "xml"
    ):
        raise FetchError("html", "the server sent an HTML page, not a feed")
    if declared:
        return declared
    if head.startswith("<") or "<?xml" in head[:200] or _xml_after_preamble(head):
        return "xml"
    if head.startswith(("[", "{")):
        return "json"
    if not head:
        raise FetchError("empty", "the feed body is empty")
    return "csv"


_PREAMBLE_LINES = 3


def _xml_after_preamble(head: str) -> bool:
    """A line or two of prose, then an XML tree: a feed saved from a browser's XML viewer
    ("This XML file does not appear to have any style information...")."""
    lines = head.split("\n", _PREAMBLE_LINES + 1)
    for index, line in enumerate(lines[1 : _PREAMBLE_LINES + 1], start=1):
        stripped = line.lstrip()
        if stripped[:1] == "<" and stripped[1:2].isalpha():
            prose = "\n".join(lines[:index])
            return not any(mark in prose for mark in ",;\t|") and "</" in head
    return False


class FeedReader:
    """Async-iterate to get `FeedItem`s; read `stats` once iteration has ended."""

    def __init__(
        self,
        source_url: str,
        *,
        mapping: Mapping[str, Any] | None,
        settings: FeedSettings,
        now: datetime | None = None,
        sleep: Sleep = asyncio.sleep,  # what it waits between HTTP attempts with
    ) -> None:
        self.source_url = source_url
        self._sleep = sleep
        self.stats = FeedStats()
        self._mapping_error: MappingError | None = None
        try:
            self.mapping: FeedMapping = load_mapping(mapping)
        except MappingError as exc:  # reported as a failed fetch, not raised from here
            self.mapping, self._mapping_error = FeedMapping(), exc
        cap = self.mapping.max_uncompressed_bytes
        if cap:  # this feed's own decompressed-size cap
            settings = dataclasses.replace(settings, max_uncompressed_bytes=cap)
        self.settings = settings
        self.now = now or datetime.now(UTC)
        self.raw_records: list[RawRecord] | None = None  # set by inspect to keep raw fields
        self._fields: FieldPaths | None = None
        self._index: PathIndex | None = None
        self._xml: XmlRecordExtractor | None = None
        self._tabular: CsvExtractor | JsonExtractor | None = None

    def __aiter__(self) -> AsyncIterator[FeedItem]:
        return self._items()

    async def _items(self) -> AsyncIterator[FeedItem]:
        try:
            if self._mapping_error is not None:
                raise FetchError("mapping", f"the feed's mapping is invalid: {self._mapping_error}")
            async for extracted in self._extracted():
                yield self._count(self._to_item(extracted))
        except FetchError as exc:
            self.stats.fetch_status = "truncated" if exc.kind == "truncated" else "failed"
            self.stats.error = str(exc)
            raise
        except Exception as exc:  # the boundary: no failure escapes as anything but an outcome
            error = FetchError("internal", f"reading stopped: {type(exc).__name__}: {exc}")
            self.stats.fetch_status, self.stats.error = "failed", str(error)
            raise error from exc

    async def _extracted(self) -> AsyncIterator[ExtractedItem]:
        chunks = fetch_body(self.source_url, self.settings, self.stats, sleep=self._sleep)
        extractor: _TextExtractor | None = None
        decoder: TextDecoder | None = None
        head = b""
        try:
            async for chunk in chunks:
                if extractor is None:
                    head += chunk
                    if len(head) < HEAD_BYTES:
                        continue
                    decoder, extractor = self._start(head)
                    chunk = head
                assert decoder is not None
                for item in extractor.feed(decoder.decode(chunk)):
                    yield item
            if extractor is None:
                decoder, extractor = self._start(head)
                chunk = head
            else:
                chunk = b""
            assert decoder is not None
            for item in extractor.feed(decoder.decode(chunk, final=True), final=True):
                yield item
            incomplete = self._xml if self._xml is not None else self._tabular
            if incomplete is not None and incomplete.incomplete:
                raise FetchError("truncated", incomplete.incomplete)
        except FetchError:
            for item in self._xml.abort() if self._xml else []:
                yield item
            raise
        finally:
            if decoder is not None:
                self.stats.invalid_bytes = decoder.invalid_bytes

    def _start(self, head: bytes) -> tuple[TextDecoder, _TextExtractor]:
        detected = detect_encoding(head)
        self.stats.encoding = detected.encoding
        if detected.note:
            self.stats.warn(f"{detected.note}: read as {detected.encoding}")
        decoder = TextDecoder(detected.encoding, skip=detected.bom_length)
        preview = head[detected.bom_length :].decode(detected.encoding, errors="replace")
        feed_format = sniff_format(preview, self.mapping.format)
        if feed_format == "xml":
            self._xml = XmlRecordExtractor(
                self.settings, self.stats, record_tag=self.mapping.record_tag
            )
            return decoder, self._xml
        self.stats.dialect = feed_format
        self._fields = resolve_fields(DIALECTS["tabular"], self.mapping)
        self._tabular = (
            CsvExtractor(self.settings, self.stats)
            if feed_format == "csv"
            else JsonExtractor(self.settings, self.stats, list_key=self.mapping.record_tag)
        )
        return decoder, self._tabular

    def _field_paths(self) -> FieldPaths:
        if self._fields is None:
            assert self._xml is not None
            xml = self._xml
            dialect = detect_dialect(xml.root_tag, xml.record_tag, xml.record_namespace)
            self.stats.dialect = self.mapping.dialect or dialect.name
            self._fields = resolve_fields(dialect, self.mapping)
        return self._fields

    def _to_item(self, extracted: ExtractedItem) -> FeedItem:
        position, line = extracted.position, extracted.line
        if isinstance(extracted, MalformedItem):
            if not extracted.salvaged:
                return extracted
            salvaged = self._mapped(RawRecord(position, line, extracted.salvaged))
            return _named(extracted, salvaged)
        if self.raw_records is not None:
            self.raw_records.append(extracted)
        mapped = self._mapped(extracted)
        if not mapped.get("title") and not mapped.get("description"):
            return _named(MalformedItem(position, line, EMPTY_RECORD), mapped)
        try:
            job = normalise(mapped, now=self.now, default_country=self.settings.default_country)
        except ValidationError as exc:
            return _named(MalformedItem(position, line, f"invalid values: {exc}"), mapped)
        except Exception as exc:  # one record's odd value costs that record, never the feed
            reason = f"cannot normalise: {type(exc).__name__}: {exc}"[:500]
            return _named(MalformedItem(position, line, reason), mapped)
        return ParsedJob(position, job)

    def _mapped(self, record: RawRecord) -> dict[str, str]:
        fields = self._field_paths()
        if self._index is None:
            self._index = index_fields(fields)
        return apply_mapping(record, fields, self._index)

    def _count(self, item: FeedItem) -> FeedItem:
        if isinstance(item, ParsedJob):
            self.stats.parsed += 1
            self.stats.closed += item.job.closed_reason is not None
            return item
        self.stats.malformed += 1
        if len(self.stats.malformed_samples) < self.settings.max_malformed_samples:
            self.stats.malformed_samples.append(item)
        self._note_listing(item)
        return item

    def _note_listing(self, item: MalformedItem) -> None:
        """Remembers what names the job of a malformed record, so the run's archive keeps
        it; one that cannot be identified (an empty shell aside) is counted instead."""
        stats = self.stats
        kept = len(stats.malformed_listings) + len(stats.malformed_titles)
        name = item.listing or item.title
        if name is None or len(name) > MAX_LISTING_CHARS or kept >= MAX_MALFORMED_LISTINGS:
            if name is not None or item.reason != EMPTY_RECORD:  # an empty shell is no job
                stats.malformed_unidentified += 1
        elif item.listing is not None:
            stats.malformed_listings.append(item.listing)
        else:
            stats.malformed_titles.append(name)


def _named(item: MalformedItem, mapped: Mapping[str, str]) -> MalformedItem:
    """The malformed record with what still names its job (its mapped fields as read)."""
    title = unescape(mapped.get("title")) or None
    return dataclasses.replace(item, listing=listing_of(mapped), title=title)
