"""What a benchmark suite reports, and how results are written and shown."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).with_name("results")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One figure: `target` says what it is held against (e.g. ">= 15000"), if anything."""

    suite: str
    name: str
    value: float
    unit: str
    target: str | None = None
    note: str = ""

    def meets_target(self) -> bool | None:
        if not self.target:
            return None
        op, _, bound = self.target.partition(" ")
        limit = float(bound)
        return self.value >= limit if op == ">=" else self.value <= limit


@dataclass(frozen=True, slots=True)
class FeedSizes:
    """How many jobs a suite's feeds hold: the timed run (`quick` under --quick) and the
    warm-up run before it."""

    full: int
    quick: int
    warm_up: int

    def timed(self, quick: bool) -> int:
        return self.quick if quick else self.full


def write(measurements: Sequence[Measurement], path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "measurements": [asdict(m) for m in measurements],
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return path


def show(measurements: Sequence[Measurement], console: Console | None = None) -> None:
    table = Table(title="jobstream benchmarks")
    for column in ("suite", "measurement", "value", "unit", "target", "met", "note"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for m in measurements:
        met = m.meets_target()
        mark = "" if met is None else ("yes" if met else "NO")
        table.add_row(m.suite, m.name, f"{m.value:,.2f}", m.unit, m.target or "", mark, m.note)
    (console or Console(width=160)).print(table)


def _cpus() -> int:
    return os.cpu_count() or 0
