"""Run notifications: the Slack-compatible message a webhook receives when a run ends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from schemas.records import RunStatus
from schemas.report import ExecutionReport
from services.shared.redact import redact_text

COLORS: Mapping[str, str] = {
    RunStatus.SUCCESS: "good",
    RunStatus.PARTIAL: "warning",
    RunStatus.FAILURE: "danger",
}

# The counters the message shows: (label, `ExecutionReport` field) in reading order.
FIELDS: tuple[tuple[str, str], ...] = (
    ("Status", "run_status"),
    ("Records in feed", "total_in_feed"),
    ("Approved", "jobs_auto_approved"),
    ("Manual review", "jobs_manual_review"),
    ("Rejected", "jobs_rejected"),
    ("Closed in feed", "skipped_closed"),
    ("Duplicates", "skipped_duplicate"),
    ("Enrichment failed", "records_failed"),
    ("Malformed", "malformed_records"),
    ("Archived", "jobs_archived"),
    ("LLM calls", "api_calls_gemini"),
    ("Cache hits", "cache_hits"),
    ("Tokens", "gemini_total_tokens"),
)


class SlackField(TypedDict):
    title: str
    value: str
    short: bool


class SlackAttachment(TypedDict):
    color: str
    title: str
    fields: list[SlackField]
    footer: str
    ts: int | None


class SlackMessage(TypedDict):
    """A Slack incoming-webhook body."""

    text: str
    attachments: list[SlackAttachment]


def should_notify(status: str, notify_on: str) -> bool:
    return notify_on == "all" or status == RunStatus.FAILURE


def slack_message(report: ExecutionReport) -> SlackMessage:
    """A Slack incoming-webhook body (`text` plus one attachment) for a finished run."""
    status = str(report.run_status)
    feed = f"{report.feed_name or 'feed'} (ID: {report.feed_id})"
    title = (
        f"[FAILURE] Feed run failed for {feed}"
        if status == RunStatus.FAILURE
        else f"Feed run report: {feed}"
    )
    fields = [
        SlackField(title=label, value=str(getattr(report, name)), short=True)
        for label, name in FIELDS
    ]
    duration = f"{report.duration_seconds or 0:.1f} s"
    fields.append(SlackField(title="Duration", value=duration, short=True))
    errors = [redact_text(str(e)) for e in report.error_summary]
    if errors:
        summary = "\n".join(errors)[:1000]
        fields.append(SlackField(title="Notes", value=f"```{summary}```", short=False))
    end = report.end_time
    return {
        "text": f"{title}: {status}",
        "attachments": [
            {
                "color": COLORS.get(status, "#439FE0"),
                "title": title,
                "fields": fields,
                "footer": f"jobstream · run {report.run_id}",
                "ts": int(end.timestamp()) if end else None,
            }
        ],
    }
