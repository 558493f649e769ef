"""What a run left behind, normalised, and how it differs from a fault-free baseline (pure).

Only what legitimately changes from run to run is normalised, so that two fault-free runs of
the same feed compare identical and any other difference shows:

* the run id (a fresh uuid per run) becomes "<run>" wherever a value equals it, and the
  report's row id becomes "<execution>" in `execution_id`;
* database row ids, `created_at` / `updated_at` (wall-clock), Xano's record ids, its
  `created_at` and the syncer's `eid` (a fresh id per push) are left out.

Everything else (every column of the four job tables and `job_locations`, every counter and
status of the report, every field of every Xano record) is compared as it is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

JOB_TABLES = ("open_jobs", "manual_review_jobs", "rejected_jobs", "archive_jobs")
ROW_NOISE = frozenset({"id", "created_at", "updated_at"})
XANO_NOISE = frozenset({"id", "created_at", "eid"})
# Report columns that are wall-clock or identity, not outcomes.
REPORT_NOISE = frozenset(
    {"id", "run_id", "start_time", "end_time", "duration_seconds", "created_at", "updated_at",
     "progress"}
)  # fmt: skip
RUN = "<run>"
EXECUTION = "<execution>"

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a user relies on after one run of the feed, already normalised."""

    tables: Mapping[str, list[Row]]  # job table -> its rows, each with "job_hash"
    locations: list[Row]
    report: Row
    xano: list[Row]
    dead_letters: Mapping[str, int]  # DLQ topic -> records in it


def normalise(value: Any, run_id: str, execution_id: int | None, noise: frozenset[str]) -> Any:
    """A row (or any JSON value) with run-dependent parts replaced or left out."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in noise:
                continue
            if key == "execution_id" and execution_id is not None and item == execution_id:
                out[key] = EXECUTION
            else:
                out[key] = normalise(item, run_id, execution_id, noise)
        return out
    if isinstance(value, list):
        return [normalise(item, run_id, execution_id, noise) for item in value]
    if isinstance(value, str) and value == run_id:
        return RUN
    return value


@dataclass(slots=True)
class Differences:
    """A scenario's snapshot against the baseline's; every count is a number of jobs."""

    lost: int = 0  # in a job table in the baseline, in none here
    duplicated: int = 0  # more rows for one job_hash (across the job tables) than the baseline
    wrong_table: int = 0
    extra: int = 0  # in a job table here, in none in the baseline
    rows_differ: int = 0  # same job, same table, other content
    locations_differ: int = 0  # job_locations rows missing, extra or changed
    dead_lettered: int = 0
    xano_missing: int = 0
    xano_extra: int = 0
    xano_differ: int = 0
    report: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (baseline, here)
    examples: list[str] = field(default_factory=list)

    @property
    def xano_diffs(self) -> int:
        return self.xano_missing + self.xano_extra + self.xano_differ

    @property
    def identical(self) -> bool:
        counts = (
            self.lost, self.duplicated, self.wrong_table, self.extra, self.rows_differ,
            self.locations_differ, self.dead_lettered, self.xano_diffs,
        )  # fmt: skip
        return not any(counts) and not self.report

    def summary(self) -> str:
        parts = [
            f"{name.replace('_', ' ')} {count}"
            for name, count in (
                ("lost", self.lost), ("duplicated", self.duplicated),
                ("wrong_table", self.wrong_table), ("extra", self.extra),
                ("rows_differ", self.rows_differ), ("locations_differ", self.locations_differ),
                ("dead_lettered", self.dead_lettered), ("xano_diffs", self.xano_diffs),
            )
            if count
        ]  # fmt: skip
        parts += [f"report {key}: {old!r} -> {new!r}" for key, (old, new) in self.report.items()]
        return "; ".join(parts) or "identical"


def compare(baseline: Snapshot, other: Snapshot) -> Differences:
    diff = Differences()
    _compare_jobs(baseline.tables, other.tables, diff)
    diff.locations_differ = _multiset_difference(baseline.locations, other.locations)
    diff.dead_lettered = sum(other.dead_letters.values())
    _compare_xano(baseline.xano, other.xano, diff)
    diff.report = {
        key: (baseline.report.get(key), other.report.get(key))
        for key in sorted(set(baseline.report) | set(other.report))
        if baseline.report.get(key) != other.report.get(key)
    }
    return diff


def _placements(tables: Mapping[str, list[Row]]) -> dict[str, list[tuple[str, Row]]]:
    """job_hash -> every (table, row) holding it."""
    found: dict[str, list[tuple[str, Row]]] = {}
    for table, rows in tables.items():
        for row in rows:
            found.setdefault(str(row["job_hash"]), []).append((table, row))
    return found


def _compare_jobs(
    baseline: Mapping[str, list[Row]], other: Mapping[str, list[Row]], diff: Differences
) -> None:
    expected, got = _placements(baseline), _placements(other)
    for job_hash, want in expected.items():
        have = got.get(job_hash, [])
        if not have:
            diff.lost += 1
            _example(diff, f"lost {job_hash} (baseline: {want[0][0]})")
            continue
        if len(have) > len(want):
            diff.duplicated += 1
            _example(diff, f"duplicated {job_hash}: {[table for table, _ in have]}")
        if sorted(t for t, _ in have) != sorted(t for t, _ in want):
            if len(have) <= len(want):
                diff.wrong_table += 1
                _example(diff, f"{job_hash} in {[t for t, _ in have]}, baseline {want[0][0]}")
        elif _multiset_difference([r for _, r in want], [r for _, r in have]):
            diff.rows_differ += 1
            _example(diff, f"{job_hash} differs: {_changed_columns(want[0][1], have[0][1])}")
    for job_hash, have in got.items():
        if job_hash not in expected:
            diff.extra += 1
            _example(diff, f"extra {job_hash} in {[t for t, _ in have]}")


def _compare_xano(baseline: list[Row], other: list[Row], diff: Differences) -> None:
    want, have = _by_hash(baseline), _by_hash(other)
    for job_hash in want.keys() | have.keys():
        expected, got = want.get(job_hash, []), have.get(job_hash, [])
        if len(got) < len(expected):
            diff.xano_missing += len(expected) - len(got)
            _example(diff, f"Xano lacks {job_hash}")
        elif len(got) > len(expected):
            diff.xano_extra += len(got) - len(expected)
            _example(diff, f"Xano has {len(got)} records of {job_hash}, baseline {len(expected)}")
        elif _multiset_difference(expected, got):
            diff.xano_differ += 1
            _example(diff, f"Xano {job_hash} differs: {_changed_columns(expected[0], got[0])}")


def _by_hash(records: Iterable[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for record in records:
        grouped.setdefault(str(record.get("job_hash")), []).append(record)
    return grouped


def _key(row: Row) -> str:
    return repr(sorted(row.items()))


def _multiset_difference(left: Iterable[Row], right: Iterable[Row]) -> int:
    """How many rows are in one side and not the other (counting repeats)."""
    a, b = Counter(map(_key, left)), Counter(map(_key, right))
    return sum(((a - b) + (b - a)).values())


def _changed_columns(before: Row, after: Row) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _example(diff: Differences, text: str, keep: int = 8) -> None:
    if len(diff.examples) < keep:
        diff.examples.append(text)
