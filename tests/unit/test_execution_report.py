"""The execution report type: built from a row as stored, and what the router writes."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import orjson
import pytest

from schemas.records import RunStatus
from schemas.report import ExecutionReport, RunClosing, RunCounts
from schemas.status import SyncStatus
from tests.reports import a_report

ENDED = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def test_a_row_becomes_a_report_with_its_status_words_typed() -> None:
    row = a_report().as_json() | {
        "run_status": RunStatus.PARTIAL.value,
        "xano_status": SyncStatus.HELD.value,
    }
    report = ExecutionReport.from_row(row)
    assert report.run_status is RunStatus.PARTIAL and report.xano_status is SyncStatus.HELD
    assert report.finished and report.synced
    assert report.as_json() == row  # the API returns the columns as stored


def test_a_report_read_back_from_the_api_json_is_the_same_report() -> None:
    report = a_report(end_time=ENDED, run_status=RunStatus.FAILURE, xano_status=SyncStatus.SYNCED)
    body = orjson.loads(orjson.dumps(report.as_json()))  # as the API sends it
    assert isinstance(body["start_time"], str) and body["end_time"] == "2026-11-29T10:00:00+00:00"
    assert ExecutionReport.from_json(body) == report


def test_a_running_unsynced_report() -> None:
    report = ExecutionReport.from_row(
        a_report().as_json() | {"run_status": RunStatus.RUNNING.value}
    )
    assert not report.finished and not report.synced and report.xano_status is None


def test_a_column_the_type_does_not_know_is_an_error_not_dropped() -> None:
    with pytest.raises(TypeError, match="jobs_teleported"):
        ExecutionReport.from_row(a_report().as_json() | {"jobs_teleported": 1})


def test_a_status_word_the_vocabulary_lacks_is_an_error() -> None:
    with pytest.raises(ValueError, match="DONE"):
        ExecutionReport.from_row(a_report().as_json() | {"run_status": "DONE"})


def test_the_router_writes_every_count_and_the_verdict() -> None:
    closing = RunClosing(
        counts=RunCounts(total_in_feed=3, jobs_auto_approved=2),
        run_status=RunStatus.SUCCESS, end_time=ENDED, duration_seconds=1.5,
        archive_skipped_reason=None, error_summary=("a note",),
    )  # fmt: skip
    columns = closing.columns()
    counters = {f.name for f in fields(RunCounts)}
    assert set(columns) == counters | {
        "run_status", "end_time", "duration_seconds", "archive_skipped_reason", "error_summary",
    }  # fmt: skip
    assert set(columns) <= {f.name for f in fields(ExecutionReport)}
    assert (columns["total_in_feed"], columns["jobs_auto_approved"]) == (3, 2)
    assert columns["run_status"] == RunStatus.SUCCESS and type(columns["run_status"]) is str
    assert columns["error_summary"] == ["a note"]  # a JSON array in the jsonb column
