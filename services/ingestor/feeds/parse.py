"""XML record extraction: feed text in, flattened records (or malformed ones) out.

Three stages, each bounded:

1. `StructureProbe` (detect.py) reads the feed's opening text to find the record element
   (the mapping's record tag wins); the text it reads is held, at most `max_record_bytes`;
2. `RecordSplitter` (split.py) cuts the text into one piece per record, lexically, so a
   fault inside a record cannot spill into the next, and proves the feed was read whole;
3. each record is repaired (repair.py) and parsed on its own by a strict lxml parser
   (entities, DTDs and the network off; libxml2's own limits on depth and text size on),
   then flattened iteratively into ``path -> text`` (``title``, ``location/city``, ``@id``,
   ``link/@href``). A record the parser refuses is malformed with the parser's reason,
   line and column, where the line is the feed's.

Namespace declarations made outside the records (an Atom or RSS root's ``xmlns``) are
carried into each record's parse, so prefixed records mean what they meant in the feed.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from lxml import etree

from services.ingestor.feeds.detect import RECORD_TAGS as RECORD_TAGS
from services.ingestor.feeds.detect import StructureProbe
from services.ingestor.feeds.dialects import ATOM_NS as ATOM_NS
from services.ingestor.feeds.model import ExtractedItem, FeedStats, FetchError, MalformedItem
from services.ingestor.feeds.model import RawRecord as RawRecord
from services.ingestor.feeds.repair import XmlRepairer
from services.ingestor.feeds.settings import FeedSettings
from services.ingestor.feeds.split import BrokenRecord, RecordSplitter, RecordText, Segment

_NAMESPACE_DECL = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_WHERE = re.compile(r",? line (\d+), column (\d+)\s*$")
_LINE_REFERENCE = re.compile(r"\bline (\d+)\b")
_WRAPPER = "_jobstream_namespaces"
_BATCH_RECORDS = 200  # records parsed in one document
_SALVAGED_CHARS = 200  # of each field a malformed record shows in inspect
_SALVAGED_FIELDS = 30


class RecordTooDeepError(ValueError):
    """A record nested deeper than the walk's limit."""


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _record_parser() -> etree.XMLParser:
    return etree.XMLParser(
        recover=False,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        # libxml2's limits stay on: elements nested 256 deep or a text node over 10 MB
        # make the record malformed (the record cap keeps records smaller than that anyway)
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _salvage_parser() -> etree.XMLParser:
    return etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )


@dataclass(slots=True)
class XmlRecordExtractor:
    """Feed decoded text in any chunking; get records. The record element is detected
    unless given. After the final feed, `incomplete` says why the feed was not read whole."""

    settings: FeedSettings
    stats: FeedStats
    record_tag: str | None = None  # lower-case local name
    root_tag: str | None = None
    record_namespace: str | None = None
    incomplete: str | None = None
    _probe: StructureProbe = field(init=False)
    _held: list[str] = field(default_factory=list)
    _splitter: RecordSplitter | None = None
    _repairer: XmlRepairer = field(default_factory=XmlRepairer)
    _parser: etree.XMLParser = field(default_factory=_record_parser)
    _wrap: tuple[bytes, bytes] = (f"<{_WRAPPER}>".encode(), f"</{_WRAPPER}>".encode())
    _wrapped_namespaces: int = 0

    def __post_init__(self) -> None:
        wanted = self.record_tag.rpartition(":")[2] if self.record_tag else None
        self._probe = StructureProbe(wanted, self.settings.max_record_bytes)

    def feed(self, text: str, *, final: bool = False) -> list[ExtractedItem]:
        if self._splitter is None:
            self._held.append(text)
            if not self._probe.feed(text, final=final):
                return []
            text, self._held = "".join(self._held), []
            self._splitter = self._start_splitting()
        segments = self._splitter.feed(text, final=final)
        if segments and len(self._splitter.namespaces) != self._wrapped_namespaces:
            self._wrap = self._wrapper(self._splitter.namespaces)
            self._wrapped_namespaces = len(self._splitter.namespaces)
        items: list[ExtractedItem] = []
        for at in range(0, len(segments), _BATCH_RECORDS):
            items += self._items(segments[at : at + _BATCH_RECORDS])
        if final:
            self._finish(self._splitter)
        return items

    def abort(self) -> list[ExtractedItem]:
        """The body broke off: records already complete were all handed out."""
        return []

    def _start_splitting(self) -> RecordSplitter:
        probe = self._probe
        if probe.record is None:
            raise FetchError("no_records", probe.failure_message())
        self.root_tag, self.record_tag = probe.root, probe.record
        self.record_namespace = probe.record_namespace
        return RecordSplitter(
            record_name=probe.record,
            max_record_chars=self.settings.max_record_bytes,
            warn=self.stats.warn,
            on_doctype=self._repairer.note_doctype,
        )

    def _finish(self, splitter: RecordSplitter) -> None:
        self._record_repairs()
        if splitter.count == 0:
            raise FetchError(
                "no_records",
                f"no <{splitter.record_name}> record in the feed. {self._probe.failure_message()}",
            )
        self.incomplete = splitter.incomplete

    def _record_repairs(self) -> None:
        self.stats.control_chars_removed = self._repairer.control_chars_removed
        self.stats.entities_refused = self._repairer.entities_refused
        if self._repairer.doctype_refused:
            self.stats.warn("DTD entity declarations refused; their references were dropped")

    @staticmethod
    def _wrapper(namespaces: dict[str, str]) -> tuple[bytes, bytes]:
        declarations = "".join(
            f" xmlns{':' + prefix if prefix else ''}={quoteattr(html.unescape(uri))}"
            for prefix, uri in namespaces.items()
        )
        return f"<{_WRAPPER}{declarations}>".encode(), f"</{_WRAPPER}>".encode()

    # -- records ------------------------------------------------------------------------------

    def _items(self, segments: list[Segment]) -> list[ExtractedItem]:
        """Well-formed records are parsed in one document (libxml2's per-document cost is
        paid once); when that document fails, each record is parsed alone for its reason."""
        texts = [s for s in segments if isinstance(s, RecordText)]
        tried = [self._first_try(s.text) for s in texts]
        together = self._parse_together(tried)
        trees: list[etree._Element | None] = [*together] if together else [None] * len(texts)
        items: list[ExtractedItem] = []
        pending = iter(zip(texts, tried, trees, strict=True))
        for segment in segments:
            if isinstance(segment, BrokenRecord):
                items.append(self._broken(segment))
                continue
            text, record_text, tree = next(pending)
            items.append(self._item(text, record_text, tree))
        return items

    def _first_try(self, text: str) -> str:
        """The record as given when it has no "&": repair changes nothing else that the
        strict parser accepts (a bare "<", a forbidden character make it fail, and the
        record is then repaired and parsed again), so the usual record skips repair."""
        if "&" not in text:
            return text
        return self._repairer.repair_record(text)

    def _repaired(self, text: str) -> bytes:
        return self._repairer.repair_record(text).encode("utf-8")

    def _parse_together(self, texts: list[str]) -> list[etree._Element] | None:
        if len(texts) < 2:
            return None
        head, tail = self._wrap
        try:  # encoded once for the batch: a call per record costs more than the bytes
            root = etree.fromstring(head + "".join(texts).encode("utf-8") + tail, self._parser)
        except etree.XMLSyntaxError:
            return None
        records = list(root)
        # records that parse together but not apart (a CDATA section opened in one and
        # closed in the next) are no longer one element each: parse them alone
        return records if len(records) == len(texts) else None

    def _item(self, segment: RecordText, text: str, tree: etree._Element | None) -> ExtractedItem:
        try:
            return self._flatten(segment, text, tree)
        except Exception as exc:  # one record's failure is that record's outcome
            reason = f"could not read the record: {type(exc).__name__}: {exc}"
            return MalformedItem(segment.position, segment.line, reason)

    def _flatten(
        self, segment: RecordText, text: str, record: etree._Element | None
    ) -> ExtractedItem:
        if record is None:
            try:
                record = self._tree(text.encode("utf-8"))
            except etree.XMLSyntaxError:
                data = self._repaired(segment.text)
                try:
                    record = self._tree(data)
                except etree.XMLSyntaxError as exc:
                    reason = self._describe(exc, segment.line)
                    salvaged = self._salvage(data)
                    return MalformedItem(segment.position, segment.line, reason, salvaged)
        try:
            fields = flatten_record(
                record, self.settings.max_field_chars, self.stats, self.settings.max_depth
            )
        except RecordTooDeepError as exc:
            return MalformedItem(segment.position, segment.line, str(exc))
        return RawRecord(segment.position, segment.line, fields)

    def _tree(self, data: bytes, parser: etree.XMLParser | None = None) -> etree._Element:
        head, tail = self._wrap
        root = etree.fromstring(head + data + tail, parser or self._parser)
        return root[0]

    def _broken(self, segment: BrokenRecord) -> MalformedItem:
        reason = segment.reason
        if segment.text:
            data = self._repairer.repair_record(segment.text).encode("utf-8")
            try:
                self._tree(data)
            except etree.XMLSyntaxError as exc:
                detail = self._describe(exc, segment.line)
                if "Premature end of data" not in detail and "EndTag" not in detail:
                    reason = f"{reason}; {detail}"
            return MalformedItem(segment.position, segment.line, reason, self._salvage(data))
        return MalformedItem(segment.position, segment.line, reason)

    def _describe(self, exc: etree.XMLSyntaxError, first_line: int) -> str:
        """The parser's complaint with the feed's own line numbers."""
        message = str(exc.msg or exc).strip().splitlines()[0]
        where = _WHERE.search(message)
        line, column = exc.position if exc.position else (1, 0)
        if where:
            message = message[: where.start()]
            line, column = int(where.group(1)), int(where.group(2))
        if line == 1:
            column = max(1, column - len(self._wrap[0]))
        message = _plain_words(message)
        message = _LINE_REFERENCE.sub(
            lambda m: f"line {int(m.group(1)) + first_line - 1}", message
        ).strip()
        return f"line {line + first_line - 1}, column {column}: {message}"

    def _salvage(self, data: bytes) -> dict[str, str]:
        """What a forgiving parse can still read of a malformed record (shown by inspect)."""
        try:
            record = self._tree(data, _salvage_parser())
            fields = flatten_record(record, _SALVAGED_CHARS, FeedStats(), 32)
        except Exception:  # salvage is best effort: the record is lost anyway
            return {}
        kept = [(path, value) for path, value in fields.items() if value.strip()]
        return dict(kept[:_SALVAGED_FIELDS])


_LIBXML2_LIMITS = (
    (re.compile(r"Excessive depth in document: (\d+).*"), r"elements nested deeper than \1 levels"),
    (re.compile(r".*Text node too long.*"), "a text node longer than 10,000,000 characters"),
)


def _plain_words(message: str) -> str:
    """libxml2's limit messages name a parser option; the user needs what was too big."""
    for pattern, words in _LIBXML2_LIMITS:
        message = pattern.sub(words, message)
    return message


def flatten_record(
    record: etree._Element, cap: int, stats: FeedStats, max_depth: int = 128
) -> dict[str, str]:
    """Flatten a record into ``path -> text``; first non-empty occurrence of a path wins.

    A top-level field with child elements is kept as its inner markup (HTML written
    unescaped in the feed), serialised once; the elements below it give their own text
    under their paths, walked iteratively with a depth limit (`RecordTooDeepError`).
    """
    fields: dict[str, str] = {}
    if record.attrib:
        _add_attributes(record, "", fields)
    top_paths = _TOP_PATHS
    # the hot loop of feed reading: a dozen leaf children per record, so it is kept lean
    for child in record:
        tag: object = child.tag  # comments and entities have a function here, not a name
        path = top_paths.get(tag)
        if path is None:
            if not isinstance(tag, str):
                continue
            path = _path("", tag)
            if len(top_paths) < _MAX_PATHS:
                top_paths[tag] = path
        nested = len(child)
        value = inner_markup(child, cap) if nested else (child.text or "")
        held = fields.get(path)
        if held is None or (not held.strip() and value.strip()):
            fields[path] = value
        if child.attrib:
            _add_attributes(child, path + "/", fields)
        if nested:
            _walk_below(child, path + "/", fields, max_depth)
    for path, value in fields.items():
        if len(value) > cap:
            fields[path] = value[:cap]
            stats.fields_truncated += 1
            stats.warn(f"field {path!r} longer than {cap} characters was cut")
    return fields


def _walk_below(field: etree._Element, prefix: str, fields: dict[str, str], limit: int) -> None:
    """The elements inside a top-level field, each under its path with its own text."""
    stack = [(iter(field), prefix, 2)]
    while stack:
        children, prefix, depth = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            continue
        tag: object = child.tag
        if not isinstance(tag, str):
            continue
        path = _path(prefix, tag)
        value = child.text or ""
        if path not in fields or (value.strip() and not fields[path].strip()):
            fields[path] = value
        if child.attrib:
            _add_attributes(child, path + "/", fields)
        if len(child):
            if depth >= limit:
                raise RecordTooDeepError(f"elements nested deeper than {limit} levels")
            stack.append((iter(child), path + "/", depth + 1))


_MAX_PATHS = 10_000  # path memos are bounded: a hostile feed may invent endless tag names
_PATHS: dict[tuple[str, str], str] = {}
_TOP_PATHS: dict[object, str] = {}  # a record's own children: tag -> path, no tuple to build


def _path(prefix: str, tag: str) -> str:
    """`prefix` + the tag's lower-case local name, memoised (feeds reuse a few dozen tags)."""
    key = (prefix, tag)
    path = _PATHS.get(key)
    if path is None:
        path = prefix + local_name(tag).lower()
        if len(_PATHS) < _MAX_PATHS:
            _PATHS[key] = path
    return path


def _add_attributes(element: etree._Element, prefix: str, fields: dict[str, str]) -> None:
    for name, value in element.attrib.items():
        fields.setdefault(f"{prefix}@{local_name(str(name)).lower()}", str(value))


def inner_markup(element: etree._Element, cap: int | None = None) -> str:
    """The element's content as markup: HTML written unescaped in the feed, XHTML in Atom.

    Serialisation stops once `cap` characters are reached: the rest would be cut anyway.
    """
    parts = [element.text or ""]
    size = len(parts[0])
    for child in element:
        if cap is not None and size >= cap:
            break
        part = etree.tostring(child, encoding="unicode", with_tail=True)
        parts.append(part)
        size += len(part)
    return _NAMESPACE_DECL.sub("", "".join(parts))
