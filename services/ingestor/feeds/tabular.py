"""CSV and JSON feeds (a JSON array, JSON Lines, or an object wrapping a list) as records.

Records come out as the same flattened ``path -> text`` dicts as XML records, so the
mapping and normalisation steps do not care about the format. Nested JSON objects become
``a/b`` paths; a list of objects contributes its first element.

Both extractors scan each character of new text once (a stray quote or a huge record never
makes them re-read what they hold), keep at most one record's text (`max_record_bytes`),
and turn every bad row, line or element into one `MalformedItem`: the next record is read
as if nothing happened. `incomplete` says, once the feed has ended, whether it ended inside
a record, which makes the fetch `truncated`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from services.ingestor.feeds.model import (
    ExtractedItem,
    FeedStats,
    FetchError,
    MalformedItem,
    RawRecord,
)
from services.ingestor.feeds.settings import FeedSettings

_DELIMITERS = ",;\t|"
_WRAPPER_KEYS = ("jobs", "data", "results", "items", "postings", "content", "positions")
_PARSE_ERRORS = (ValueError, RecursionError)  # JSONDecodeError, too-long int, too deep


_Pending = tuple[dict[Any, Any], str, int]  # an object still to flatten: (it, path, depth)


class TooDeepError(ValueError):
    """A JSON value nested deeper than the depth limit."""


def flatten_json(value: Any, max_depth: int = 64) -> dict[str, str]:
    """``path -> text`` for a JSON object, iteratively (input depth never drives recursion).

    Raises `TooDeepError` past `max_depth` levels.
    """
    fields: dict[str, str] = {}
    stack: list[_Pending] = [(value, "", 1)] if isinstance(value, dict) else []
    while stack:
        node, prefix, depth = stack.pop()
        if depth > max_depth:
            raise TooDeepError(f"nested deeper than {max_depth} levels")
        for key, item in node.items():
            path = f"{prefix}{str(key).lower()}"
            if isinstance(item, dict):
                stack.append((item, f"{path}/", depth + 1))
            elif isinstance(item, list):
                _flatten_list(item, path, fields, stack, depth)
            elif item is not None:
                fields[path] = str(item).lower() if isinstance(item, bool) else str(item)
    return fields


def _flatten_list(
    items: list[Any],
    path: str,
    fields: dict[str, str],
    stack: list[_Pending],
    depth: int,
) -> None:
    scalars = [str(v) for v in items if isinstance(v, str | int | float) and type(v) is not bool]
    if scalars:
        fields[path] = " | ".join(scalars)
    first = next((v for v in items if isinstance(v, dict)), None)
    if first is not None:
        stack.append((first, f"{path}/", depth + 1))


def _cut(value: str, settings: FeedSettings, stats: FeedStats) -> str:
    if len(value) <= settings.max_field_chars:
        return value
    stats.fields_truncated += 1
    return value[: settings.max_field_chars]


# --- CSV -----------------------------------------------------------------------------------

_CSV_SPECIAL = re.compile(r'["\n]')


@dataclass(slots=True)
class CsvExtractor:
    """Rows to records; the header row names the paths; quoted newlines are kept whole.

    A quote opens a quoted field only at the start of a field (as for the csv module), so a
    stray quote inside a field is text. A row whose quote never closes, or which runs past
    `max_record_bytes`, is malformed, and reading resumes at the line after its first.
    """

    settings: FeedSettings
    stats: FeedStats
    incomplete: str | None = None
    _text: str = ""  # from the start of the current row
    _scan: int = 0  # offset in _text scanned so far
    _quoted: bool = False
    _skipping: bool = False  # dropping an oversized unquoted row up to its newline
    _header: list[str] | None = None
    _cells: int = 0  # cells of the last row read
    _delimiter: str = ","
    _count: int = 0
    _line: int = 1  # line of the current row's start

    def __post_init__(self) -> None:
        if csv.field_size_limit() < self.settings.max_record_bytes:
            csv.field_size_limit(self.settings.max_record_bytes)

    def feed(self, text: str, *, final: bool = False) -> list[ExtractedItem]:
        items: list[ExtractedItem] = []
        if self._skipping:
            text = self._skip_rest_of_row(text)
        self._text += text
        items.extend(self._complete_rows())
        if final:
            items.extend(self._last_row())
        elif len(self._text) > self.settings.max_record_bytes:
            items.append(self._oversized_row())
        return items

    def _complete_rows(self) -> Iterator[ExtractedItem]:
        text, start, pos = self._text, 0, self._scan  # start: of the current row
        while True:
            if self._quoted:
                close = text.find('"', pos)
                if close < 0 or close + 1 == len(text):  # a quote at the end may be doubled
                    pos = len(text) if close < 0 else close
                    break
                self._quoted = text[close + 1] == '"'
                pos = close + 2 if self._quoted else close + 1
                if not self._quoted and self._stray_quote(text, start, close):
                    # text after a closing quote that spans lines: the opening quote was
                    # stray and swallowed the rows after it; its row alone is malformed
                    self._count += 1
                    yield MalformedItem(self._count, self._line, "a quote that never closes")
                    start = pos = text.index("\n", start) + 1
                    self._line += 1
                continue
            found = _CSV_SPECIAL.search(text, pos)
            if found is None:
                pos = len(text)
                break
            at = found.start()
            if found.group() == '"':
                self._quoted = at == start or text[at - 1] in (self._delimiter, "\n")
                pos = at + 1
                continue
            item = self._row(text[start : at + 1])
            start = pos = self._next_row(text, start, at + 1, item)
            if item is not None:
                yield item
        self._text, self._scan = text[start:], pos - start

    def _stray_quote(self, text: str, start: int, close: int) -> bool:
        return text[close + 1] not in (self._delimiter, "\n", "\r") and "\n" in text[start:close]

    def _next_row(self, text: str, start: int, end: int, item: ExtractedItem | None) -> int:
        lines = text.count("\n", start, end)
        if isinstance(item, MalformedItem) and lines > 1:
            # a multi-line row that does not fit the header: a stray opening quote swallowed
            # the rows after it; drop only its first line and read the rest again
            self._line += 1
            return text.index("\n", start) + 1
        self._line += lines
        return end

    def _row(self, row_text: str) -> ExtractedItem | None:
        if self._header is None:
            first_line = row_text.split("\n", 1)[0]
            self._delimiter = max(_DELIMITERS, key=first_line.count)
        try:
            cells = next(csv.reader((row_text,), delimiter=self._delimiter), [])
        except csv.Error as exc:
            self._count += 1
            return MalformedItem(self._count, self._line, f"unreadable CSV row: {exc}")
        if self._header is None:
            if any(cell.strip() for cell in cells):
                self._header = [name.strip().lstrip("\ufeff").lower() for name in cells]
            return None
        if not any(cell.strip() for cell in cells):
            return None
        self._cells = len(cells)
        if len(cells) != len(self._header) and "\n" in row_text.rstrip("\r\n"):
            # quoted newlines in a row that does not fit the header: its opening quote was
            # stray and swallowed the rows after it (`_next_row` reads them again)
            self._count += 1
            return MalformedItem(self._count, self._line, "a quote that never closes")
        return self._record(cells)

    def _record(self, cells: list[str]) -> ExtractedItem:
        self._count += 1
        assert self._header is not None
        if len(cells) > len(self._header):
            return MalformedItem(
                self._count, self._line, f"{len(cells)} cells, header has {len(self._header)}"
            )
        values = (_cut(cell, self.settings, self.stats) for cell in cells)
        return RawRecord(self._count, self._line, dict(zip(self._header, values, strict=False)))

    def _oversized_row(self) -> ExtractedItem:
        self._count += 1
        item = MalformedItem(
            self._count, self._line, f"row over {self.settings.max_record_bytes} bytes"
        )
        newline = self._text.find("\n")
        if self._quoted and newline >= 0:  # resume at the line after the row's first
            self._text, self._scan, self._quoted = self._text[newline + 1 :], 0, False
            self._line += 1
        else:
            self._text, self._scan, self._quoted, self._skipping = "", 0, False, True
        return item

    def _skip_rest_of_row(self, text: str) -> str:
        newline = text.find("\n")
        if newline < 0:
            return ""
        self._skipping = False
        self._line += 1
        return text[newline + 1 :]

    def _last_row(self) -> Iterator[ExtractedItem]:
        while self._text.strip() or self._quoted:
            if not self._quoted:
                item = self._row(self._text)
                if item is not None:
                    yield self._checked_last(item)
                self._text, self._scan = "", 0
                return
            # the body ended inside a quoted field: that row is malformed
            self._count += 1
            yield MalformedItem(self._count, self._line, "the quoted field never closes")
            newline = self._text.find("\n")
            if newline < 0 or not self._text[newline + 1 :].strip():
                self.incomplete = f"the CSV ends inside a quoted field (line {self._line})"
                self._text, self._scan, self._quoted = "", 0, False
                return
            self._text, self._scan, self._quoted = self._text[newline + 1 :], 0, False
            self._line += 1
            yield from self._complete_rows()

    def _checked_last(self, item: ExtractedItem) -> ExtractedItem:
        """A last row without its newline and short of cells is a row cut off mid-way."""
        if (
            isinstance(item, RawRecord)
            and self._header is not None
            and not self._text.endswith("\n")
            and self._cells < len(self._header)
        ):
            self.incomplete = f"the CSV ends inside its last row (line {self._line})"
            return MalformedItem(
                item.position, item.line, f"{self._cells} cells, header has "
                f"{len(self._header)}: the row was cut short"
            )  # fmt: skip
        return item


# --- JSON ----------------------------------------------------------------------------------

_SPACE = re.compile(r"[ \t\r\n,]*")
_JSON_STRUCTURE = re.compile(r'[\[\]{}"]')
_JSON_IN_STRING = re.compile(r'["\\]')
_SCALAR_END = re.compile(r"[,\]\s]")
_CLOSES = {"]": "[", "}": "{"}
_NEXT_OBJECT = re.compile(r"\}\s*,\s*(?=\{)")


@dataclass(slots=True)
class _Brackets:
    """Follows strings and brackets across chunks, scanning each character once.

    `scan(text, start)` goes on from where the last call stopped (`done`, relative to
    `start`) and returns the offset after the value that began at `start`, or an event of
    `_WrapperScan`; None means "not in this text yet".
    """

    in_string: bool = False
    escaped: bool = False  # the text ended on a backslash inside a string
    done: int = 0

    def _string_end(self, text: str, pos: int) -> int | None:
        if self.escaped:
            self.escaped, pos = False, pos + 1
        while True:
            found = _JSON_IN_STRING.search(text, pos)
            if found is None:
                return None
            if found.group() == '"':
                self.in_string = False
                return found.end()
            if found.end() == len(text):
                self.escaped = True
                return None
            pos = found.end() + 1


@dataclass(slots=True)
class _ValueEnd(_Brackets):
    openers: list[str] = field(default_factory=list)
    boundary_from: int = 0  # where to look for the next "},{", relative to the element

    def scan(self, text: str, start: int) -> int | None:
        pos = start + self.done
        while True:
            if self.in_string:
                after = self._string_end(text, pos)
                if after is None:
                    self.done = len(text) - start
                    return None
                pos = after
                if not self.openers:
                    return pos - start
                continue
            found = _JSON_STRUCTURE.search(text, pos)
            if found is None:
                self.done = len(text) - start
                return None
            char, pos = found.group(), found.end()
            if char == '"':
                self.in_string = True
            elif char in "[{":
                self.openers.append(char)
            elif self.openers and _CLOSES[char] == self.openers[-1]:
                self.openers.pop()
                if not self.openers:
                    return pos - start
            # a closer that matches no opener is an error inside the value: json says which


@dataclass(slots=True)
class _WrapperScan(_Brackets):
    """Walks an object's top level to the start of its list of jobs, or to its end."""

    list_keys: tuple[str, ...] = _WRAPPER_KEYS
    depth: int = 0
    key_start: int = -1
    key: str = ""

    def scan(self, text: str) -> str | None:
        """ "list" (`done` is just inside it), "end" (`done` is after the object) or None."""
        pos = self.done
        while True:
            if self.in_string:
                after = self._string_end(text, pos)
                if after is None:
                    self.done = len(text)
                    return None
                if self.depth == 1 and self.key_start >= 0:
                    self.key = text[self.key_start : after - 1].lower()
                pos = after
                continue
            found = _JSON_STRUCTURE.search(text, pos)
            if found is None:
                self.done = len(text)
                return None
            char, pos = found.group(), found.end()
            self.done = pos
            if char == '"':
                self.in_string, self.key_start = True, pos
            elif char in "[{":
                self.depth += 1
                if char == "[" and self.depth == 2 and self.key in self.list_keys:
                    return "list"
            else:
                self.depth -= 1
                if self.depth == 0:
                    return "end"

    def closes(self, text: str) -> bool:
        """Whether `text`, what follows the list, closes the object (only depth 1 is left)."""
        self.depth, self.done, self.key_start = 1, 0, -1
        return self.scan(text) == "end"


@dataclass(slots=True)
class JsonExtractor:
    """Streams JSON arrays, JSON Lines and objects wrapping a list of jobs.

    A wrapping object is read as a stream when its list is under one of the usual keys
    (``jobs``, ``data``…); otherwise the object is read whole, up to `max_record_bytes`.
    """

    settings: FeedSettings
    stats: FeedStats
    incomplete: str | None = None
    _text: str = ""
    _mode: str = "start"  # start | array | lines | wrapper | tail | done
    _element: _ValueEnd | None = None  # the element being scanned, when it did not parse
    _skipping: _ValueEnd | None = None  # an oversized element being passed over
    _skip_line: bool = False
    _wrapper: _WrapperScan | None = None
    list_key: str | None = None  # the mapping's "record": the key of the list of jobs
    _count: int = 0
    _line: int = 0
    _decoder: json.JSONDecoder = field(default_factory=json.JSONDecoder)

    def _list_keys(self) -> tuple[str, ...]:
        return (self.list_key, *_WRAPPER_KEYS) if self.list_key else _WRAPPER_KEYS

    def feed(self, text: str, *, final: bool = False) -> list[ExtractedItem]:
        self._text += text
        items: list[ExtractedItem] = []
        if self._mode == "start":
            self._choose_mode(final)
        if self._mode == "wrapper":
            items.extend(self._wrapper_items(final))
        if self._mode == "array":
            items.extend(self._array_items(final))
        if self._mode == "lines":
            items.extend(self._line_items(final))
        if self._mode == "tail":
            self._tail(final)
        if self._mode == "done":
            self._text = ""
        return items

    def _choose_mode(self, final: bool) -> None:
        stripped = self._text.lstrip("\ufeff \t\r\n")
        if stripped.startswith("["):
            self._text, self._mode = stripped[1:], "array"
        elif stripped.startswith("{"):
            # JSON Lines: an object on the first line, and more lines after it
            first, newline, rest = stripped.partition("\n")
            one_line = first.rstrip().endswith("}")
            if one_line and rest.strip():
                self._text, self._mode = stripped, "lines"
            elif (
                (newline and not one_line)
                or final
                or len(stripped) > self.settings.max_record_bytes
            ):
                self._text, self._mode = stripped, "wrapper"
                self._wrapper = _WrapperScan(list_keys=self._list_keys())
        elif stripped:
            raise FetchError("parse", f"not a JSON feed: it starts with {stripped[:20]!r}")

    # a JSON array, or the list inside a wrapper: elements one by one
    def _array_items(self, final: bool) -> Iterator[ExtractedItem]:
        text, pos = self._text, 0
        while True:
            if self._skipping is not None:
                end = self._skipping.scan(text, pos)
                if end is None:
                    pos, self._skipping.done = len(text), 0
                    break
                self._skipping, pos = None, pos + end
            pos = _SPACE.match(text, pos).end()  # type: ignore[union-attr]
            if pos == len(text):
                break
            if text[pos] == "]":
                self._mode, pos = ("tail" if self._wrapper else "done"), pos + 1
                break
            item, end = self._element_at(text, pos, final)
            if item is None or end is None:
                oversized = self._held_too_long(len(text) - pos, final)
                if oversized is not None:
                    yield oversized
                    pos = len(text)
                break
            yield item
            pos = end
        self._text = text[pos:]
        if final and self._mode == "array":
            if self._text.strip():
                self._count += 1
                yield MalformedItem(self._count, None, "the record is cut short")
            self.incomplete = f"the JSON list never closes (after record {self._count})"

    def _element_at(
        self, text: str, pos: int, final: bool
    ) -> tuple[ExtractedItem | None, int | None]:
        if text[pos] not in '{["':
            found = _SCALAR_END.search(text, pos)
            end = found.start() if found else (len(text) if final else None)
            return (None, None) if end is None else (self._parsed(text[pos:end], None), end)
        if self._element is None:
            try:
                value, end = self._decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                broken = self._broken_element(text, pos, exc)
                if broken is not None:
                    return broken
                self._element = _ValueEnd()
            except _PARSE_ERRORS:
                self._element = _ValueEnd()
            else:
                return self._record(value, None), end
        size = self._element.scan(text, pos)
        if size is None:
            return self._retried(text, pos)
        self._element = None
        try:
            value, end = self._decoder.raw_decode(text[: pos + size], pos)
        except json.JSONDecodeError as exc:
            broken = self._broken_element(text, pos, exc)  # the count may span two elements
            if broken is not None and broken[1] <= pos + size:
                return broken
            self._count += 1
            return MalformedItem(self._count, None, _reason(exc)), pos + size
        except _PARSE_ERRORS as exc:
            self._count += 1
            return MalformedItem(self._count, None, _reason(exc)), pos + size
        return self._record(value, None), end

    def _retried(self, text: str, pos: int) -> tuple[ExtractedItem | None, int | None]:
        """A broken quote hides the element's end from the bracket count: once the next
        ``},{`` has come, the element is parsed again (once per such boundary)."""
        assert self._element is not None
        found = _NEXT_OBJECT.search(text, pos + max(1, self._element.boundary_from))
        if found is None:
            return None, None
        self._element.boundary_from = found.end() - pos
        try:
            value, end = self._decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            broken = self._broken_element(text, pos, exc)
            if broken is not None:
                self._element = None
            return broken or (None, None)
        except _PARSE_ERRORS:
            return None, None
        self._element = None
        return self._record(value, None), end

    def _broken_element(
        self, text: str, pos: int, exc: json.JSONDecodeError
    ) -> tuple[ExtractedItem, int] | None:
        """An element broken before the end of the text ends where the next record starts.

        A bracket count cannot find the end of an element whose quotes are broken, but
        elements of a list of jobs are objects: the element ends at the first ``},{``.
        """
        if exc.pos >= len(text) - 1 or exc.msg.startswith("Unterminated string"):
            return None  # it may only be cut by the chunk's end
        boundary = _NEXT_OBJECT.search(text, pos + 1)
        if boundary is None:
            return None
        self._count += 1
        reason = f"invalid JSON: {exc.msg} at character {exc.pos - pos}"
        return MalformedItem(self._count, None, reason), boundary.end()

    def _held_too_long(self, held: int, final: bool) -> MalformedItem | None:
        """A partial element over the record size cap is malformed, and passed over."""
        if final or held <= self.settings.max_record_bytes or self._element is None:
            return None
        self._count += 1
        self._skipping, self._element = self._element, None
        self._skipping.done = 0
        return MalformedItem(
            self._count, None, f"record over {self.settings.max_record_bytes} bytes"
        )

    # JSON Lines: one record per line
    def _line_items(self, final: bool) -> Iterator[ExtractedItem]:
        text, start = self._text, 0
        while (newline := text.find("\n", start)) >= 0:
            self._line += 1
            line, start = text[start:newline], newline + 1
            if self._skip_line:
                self._skip_line = False
            elif line.strip():
                yield self._parsed(line, self._line)
        rest = text[start:]
        if final and rest.strip() and not self._skip_line:
            self._line += 1
            item = self._parsed(rest, self._line)
            if isinstance(item, MalformedItem):
                self.incomplete = f"the feed ends inside a line (line {self._line})"
            yield item
            rest = ""
        elif len(rest) > self.settings.max_record_bytes or self._skip_line:
            if not self._skip_line:
                self._count += 1
                yield MalformedItem(
                    self._count, self._line + 1,
                    f"line over {self.settings.max_record_bytes} bytes",
                )  # fmt: skip
            self._skip_line, rest = True, ""
        self._text = rest

    # an object holding the list of jobs
    def _wrapper_items(self, final: bool) -> Iterator[ExtractedItem]:
        assert self._wrapper is not None
        found = self._wrapper.scan(self._text)
        if found == "list":
            self._text, self._mode = self._text[self._wrapper.done :], "array"
        elif found == "end":
            yield from self._whole_document(self._text[: self._wrapper.done])
            self._mode = "done"
        elif final:
            self.incomplete = "the JSON document never closes"
            self._count += 1
            yield MalformedItem(self._count, None, "the JSON document is cut short")
        elif len(self._text) > self.settings.max_record_bytes:
            self._mode = "done"
            raise FetchError(
                "too_large",
                f"a JSON object over {self.settings.max_record_bytes} bytes with no list of "
                f'jobs under {", ".join(self._list_keys())}: name its key as "record" in the '
                "mapping, or raise "
                "FEED_MAX_RECORD_BYTES",
            )

    def _whole_document(self, text: str) -> Iterator[ExtractedItem]:
        try:
            document = json.loads(text)
        except _PARSE_ERRORS as exc:
            self._count += 1
            yield MalformedItem(self._count, None, _reason(exc))
            return
        for value in _records_in(document, self._list_keys()):
            yield self._record(value, None)

    def _tail(self, final: bool) -> None:
        """After the wrapper's list the object must close; if the feed ends first, it was cut."""
        assert self._wrapper is not None
        if self._wrapper.closes(self._text):
            self._mode = "done"
        elif final:
            self.incomplete = "the JSON document never closes"
        self._text = ""

    def _parsed(self, text: str, line: int | None) -> ExtractedItem:
        try:
            value = json.loads(text)
        except _PARSE_ERRORS as exc:
            self._count += 1
            return MalformedItem(self._count, line, _reason(exc))
        return self._record(value, line)

    def _record(self, value: Any, line: int | None) -> ExtractedItem:
        self._count += 1
        if not isinstance(value, dict):
            return MalformedItem(
                self._count, line, f"record is a JSON {type(value).__name__}, not an object"
            )
        try:
            fields = flatten_json(value, self.settings.max_json_depth)
        except TooDeepError as exc:
            return MalformedItem(self._count, line, str(exc))
        cut = {path: _cut(text, self.settings, self.stats) for path, text in fields.items()}
        return RawRecord(self._count, line, cut)


def _reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deep to read"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at character {exc.pos}"
    return f"invalid JSON: {str(exc).split(';')[0]}"  # e.g. an integer of 5,000 digits


def _records_in(document: Any, list_keys: tuple[str, ...]) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        document = {str(k).lower(): v for k, v in document.items()}
        for key in list_keys:
            if isinstance(document.get(key), list):
                return list(document[key])
        lists = [
            v for v in document.values() if isinstance(v, list) and v and isinstance(v[0], dict)
        ]
        return lists[0] if lists else [document]
    return []
