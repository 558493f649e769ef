"""Turns feed bytes into text: BOMs, declared encodings, and invalid bytes handled explicitly.

The encoding comes from, in order: a byte-order mark, a UTF-16/32 layout without one, the
XML declaration, the HTTP charset, else UTF-8. Bytes invalid in that encoding are decoded
as Windows-1252 (the usual culprit: a latin-1 file declared as UTF-8) and counted, so one
bad byte never aborts a feed and never disappears silently.
"""

from __future__ import annotations

import codecs
import re
from contextvars import ContextVar
from dataclasses import dataclass, field

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_ERROR_HANDLER = "jobstream-cp1252-fallback"
_invalid_counter: ContextVar[list[int] | None] = ContextVar("_invalid_counter", default=None)
HEAD_BYTES = 1024


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    counter = _invalid_counter.get()
    if counter is not None:
        counter[0] += len(bad)
    return bad.decode("cp1252", errors="replace"), error.end


codecs.register_error(_ERROR_HANDLER, _cp1252_fallback)


@dataclass(frozen=True, slots=True)
class Detected:
    encoding: str
    bom_length: int


def detect_encoding(head: bytes, http_charset: str | None = None) -> Detected:
    """Decide the encoding from the first bytes of the document (at least 4 needed)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return Detected(name, len(bom))
    if head.startswith(b"<\x00?\x00") or head.startswith(b"<\x00\x00\x00"):
        return Detected("utf-16-le" if head[2:3] == b"?" else "utf-32-le", 0)
    if head.startswith(b"\x00<\x00?"):
        return Detected("utf-16-be", 0)
    declared = _DECLARED.match(head[:HEAD_BYTES])
    for candidate in (declared.group(1).decode("ascii") if declared else None, http_charset):
        if candidate and _known_codec(candidate):
            return Detected(_known_codec(candidate) or "utf-8", 0)
    return Detected("utf-8", 0)


def _known_codec(name: str) -> str | None:
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # a document that reached us as bytes and declares UTF-16 without a BOM is really 8-bit
    return "utf-8" if info.name.startswith("utf-16") else info.name


@dataclass(slots=True)
class TextDecoder:
    """Incremental decoder that counts the bytes it had to repair."""

    encoding: str
    skip: int = 0
    invalid_bytes: int = 0
    _decoder: codecs.IncrementalDecoder = field(init=False)

    def __post_init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder(self.encoding)(errors=_ERROR_HANDLER)

    def decode(self, data: bytes, *, final: bool = False) -> str:
        if self.skip:
            data, self.skip = data[self.skip :], max(0, self.skip - len(data))
        counter = [0]
        token = _invalid_counter.set(counter)
        try:
            text = self._decoder.decode(data, final)
        finally:
            _invalid_counter.reset(token)
        self.invalid_bytes += counter[0]
        return text
