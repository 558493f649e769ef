"""Run notifications: what the webhook says, and when it is told."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from schemas.records import RunStatus
from schemas.report import ExecutionReport
from services.router.config import NotifySettings
from services.router.notifications import FIELDS, should_notify, slack_message
from services.shared.settings import SettingsError
from tests.reports import a_report


def _report(**changes: object) -> ExecutionReport:
    return a_report(
        **{
            "run_id": "run-1",
            "feed_id": 7,
            "feed_name": "Brightline",
            "run_status": RunStatus.SUCCESS,
            "total_in_feed": 120,
            "jobs_auto_approved": 80,
            "error_summary": [],
            "duration_seconds": 12.34,
            "end_time": datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        }
        | changes
    )


def test_a_successful_run_reads_as_a_report_with_its_counts() -> None:
    message = slack_message(_report())
    attachment = message["attachments"][0]
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert message["text"] == "Feed run report: Brightline (ID: 7): SUCCESS"
    assert attachment["color"] == "good"
    assert (fields["Records in feed"], fields["Approved"], fields["Duration"]) == (
        "120",
        "80",
        "12.3 s",
    )
    assert attachment["ts"] == 1795946400


def test_a_failure_is_flagged_and_its_reasons_are_whole_lines() -> None:
    reasons = ["fetch failed: HTTP 503", "the feed produced zero records"]
    message = slack_message(_report(run_status=RunStatus.FAILURE, error_summary=reasons))
    attachment = message["attachments"][0]
    notes = next(f["value"] for f in attachment["fields"] if f["title"] == "Notes")
    assert attachment["color"] == "danger"
    assert attachment["title"].startswith("[FAILURE]")
    assert notes == "```fetch failed: HTTP 503\nthe feed produced zero records```"


def test_who_is_told_what() -> None:
    assert should_notify(RunStatus.SUCCESS, "all") and should_notify(RunStatus.FAILURE, "failure")
    assert not should_notify(RunStatus.PARTIAL, "failure")


def test_notifications_are_off_without_a_url_and_the_mode_is_checked() -> None:
    assert not NotifySettings.from_env({}).webhook_url
    with pytest.raises(SettingsError, match="NOTIFY_ON"):
        NotifySettings.from_env({"NOTIFY_ON": "sometimes"})


def test_every_counter_the_message_shows_is_a_report_field() -> None:
    """The message names its counters by `ExecutionReport` field: a renamed field must not
    leave the webhook reading a name that no longer exists."""
    report_fields = {f.name for f in dataclasses.fields(ExecutionReport)}
    assert [name for _, name in FIELDS if name not in report_fields] == []
