"""The shared call budget: requests and tokens per minute, in a sliding window."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from schemas.usage import StageUsage
from services.enricher.backends.gemini.accounting import Ledger, Tokens, apportion
from services.enricher.backends.gemini.budget import RateBudget, shared_gate
from services.enricher.backends.gemini.pricing import load_price
from services.enricher.backends.gemini.settings import DEFAULT_MODEL
from services.shared.settings import SettingsError


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


def test_ledger_charges_each_call_once_across_its_jobs_by_stage_and_kind() -> None:
    ledger = Ledger()
    ledger.charge(["a", "b", "c"], "enrichment", Tokens(100, 61, 7, 11))
    ledger.charge(["c"], "enrichment")  # a failed request is still a request
    ledger.charge(["c"], "searchable_text", Tokens(5, 0, 2, 0))
    enrich = [ledger.account(key)["enrichment"] for key in ("a", "b", "c")]
    assert sum(a.calls for a in enrich) == 2
    assert sum(a.input for a in enrich) == 100
    assert sum(a.cached_input for a in enrich) == 61
    assert sum(a.output for a in enrich) == 7
    assert sum(a.thinking for a in enrich) == 11
    assert ledger.account("c")["enrichment"].calls == 1
    assert ledger.account("c")["searchable_text"] == StageUsage(calls=1, input=5, output=2)
    assert "searchable_text" not in ledger.account("a")


def test_cost_prices_fresh_and_cached_input_apart_and_thinking_as_output() -> None:
    price = load_price("gemini-3.1-flash-lite")
    used = StageUsage(input=1_000_000, cached_input=400_000, output=100_000, thinking=50_000)
    # 600k fresh input at $0.25, 400k cached at $0.025, 150k output and thinking at $1.50
    assert price.cost_usd(used) == pytest.approx(0.15 + 0.01 + 0.225)


def test_the_batch_api_costs_the_tables_share_of_the_standard_price(tmp_path: Path) -> None:
    used = StageUsage(input=1_000_000, cached_input=400_000, output=100_000, thinking=50_000)
    price = load_price("gemini-3.1-flash-lite")
    assert price.batch_api_factor == 0.5  # Google's Batch API: half price
    assert price.for_batch_api().cost_usd(used) == pytest.approx(price.cost_usd(used) / 2)
    own = tmp_path / "prices.toml"
    own.write_text(
        'batch_api_factor = 0.6\n[models."m"]\ninput = 1\ncached_input = 0.1\noutput = 2\n'
    )
    assert load_price("m", own).for_batch_api().input == pytest.approx(0.6)
    own.write_text(
        'batch_api_factor = 0\n[models."m"]\ninput = 1\ncached_input = 0.1\noutput = 2\n'
    )
    with pytest.raises(SettingsError, match="batch_api_factor"):
        load_price("m", own)


def test_a_model_missing_from_the_price_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no price for model 'gemini-9-ultra'"):
        load_price("gemini-9-ultra")
    broken = tmp_path / "prices.toml"
    broken.write_text('[models."m"]\ninput = 1\n')
    with pytest.raises(SettingsError, match="needs input, cached_input and output"):
        load_price("m", broken)
    with pytest.raises(SettingsError, match="cannot read"):
        load_price("m", tmp_path / "missing.toml")
    negative = tmp_path / "negative.toml"
    negative.write_text('[models."m"]\ninput = 1\ncached_input = -1\noutput = 2\n')
    with pytest.raises(SettingsError, match="negative"):
        load_price("m", negative)


def test_every_default_model_is_priced() -> None:
    assert load_price(DEFAULT_MODEL).output > 0


async def test_a_pause_holds_every_request_back_until_it_ends() -> None:
    time = FakeTime()
    limiter = budget(100, 1_000_000, time)
    await limiter.pause(7.5)  # Gemini answered 429 with a retry delay of 7.5 s
    await limiter.acquire(10)
    assert time.sleeps == [7.5]
    await limiter.pause(1.0)
    await limiter.pause(0.5)  # a shorter pause never cuts a longer one short
    await limiter.acquire(10)
    assert time.sleeps == [7.5, 1.0]
