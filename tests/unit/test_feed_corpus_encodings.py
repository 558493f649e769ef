"""Odd declared encodings: a correct decode, with a note when the declaration was not used.

Before, ``base64``/``rot13``/``zlib`` reached the text stage as bytes (a traceback) and a
plain-ASCII feed declaring ``utf-32`` or ``cp037`` decoded to noise (a silent empty feed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.ingestor.feeds import FeedSettings
from services.ingestor.feeds.decode import TextDecoder
from services.ingestor.feeds.model import FetchError
from tests.unit.feed_corpus import read

TITLES = [f"Café {i}" for i in range(20)]
BODY = "<jobs>" + "".join(
    f"<job><title>{t}</title><description>d</description></job>" for t in TITLES
) + "</jobs>"  # fmt: skip


def declared(encoding: str) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{BODY}'


@pytest.mark.parametrize(
    ("encoding", "note"),
    [
        ("utf-32", "declared encoding 'utf-32' does not match the bytes: read as utf-8"),
        ("cp037", "declared encoding 'cp037' does not match the bytes: read as utf-8"),
        ("base64", "declared encoding 'base64' is not a text encoding: read as utf-8"),
        ("rot13", "declared encoding 'rot13' is not a text encoding: read as utf-8"),
        ("zlib", "declared encoding 'zlib' is not a text encoding: read as utf-8"),
        ("hex", "declared encoding 'hex' is not a text encoding: read as utf-8"),
        ("unicode_escape", "declared encoding 'unicode_escape' is not a text encoding"),
        ("idna", "declared encoding 'idna' is not a text encoding: read as utf-8"),
        ("x-no-such", "declared encoding 'x-no-such' is unknown: read as utf-8"),
    ],
)
async def test_a_declaration_that_cannot_be_true_is_read_as_utf8_with_a_note(
    tmp_path: Path, encoding: str, note: str
) -> None:
    feed = tmp_path / "f.xml"
    feed.write_bytes(declared(encoding).encode("utf-8"))
    outcome = await read(feed, FeedSettings(local_dirs=(tmp_path,)))
    assert outcome.titles == TITLES and outcome.malformed == []
    assert outcome.stats.fetch_status == "ok" and outcome.stats.encoding == "utf-8"
    assert any(w.startswith(note) for w in outcome.stats.warnings), outcome.stats.warnings


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [("utf-32", "utf-32-le"), ("cp037", "cp037"), ("cp500", "cp500"), ("latin-1", "iso8859-1")],
)
async def test_a_document_really_in_its_declared_encoding_is_decoded(
    tmp_path: Path, encoding: str, detected: str
) -> None:
    feed = tmp_path / "f.xml"
    feed.write_bytes(declared(encoding).encode(encoding))
    outcome = await read(feed, FeedSettings(local_dirs=(tmp_path,)))
    assert outcome.titles == TITLES and outcome.malformed == []
    assert outcome.stats.fetch_status == "ok" and outcome.stats.encoding == detected
    assert outcome.stats.warnings == []


def test_a_decoder_failure_is_a_fetch_error_not_a_traceback() -> None:
    decoder = TextDecoder("utf-8")
    decoder._decoder = TextDecoder("idna")._decoder  # a codec that raises UnicodeError
    with pytest.raises(FetchError, match="encoding: cannot decode as utf-8"):
        decoder.decode(b"a." + b"x" * 100 + b".b", final=True)
