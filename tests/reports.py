"""Execution reports and run rows for tests of what reads them (the webhook, the API, the
console, the CLI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from schemas.records import RunStatus
from schemas.report import ExecutionReport
from schemas.status import RunState
from services.api.handlers import RunRow

STARTED = datetime(2026, 11, 29, 9, 59, tzinfo=UTC)


def a_report(**changes: Any) -> ExecutionReport:
    """A finished run's report, with `changes` (any field) applied."""
    fields: dict[str, Any] = {
        "id": 1, "run_id": "run-1", "feed_id": 7, "feed_name": None,
        "run_status": RunStatus.SUCCESS, "start_time": STARTED, "end_time": None,
        "duration_seconds": None, "archive_skipped_reason": None, "api_calls_custom": 0,
        "xano_status": None, "xano_jobs_added": 0, "xano_jobs_updated": 0,
        "xano_jobs_deleted": 0, "xano_jobs_failed": 0, "error_summary": [], "progress": {},
        "created_at": STARTED, "updated_at": STARTED,
    }  # fmt: skip
    return ExecutionReport(**(fields | changes))


def a_run(**changes: Any) -> RunRow:
    """A run's ledger row, RUNNING with nothing read yet, with `changes` applied."""
    fields: dict[str, Any] = {
        "run_id": "run-1", "feed_id": 7, "reason": "api", "status": RunState.RUNNING,
        "refresh": False, "emitted": None, "started_at": STARTED, "ingest_finished_at": None,
        "last_progress_at": None, "completed_at": None, "failure_reason": None,
        "open_before": None, "archive_candidates": None, "archive_state": None,
        "archive_decided_by": None, "archive_decided_at": None,
    }  # fmt: skip
    return RunRow(**(fields | changes))
