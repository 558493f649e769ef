"""The chaos suite's feed, its fault-free baseline, and the table printed at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.feedgen import write_feed
from schemas.records import RunStatus
from tests.chaos.harness import Outcome, Ports, run_feed
from tests.chaos.report import RESULTS, render_table, write_report

JOBS = int(os.environ.get("CHAOS_JOBS", "2000"))
SEED = int(os.environ.get("CHAOS_SEED", "14"))
BASELINE_BOUND_S = float(os.environ.get("CHAOS_BASELINE_BOUND_S", "1200"))


@pytest.fixture(scope="session")
def ports() -> Ports:
    return Ports.from_env()


@pytest.fixture(scope="session")
def chaos_feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("chaos") / f"feed-{JOBS}.xml"
    path.parent.chmod(0o755)  # the ingestor reads it as ourselves, but keep it reachable
    write_feed(path, JOBS, seed=SEED)
    yield path


@pytest.fixture(scope="session")
async def baseline(chaos_feed: Path, ports: Ports) -> Outcome:
    """A fault-free run of the feed: what every scenario must come out identical to."""
    outcome = await run_feed(chaos_feed, ports, bound_s=BASELINE_BOUND_S)
    if not outcome.completed or outcome.run_status != RunStatus.SUCCESS:
        pytest.fail(f"the fault-free baseline did not complete: {outcome.run_status}, "
                    f"{outcome.notes}")  # fmt: skip
    jobs = sum(map(len, outcome.snapshot.tables.values()))
    if not jobs or not all(outcome.counts.values()):
        # The same offset reading counts dead letters: it must see what the run wrote.
        pytest.fail(f"the baseline holds {jobs} jobs; records counted: {outcome.counts}")
    return outcome


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    table = render_table(RESULTS, jobs=JOBS)
    terminalreporter.write_sep("=", f"chaos: {JOBS:,}-job feed against its fault-free baseline")
    terminalreporter.write_line(table)
    write_report()
