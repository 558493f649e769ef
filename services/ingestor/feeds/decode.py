"""Turns feed bytes into text: BOMs, declared encodings, and invalid bytes handled explicitly.

The encoding comes from, in order: a byte-order mark, a UTF-16/32 layout without one, an
EBCDIC layout, the XML declaration, the HTTP charset, else UTF-8. A declared encoding is
used only when it is a character set that reads the declaration's own bytes as written:
``base64``, ``rot13`` or ``zlib`` are not character sets, and a plain-ASCII document that
declares ``utf-32`` or ``cp037`` is not what it says; such a document is read as UTF-8 and
`Detected.note` says why. Bytes invalid in the encoding are decoded as Windows-1252 (the
usual culprit: a latin-1 file declared as UTF-8) and counted, so one bad byte never aborts
a feed and never disappears silently.
"""

from __future__ import annotations

import codecs
import re
from contextvars import ContextVar
from dataclasses import dataclass, field

from services.ingestor.feeds.model import FetchError

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_DECLARED_TEXT = re.compile(r"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_EBCDIC_XML = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC (XML 1.0, appendix F)
# Text codecs that are no character set: they transform text, or cannot stream a document.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined", "utf-7"}
)
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
    note: str | None = None  # why a declared encoding was not used


def detect_encoding(head: bytes, http_charset: str | None = None) -> Detected:
    """Decide the encoding from the first bytes of the document (at least 4 needed)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            return Detected(name, len(bom))
    if head.startswith(b"<\x00?\x00") or head.startswith(b"<\x00\x00\x00"):
        return Detected("utf-16-le" if head[2:3] == b"?" else "utf-32-le", 0)
    if head.startswith(b"\x00<\x00?"):
        return Detected("utf-16-be", 0)
    if head.startswith(_EBCDIC_XML):
        return _ebcdic(head)
    declared = _DECLARED.match(head[:HEAD_BYTES])
    if declared:
        return _declared(declared.group(1).decode("ascii"), declared.group(0))
    if http_charset:
        return _declared(http_charset, b"<?xml")
    return Detected("utf-8", 0)


def _declared(name: str, sample: bytes) -> Detected:
    codec = text_codec(name)
    if codec is None:
        why = "is not a text encoding" if _exists(name) else "is unknown"
        return Detected("utf-8", 0, f"declared encoding {name!r} {why}")
    if _reads_as(sample, codec) != sample.decode("ascii"):
        return Detected("utf-8", 0, f"declared encoding {name!r} does not match the bytes")
    return Detected(codec, 0)


def _ebcdic(head: bytes) -> Detected:
    declared = _DECLARED_TEXT.match(head[:HEAD_BYTES].decode("cp037", errors="replace"))
    codec = text_codec(declared.group(1)) if declared else None
    if codec and _reads_as(head[:5], codec) == "<?xml":
        return Detected(codec, 0)
    return Detected("cp037", 0)


def _exists(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _reads_as(sample: bytes, codec: str) -> str | None:
    try:
        return sample.decode(codec)
    except (UnicodeError, ValueError):
        return None


def text_codec(name: str) -> str | None:
    """The codec's canonical name if it is a character set a document can be written in."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not info._is_text_encoding or info.name in _NOT_CHARSETS:  # base64, rot13, zlib…
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
        except (UnicodeError, ValueError, TypeError) as exc:
            raise FetchError("encoding", f"cannot decode as {self.encoding}: {exc}") from exc
        finally:
            _invalid_counter.reset(token)
        self.invalid_bytes += counter[0]
        return text
