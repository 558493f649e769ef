"""Lexical record splitting: XML text in, one piece of text per record out.

Records never nest, so once the record element's name is known a record is the text from
its start tag (``<job``, any namespace prefix, any case, followed by space, ``>`` or ``/>``)
to the first matching end tag (``</job>``). Each record is then parsed on its own, so a
fault inside one record costs that record and nothing else:

* another record starting before this one's end tag: this one is malformed ("not closed
  before the next record") and reading resynchronises at the new start;
* a CDATA section or comment inside a record whose terminator comes only after the next
  record starts (or never) is unterminated: only its record is lost;
* junk between records (stray end tags, an early root end tag, text) is skipped with a
  warning;
* a record longer than the cap is skipped without being held (a 1 GB text node costs the
  cap, not a gigabyte) and reported malformed.

Completeness is proven, not assumed: `incomplete` says why the feed cannot be taken as
read to its end (it ended inside a record, or its root element never closed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from services.ingestor.feeds.repair import doctype_end

_NAME = r"[A-Za-z_\u00c0-\uffff][\w.\-\u00b7\u00c0-\uffff]*"
# what may follow "<" outside a record: a comment, CDATA, PI, DOCTYPE, or a start/end tag
_JUNK_TOKEN = re.compile(rf"<(?:!--|!\[CDATA\[|\?|!DOCTYPE|!doctype|(/?)({_NAME}(?::{_NAME})?))")
_XMLNS = re.compile(rf"""\sxmlns(?::({_NAME}))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_SECTIONS = (("<![CDATA[", "]]>"), ("<!--", "-->"))
_TAIL_KEEP = 512  # enough of a skipped stretch to see a tag cut between two chunks


@dataclass(frozen=True, slots=True)
class RecordText:
    """One record's text, from its start tag to its end tag, and where it starts."""

    position: int
    line: int
    text: str


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """A record lost before parsing (unclosed, oversize); `text` is what was held of it."""

    position: int
    line: int
    reason: str
    text: str = ""


Segment = RecordText | BrokenRecord


def local_name(tag: str) -> str:
    return tag.rpartition("}")[2].rpartition(":")[2]


def _any_case(name: str) -> str:
    # explicit classes, not re.IGNORECASE: the search can then skip ahead to each "<" in C
    return "".join(
        f"[{re.escape(c.lower())}{re.escape(c.upper())}]"
        if c.lower() != c.upper()
        else re.escape(c)
        for c in name
    )


def _record_patterns(name: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """The record's start tag, its end tag, and either (group 1 set for an end tag)."""
    # the bare name first, and a possessive prefix: each other tag is passed over quickly
    bare = _any_case(name)
    spelled = rf"(?:{bare}|{_NAME.removesuffix('*')}*+:{bare})"
    start = re.compile(rf"<{spelled}(?=[\s/>])")
    end = re.compile(rf"</{spelled}\s*>")
    either = re.compile(rf"<(/)?{spelled}(?(1)\s*>|(?=[\s/>]))")
    return start, end, either


def _next_record_pattern(name: str) -> re.Pattern[str]:
    """Blank text, then the record's start tag: what `_JUNK_TOKEN` would find and take as
    a record (group 1 its "<")."""
    bare = _any_case(name)
    return re.compile(rf"\s*+(<)(?:{_NAME.removesuffix('*')}*+:)?{bare}(?=[\s/>])")


@dataclass(slots=True)
class _Hits:
    """The first match of `pattern` at or after a position, remembered for one buffer, so
    asking again from a later position searches again only once the match is passed (a
    pattern with no match in the buffer is searched once per buffer, not once per record)."""

    pattern: re.Pattern[str]
    _buf: str | None = None
    _from: int = 0
    _match: re.Match[str] | None = None

    def first(self, buf: str, pos: int) -> re.Match[str] | None:
        match = self._match
        if buf is not self._buf or pos < self._from or (match is not None and match.start() < pos):
            self._buf, self._from = buf, pos
            self._match = match = self.pattern.search(buf, pos)
        return match


@dataclass(slots=True)
class _TagSearch:
    """`either.search(buf, at)`: the record's next start or end tag, found faster.

    That pattern, tried at every "<" of a record (its fields, and the HTML in a
    description), took a third of the splitting time. Between them, `plain` (the name right
    after "<" or "</") and `prefixed` (right after a prefix's ":") find every place where a
    match may start, each at the speed of a search for one character; each place found is
    then tried with `either` from the "<" before it (a prefix holds no "<")."""

    either: re.Pattern[str]
    plain: _Hits
    prefixed: _Hits

    @classmethod
    def of(cls, name: str, either: re.Pattern[str]) -> _TagSearch:
        bare = _any_case(name)
        plain = re.compile(rf"</?{bare}(?=[\s/>])")
        return cls(either, _Hits(plain), _Hits(re.compile(rf":{bare}(?=[\s/>])")))

    def search(self, buf: str, at: int) -> re.Match[str] | None:
        pos = low = at  # every "<" in [at, low) has been tried
        while True:
            plain = self.plain.first(buf, pos)
            prefixed = self.prefixed.first(buf, pos)
            if prefixed is not None and (plain is None or prefixed.start() < plain.start()):
                hit = prefixed.start()
                opener = buf.rfind("<", low, hit)
            elif plain is not None:
                hit = opener = plain.start()
            else:
                return None
            if opener >= 0 and (match := self.either.match(buf, opener)) is not None:
                return match
            pos = low = hit + 1


@dataclass(slots=True)
class RecordSplitter:
    """Feed decoded text in any chunking; get `Segment`s in feed order."""

    record_name: str  # lower-case local name
    max_record_chars: int
    warn: Callable[[str], None]
    on_doctype: Callable[[str], None] = lambda declaration: None
    root_name: str | None = None  # lower-case local name, taken from the first element
    namespaces: dict[str, str] = field(default_factory=dict)  # prefix ("" default) -> uri
    count: int = 0
    incomplete: str | None = None
    _start: re.Pattern[str] = field(init=False)
    _end: re.Pattern[str] = field(init=False)
    _either: re.Pattern[str] = field(init=False)
    _tags: _TagSearch = field(init=False)
    _next_record: re.Pattern[str] = field(init=False)
    _buf: str = ""
    _pos: int = 0
    _line: int = 1  # the line at `_line_at`
    _line_at: int = 0
    _mode: str = "junk"  # junk | record | skip
    _record_at: int = 0  # where the open record starts in `_buf`
    _record_line: int = 0
    _resume: int = 0  # where the open record's search resumes
    _open: list[str] = field(default_factory=list)  # elements open outside records
    _container_depth: int | None = None
    _root_closed: bool = False
    _skipped_bytes: int = 0

    def __post_init__(self) -> None:
        self._start, self._end, self._either = _record_patterns(self.record_name)
        self._tags = _TagSearch.of(self.record_name, self._either)
        self._next_record = _next_record_pattern(self.record_name)

    # -- driving --------------------------------------------------------------------------

    def feed(self, text: str, *, final: bool = False) -> list[Segment]:
        self._trim()
        self._buf += text
        out: list[Segment] = []
        while self._step(out, final):
            pass
        if final:
            self._finish(out)
        return out

    def _trim(self) -> None:
        if self._pos:
            self._advance_line(self._pos)
            self._buf = self._buf[self._pos :]
            self._record_at -= self._pos
            self._resume -= self._pos
            self._line_at -= self._pos
            self._pos = 0

    def _advance_line(self, index: int) -> int:
        if index > self._line_at:
            self._line += self._buf.count("\n", self._line_at, index)
            self._line_at = index
        return self._line

    def _step(self, out: list[Segment], final: bool) -> bool:
        if self._mode == "junk":
            return self._junk(out, final)
        if self._mode == "record":
            return self._record(out, final)
        return self._skip(out, final)

    def _finish(self, out: list[Segment]) -> None:
        if self._mode == "record" and self._closed_by_the_root(out):
            return
        if self._mode != "junk":
            reason = "record not closed before the end of the feed"
            held = self._buf[self._record_at :] if self._mode == "record" else ""
            if self._mode == "skip":
                reason = f"{self._oversize().reason}; {reason}"
            out.append(BrokenRecord(self.count, self._record_line, reason, held))
            where = f"record {self.count} (line {self._record_line})"
            self.incomplete = f"the feed ended inside {where}"
            self._mode = "junk"
        elif not self._root_closed and self.root_name is not None:
            self.incomplete = f"the root element <{self.root_name}> was never closed"
        self._pos = len(self._buf)

    def _closed_by_the_root(self, out: list[Segment]) -> bool:
        """The last record ran into the root's end tag, and the feed ends there: that record
        is lost, but the feed was read to its end."""
        held = self._buf[self._record_at :]
        root = self.root_name or ""
        end = re.search(rf"</(?:{_NAME}:)?{_any_case(root)}\s*>\s*$", held[-_TAIL_KEEP:])
        if not root or end is None:
            return False
        cut = len(held) - len(held[-_TAIL_KEEP:]) + end.start()
        reason = "record not closed before the root element's end"
        out.append(BrokenRecord(self.count, self._record_line, reason, held[:cut]))
        self._mode = "junk"
        self._root_closed = True
        self._pos = len(self._buf)
        return True

    # -- between records --------------------------------------------------------------------

    def _junk(self, out: list[Segment], final: bool) -> bool:
        buf, at = self._buf, self._pos
        if self.root_name is not None:  # the usual case first: blank, then the next record
            following = self._next_record.match(buf, at)
            if following is not None:
                self._open_record(following.end(1) - 1)
                return self._record(out, final)
        match = _JUNK_TOKEN.search(buf, at)
        if match is None:
            keep = buf.rfind("<", max(at, len(buf) - 64))
            end = len(buf) if final or keep < 0 else keep
            self._junk_text(at, end)
            self._pos = end
            return False
        if match.end() == len(buf) and not final:
            self._junk_text(at, match.start())
            self._pos = match.start()
            return False  # the name may go on in the next chunk
        self._junk_text(at, match.start())
        token = match.group(0)
        if match.group(2) is None:
            return self._section(match.start(), token, final)
        return self._tag(match, final, out)

    def _junk_text(self, start: int, end: int) -> None:
        if end <= start or self._buf[start:end].isspace():
            return
        line = self._advance_line(start)
        if self.root_name is None:
            self.warn(f"line {line}: text before the root element skipped")
        elif self._root_closed:
            self.warn(f"line {line}: text after the root element closed skipped")
        elif self.count and len(self._open) <= (self._container_depth or 0):
            self.warn(f"line {line}: text between records skipped")

    def _section(self, start: int, token: str, final: bool) -> bool:
        """A comment, CDATA section, PI or DOCTYPE outside records: skipped whole."""
        buf = self._buf
        if token.upper() == "<!DOCTYPE":
            end = doctype_end(buf, start)
            if end is not None:
                self.on_doctype(buf[start:end])
        else:
            closer = {"<!--": "-->", "<![CDATA[": "]]>", "<?": "?>"}[token]
            found = buf.find(closer, start + len(token))
            end = None if found < 0 else found + len(closer)
        if end is not None:
            self._pos = end
            return True
        if not final and len(buf) - start <= self.max_record_chars:
            self._pos = start
            return False  # wait for its end
        line = self._advance_line(start)
        self.warn(f"line {line}: unterminated {token} skipped")
        self._pos = start + len(token)
        return True

    def _tag(self, match: re.Match[str], final: bool, out: list[Segment]) -> bool:
        buf, start = self._buf, match.start()
        name = local_name(match.group(2)).lower()
        closing = bool(match.group(1))
        if not closing and name == self.record_name and self.root_name is not None:
            return self._open_record(start)
        gt = buf.find(">", match.end())
        if gt < 0:
            if not final and len(buf) - start <= self.max_record_chars:
                self._pos = start
                return False
            gt = match.end() - 1  # a tag that never ends: skip its name and go on
        tag_text = buf[start : gt + 1]
        self._pos = gt + 1
        if closing:
            self._close_element(name, start)
        else:
            self._open_element(name, tag_text, start)
        return True

    def _open_element(self, name: str, tag_text: str, start: int) -> None:
        for prefix, double, single in _XMLNS.findall(tag_text):
            self.namespaces.setdefault(prefix, double or single)
        if self.root_name is None:
            self.root_name = name
        elif self._root_closed:
            self.warn(f"line {self._advance_line(start)}: element <{name}> after the root closed")
            self._root_closed = False
        if not tag_text.endswith("/>"):
            self._open.append(name)

    def _close_element(self, name: str, start: int) -> None:
        if name in self._open:
            while self._open.pop() != name:
                pass
        else:
            line = self._advance_line(start)
            self.warn(f"line {line}: stray end tag </{name}> skipped")
        if name == self.root_name:
            if self._open:
                self._open.clear()  # the root closed: whatever it held is closed too
            self._root_closed = True

    # -- inside a record ----------------------------------------------------------------------

    def _open_record(self, start: int) -> bool:
        self.count += 1
        if self._root_closed:
            self.warn(f"line {self._advance_line(start)}: records after the root element closed")
            self._root_closed = False
        if self._container_depth is None:
            self._container_depth = len(self._open)
        self._mode = "record"
        self._record_at = start
        self._record_line = self._advance_line(start)
        self._resume = start + 1
        self._pos = start
        return True

    def _record(self, out: list[Segment], final: bool) -> bool:
        buf, start = self._buf, self._record_at
        if self._resume == start + 1:
            gt = buf.find(">", start)
            if gt >= 0 and buf[gt - 1] == "/":  # <job/>: an empty record
                return self._close_record(
                    out, RecordText(self.count, self._record_line, buf[start : gt + 1]), gt + 1
                )
        point = self._boundary(final)
        if point is None:
            if len(buf) - start > self.max_record_chars:
                self._begin_skip()
                return True
            if not final:
                self._resume = max(self._resume, len(buf) - _TAIL_KEEP)
            return False  # at the end of the feed, `_finish` reports the unclosed record
        end, is_end_tag = point
        if not is_end_tag:
            reason = "record not closed before the next record"
            segment: Segment = BrokenRecord(self.count, self._record_line, reason, buf[start:end])
        elif end - start > self.max_record_chars:
            segment = self._oversize()
        else:
            segment = RecordText(self.count, self._record_line, buf[start:end])
        return self._close_record(out, segment, end)

    def _close_record(self, out: list[Segment], segment: Segment, end: int) -> bool:
        out.append(segment)
        self._mode = "junk"
        self._pos = end
        return True

    def _boundary(self, final: bool) -> tuple[int, bool] | None:
        """(end of this record, True) at its end tag, (next record's start, False) when it
        was never closed; None when more text is needed to tell."""
        buf, body = self._buf, self._record_at + 1
        scan = self._resume
        while True:
            match = self._tags.search(buf, scan)
            if match is None:
                return None
            is_end = match.group(1) is not None
            found = (match.end() if is_end else match.start()), is_end
            section = _open_section(buf, body, match.start())
            if section is None:
                return found
            opener, closer = section
            close = buf.find(closer, match.start())
            if self._start.search(buf, opener, close if close >= 0 else len(buf)) is not None:
                return found  # a record starts before the section ends: it is unterminated
            if close < 0:
                if not final and len(buf) - self._record_at <= self.max_record_chars:
                    return None  # the section may still end
                return found  # it never ends: the record is cut here, and malformed
            scan = close + len(closer)  # the tag was text inside the section
            self._resume = scan

    def _begin_skip(self) -> None:
        self._mode = "skip"
        self._skipped_bytes = len(self._buf) - self._record_at
        self._pos = max(self._record_at + 1, len(self._buf) - _TAIL_KEEP)

    def _oversize(self) -> BrokenRecord:
        reason = f"record larger than {self.max_record_chars} characters skipped"
        return BrokenRecord(self.count, self._record_line, reason)

    def _skip(self, out: list[Segment], final: bool) -> bool:
        buf, at = self._buf, self._pos
        end = self._end.search(buf, at)
        limit = end.start() if end else len(buf)
        following = self._start.search(buf, at, limit)
        if following is None and end is None:
            self._pos = max(at, len(buf) - _TAIL_KEEP)
            return False  # at the end of the feed, `_finish` reports it
        out.append(self._oversize())
        self._mode = "junk"
        self._pos = following.start() if following is not None else (end.end() if end else at)
        return True


def _open_section(buf: str, start: int, point: int) -> tuple[int, str] | None:
    """The CDATA section or comment still open at `point` (its opener and closer), if any."""
    for opener, closer in _SECTIONS:
        at = buf.rfind(opener, start, point)
        if at >= 0 and buf.find(closer, at + len(opener), point) < 0:
            return _first_open_section(buf, start, point)
    return None  # the last opener of each kind is closed: nothing can be open


def _first_open_section(buf: str, start: int, point: int) -> tuple[int, str] | None:
    """The exact answer, section by section (a comment opener inside CDATA is text)."""
    at = buf.find("<!", start, point)
    while at >= 0:
        for opener, closer in _SECTIONS:
            if buf.startswith(opener, at):
                close = buf.find(closer, at + len(opener), point)
                if close < 0:
                    return at, closer
                at = close + len(closer) - 1
                break
        at = buf.find("<!", at + 1, point)
    return None
