"""What the API answers, as types: a run's view and progress, and the outcome of each action.

`app.py` serialises them (`as_json`, or the dict a TypedDict is), so a view's fields are named
here once; the console reads the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal, NotRequired, TypedDict

from schemas.records import FINISHED_STATUSES, RunStatus
from schemas.report import ExecutionReport
from schemas.status import ArchiveState, RunState, SyncStatus
from services.api.handlers import FeedRow, RunRow
from services.shared.redact import redact_text, redact_url


class ArchiveView(TypedDict):
    """What a run did about the feed's jobs it did not produce."""

    state: ArchiveState | None
    archived: int
    held: int
    reason: str | None
    decided_by: str | None
    message: NotRequired[str]  # how to answer a held archive


class IngestStage(TypedDict):
    done: bool
    emitted: int | None


class RouteStage(TypedDict):
    done: bool
    outcomes: int
    total: int | None
    by_outcome: dict[str, int]


class SyncStage(TypedDict):
    done: bool
    xano_status: SyncStatus | None


class Stages(TypedDict):
    ingest: IngestStage
    route: RouteStage
    sync: SyncStage


class RunProgress(TypedDict):
    status: RunStatus
    finished: bool
    waiting_for: str | None
    archive: ArchiveView
    stages: Stages


@dataclass(frozen=True, slots=True)
class RunView:
    """A run as a client sees it: its ledger row, its report (none before the router made
    one) and its per-stage progress."""

    run: RunRow
    report: ExecutionReport | None
    progress: RunProgress

    def as_json(self) -> dict[str, object]:
        """The view with every text passed through `redact_text` (an error may quote a URL)."""
        view = {
            "run": self.run.as_json(),
            "report": self.report.as_json() if self.report else None,
            "progress": self.progress,
        }
        return {name: _redacted_texts(value) for name, value in view.items()}


def _redacted_texts(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _redacted_texts(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted_texts(item) for item in value]
    return value


# --- progress ------------------------------------------------------------------------------


def archive_view(run: RunRow, report: ExecutionReport | None) -> ArchiveView:
    """What the run did about the feed's jobs it did not produce; a held archive says how
    to answer it."""
    state = run.archive_state
    held = report.jobs_archive_held if report else 0
    view: ArchiveView = {
        "state": state,
        "archived": report.jobs_archived if report else 0,
        "held": held,
        "reason": report.archive_skipped_reason if report else None,
        "decided_by": run.archive_decided_by,
    }
    if state is ArchiveState.HELD:
        view["message"] = f"archive held: {held} jobs, confirm or discard"
    return view


def waiting_for(run: RunRow, done: int) -> str | None:
    """What a run in progress waits for, in words an operator can act on."""
    if run.status is not RunState.RUNNING:
        return None
    emitted = run.emitted
    since = run.last_progress_at
    quiet = f" (last progress {since.isoformat()})" if since is not None else ""
    if emitted is None:
        what = "the ingestor to finish reading the feed (no IngestFinished yet)"
    else:
        what = f"outcomes of {emitted - done} of {emitted} records"
    return f"{what}{quiet}; `jobstream runs fail RUN` closes it as a failure"


def progress(
    run: RunRow, outcomes: Mapping[str, int], report: ExecutionReport | None
) -> RunProgress:
    """Per-stage progress of a run: ingest (records emitted), outcomes so far, Xano sync,
    what it waits for, and its archive."""
    emitted = run.emitted
    done = sum(outcomes.values())
    status = report.run_status if report else RunStatus.RUNNING
    return {
        "status": status,
        "finished": status in FINISHED_STATUSES,
        "waiting_for": waiting_for(run, done) if status not in FINISHED_STATUSES else None,
        "archive": archive_view(run, report),
        "stages": {
            "ingest": {"done": emitted is not None, "emitted": emitted},
            "route": {
                "done": emitted is not None and done >= emitted,
                "outcomes": done,
                "total": emitted,
                "by_outcome": dict(sorted(outcomes.items())),
            },
            "sync": {
                "done": bool(report and report.synced),
                "xano_status": report.xano_status if report else None,
            },
        },
    }


# --- feeds and actions ----------------------------------------------------------------------


def redacted_feed(feed: FeedRow) -> FeedRow:
    """A feed as a client sees it: no password or query value of its URL, even in errors."""
    error = feed.last_error_message
    return replace(
        feed,
        source_url=redact_url(feed.source_url),
        last_error_message=None if error is None else redact_text(error),
    )


class ArchiveDecision(TypedDict):
    """A held archive's answer, as requested of the router."""

    run_id: str
    feed_id: int
    confirm: bool
    by: str


class FailRequest(TypedDict):
    """A run's closing as a failure, as requested of the router."""

    run_id: str
    feed_id: int
    reason: str
    by: str


class Approval(TypedDict):
    job_hash: str
    feed_id: int
    route: Literal["open"]
    published: bool  # False: the next reconcile pushes it


class Rejection(TypedDict):
    job_hash: str
    feed_id: int
    route: Literal["rejected"]
    reason: str
