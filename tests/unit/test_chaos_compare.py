"""The chaos suite's yardstick: a difference from the baseline is never normalised away."""

from __future__ import annotations

from typing import Any

from schemas.records import RunStatus
from tests.chaos.compare import (
    EXECUTION,
    ROW_NOISE,
    RUN,
    XANO_NOISE,
    Differences,
    Snapshot,
    compare,
    normalise,
)
from tests.chaos.report import Result, render_table

RUN_ID = "0b6c1f0e-run"


def job(job_hash: str, **columns: Any) -> dict[str, Any]:
    return {"job_hash": job_hash, "title": f"title {job_hash}", "locations": ["Austin"], **columns}


def snapshot(
    tables: dict[str, list[dict[str, Any]]] | None = None,
    *,
    xano: list[dict[str, Any]] | None = None,
    report: dict[str, Any] | None = None,
    dead_letters: dict[str, int] | None = None,
    locations: list[dict[str, Any]] | None = None,
) -> Snapshot:
    default_tables = {"open_jobs": [job("a"), job("b")], "rejected_jobs": [job("c")]}
    return Snapshot(
        tables=default_tables if tables is None else tables,
        locations=locations or [{"job_hash": "a", "location_key": "austin"}],
        report=report or {"run_status": RunStatus.SUCCESS, "jobs_auto_approved": 2},
        xano=[{"job_hash": "a"}, {"job_hash": "b"}] if xano is None else xano,
        dead_letters=dead_letters or {"jobs.raw.dlq": 0},
    )


def test_identical_snapshots_have_no_differences() -> None:
    diff = compare(snapshot(), snapshot())

    assert diff.identical
    assert diff.summary() == "identical"


def test_a_job_missing_from_every_table_is_lost() -> None:
    diff = compare(snapshot(), snapshot({"open_jobs": [job("a")], "rejected_jobs": [job("c")]}))

    assert (diff.lost, diff.identical) == (1, False)


def test_a_second_row_of_one_job_is_a_duplicate_even_in_another_table() -> None:
    twice = {"open_jobs": [job("a"), job("b")], "rejected_jobs": [job("c"), job("a")]}

    diff = compare(snapshot(), snapshot(twice))

    assert (diff.duplicated, diff.wrong_table, diff.lost) == (1, 0, 0)


def test_a_job_in_another_table_is_in_the_wrong_table() -> None:
    moved = {"open_jobs": [job("a")], "manual_review_jobs": [job("b")], "rejected_jobs": [job("c")]}

    assert compare(snapshot(), snapshot(moved)).wrong_table == 1


def test_a_job_the_baseline_never_had_is_extra() -> None:
    more = {"open_jobs": [job("a"), job("b"), job("z")], "rejected_jobs": [job("c")]}

    assert compare(snapshot(), snapshot(more)).extra == 1


def test_a_merged_location_missing_from_the_job_row_is_a_row_difference() -> None:
    one_place = {"open_jobs": [job("a"), job("b", locations=[])], "rejected_jobs": [job("c")]}

    diff = compare(snapshot(), snapshot(one_place))

    assert diff.rows_differ == 1
    assert "locations" in diff.examples[0]


def test_anything_in_a_dead_letter_topic_counts() -> None:
    diff = compare(snapshot(), snapshot(dead_letters={"jobs.raw.dlq": 0, "jobs.enriched.dlq": 13}))

    assert diff.dead_lettered == 13


def test_xano_missing_duplicated_and_changed_records_count() -> None:
    records = [{"job_hash": "a", "title": "changed"}, {"job_hash": "c"}, {"job_hash": "c"}]

    diff = compare(snapshot(), snapshot(xano=records))

    assert (diff.xano_missing, diff.xano_extra, diff.xano_differ) == (1, 2, 1)


def test_a_report_counter_that_differs_is_named() -> None:
    other = {"run_status": RunStatus.FAILURE, "jobs_auto_approved": 2}

    diff = compare(snapshot(), snapshot(report=other))

    assert diff.report == {"run_status": (RunStatus.SUCCESS, RunStatus.FAILURE)}


def test_job_locations_rows_are_compared_as_a_multiset() -> None:
    rows = [{"job_hash": "a", "location_key": "austin"}] * 2

    assert compare(snapshot(), snapshot(locations=rows)).locations_differ == 1


def test_normalise_replaces_only_this_run_and_this_execution() -> None:
    row = {
        "id": 7, "created_at": "t1", "updated_at": "t2", "first_seen_run": RUN_ID,
        "last_seen_run": "an-older-run", "execution_id": 3, "salary_min": 3,
        "locations": [{"run": RUN_ID}],
    }  # fmt: skip

    assert normalise(row, RUN_ID, 3, ROW_NOISE) == {
        "first_seen_run": RUN,
        "last_seen_run": "an-older-run",  # another run's id is a real difference
        "execution_id": EXECUTION,
        "salary_min": 3,
        "locations": [{"run": RUN}],
    }


def test_normalise_keeps_a_wrong_execution_id_and_drops_xano_bookkeeping() -> None:
    record = {"id": 1, "eid": "e-1", "created_at": 5, "execution_id": 2, "job_hash": "a"}

    assert normalise(record, RUN_ID, 3, XANO_NOISE) == {"execution_id": 2, "job_hash": "a"}


def test_a_scenario_whose_fault_never_struck_fails_even_when_identical() -> None:
    missed = Result(
        "SIGKILL syncer", 8.0, 13.0, True, RunStatus.SUCCESS, Differences(), (), "too late"
    )
    hit = Result("SIGKILL router", 14.0, 13.0, True, RunStatus.SUCCESS, Differences(), ())

    table = render_table([missed, hit], jobs=1000)

    assert (missed.passed, hit.passed) == (False, True)
    assert "FAIL (fault not injected)" in table
    assert "PASS" in table


def test_a_run_that_did_not_complete_fails_and_says_its_status() -> None:
    hung = Result(
        "PostgreSQL down", 256.0, 25.0, False, RunStatus.RUNNING, Differences(lost=593), ()
    )

    assert not hung.passed
    assert "no (RUNNING)" in render_table([hung], jobs=1000)
