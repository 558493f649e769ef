"""Pure parts of one job, many sources (issue #19): who owns a job, the per-source counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.records import Route
from schemas.report import REPORT_COUNTS, RunCounts
from schemas.status import SyncStatus
from services.router.handlers import Placement, with_source_counts
from services.syncer.service import SyncOutcome, _combined

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("route", "owner", "feed", "elsewhere"),
    [
        (Route.OPEN, 1, 2, True),
        (Route.MANUAL_REVIEW, 1, 2, True),
        (Route.REJECTED, 1, 2, True),
        (Route.OPEN, 1, 1, False),  # its owner's own listing
        (Route.ARCHIVED, 1, 2, False),  # off the board: the next listing takes it
        (Route.OPEN, None, 2, False),  # no owner known: the listing writes the row
    ],
)
def test_a_job_is_owned_elsewhere_only_while_another_feed_holds_it_on_the_board(
    route: Route, owner: int | None, feed: int, elsewhere: bool
) -> None:
    placement = Placement(route, None, "run-1", NOW, "digest", owner)
    assert placement.owned_elsewhere(feed) is elsewhere


def test_the_report_counts_each_kind_of_listing_and_the_drops() -> None:
    counts = with_source_counts(
        RunCounts(jobs_archived=2), {"new": 3, "known": 4, "updated": 1, "unchanged": 9}, dropped=5
    )
    assert (counts.jobs_new, counts.jobs_known_elsewhere, counts.jobs_updated) == (3, 4, 1)
    assert (counts.jobs_dropped, counts.jobs_archived) == (5, 2)
    assert with_source_counts(RunCounts(), {}, dropped=0) == RunCounts()
    labels = [label for label, _ in REPORT_COUNTS]
    assert "known from another feed" in labels and "dropped by this feed" in labels


def test_two_reconciles_of_one_run_add_up_and_keep_the_worse_status() -> None:
    own = SyncOutcome(status=SyncStatus.SYNCED, added=2, errors=("a",))
    owners = SyncOutcome(status=SyncStatus.HELD, deleted=1, held_deletes=7, errors=("b",))
    both = _combined(own, owners)
    assert (both.status, both.added, both.deleted, both.held_deletes) == (SyncStatus.HELD, 2, 1, 7)
    assert both.errors == ("a", "b") and not both.unavailable
    down = _combined(both, SyncOutcome(status=SyncStatus.FAILED, unavailable=True))
    assert down.status == SyncStatus.FAILED and down.unavailable
