"""A run's execution report (`execution_reports`): the router writes it when it closes the
run, the syncer adds the sync, the API returns it, the console, the CLI and the webhook show
it. Each column is a field here, and only here; readers name fields, not strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, get_args, get_type_hints

from schemas.records import FINISHED_STATUSES, RunStatus
from schemas.status import SyncStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCounts:
    """What a run counted: the columns the router fills in when it closes the run."""

    total_in_feed: int = 0
    malformed_records: int = 0
    processed_successfully: int = 0
    skipped_closed: int = 0
    skipped_duplicate: int = 0
    skipped_duplicate_initial_aggregation: int = 0
    skipped_duplicate_ai_aggregation: int = 0
    records_failed: int = 0
    jobs_closed: int = 0
    jobs_archived: int = 0
    # per source (issue #19): this feed's listings that put a job on the board, found it
    # there from another feed, changed it; its sources the run dropped
    jobs_new: int = 0
    jobs_known_elsewhere: int = 0
    jobs_updated: int = 0
    jobs_dropped: int = 0
    jobs_archive_held: int = 0
    jobs_auto_approved: int = 0
    jobs_manual_review: int = 0
    jobs_rejected: int = 0
    # records the feed's last run processed as they are: not enriched, routed or written again
    jobs_unchanged: int = 0
    api_calls_gemini: int = 0
    cache_hits: int = 0
    gemini_input_tokens: int = 0
    gemini_output_tokens: int = 0  # the answers' tokens, thinking not included
    gemini_total_tokens: int = 0  # input + output + thinking
    gemini_cached_input_tokens: int = 0  # of the input tokens, those served from cache
    gemini_thinking_tokens: int = 0
    llm_cost_usd: float = 0.0  # from the per-model price table
    # stage -> {"calls", "input", "cached_input", "output", "thinking", "cost_usd"}
    llm_usage_by_stage: dict[str, dict[str, float]] = field(default_factory=dict)
    llm_paused_jobs: int = 0  # jobs not sent to the LLM: the run reached its cost ceiling
    feed_file_size_bytes: int = 0
    feed_uncompressed_bytes: int = 0

    def columns(self) -> dict[str, object]:
        """Column name -> value, for the report's SQL (the names are this class's fields)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunClosing:
    """Everything the router writes into the report when it closes a run."""

    counts: RunCounts
    run_status: RunStatus
    end_time: datetime
    duration_seconds: float
    archive_skipped_reason: str | None
    error_summary: tuple[str, ...]

    def columns(self) -> dict[str, object]:
        return self.counts.columns() | {
            "run_status": self.run_status.value,
            "end_time": self.end_time,
            "duration_seconds": self.duration_seconds,
            "archive_skipped_reason": self.archive_skipped_reason,
            "error_summary": list(self.error_summary),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionReport(RunCounts):
    """One row of `execution_reports`, as written so far (RUNNING until the run closes)."""

    id: int
    run_id: str
    feed_id: int
    feed_name: str | None
    run_status: RunStatus
    start_time: datetime
    end_time: datetime | None
    duration_seconds: float | None
    archive_skipped_reason: str | None
    api_calls_custom: int
    xano_status: SyncStatus | None  # None until the syncer reconciled the run's feed
    xano_jobs_added: int
    xano_jobs_updated: int
    xano_jobs_deleted: int
    xano_jobs_failed: int
    error_summary: list[str]
    progress: dict[str, object]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ExecutionReport:
        """From a `SELECT *` row (json codecs on); a column this class lacks is an error."""
        values = dict(row)
        values["run_status"] = RunStatus(values["run_status"])
        status = values["xano_status"]
        values["xano_status"] = None if status is None else SyncStatus(status)
        return cls(**values)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ExecutionReport:
        """From the API's JSON of a report, whose instants are ISO 8601 text."""
        hints = get_type_hints(cls)
        return cls.from_row(
            {name: _instant(value) if _is_instant(hints.get(name)) else value
             for name, value in body.items()}
        )  # fmt: skip

    @property
    def finished(self) -> bool:
        return self.run_status in FINISHED_STATUSES

    @property
    def synced(self) -> bool:
        """The syncer has reconciled the feed after this run (whatever the outcome)."""
        return self.xano_status is not None

    def as_json(self) -> dict[str, object]:
        """Column name -> value, as the API returns it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _is_instant(hint: object) -> bool:
    return hint is datetime or datetime in get_args(hint)


def _instant(value: object) -> object:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def money(usd: float) -> str:
    """US dollars as an operator reads them: cents, or four decimals below a dollar."""
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


# The run's LLM usage stage by stage, as the console's run page shows it: (header, value of a
# stage's usage entry) in column order.
USAGE_COLUMNS: tuple[tuple[str, Callable[[Mapping[str, float]], object]], ...] = (
    ("calls", lambda u: int(u.get("calls", 0))),
    ("input", lambda u: int(u.get("input", 0))),
    ("cached input", lambda u: int(u.get("cached_input", 0))),
    ("output", lambda u: int(u.get("output", 0))),
    ("thinking", lambda u: int(u.get("thinking", 0))),
    ("cost", lambda u: money(u.get("cost_usd", 0.0))),
)


# The run's counts as an operator reads them (the console's run page, `jobstream demo`): each
# counter named once, in reading order.
REPORT_COUNTS: tuple[tuple[str, Callable[[ExecutionReport], object]], ...] = (
    ("records in the feed", lambda r: r.total_in_feed),
    ("malformed (skipped)", lambda r: r.malformed_records),
    ("closed in the feed", lambda r: r.skipped_closed),
    ("duplicates merged, pass 1", lambda r: r.skipped_duplicate_initial_aggregation),
    ("duplicates merged, pass 2", lambda r: r.skipped_duplicate_ai_aggregation),
    ("approved", lambda r: r.jobs_auto_approved),
    ("manual review", lambda r: r.jobs_manual_review),
    ("rejected", lambda r: r.jobs_rejected),
    ("unchanged since the last run", lambda r: r.jobs_unchanged),
    ("enrichment failed", lambda r: r.records_failed),
    ("new to the board", lambda r: r.jobs_new),
    ("known from another feed", lambda r: r.jobs_known_elsewhere),
    ("updated", lambda r: r.jobs_updated),
    ("dropped by this feed", lambda r: r.jobs_dropped),
    ("archived", lambda r: r.jobs_archived),
    ("LLM calls", lambda r: r.api_calls_gemini),
    ("LLM input tokens", lambda r: r.gemini_input_tokens),
    ("LLM cached input tokens", lambda r: r.gemini_cached_input_tokens),
    ("LLM output tokens", lambda r: r.gemini_output_tokens),
    ("LLM thinking tokens", lambda r: r.gemini_thinking_tokens),
    ("LLM cost (USD)", lambda r: money(r.llm_cost_usd)),
    ("jobs not sent to the LLM (cost ceiling)", lambda r: r.llm_paused_jobs),
    ("enrichment cache hits", lambda r: r.cache_hits),
    ("feed bytes", lambda r: r.feed_file_size_bytes),
    ("Xano added", lambda r: r.xano_jobs_added),
    ("Xano updated", lambda r: r.xano_jobs_updated),
    ("Xano deleted", lambda r: r.xano_jobs_deleted),
    ("Xano failed", lambda r: r.xano_jobs_failed),
)
