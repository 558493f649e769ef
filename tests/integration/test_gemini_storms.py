"""Fault storms through the real google-genai client and the Gemini emulator.

Completes `test_gemini_backend.py`: a 429 storm under a tight request budget (every job still
enriched, no request beyond the budget, the backoff and the budget's waits visible in the
clock), and items that stay wrong when retried alone (failed, with the reason).
Time is simulated: the backend's backoff and the budget's waits advance a fake clock, so a
minute-long budget window costs the test nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from emulators.gemini import RunningEmulator, create_app, serve
from schemas.profile import load_profile
from schemas.records import JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import WINDOW_S, Booking, CallGate, RateBudget

BUDGET_RPM = 6


class FakeTime:
    """A clock that moves only when someone sleeps; remembers who slept how long."""

    def __init__(self) -> None:
        self.now = 0.0
        self.backoffs: list[float] = []
        self.budget_waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def backoff(self, seconds: float) -> None:
        self.backoffs.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    async def budget_wait(self, seconds: float) -> None:
        self.budget_waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@dataclass(slots=True)
class RecordingBudget(RateBudget):
    """The real budget, also noting when each request was let through."""

    granted: list[float] = field(default_factory=list)

    async def acquire(self, estimated_tokens: int) -> Booking:
        booking = await RateBudget.acquire(self, estimated_tokens)
        self.granted.append(booking.at)
        return booking


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with serve(create_app()) as running:
        yield running


def jobs(*titles: str) -> list[JobPosting]:
    return [
        JobPosting(
            title=title,
            company_name="Mercy General Hospital",
            description_html=f"We are hiring a {title} for our hospital. " * 4,
        )
        for title in titles
    ]


async def arm(emulator: RunningEmulator, **fault: Any) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator.base_url}/__admin/faults", json=fault) as response,
    ):
        assert response.status == 200, await response.text()


def backend_for(
    emulator: RunningEmulator,
    taxonomy: Taxonomy,
    time: FakeTime,
    budget: RateBudget,
    **overrides: Any,
) -> GeminiBackend:
    defaults: dict[str, Any] = {"batch_size": 2, "max_attempts": 8, "backoff_base_s": 0.5}
    settings = GeminiSettings(
        api_key="test-key",
        base_url=emulator.base_url,
        request_timeout_s=5.0,
        **(defaults | overrides),
    )
    gate = CallGate(budget, asyncio.Semaphore(4))
    return GeminiBackend(
        settings, taxonomy, load_profile(), gate=gate, sleep=time.backoff, rand=lambda: 0.5
    )


def most_in_any_window(granted: list[float]) -> int:
    ordered = sorted(granted)
    return max(
        sum(1 for other in ordered if start <= other < start + WINDOW_S) for start in ordered
    )


async def test_a_429_storm_under_a_tight_budget_still_enriches_every_job(
    emulator: RunningEmulator, taxonomy: Taxonomy
) -> None:
    time = FakeTime()
    budget = RecordingBudget(BUDGET_RPM, 10**9, clock=time.clock, sleep=time.budget_wait)
    await arm(emulator, kind="rate_limit", times=8, retry_delay_s=2.0)
    backend = backend_for(emulator, taxonomy, time, budget)
    titles = ("Registered Nurse", "Medical Assistant", "Phlebotomist", "Respiratory Therapist")
    try:
        outcomes = await backend.enrich(jobs(*titles))
    finally:
        await backend.aclose()

    counters = emulator.state.counters
    assert [o.error for o in outcomes] == [None] * len(titles)
    assert counters["fault_rate_limit"] == 8
    # every request, refused or not, was booked against the budget, and none beyond it
    assert len(budget.granted) == counters["requests"] > BUDGET_RPM
    assert most_in_any_window(budget.granted) <= BUDGET_RPM
    assert time.budget_waits  # the budget made requests wait for the window to move
    # one backoff per 429: never shorter than the server's hint, longer as attempts grow
    assert len(time.backoffs) == 8 and min(time.backoffs) == 2.0 < max(time.backoffs)
    assert time.now >= WINDOW_S  # more requests than the budget: at least a minute passed
    assert sum(o.llm_calls for o in outcomes) == counters["requests"]


@pytest.mark.parametrize("kind", ["unknown_id", "drop_items"])
async def test_a_bad_item_that_persists_fails_that_job_after_a_solo_retry(
    emulator: RunningEmulator, taxonomy: Taxonomy, kind: str
) -> None:
    # An answer naming an id we never sent, or leaving our job out, every time it is asked.
    time = FakeTime()
    budget = RateBudget(1000, 10**9, clock=time.clock, sleep=time.budget_wait)
    await arm(emulator, kind=kind, title_contains="phleb", stage="enriched_jobs", times=None)
    backend = backend_for(emulator, taxonomy, time, budget, batch_size=3)
    try:
        outcomes = await backend.enrich(jobs("Registered Nurse", "Phlebotomist", "Pharmacist"))
    finally:
        await backend.aclose()

    stage_one = [r["ids"] for r in emulator.state.requests if r["stage"] == "enriched_jobs"]
    assert stage_one == [["J1", "J2", "J3"], ["J2"]]
    assert [o.succeeded for o in outcomes] == [True, False, True]
    reason = outcomes[1].error or ""
    assert reason.startswith("enrichment:") and "retried alone" in reason
