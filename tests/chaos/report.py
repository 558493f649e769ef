"""The chaos table: one row per scenario, differences against the baseline."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.chaos.compare import Differences


@dataclass(frozen=True, slots=True)
class Result:
    scenario: str
    elapsed_s: float
    baseline_s: float
    completed: bool
    run_status: str | None
    diff: Differences
    notes: tuple[str, ...]
    fault_failed: str | None = None  # a scenario whose fault never struck tested nothing
    unspread: tuple[str, ...] = ()  # scaled-out groups whose replicas did not share the work

    @property
    def passed(self) -> bool:
        return (
            self.completed
            and self.diff.identical
            and self.fault_failed is None
            and not self.unspread
        )

    @property
    def verdict(self) -> str:
        if self.fault_failed is not None:
            return "FAIL (fault not injected)"
        if self.unspread:
            return "FAIL (partitions not spread)"
        return "PASS" if self.passed else "FAIL"


RESULTS: list[Result] = []

HEADER = (
    "scenario", "time vs baseline", "lost", "dup", "wrong table", "extra", "rows differ",
    "locations", "dead-lettered", "Xano diffs", "report diffs", "completed by itself", "verdict",
)  # fmt: skip


def _row(result: Result) -> tuple[str, ...]:
    diff = result.diff
    time = f"{result.elapsed_s:.0f} s / {result.baseline_s:.0f} s"
    completed = "yes" if result.completed else f"no ({result.run_status or 'no report'})"
    return (
        result.scenario, time, str(diff.lost), str(diff.duplicated), str(diff.wrong_table),
        str(diff.extra), str(diff.rows_differ), str(diff.locations_differ),
        str(diff.dead_lettered), str(diff.xano_diffs), str(len(diff.report)), completed,
        result.verdict,
    )  # fmt: skip


def render_table(results: list[Result], *, jobs: int) -> str:
    rows = [HEADER, *map(_row, results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    details = [
        f"- {r.scenario}: {r.diff.summary()}"
        + "".join(f"\n    {e}" for e in r.diff.examples)
        + "".join(f"\n    note: {n}" for n in r.notes)
        for r in results
    ]
    return "\n".join([*lines, "", f"{jobs:,}-job feed; details:", *details])


def write_report() -> None:
    """The table of every result so far, to the file `CHAOS_REPORT` names (if any)."""
    out = os.environ.get("CHAOS_REPORT")
    if out and RESULTS:
        jobs = int(os.environ.get("CHAOS_JOBS", "2000"))
        Path(out).write_text(render_table(RESULTS, jobs=jobs) + "\n")
