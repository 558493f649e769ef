"""Run notifications: the Slack-compatible message a webhook receives when a run ends."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from schemas.records import RunStatus
from schemas.report import ExecutionReport
from services.shared.redact import redact_text

COLORS: Mapping[str, str] = {
    RunStatus.SUCCESS: "good",
    RunStatus.PARTIAL: "warning",
    RunStatus.FAILURE: "danger",
}

# (label, report field) in the order an operator reads them.
FIELDS: tuple[tuple[str, Callable[[ExecutionReport], object]], ...] = (
    ("Status", lambda r: r.run_status),
    ("Records in feed", lambda r: r.total_in_feed),
    ("Approved", lambda r: r.jobs_auto_approved),
    ("Manual review", lambda r: r.jobs_manual_review),
    ("Rejected", lambda r: r.jobs_rejected),
    ("Closed in feed", lambda r: r.skipped_closed),
    ("Duplicates", lambda r: r.skipped_duplicate),
    ("Enrichment failed", lambda r: r.records_failed),
    ("Malformed", lambda r: r.malformed_records),
    ("Archived", lambda r: r.jobs_archived),
    ("LLM calls", lambda r: r.api_calls_gemini),
    ("Cache hits", lambda r: r.cache_hits),
    ("Tokens", lambda r: r.gemini_total_tokens),
)


def should_notify(status: str, notify_on: str) -> bool:
    return notify_on == "all" or status == RunStatus.FAILURE


def slack_message(report: ExecutionReport) -> dict[str, Any]:
    """A Slack incoming-webhook body (`text` plus one attachment) for a finished run."""
    status = str(report.run_status)
    feed = f"{report.feed_name or 'feed'} (ID: {report.feed_id})"
    title = (
        f"[FAILURE] Feed run failed for {feed}"
        if status == RunStatus.FAILURE
        else f"Feed run report: {feed}"
    )
    fields = [
        {"title": label, "value": str(value(report)), "short": True} for label, value in FIELDS
    ]
    duration = f"{report.duration_seconds or 0:.1f} s"
    fields.append({"title": "Duration", "value": duration, "short": True})
    errors = [redact_text(str(e)) for e in report.error_summary]
    if errors:
        summary = "\n".join(errors)[:1000]
        fields.append({"title": "Notes", "value": f"```{summary}```", "short": False})
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
