"""The chaos suite: every fault leaves the same tables, report and Xano as no fault.

Run with `make chaos` (20,000-job feed) or `make chaos-ci` (2,000 jobs); not part of
`make test`. Each scenario runs on its own fresh stack (see harness.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.chaos.compare import compare
from tests.chaos.harness import Outcome, Ports, run_feed
from tests.chaos.report import RESULTS, Result, write_report
from tests.chaos.scenarios import SCENARIOS, Scenario

# A scenario may take this many times the baseline, plus the time its fault fairly costs,
# plus a fixed allowance for restarts and rebalances on a loaded machine.
BOUND_FACTOR = float(os.environ.get("CHAOS_BOUND_FACTOR", "3"))
BOUND_SLACK_S = float(os.environ.get("CHAOS_BOUND_SLACK_S", "120"))

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(3600)]


def _record(name: str, outcome: Outcome, baseline: Outcome) -> Result:
    result = Result(
        scenario=name,
        elapsed_s=outcome.elapsed_s,
        baseline_s=baseline.elapsed_s,
        completed=outcome.completed,
        run_status=outcome.run_status,
        diff=compare(baseline.snapshot, outcome.snapshot),
        notes=tuple(outcome.notes),
        fault_failed=outcome.fault_failed,
        unspread=outcome.unspread,
    )
    RESULTS.append(result)
    write_report()  # the table so far: a run cut short still leaves what it found
    return result


def _assert_passed(result: Result) -> None:
    assert result.fault_failed is None, f"the fault was not injected: {result.fault_failed}"
    assert not result.unspread, f"replicas left without partitions: {result.unspread}"
    assert result.completed, f"the run did not complete by itself: {result.notes}"
    assert result.diff.identical, f"{result.diff.summary()}: {result.diff.examples}"


async def test_two_fault_free_runs_are_identical(
    chaos_feed: Path, ports: Ports, baseline: Outcome
) -> None:
    """The yardstick itself: without faults the pipeline (and the snapshot) is deterministic."""
    again = await run_feed(
        chaos_feed, ports, bound_s=BOUND_FACTOR * baseline.elapsed_s + BOUND_SLACK_S
    )
    _assert_passed(_record("second fault-free run", again, baseline))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.slug)
async def test_scenario_matches_the_baseline(
    scenario: Scenario, chaos_feed: Path, ports: Ports, baseline: Outcome
) -> None:
    bound = BOUND_FACTOR * baseline.elapsed_s + scenario.extra_s + BOUND_SLACK_S
    outcome = await run_feed(
        chaos_feed,
        ports,
        fault=scenario.fault,
        replicas=scenario.replicas,
        baseline_counts=baseline.counts,
        bound_s=bound,
        brokers=scenario.brokers,
    )
    _assert_passed(_record(scenario.name, outcome, baseline))
