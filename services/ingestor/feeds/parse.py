"""Incremental XML record extraction: repaired text in, flattened records (or faults) out.

lxml's pull parser runs in recover mode with entities, DTDs and the network off; each
finished record is flattened into ``path -> text`` (``title``, ``location/city``, ``@id``,
``link/@href``) and then cleared, so memory stays flat whatever the feed size. A record
whose lines carry a parser error is reported malformed with its position and line, and
the rest of the feed goes on.

A probe parser reads the feed's opening bytes first to find the root and record tags;
the main parser then reports events for record elements only, so Python sees two events
per record instead of two per field (a third of the extraction time on a typical feed).
A feed whose first record is not within `PROBE_LIMIT` bytes is read with every event.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from services.ingestor.feeds.model import ExtractedItem, FeedStats, FetchError, MalformedItem
from services.ingestor.feeds.model import RawRecord as RawRecord
from services.ingestor.feeds.settings import FeedSettings

RECORD_TAGS = frozenset(
    {"job", "item", "entry", "position", "ad", "vacancy", "listing", "posting", "offer"}
)
ATOM_NS = "http://www.w3.org/2005/Atom"
PROBE_LIMIT = 1024 * 1024
_NAMESPACE_DECL = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_current_errors: ContextVar[list[tuple[int, str]] | None] = ContextVar(
    "_current_errors", default=None
)
_installed = threading.local()


class _ErrorRouter(etree.PyErrorLog):  # type: ignore[misc]
    """Sends libxml2 errors to the parser running now (in recover mode it keeps none itself)."""

    def receive(self, entry: etree._LogEntry) -> None:
        sink = _current_errors.get()
        if sink is not None and entry.level >= etree.ErrorLevels.ERROR:
            sink.append((entry.line, entry.message.strip()))


def _install_error_router() -> None:
    if not getattr(_installed, "done", False):
        etree.use_global_python_log(_ErrorRouter())
        _installed.done = True


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass(slots=True)
class _Pending:
    """A finished record held until the next one starts, so its error lines are all known."""

    position: int
    line: int | None
    fields: dict[str, str]
    unterminated: bool = False


_Event = Literal["start", "end"]


def _pull_parser(events: tuple[_Event, ...], tags: list[str] | None = None) -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=events,
        tag=tags,
        recover=True,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        # a 20 MB description must not end the feed: libxml2 would stop at 10 MB and
        # drop the rest of the document; max_field_chars then cuts what is kept
        huge_tree=True,
        remove_comments=True,
        remove_pis=True,
        encoding="utf-8",
    )


@dataclass(slots=True)
class _TagProbe:
    """Finds the root tag and the first record's exact tag in the feed's opening bytes."""

    wanted: str | None  # the mapping's record tag (lower-case local name), if it names one
    root: str | None = None  # lower-case local name
    record: str | None = None  # exact tag, with its namespace: what the main parser filters on
    _parser: etree.XMLPullParser = field(default_factory=lambda: _pull_parser(("start",)))

    def feed(self, data: bytes) -> bool:
        """True once the record tag is known."""
        try:
            self._parser.feed(data)
        except etree.XMLSyntaxError:
            return False  # the main parser meets the same fault and reports it
        for _, element in self._parser.read_events():
            if not isinstance(element, etree._Element) or not isinstance(element.tag, str):
                continue
            tag = element.tag
            name = local_name(tag).lower()
            if self.root is None:
                self.root = name
            elif name == self.wanted or (self.wanted is None and name in RECORD_TAGS):
                self.record = tag
                return True
        return False


@dataclass(slots=True)
class XmlRecordExtractor:
    """Feed UTF-8 bytes; collect records. The record tag is detected unless given."""

    settings: FeedSettings
    stats: FeedStats
    record_tag: str | None = None
    root_tag: str | None = None
    record_namespace: str | None = None
    _parser: etree.XMLPullParser | None = None
    _probe: _TagProbe | None = None
    _head: list[bytes] = field(default_factory=list)  # bytes held while the probe reads
    _head_size: int = 0
    _errors: list[tuple[int, str]] = field(default_factory=list)
    _current: etree._Element | None = None
    _pending: _Pending | None = None
    _count: int = 0
    _closing: bool = False

    def __post_init__(self) -> None:
        _install_error_router()
        self._probe = _TagProbe(self.record_tag)

    def feed(self, data: bytes) -> list[ExtractedItem]:
        if self._parser is None:
            assert self._probe is not None
            self._head.append(data)
            self._head_size += len(data)
            if not self._probe.feed(data) and self._head_size < PROBE_LIMIT:
                return []
            data = self._start_parser()
        return self._run(lambda: self._main_parser().feed(data))

    def _start_parser(self) -> bytes:
        """Starts the main parser (filtered to records when the probe found them); the head."""
        assert self._probe is not None
        record, root, self._probe = self._probe.record, self._probe.root, None
        tags = None
        if record is not None:
            self.root_tag = root
            self.record_tag = local_name(record).lower()
            self.record_namespace = etree.QName(record).namespace
            tags = _spellings(local_name(record))
        self._parser = _pull_parser(("start", "end"), tags)
        head, self._head = b"".join(self._head), []
        return head

    def _main_parser(self) -> etree.XMLPullParser:
        assert self._parser is not None
        return self._parser

    def close(self, *, truncated: bool = False) -> list[ExtractedItem]:
        """End of input; when `truncated`, the record being read is dropped, not repaired."""
        if truncated:
            return self._flush_pending(None)
        # a feed shorter than the probe's reach, or without records, is parsed only now
        items = self._run(self._feed_head) if self._parser is None else []
        self._closing = True
        items += self._run(self._close_parser)
        return items + self._flush_pending(None)

    def _feed_head(self) -> None:
        head = self._start_parser()
        self._main_parser().feed(head)

    def _close_parser(self) -> None:
        try:
            self._main_parser().close()
        except etree.XMLSyntaxError as exc:
            if self._count == 0:
                raise FetchError("parse", f"not an XML feed: {exc}") from exc

    def _run(self, action: Callable[[], None]) -> list[ExtractedItem]:
        token = _current_errors.set(self._errors)
        try:
            action()
        except etree.XMLSyntaxError as exc:
            raise FetchError("parse", f"XML parser gave up: {exc}") from exc
        finally:
            _current_errors.reset(token)
        items: list[ExtractedItem] = []
        for event, element in self._main_parser().read_events():
            if isinstance(element, etree._Element) and isinstance(element.tag, str):
                items.extend(self._on_event(event, element))
        return items

    def _on_event(self, event: str, element: etree._Element) -> list[ExtractedItem]:
        if event == "start":
            return self._on_start(element)
        if element is self._current:
            return self._on_record_end(element)
        if self._current is not None:
            return []  # a field of the record being read: flattened when the record ends
        parent = element.getparent()
        if parent is not None and parent.getparent() is None:
            element.clear()  # feed headers between records: nothing to keep
        return []

    def _on_start(self, element: etree._Element) -> list[ExtractedItem]:
        if self._current is not None:
            if _path("", element.tag) == self.record_tag:
                return self._on_unclosed_record(element)
            return []
        if self.root_tag is None:
            self.root_tag = local_name(element.tag).lower()
            return []
        if not self._is_record(element):
            return []
        self._current = element
        self._count += 1
        return self._flush_pending(_line_of(element))

    def _is_record(self, element: etree._Element) -> bool:
        name = local_name(element.tag).lower()
        if self.record_tag is not None:
            return name == self.record_tag
        if name not in RECORD_TAGS:
            return False
        self.record_tag = name
        self.record_namespace = etree.QName(element).namespace
        return True

    def _on_unclosed_record(self, element: etree._Element) -> list[ExtractedItem]:
        """A record starting inside a record: the open one lost its end tag.

        Records never nest. libxml2's recovery would nest the rest of the feed inside the
        open record and lose it; instead that record is reported malformed (with the
        parser's complaints about it) and reading goes on with this one.
        """
        assert self._current is not None
        open_line = _line_of(self._current)
        items = self._flush_pending(open_line)
        faults = ["record not closed before the next record"]
        faults += self._take_errors(open_line, _line_of(element))
        items.append(MalformedItem(self._count, open_line, "; ".join(faults[:3])))
        self._current = element
        self._count += 1
        return items

    def _on_record_end(self, element: etree._Element) -> list[ExtractedItem]:
        self._current = None
        fields = flatten_record(element, self.settings.max_field_chars, self.stats)
        self._pending = _Pending(self._count, _line_of(element), fields, self._closing)
        _release(element)
        return []

    def _flush_pending(self, next_line: int | None) -> list[ExtractedItem]:
        pending, self._pending = self._pending, None
        if pending is None:
            return []
        faults = self._take_errors(pending.line, next_line)
        if pending.unterminated:
            faults.insert(0, "record not closed before the end of the feed")
        if faults:
            return [MalformedItem(pending.position, pending.line, "; ".join(faults[:3]))]
        return [RawRecord(pending.position, pending.line, pending.fields)]

    def _take_errors(self, first_line: int | None, next_line: int | None) -> list[str]:
        mine: list[str] = []
        later: list[tuple[int, str]] = []
        for line, message in self._errors:
            if next_line is not None and line >= next_line:
                later.append((line, message))
            elif self._about_root(message):
                # e.g. "tag mismatch: job line 4 and source" after an unclosed record: the
                # record has been reported already; this is about the document's end
                self.stats.warn(f"line {line}: {message}")
            elif line >= (first_line or 0):
                mine.append(f"line {line}: {message}")
        self._errors[:] = later
        return mine

    def _about_root(self, message: str) -> bool:
        if not self.root_tag:
            return False
        root = re.escape(self.root_tag)
        return re.search(rf"(?:\band|\bin tag) (?:[\w.-]+:)?{root}\b", message, re.I) is not None


def _spellings(name: str) -> list[str]:
    """The record tag as feeds write it (any namespace): records are matched on that name."""
    return [f"{{*}}{n}" for n in dict.fromkeys((name, name.lower(), name.upper(), name.title()))]


def _line_of(element: etree._Element) -> int | None:
    line: object = element.sourceline
    return line if isinstance(line, int) else None


def _release(element: etree._Element) -> None:
    element.clear()
    parent = element.getparent()
    if parent is None:
        return
    while element.getprevious() is not None:
        del parent[0]


def flatten_record(record: etree._Element, cap: int, stats: FeedStats) -> dict[str, str]:
    """Flatten a record into ``path -> text``; first non-empty occurrence of a path wins."""
    fields: dict[str, str] = {}
    _add_attributes(record, "", fields)
    _walk(record, "", fields)
    for path, value in fields.items():
        if len(value) > cap:
            fields[path] = value[:cap]
            stats.fields_truncated += 1
            stats.warn(f"field {path!r} longer than {cap} characters was cut")
    return fields


def _walk(element: etree._Element, prefix: str, fields: dict[str, str]) -> None:
    # the hot loop of feed reading: a dozen children per record, so each step is kept lean
    for child in element:
        tag: object = child.tag  # comments and entities have a function here, not a name
        if not isinstance(tag, str):
            continue
        path = _path(prefix, tag)
        nested = len(child)
        value = inner_markup(child) if nested else (child.text or "")
        if path not in fields or (value.strip() and not fields[path].strip()):
            fields[path] = value
        if child.attrib:
            _add_attributes(child, path + "/", fields)
        if nested:
            _walk(child, path + "/", fields)


_PATHS: dict[tuple[str, str], str] = {}


def _path(prefix: str, tag: str) -> str:
    """`prefix` + the tag's lower-case local name, memoised (feeds reuse a few dozen tags)."""
    key = (prefix, tag)
    path = _PATHS.get(key)
    if path is None:
        path = prefix + local_name(tag).lower()
        if len(_PATHS) < 10_000:  # bounded: a hostile feed may invent endless tag names
            _PATHS[key] = path
    return path


def _add_attributes(element: etree._Element, prefix: str, fields: dict[str, str]) -> None:
    for name, value in element.attrib.items():
        fields.setdefault(f"{prefix}@{local_name(str(name)).lower()}", str(value))


def inner_markup(element: etree._Element) -> str:
    """The element's content as markup: HTML written unescaped in the feed, XHTML in Atom."""
    parts = [element.text or ""]
    parts.extend(etree.tostring(child, encoding="unicode", with_tail=True) for child in element)
    return _NAMESPACE_DECL.sub("", "".join(parts))
