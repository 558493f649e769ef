"""Streaming text repair in front of the XML parser, for the classic faults of real feeds.

It removes junk before the first tag, characters XML forbids, the XML declaration (the text
is re-encoded as UTF-8 for the parser) and any DOCTYPE: entity declarations are refused
and their references dropped, so entity bombs and external entities (XXE) are never
expanded. Outside CDATA and comments a bare ``&`` or ``<`` (one that starts no entity, tag,
comment or CDATA section, as in "experience < 5 years") becomes a literal character, and
every named entity (``&amp;``, HTML's ``&nbsp;``) becomes a numeric reference, which XML
accepts without a DTD. Nothing is guessed: a ``<`` that starts a name stays a tag.

The feed reader repairs each record on its own (`repair_record`), so a fault one record
leaves open (an unterminated CDATA section) cannot change how the next one is repaired.
"""

from __future__ import annotations

import html.entities
import re
from dataclasses import dataclass, field

_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ASCII_CONTROLS = bytes(b for b in range(0x20) if b not in (0x9, 0xA, 0xD))
# what a "<" must be followed by to start a tag (a name, an end tag or a PI)
_TAG_START = r"[A-Za-z_:/?\u00c0-\U0010ffff]"
# "&", "<!" and a bare "<": plain tags need no repair, so they are skipped fast
_SPECIAL = re.compile(rf"&|<(?!{_TAG_START})")
# text, tags and complete CDATA sections: possessive, so a long run never backtracks
_PLAIN = re.compile(
    rf"(?:[^&<]++|<(?={_TAG_START})|<!\[CDATA\[[^\]]*+(?:\](?!\]>)[^\]]*+)*+\]\]>)*+"
)
_REFERENCE = re.compile(
    r"&(?:#(?P<dec>[0-9]{1,7})|#[xX](?P<hex>[0-9a-fA-F]{1,6})|(?P<name>[A-Za-z_][\w.-]{0,40}));"
)
_DECLARED_ENTITY = re.compile(r"<!ENTITY\s+(?:%\s+)?([^\s>]+)")
# libxml2 in recover mode drops predefined entity references once it has met any error,
# but keeps character references: so every `&` goes out as a character reference
_XML_ENTITIES = {"amp": "&#38;", "lt": "&#60;", "gt": "&#62;", "quot": "&#34;", "apos": "&#39;"}
_AMPERSAND = "&#38;"
_LESS_THAN = "&#60;"
_LOOKAHEAD = 48  # longest construct we must see whole before deciding: an entity reference


def _is_xml_char(codepoint: int) -> bool:
    return (
        codepoint in (0x9, 0xA, 0xD)
        or 0x20 <= codepoint <= 0xD7FF
        or 0xE000 <= codepoint <= 0xFFFD
        or 0x10000 <= codepoint <= 0x10FFFF
    )


@dataclass(slots=True)
class XmlRepairer:
    """Feed text in any chunking; get repaired text out. Counters say what was changed."""

    control_chars_removed: int = 0
    entities_refused: int = 0
    doctype_refused: bool = False
    _pending: str = ""
    _mode: str = "start"  # start | text | cdata | comment
    _declared: set[str] = field(default_factory=set)

    def repair_record(self, text: str) -> str:
        """One record's text, repaired on its own (entities declared in the DTD still count)."""
        self._mode, self._pending = "text", ""
        repaired = self.feed(text, final=True)
        self._mode, self._pending = "text", ""
        return repaired

    def note_doctype(self, declaration: str) -> None:
        """A DOCTYPE met before the records: its entities are refused wherever referenced."""
        self._declared.update(_DECLARED_ENTITY.findall(declaration))
        self.doctype_refused = self.doctype_refused or "<!ENTITY" in declaration

    def feed(self, text: str, *, final: bool = False) -> str:
        text = self._drop_invalid_chars(text)
        data = self._pending + text
        self._pending = ""
        out: list[str] = []
        position = 0
        while position < len(data):
            step = self._step(data, position, final, out)
            if step is None:
                self._pending = data[position:]
                break
            position = step
        return "".join(out)

    def _drop_invalid_chars(self, text: str) -> str:
        # Most feeds are ASCII without control characters: two C passes prove it quickly.
        if text.isascii():
            raw = text.encode("ascii")
            if len(raw.translate(None, _ASCII_CONTROLS)) == len(raw):
                return text
        text, removed = _INVALID_XML_CHARS.subn("", text)
        self.control_chars_removed += removed
        return text

    def _step(self, data: str, at: int, final: bool, out: list[str]) -> int | None:
        if self._mode == "start":
            return self._skip_prolog_junk(data, at, final)
        if self._mode == "cdata":
            return self._copy_until(data, at, "]]>", final, out)
        if self._mode == "comment":
            return self._copy_until(data, at, "-->", final, out)
        return self._text(data, at, final, out)

    def _skip_prolog_junk(self, data: str, at: int, final: bool) -> int | None:
        start = data.find("<", at)
        if start < 0:
            return len(data)
        if data.startswith("<?xml", start) or (len(data) - start < len("<?xml") and not final):
            end = data.find("?>", start)
            if end < 0:
                return None if not final else len(data)
            self._mode = "text"
            return end + 2
        self._mode = "text"
        return start

    def _copy_until(self, data: str, at: int, terminator: str, final: bool, out: list[str]) -> int:
        end = data.find(terminator, at)
        if end < 0:
            # keep a possible partial terminator for the next chunk
            keep = 0 if final else len(terminator) - 1
            cut = max(at, len(data) - keep)
            out.append(data[at:cut])
            self._pending_hold(data, cut)
            return len(data)
        out.append(data[at : end + len(terminator)])
        self._mode = "text"
        return end + len(terminator)

    def _pending_hold(self, data: str, cut: int) -> None:
        # the step consumed everything; what is after `cut` waits for the next chunk
        self._pending = data[cut:]

    def _text(self, data: str, at: int, final: bool, out: list[str]) -> int:
        at = _copy_plain(data, at, out)
        match = _SPECIAL.search(data, at)
        if match is None:
            # a trailing "<" may be the start of "<!" split across chunks
            keep = 1 if data.endswith("<") and not final else 0
            out.append(data[at : len(data) - keep])
            self._pending_hold(data, len(data) - keep)
            return len(data)
        out.append(data[at : match.start()])
        start = match.start()
        if len(data) - start < _LOOKAHEAD and not final and not self._decidable(data, start):
            self._pending_hold(data, start)
            return len(data)
        if data[start] == "&":
            return self._reference(data, start, out)
        step = self._markup(data, start, final, out)
        if step is None:  # an unfinished DOCTYPE: wait for the rest
            self._pending_hold(data, start)
            return len(data)
        return step

    def _decidable(self, data: str, start: int) -> bool:
        tail = data[start:]
        if tail[0] == "&":
            return ";" in tail or bool(re.match(r"&[^\w#]", tail))
        return not (
            "<![CDATA[".startswith(tail)
            or "<!--".startswith(tail)
            or "<!DOCTYPE".startswith(tail.upper())
        )

    def _reference(self, data: str, start: int, out: list[str]) -> int:
        match = _REFERENCE.match(data, start)
        if match is None:
            out.append(_AMPERSAND)
            return start + 1
        out.append(self._replacement(match))
        return match.end()

    def _replacement(self, match: re.Match[str]) -> str:
        if match["dec"] or match["hex"]:
            codepoint = int(match["dec"]) if match["dec"] else int(match["hex"], 16)
            if _is_xml_char(codepoint):
                return match.group(0)
            self.control_chars_removed += 1
            return ""
        name = match["name"]
        if name in _XML_ENTITIES:
            return _XML_ENTITIES[name]
        if name in self._declared:
            self.entities_refused += 1
            return ""
        codepoints = html.entities.html5.get(name + ";")
        if codepoints is not None:
            return "".join(f"&#{ord(char)};" for char in codepoints)
        return _AMPERSAND + match.group(0)[1:]

    def _markup(self, data: str, start: int, final: bool, out: list[str]) -> int | None:
        if data.startswith("<![CDATA[", start):
            self._mode = "cdata"
            out.append("<![CDATA[")
            return start + len("<![CDATA[")
        if data.startswith("<!--", start):
            self._mode = "comment"
            out.append("<!--")
            return start + len("<!--")
        if data[start : start + len("<!DOCTYPE")].upper() == "<!DOCTYPE":
            return self._doctype(data, start, final)
        out.append(_LESS_THAN)  # a "<" that starts no markup is text
        return start + 1

    def _doctype(self, data: str, start: int, final: bool) -> int | None:
        end = doctype_end(data, start)
        if end is None:
            return len(data) if final else None
        self.note_doctype(data[start:end])
        return end


def _copy_plain(data: str, at: int, out: list[str]) -> int:
    """Copy the text from `at` that needs no repair; return where the rest starts.

    Character data, tags and whole CDATA sections (an Indeed-style record is a dozen of
    them) are skipped by one regex match, in C. It stops at the next "&" or "<!" outside
    a complete CDATA section, and before a trailing "<" (maybe half of a "<!"), which the
    careful path then handles.
    """
    match = _PLAIN.match(data, at)
    stop = match.end() if match else at
    if stop == len(data) and data.endswith("<"):
        stop -= 1
    if stop > at:
        out.append(data[at:stop])
    return stop


def doctype_end(data: str, start: int) -> int | None:
    """Where the DOCTYPE declaration starting at `start` ends (past its ">"), None if it
    does not end in `data`; an internal subset ("[...]") may hold ">" of its own."""
    bracket = data.find("[", start)
    close = data.find(">", start)
    if close < 0:
        return None
    if 0 <= bracket < close:
        inner_end = data.find("]", bracket)
        while inner_end >= 0:
            rest = data.find(">", inner_end)
            if rest >= 0 and not data[inner_end + 1 : rest].strip():
                return rest + 1
            inner_end = data.find("]", inner_end + 1)
        return None
    return close + 1
