"""The records that travel between services: one versioned model per message type."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.text import html_to_text
from schemas.usage import StageUsage


class Record(BaseModel):
    """Base of every message body. `TYPE` and `VERSION` name it on the wire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class EmploymentType(StrEnum):
    FULL_TIME = "FULL_TIME"
    PART_TIME = "PART_TIME"
    CONTRACT = "CONTRACT"
    TEMPORARY = "TEMPORARY"
    INTERNSHIP = "INTERNSHIP"
    OTHER = "OTHER"


class SalaryPeriod(StrEnum):
    HOURLY = "HOURLY"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"


class Route(StrEnum):
    """The four job tables; a job lives in exactly one of them."""

    OPEN = "open"
    MANUAL_REVIEW = "manual_review"
    REJECTED = "rejected"
    ARCHIVED = "archived"


class Outcome(StrEnum):
    """What happened to one record of a run; each record gets exactly one."""

    CLOSED = "closed"
    DUPLICATE = "duplicate"
    MERGED = "merged"
    APPROVED = "approved"
    MANUAL_REVIEW = "manual_review"
    REJECTED = "rejected"
    ENRICHMENT_FAILED = "enrichment_failed"


class EnrichmentStatus(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    SKIPPED = "skipped"  # closed jobs are not worth an LLM call


class RunStatus(StrEnum):
    """A run's verdict in its report (`execution_reports.run_status`); RUNNING until it ends."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    PARTIAL = "PARTIAL"
    FAILURE = "FAILURE"


FINISHED_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.PARTIAL, RunStatus.FAILURE})


class RequestReason(StrEnum):
    API = "api"
    CLI = "cli"
    SCHEDULE = "schedule"
    REPLAY = "replay"


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    city: str | None = None
    state: str | None = None
    country: str | None = None  # ISO-3166 alpha-2
    postal_code: str | None = None

    def key(self) -> str:
        """Identity used to union locations across merged postings."""
        parts = (self.city, self.state, self.country, self.postal_code)
        return "|".join((p or "").strip().lower() for p in parts)


class Salary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min: float | None = None
    max: float | None = None
    period: SalaryPeriod | None = None
    currency: str | None = None  # ISO-4217


class JobPosting(BaseModel):
    """One job as the feed described it, mapped and normalised.

    Only the HTML description travels; `description_text` is derived from it when read
    (v1 messages also carried the text, which doubled every job message's size).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_job_id: str | None = None
    title: str = ""
    company_name: str = ""
    description_html: str = ""
    application_url: str | None = None
    posted_at: datetime | None = None
    expires_at: datetime | None = None
    employment_type: EmploymentType = EmploymentType.OTHER
    is_remote: bool = False
    locations: tuple[Location, ...] = ()
    salary: Salary | None = None
    cpc: float | None = None
    cpa: float | None = None
    closed_reason: str | None = None  # set when the feed says the job is closed

    @property
    def description_text(self) -> str:
        """The description as plain text, computed on each read: keep it if used twice."""
        return html_to_text(self.description_html)


class Enrichment(BaseModel):
    """What the LLM (or the offline backend) adds to a job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ai_title: str
    ai_description: str
    tasks: tuple[str, ...] = ()
    search_terms: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    salary: Salary | None = None
    sector_id: int | None = None
    industry_group_id: int | None = None
    industry_id: int | None = None
    industry_reasoning: str = ""
    sector: str = ""  # names resolved from the taxonomy ids
    industry_group: str = ""
    industry: str = ""
    job_function: str = ""
    confidence: float = Field(ge=0, le=100)
    confidence_reasons: tuple[str, ...] = ()
    job_function_id: int | None = None
    job_function_reasoning: str = ""
    searchable_text: str | None = None


class FeedRequested(Record):
    TYPE: ClassVar[str] = "FeedRequested"

    run_id: str
    feed_id: int
    reason: RequestReason
    requested_at: datetime
    refresh: bool = False  # bypass the enrichment cache


class RunStarted(Record):
    TYPE: ClassVar[str] = "RunStarted"

    run_id: str
    feed_id: int
    reason: RequestReason
    started_at: datetime


class MalformedRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int  # 1-based ordinal of the record in the feed
    line: int | None = None
    reason: str


class IngestFinished(Record):
    """The ingestor's last word on a run: how many records it emitted to `jobs.raw`."""

    TYPE: ClassVar[str] = "IngestFinished"

    run_id: str
    feed_id: int
    emitted: int
    parsed: int = 0
    malformed: int = 0
    closed: int = 0
    bytes_compressed: int = 0
    bytes_uncompressed: int = 0
    fetch_status: Literal["ok", "failed", "truncated"] = "ok"
    error: str | None = None
    malformed_samples: tuple[MalformedRecord, ...] = ()
    # what names the jobs of malformed records, which are still listed, so the archive keeps
    # them: external ids (else URLs), else titles; records with none of them hold the archive
    malformed_listings: tuple[str, ...] = ()
    malformed_titles: tuple[str, ...] = ()
    malformed_unidentified: int = 0


class RunCompleted(Record):
    TYPE: ClassVar[str] = "RunCompleted"

    run_id: str
    feed_id: int
    status: RunStatus
    archived: int = 0
    archive_skipped_reason: str | None = None


class ArchiveDecided(Record):
    """An operator's answer to a run's held archive: apply it (confirm) or drop it."""

    TYPE: ClassVar[str] = "ArchiveDecided"

    run_id: str
    feed_id: int
    confirm: bool
    decided_by: str
    decided_at: datetime


class RunFailRequested(Record):
    """An operator closes a run that cannot complete as a FAILURE, with the reason given."""

    TYPE: ClassVar[str] = "RunFailRequested"

    run_id: str
    feed_id: int
    reason: str
    requested_by: str
    requested_at: datetime


class RawJob(Record):
    TYPE: ClassVar[str] = "RawJob"
    VERSION: ClassVar[int] = 2  # v2: the job no longer carries description_text

    run_id: str
    feed_id: int
    seq: int  # position of the record in the feed: with run_id, the ledger key
    job_hash: str
    dedupe_key: str
    job: JobPosting
    refresh: bool = False  # bypass the enrichment cache for this run

    @property
    def closed(self) -> bool:
        return self.job.closed_reason is not None


class DedupedJob(Record):
    """A job that survived pass-1 dedupe (closed jobs pass through untouched)."""

    TYPE: ClassVar[str] = "DedupedJob"
    VERSION: ClassVar[int] = 2  # v2: the job no longer carries description_text

    run_id: str
    feed_id: int
    seq: int
    job_hash: str
    job: JobPosting
    refresh: bool = False

    @property
    def seq_key(self) -> tuple[str, int]:
        return (self.run_id, self.seq)


class JobMerged(Record):
    """A record folded into a kept job: an exact duplicate, or a posting in another location."""

    TYPE: ClassVar[str] = "JobMerged"

    run_id: str
    feed_id: int
    seq: int
    kept_hash: str
    duplicate_hash: str
    outcome: Literal[Outcome.DUPLICATE, Outcome.MERGED]
    pass_number: Literal[1, 2] = 1
    locations: tuple[Location, ...] = ()


class EnrichedJob(Record):
    TYPE: ClassVar[str] = "EnrichedJob"
    VERSION: ClassVar[int] = 2  # v2: the job no longer carries description_text

    run_id: str
    feed_id: int
    seq: int
    job_hash: str
    job: JobPosting
    status: EnrichmentStatus
    enrichment: Enrichment | None = None
    error: str | None = None
    enrichment_version: str = ""
    cache_hit: bool = False
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0  # the answers' tokens; thinking is in llm_usage
    # by stage: tokens of each kind and their cost (schemas/usage.py); left off the wire when
    # empty (no LLM call), so such messages stay readable by routers that predate the field
    llm_usage: dict[str, StageUsage] = Field(default_factory=dict, exclude_if=lambda u: not u)
    # why the model's word alone may not publish it (failed trust checks): the router sends
    # a job it would approve to manual review with these reasons. Left off the wire when
    # empty, so such messages stay readable by routers that predate the field.
    review_reasons: tuple[str, ...] = Field(default=(), exclude_if=lambda reasons: not reasons)


class RoutedJob(Record):
    """A job's place after routing (or a reviewer's decision), for the syncer."""

    TYPE: ClassVar[str] = "RoutedJob"

    feed_id: int
    job_hash: str
    route: Route
    reason: str
    run_id: str | None = None
    decided_by: Literal["pipeline", "reviewer"] = "pipeline"


class DeadLetter(Record):
    """A message a consumer could not process, kept whole with the reason."""

    TYPE: ClassVar[str] = "DeadLetter"
    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    topic: str
    partition: int
    offset: int
    error: str
    raw: bytes  # serialised as base64 by the codec
    key: bytes | None = None


ALL_RECORDS: tuple[type[Record], ...] = (
    FeedRequested,
    RunStarted,
    IngestFinished,
    RunCompleted,
    ArchiveDecided,
    RunFailRequested,
    RawJob,
    DedupedJob,
    JobMerged,
    EnrichedJob,
    RoutedJob,
    DeadLetter,
)
