"""The shared call budget: requests and tokens per minute, in a sliding window."""

from __future__ import annotations

import asyncio

from services.enricher.backends.gemini.accounting import Ledger, apportion
from services.enricher.backends.gemini.budget import RateBudget, shared_gate


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(rpm: int, tpm: int, time: FakeTime) -> RateBudget:
    return RateBudget(rpm, tpm, clock=time.clock, sleep=time.sleep)


async def test_requests_beyond_the_minute_budget_wait_for_the_window() -> None:
    time = FakeTime()
    limiter = budget(2, 1_000_000, time)
    await limiter.acquire(10)
    time.now = 5.0
    await limiter.acquire(10)
    await limiter.acquire(10)
    assert time.sleeps == [55.0]  # until the first request leaves the window
    assert time.now == 60.0


async def test_tokens_beyond_the_minute_budget_wait() -> None:
    time = FakeTime()
    limiter = budget(100, 1000, time)
    await limiter.acquire(600)
    await limiter.acquire(300)
    assert time.sleeps == []
    await limiter.acquire(200)
    assert time.sleeps == [60.0]


async def test_settling_a_booking_frees_tokens_that_were_not_used() -> None:
    time = FakeTime()
    limiter = budget(100, 1000, time)
    booking = await limiter.acquire(900)
    booking.settle(100)
    await limiter.acquire(800)
    assert time.sleeps == []


async def test_a_request_larger_than_the_budget_still_runs_alone() -> None:
    time = FakeTime()
    limiter = budget(100, 1000, time)
    await limiter.acquire(5000)
    assert time.sleeps == []
    await limiter.acquire(1)
    assert time.sleeps == [60.0]


async def test_the_gate_is_shared_per_model_and_endpoint() -> None:
    first = shared_gate("m", "http://x", 2, 10, 100)
    assert shared_gate("m", "http://x", 9, 9, 9) is first
    assert shared_gate("other", "http://x", 2, 10, 100) is not first


async def test_the_gate_bounds_concurrent_calls() -> None:
    gate = shared_gate("bounded", "", 2, 1000, 1_000_000)
    running = 0
    peak = 0

    async def call() -> None:
        nonlocal running, peak
        async with gate.slot(1):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(call() for _ in range(6)))
    assert peak == 2


def test_apportion_sums_exactly() -> None:
    assert apportion(10, 3) == [4, 3, 3]
    assert apportion(1, 4) == [1, 0, 0, 0]
    assert apportion(5, 0) == []


def test_ledger_charges_each_call_once_across_its_jobs() -> None:
    ledger = Ledger()
    ledger.charge(["a", "b", "c"], input_tokens=100, output_tokens=7)
    ledger.charge(["c"])
    accounts = [ledger.account(key) for key in ("a", "b", "c")]
    assert sum(a.calls for a in accounts) == 2
    assert sum(a.input_tokens for a in accounts) == 100
    assert sum(a.output_tokens for a in accounts) == 7
    assert ledger.account("c").calls == 1
