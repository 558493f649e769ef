"""The values feed reading hands out: items, per-feed statistics and the fetch error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from schemas.records import JobPosting, MalformedRecord
from services.shared.redact import redact_text

FetchStatus = Literal["ok", "failed", "truncated"]


class FetchError(Exception):
    """The feed body could not be read whole; `kind` names the failure for reports."""

    def __init__(self, kind: str, message: str) -> None:
        message = redact_text(message)  # it reaches reports, logs and webhooks: no secrets
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as found in the feed: flattened field paths to text, before mapping."""

    position: int
    line: int | None
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class ParsedJob:
    position: int
    job: JobPosting


@dataclass(frozen=True, slots=True)
class MalformedItem:
    """A record lost, with why; `salvaged` is what a forgiving parse could still read of
    it (shown by `jobstream inspect`, never published)."""

    position: int
    line: int | None
    reason: str
    salvaged: dict[str, str] = field(default_factory=dict, compare=False)
    # what still names the job the record lists, when it could be read: its external id
    # (else its URL), else its title; the run's archive keeps that job
    listing: str | None = None
    title: str | None = None

    def as_record(self) -> MalformedRecord:
        return MalformedRecord(position=self.position, line=self.line, reason=self.reason)


FeedItem = ParsedJob | MalformedItem
ExtractedItem = RawRecord | MalformedItem


@dataclass(slots=True)
class FeedStats:
    """Running counters of one feed read; final once iteration has ended."""

    bytes_compressed: int = 0
    bytes_uncompressed: int = 0
    parsed: int = 0
    malformed: int = 0
    closed: int = 0
    fetch_status: FetchStatus = "ok"
    error: str | None = None
    dialect: str | None = None
    encoding: str | None = None
    invalid_bytes: int = 0
    control_chars_removed: int = 0
    entities_refused: int = 0
    fields_truncated: int = 0
    warnings: list[str] = field(default_factory=list)
    malformed_samples: list[MalformedItem] = field(default_factory=list)
    # of malformed records: external ids (else URLs); the titles of those with neither; and
    # how many have content but none of the three
    malformed_listings: list[str] = field(default_factory=list)
    malformed_titles: list[str] = field(default_factory=list)
    malformed_unidentified: int = 0

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
