"""CSV and JSON feeds (a JSON array, JSON Lines, or an object wrapping a list) as records.

Records come out as the same flattened ``path -> text`` dicts as XML records, so the
mapping and normalisation steps do not care about the format. Nested JSON objects become
``a/b`` paths; a list of objects contributes its first element.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from services.ingestor.feeds.model import ExtractedItem, FetchError, MalformedItem, RawRecord

_DELIMITERS = ",;\t|"
_WRAPPER_KEYS = ("jobs", "data", "results", "items", "postings", "content", "positions")


def flatten_json(value: Any, prefix: str = "") -> dict[str, str]:
    fields: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            fields.update(flatten_json(item, f"{prefix}{str(key).lower()}"))
            if isinstance(item, dict | list):
                fields.update(flatten_json(item, f"{prefix}{str(key).lower()}/"))
        return fields
    if isinstance(value, list):
        scalars = [
            str(v) for v in value if isinstance(v, str | int | float) and not isinstance(v, bool)
        ]
        if scalars and prefix and not prefix.endswith("/"):
            fields[prefix] = " | ".join(scalars)
        dicts = [v for v in value if isinstance(v, dict)]
        if dicts and prefix.endswith("/"):
            fields.update(flatten_json(dicts[0], prefix))
        return fields
    if value is not None and prefix and not prefix.endswith("/"):
        fields[prefix] = str(value).lower() if isinstance(value, bool) else str(value)
    return fields


@dataclass(slots=True)
class CsvExtractor:
    """Rows to records; the header row names the paths; quoted newlines are kept whole."""

    _buffer: str = ""
    _header: list[str] | None = None
    _delimiter: str = ","
    _count: int = 0
    _line: int = 0

    def feed(self, text: str, *, final: bool = False) -> list[ExtractedItem]:
        self._buffer += text
        complete, self._buffer = _split_complete_rows(self._buffer, final)
        return list(self._rows(complete)) if complete else []

    def _rows(self, text: str) -> Iterator[ExtractedItem]:
        if self._header is None:
            self._delimiter = max(_DELIMITERS, key=text.split("\n", 1)[0].count)
        for row in csv.reader(io.StringIO(text), delimiter=self._delimiter):
            self._line += 1
            if self._header is None:
                self._header = [name.strip().lstrip("\ufeff").lower() for name in row]
            elif any(cell.strip() for cell in row):
                yield self._record(row)

    def _record(self, row: list[str]) -> ExtractedItem:
        self._count += 1
        assert self._header is not None
        if len(row) > len(self._header):
            return MalformedItem(
                self._count, self._line, f"{len(row)} cells, header has {len(self._header)}"
            )
        return RawRecord(self._count, self._line, dict(zip(self._header, row, strict=False)))


def _split_complete_rows(text: str, final: bool) -> tuple[str, str]:
    if final:
        return text, ""
    quotes = 0
    cut = -1
    for index, char in enumerate(text):
        if char == '"':
            quotes += 1
        elif char == "\n" and quotes % 2 == 0:
            cut = index
    return text[: cut + 1], text[cut + 1 :]


@dataclass(slots=True)
class JsonExtractor:
    """Streams JSON arrays and JSON Lines; a single wrapping object is read whole."""

    _buffer: str = ""
    _mode: str = "start"  # start | array | lines | whole
    _count: int = 0
    _line: int = 0
    _decoder: json.JSONDecoder = field(default_factory=json.JSONDecoder)

    def feed(self, text: str, *, final: bool = False) -> list[ExtractedItem]:
        self._buffer += text
        if self._mode == "start":
            self._choose_mode(final)
        if self._mode == "array":
            return self._array_items(final)
        if self._mode == "lines":
            return self._line_items(final)
        return self._whole_items() if final and self._mode == "whole" else []

    def _choose_mode(self, final: bool) -> None:
        stripped = self._buffer.lstrip("\ufeff \t\r\n")
        if stripped.startswith("["):
            self._buffer = stripped[1:]
            self._mode = "array"
        elif "\n" in stripped:
            first = stripped.split("\n", 1)[0]
            self._mode = "lines" if _is_json_object(first) else "whole"
        elif final:
            self._mode = "whole"

    def _array_items(self, final: bool) -> list[ExtractedItem]:
        items: list[ExtractedItem] = []
        while True:
            rest = self._buffer.lstrip(" \t\r\n,")
            if not rest or rest.startswith("]"):
                self._buffer = rest
                return items
            try:
                value, end = self._decoder.raw_decode(rest)
            except json.JSONDecodeError as exc:
                self._buffer = rest
                if final:
                    raise FetchError(
                        "parse", f"broken JSON array after record {self._count}: {exc}"
                    ) from exc
                return items
            self._buffer = rest[end:]
            items.append(self._record(value, None))

    def _line_items(self, final: bool) -> list[ExtractedItem]:
        lines = self._buffer.split("\n")
        self._buffer = "" if final else lines.pop()
        items: list[ExtractedItem] = []
        for line in lines:
            self._line += 1
            if line.strip():
                items.append(self._parse_line(line))
        return items

    def _parse_line(self, line: str) -> ExtractedItem:
        try:
            return self._record(json.loads(line), self._line)
        except json.JSONDecodeError as exc:
            self._count += 1
            return MalformedItem(self._count, self._line, f"invalid JSON: {exc.msg}")

    def _whole_items(self) -> list[ExtractedItem]:
        try:
            document = json.loads(self._buffer)
        except json.JSONDecodeError as exc:
            raise FetchError("parse", f"not a JSON feed: {exc}") from exc
        return [self._record(value, None) for value in _records_in(document)]

    def _record(self, value: Any, line: int | None) -> ExtractedItem:
        self._count += 1
        if not isinstance(value, dict):
            return MalformedItem(
                self._count, line, f"record is a JSON {type(value).__name__}, not an object"
            )
        return RawRecord(self._count, line, flatten_json(value))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def _records_in(document: Any) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(document.get(key), list):
                return list(document[key])
        lists = [
            v for v in document.values() if isinstance(v, list) and v and isinstance(v[0], dict)
        ]
        return lists[0] if lists else [document]
    return []
