"""Which records of a run may skip the pipeline: whole settled groups, unchanged, in order."""

from __future__ import annotations

from schemas.records import JobPosting, Location
from services.ingestor.incremental import (
    Member,
    PreviousRun,
    Sorter,
    Unchanged,
    fingerprint,
    group_key,
)

A, B = group_key("nurse|acme|full_time"), group_key("driver|acme|full_time")


def _previous() -> PreviousRun:
    """Group A: a kept job (fp 1) and a posting merged into it (fp 2); group B: one job."""
    return PreviousRun(
        run_id="r1",
        groups={A: (Member(1, None), Member(2, "h1")), B: (Member(3, None),)},
    )


def test_a_first_run_holds_nothing_back() -> None:
    sorter = Sorter(None)
    assert not sorter.hold(0, 1, A, "h1")
    resolution = sorter.resolve()
    assert resolution.unchanged == [] and resolution.conflicts == {}


def test_an_unchanged_feed_is_all_unchanged_entries_with_the_kept_job_of_merges() -> None:
    sorter = Sorter(_previous())
    held = [sorter.hold(0, 1, A, "h1"), sorter.hold(1, 3, B, "h3"), sorter.hold(2, 2, A, "h2")]
    resolution = sorter.resolve()
    assert held == [True, True, True]
    assert sorted(resolution.unchanged, key=lambda u: u.seq) == [
        Unchanged(0, "h1", None),
        Unchanged(1, "h3", None),
        Unchanged(2, "h2", "h1"),
    ]
    assert resolution.conflicts == {}


def test_a_changed_member_sends_its_whole_group_in_full_in_feed_order() -> None:
    sorter = Sorter(_previous())
    assert sorter.hold(0, 1, A, "h1")
    assert sorter.hold(1, 99, A, "h2-changed")  # waits: its group's first job goes first
    assert sorter.hold(2, 3, B, "h3")
    resolution = sorter.resolve()
    assert resolution.unchanged == [Unchanged(2, "h3", None)]
    assert resolution.conflicts == {0: 1, 1: 99}


def test_a_removed_member_or_a_new_one_changes_the_group() -> None:
    removed = Sorter(_previous())
    removed.hold(0, 2, A, "h2")  # the kept job is gone: the merged posting is kept now
    assert removed.resolve().conflicts == {0: 2}

    added = Sorter(_previous())
    added.hold(0, 3, B, "h3")
    assert added.hold(1, 42, B, "h-new")  # a new posting in a settled group
    assert added.resolve().conflicts == {0: 3, 1: 42}


def test_a_reordered_group_is_not_unchanged() -> None:
    sorter = Sorter(_previous())
    sorter.hold(0, 2, A, "h2")
    sorter.hold(1, 1, A, "h1")  # pass 1 keeps a group's first posting: verdicts would change
    assert sorter.resolve().conflicts == {0: 2, 1: 1}


def test_a_new_job_elsewhere_with_an_unchanged_jobs_hash_sends_that_job_in_full() -> None:
    sorter = Sorter(_previous())
    sorter.hold(0, 3, B, "h3")
    assert not sorter.hold(1, 77, group_key("other"), "h3")  # new group: goes at once
    assert sorter.resolve().conflicts == {0: 3}


def test_a_new_group_goes_at_once() -> None:
    sorter = Sorter(_previous())
    assert not sorter.hold(0, 50, group_key("new|job|x"), "h50")


def test_the_fingerprint_covers_every_field_not_only_the_content_hash() -> None:
    job = JobPosting(title="Nurse", company_name="Acme", description_html="<p>Care.</p>")
    moved = job.model_copy(update={"locations": (Location(city="Austin"),)})
    assert fingerprint(job) == fingerprint(job.model_copy())
    assert fingerprint(job) != fingerprint(moved)
    assert fingerprint(job) != fingerprint(job.model_copy(update={"application_url": "https://x"}))
