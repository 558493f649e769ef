"""The status words services store in PostgreSQL and send to the job mirror, one definition
each (a run's verdict, `RunStatus`, travels in records and lives in `schemas.records`).

StrEnums: a member is its stored word, so the database and the API see the same strings.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A job row's `status`: what the job mirror shows (the table a job is in is its Route)."""

    ACTIVE = "ACTIVE"
    MANUAL_REVIEW = "MANUAL_REVIEW"
    REJECTED = "REJECTED"
    ENRICHMENT_FAILED = "ENRICHMENT_FAILED"
    ARCHIVED = "ARCHIVED"


class RunState(StrEnum):
    """A run's ledger row (`runs.status`): open until exactly one replica closes it."""

    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"


class SyncStatus(StrEnum):
    """How a reconcile with the job mirror ended (`execution_reports.xano_status`)."""

    SYNCED = "SYNCED"
    PARTIAL = "PARTIAL"
    HELD = "HELD"  # deletes over the cap, waiting for an operator
    FAILED = "FAILED"


class ArchiveState(StrEnum):
    """What a completed run did about the feed's jobs it did not produce (`runs.archive_state`)."""

    APPLIED = "applied"
    HELD = "held"  # waiting for an operator: confirm or discard
    CONFIRMED = "confirmed"
    DISCARDED = "discarded"
    SUPERSEDED = "superseded"  # a later run of the feed judged again before anyone answered
    SKIPPED = "skipped"  # unsafe to judge: nothing archived
    NOT_JUDGED = "not_judged"  # a replay reprocesses; it never judges presence
