"""One requests/tokens budget for the whole deployment: enricher replicas share it through
PostgreSQL (migration 0009), so together they stay within the configured quota.

Each replica here is what an enricher process has: its own google-genai client, its own
connection pool and its own gate; they share nothing but the database and the emulator.
The window is scaled down from a minute to a few seconds, so the test takes seconds.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from emulators.gemini import RunningEmulator, create_app, serve
from schemas.profile import load_profile
from schemas.records import JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.app import create_backend
from services.enricher.backends.gemini.backend import GeminiBackend, GeminiSettings
from services.enricher.backends.gemini.budget import (
    BudgetUnavailableError,
    CallGate,
    SharedBudget,
)
from services.enricher.config import EnricherSettings
from services.shared.database import Database
from services.shared.failures import is_retriable
from services.shared.settings import Secret
from tests.gemini_wiretap import Wiretap

WINDOW_S = 2.0
BUDGET = 5  # requests per window, for the three replicas together


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
async def tapped() -> AsyncIterator[tuple[RunningEmulator, Wiretap]]:
    tap = Wiretap()
    async with serve(tap.install(create_app())) as running:
        yield running, tap


def scope() -> str:
    return f"test-{uuid.uuid4().hex}"  # a budget no other test spends


async def replica(
    stack: StackInfo,
    emulator: RunningEmulator,
    taxonomy: Taxonomy,
    budget_scope: str,
    rpm: int = BUDGET,
) -> tuple[GeminiBackend, Database]:
    db = Database(Secret(stack.dsn), max_size=2)
    budget = SharedBudget(db, budget_scope, rpm, 10**9, hold_s=30.0, window_s=WINDOW_S)
    settings = GeminiSettings(
        api_key="k", base_url=emulator.base_url, batch_size=1, function_batch_size=1,
        max_attempts=3, backoff_base_s=0.05, backoff_max_s=5.0,
    )  # fmt: skip
    gate = CallGate(budget, asyncio.Semaphore(4))
    return GeminiBackend(settings, taxonomy, load_profile(), gate=gate), db


def postings(replica_no: int, count: int) -> list[JobPosting]:
    return [
        JobPosting(
            title=f"Registered Nurse {replica_no}-{n}",
            company_name="Mercy General Hospital",
            description_html="We are hiring a registered nurse for our hospital. " * 4,
        )
        for n in range(count)
    ]


async def test_three_replicas_together_stay_within_the_budget(
    stack: StackInfo, tapped: tuple[RunningEmulator, Wiretap], taxonomy: Taxonomy
) -> None:
    emulator, tap = tapped
    shared = scope()
    replicas = [await replica(stack, emulator, taxonomy, shared) for _ in range(3)]
    try:
        # 3 jobs a replica, one job a request, three stages: 27 requests, at least 5 windows
        outcomes = await asyncio.gather(
            *(backend.enrich(postings(n, 3)) for n, (backend, _) in enumerate(replicas))
        )
    finally:
        for backend, db in replicas:
            await backend.aclose()
            await db.close()
    assert all(o.enrichment is not None for batch in outcomes for o in batch)
    assert len(tap.requests) == 27
    assert tap.most_in_any_window(WINDOW_S) <= BUDGET
    # the budget is spent, not just respected: the replicas together kept it busy
    span = max(t.at for t in tap.requests) - min(t.at for t in tap.requests)
    assert span < (27 / BUDGET + 2) * WINDOW_S


async def test_three_replica_processes_together_stay_within_the_budget(
    stack: StackInfo, tapped: tuple[RunningEmulator, Wiretap]
) -> None:
    """The same with each replica its own OS process (`tests/budget_replica.py`)."""
    emulator, tap = tapped
    args = [stack.dsn, emulator.base_url, scope(), str(BUDGET), str(WINDOW_S)]
    replicas = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.budget_replica",
            *args,
            str(n),
            "3",
            cwd=PROJECT_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for n in range(3)
    ]
    # start them together: a replica that imports slowly must not find the others done
    for process in replicas:
        assert process.stdout is not None
        assert (await process.stdout.readline()).strip() == b"ready"
    outputs = await asyncio.gather(*(process.communicate(b"go\n") for process in replicas))
    assert [replica.returncode for replica in replicas] == [0, 0, 0]
    assert [out.decode().strip() for out, _ in outputs] == ["3", "3", "3"]
    assert len(tap.requests) == 27
    assert tap.most_in_any_window(WINDOW_S) <= BUDGET
    # they really ran at once: each replica's requests span a time the others' do too
    spans = []
    for n in range(3):
        times = [t.at for t in tap.requests if f"Nurse {n}-" in orjson.dumps(t.body).decode()]
        assert len(times) == 9
        spans.append((min(times), max(times)))
    assert max(start for start, _ in spans) < min(end for _, end in spans)


async def test_each_replica_alone_would_have_sent_more(
    stack: StackInfo, tapped: tuple[RunningEmulator, Wiretap], taxonomy: Taxonomy
) -> None:
    """The control: budgets of their own (one per replica) let three replicas send three
    times the quota, which is what the shared budget prevents."""
    emulator, tap = tapped
    replicas = [await replica(stack, emulator, taxonomy, scope()) for _ in range(3)]
    try:
        await asyncio.gather(
            *(backend.enrich(postings(n, 3)) for n, (backend, _) in enumerate(replicas))
        )
    finally:
        for backend, db in replicas:
            await backend.aclose()
            await db.close()
    assert tap.most_in_any_window(WINDOW_S) > BUDGET


async def arm(emulator: RunningEmulator, **fault: object) -> None:
    async with aiohttp.ClientSession() as session:
        response = await session.post(f"{emulator.base_url}/__admin/faults", json=fault)
        assert response.status == 200, await response.text()


async def test_a_429_holds_every_replica_back_for_its_retry_delay(
    stack: StackInfo, tapped: tuple[RunningEmulator, Wiretap], taxonomy: Taxonomy
) -> None:
    emulator, tap = tapped
    shared = scope()
    (first, first_db), (second, second_db) = [
        await replica(stack, emulator, taxonomy, shared, rpm=1000) for _ in range(2)
    ]
    await arm(emulator, kind="rate_limit", times=1, retry_delay_s=1.5)
    try:
        refused_replica = asyncio.create_task(first.enrich(postings(0, 1)))
        await _paused(first_db, shared)  # the refused replica told the budget
        outcomes = [*await second.enrich(postings(1, 1)), *await refused_replica]
    finally:
        for backend, db in ((first, first_db), (second, second_db)):
            await backend.aclose()
            await db.close()
    assert all(o.enrichment is not None for o in outcomes)
    refused = [t for t in tap.requests if t.status == 429]
    assert len(refused) == 1
    # neither the refused replica nor the other one sent anything during the retry delay
    later = [t.at for t in tap.requests if t.at > refused[0].at]
    assert len(later) == 6 and min(later) >= refused[0].answered_at + 1.5


async def _paused(db: Database, budget_scope: str) -> None:
    for _ in range(200):
        async with db.connection() as conn:
            paused = await conn.fetchval(
                "SELECT paused_until FROM llm_budget_scopes WHERE scope = $1", budget_scope
            )
        if paused is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the 429 never paused the shared budget")


async def test_a_request_beyond_the_token_budget_runs_alone_once_the_window_is_empty(
    stack: StackInfo,
) -> None:
    db = Database(Secret(stack.dsn), max_size=2)
    budget = SharedBudget(db, scope(), 100, 1000, hold_s=30.0, window_s=WINDOW_S)
    try:
        small = await budget.acquire(600)
        await budget.settle(small, 600)
        started = time.monotonic()
        big = await budget.acquire(5000)  # waits for the window to empty, then goes
        waited = time.monotonic() - started
        await budget.settle(big, 4000)
    finally:
        await db.close()
    assert small.id is not None and big.id is not None
    assert WINDOW_S * 0.9 <= waited < WINDOW_S + 2.0


async def test_settled_tokens_free_the_budget(stack: StackInfo) -> None:
    db = Database(Secret(stack.dsn), max_size=2)
    budget = SharedBudget(db, scope(), 100, 1000, hold_s=30.0, window_s=30.0)
    try:
        first = await budget.acquire(900)
        await budget.settle(first, 100)  # the call used far less than booked
        started = time.monotonic()
        await budget.acquire(800)
        waited = time.monotonic() - started
    finally:
        await db.close()
    assert waited < 1.0


async def test_a_replica_that_died_mid_call_frees_its_booking_after_the_hold(
    stack: StackInfo,
) -> None:
    db = Database(Secret(stack.dsn), max_size=2)
    budget = SharedBudget(db, scope(), 1, 10**9, hold_s=1.0, window_s=1.0)
    try:
        await budget.acquire(10)  # never settled: its replica died
        started = time.monotonic()
        await budget.acquire(10)
        waited = time.monotonic() - started
    finally:
        await db.close()
    assert 1.5 <= waited < 4.0  # hold (1 s) + window (1 s), polled


async def test_the_budget_database_down_pauses_the_stage_and_fails_no_job(
    stack: StackInfo, tapped: tuple[RunningEmulator, Wiretap], taxonomy: Taxonomy
) -> None:
    emulator, tap = tapped
    nowhere = Database(Secret("postgresql://jobstream@127.0.0.1:1/none"), max_size=1)
    budget = SharedBudget(nowhere, scope(), 100, 10**9, hold_s=30.0)
    settings = GeminiSettings(api_key="k", base_url=emulator.base_url)
    gate = CallGate(budget, asyncio.Semaphore(2))
    backend = GeminiBackend(settings, taxonomy, load_profile(), gate=gate)
    try:
        with pytest.raises(BudgetUnavailableError) as raised:
            await backend.enrich(postings(0, 2))
    finally:
        await backend.aclose()
    assert is_retriable(raised.value)  # the enricher's consumer pauses and tries again
    assert tap.requests == []  # no request went out unbooked


async def test_booking_overhead(stack: StackInfo) -> None:
    """What one request pays for the shared budget: a booking and a settlement, each one
    round trip to PostgreSQL, against two bare round trips (`SELECT 1`) on the same pool
    (figures in services/enricher/README.md)."""
    db = Database(Secret(stack.dsn), max_size=2)
    budget = SharedBudget(db, scope(), 10**6, 10**12, hold_s=30.0)
    booked: list[float] = []
    bare: list[float] = []
    try:
        await budget.settle(await budget.acquire(10), 10)  # the pool's first connection
        for _ in range(200):
            started = time.perf_counter()
            await budget.settle(await budget.acquire(1000), 900)
            booked.append(time.perf_counter() - started)
            started = time.perf_counter()
            for _ in range(2):
                async with db.connection() as conn:
                    await conn.fetchval("SELECT 1")
            bare.append(time.perf_counter() - started)
    finally:
        await db.close()
    booked_ms, bare_ms = (statistics.median(t) * 1000 for t in (booked, bare))
    print(f"shared budget: booking + settlement {booked_ms:.2f} ms, bare {bare_ms:.2f} ms")
    assert booked_ms < bare_ms * 4


async def test_the_enricher_service_books_through_the_shared_budget(stack: StackInfo) -> None:
    env = {
        "GEMINI_API_KEY": "k", "GEMINI_BASE_URL": "http://127.0.0.1:9", "GEMINI_RPM": "7",
        "GEMINI_TPM": "7000", "GEMINI_TIMEOUT_S": "30", "DATABASE_URL": stack.dsn,
    }  # fmt: skip
    settings = EnricherSettings.from_env(env)
    db = Database(settings.database_url)
    backend = create_backend(settings, load_taxonomy(), db)
    try:
        assert isinstance(backend, GeminiBackend)
        budget = backend.gate.budget if backend.gate else None
        assert isinstance(budget, SharedBudget)
        assert (budget.requests_per_minute, budget.tokens_per_minute) == (7, 7000)
        assert budget.scope == "gemini-3.5-flash-lite@http://127.0.0.1:9"
        assert budget.db is db and budget.hold_s == 35.0
    finally:
        await backend.aclose()
        await db.close()
