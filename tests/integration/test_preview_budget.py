"""A Gemini preview (the console's mapping editor, `jobstream inspect --enrich`) spends the
project's quota like an enricher replica, so it books in the deployment's one budget
(PostgreSQL, migration 0009) rather than a budget of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from cli.main import main
from cli.stack import StackInfo
from cli.stack.config import PROJECT_ROOT
from emulators.gemini import RunningEmulator, create_app, serve
from schemas.records import JobPosting
from schemas.taxonomy import Taxonomy, load_taxonomy
from services.enricher.backends.gemini.backend import budget_scope
from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.preview import BackendChoice, backend_for
from services.shared.database import Database
from services.shared.settings import Secret

SAMPLE = PROJECT_ROOT / "examples" / "feeds" / "sample-feed.xml"
MAPPING = PROJECT_ROOT / "examples" / "feeds" / "sample-mapping.json"
RPM = 2


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture
async def gemini() -> AsyncIterator[RunningEmulator]:
    async with serve(create_app()) as running:
        yield running


def _choice(gemini: RunningEmulator, rpm: int = RPM) -> BackendChoice:
    settings = GeminiSettings(api_key="k", base_url=gemini.base_url, requests_per_minute=rpm)
    return BackendChoice("gemini", None, settings)


async def _bookings(dsn: str, scope: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM llm_budget_bookings WHERE scope = $1", scope
        )
        return count
    finally:
        await conn.close()


async def _spend_the_budget(dsn: str, scope: str) -> None:
    """Other replicas have used this minute's requests."""
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(RPM):
            booked = await conn.fetchval(
                "SELECT booking_id FROM llm_budget_book($1, $2, 1000000, 10, 60, 60)", scope, RPM
            )
            assert booked is not None
    finally:
        await conn.close()


async def test_a_preview_waits_while_the_replicas_have_spent_the_shared_budget(
    stack: StackInfo, gemini: RunningEmulator, taxonomy: Taxonomy
) -> None:
    choice = _choice(gemini)
    assert choice.gemini is not None
    await _spend_the_budget(stack.dsn, budget_scope(choice.gemini))
    job = JobPosting(title="Ward nurse", company_name="St Mary", description_html="<p>Care</p>")
    db = Database(Secret(stack.dsn), max_size=2)
    await db.open()
    shared = backend_for(choice, taxonomy, db)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(shared.enrich([job]), timeout=3.0)
        assert gemini.state.counters["requests"] == 0  # nothing went around the budget
    finally:
        await shared.aclose()
        await db.close()
    # without the deployment's database, a preview keeps only its own budget (a roomier
    # one here: a job takes up to three requests)
    alone = backend_for(_choice(gemini, rpm=100), taxonomy)
    try:
        outcomes = await asyncio.wait_for(alone.enrich([job]), timeout=30.0)
    finally:
        await alone.aclose()
    assert outcomes[0].succeeded and gemini.state.counters["requests"] > 0


async def test_inspect_enrich_books_every_gemini_request_in_the_shared_budget(
    stack: StackInfo, gemini: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = GeminiSettings(api_key="k", base_url=gemini.base_url)
    scope = budget_scope(settings)
    monkeypatch.setenv("DATABASE_URL", stack.dsn)
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("GEMINI_BASE_URL", gemini.base_url)
    monkeypatch.delenv("GEMINI_MODEL", raising=False)
    argv = ["inspect", str(SAMPLE), "--mapping", str(MAPPING), "--enrich", "--json"]
    argv += ["--backend", "gemini"]

    assert await asyncio.to_thread(main, argv) == 0

    requests = gemini.state.counters["requests"]
    assert requests > 0
    assert await _bookings(stack.dsn, scope) == requests


async def test_inspect_enrich_says_so_when_the_shared_budget_is_out_of_reach(
    gemini: RunningEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("GEMINI_BASE_URL", gemini.base_url)
    argv = ["inspect", str(SAMPLE), "--mapping", str(MAPPING), "--enrich", "--backend", "gemini"]

    assert await asyncio.to_thread(main, argv) == 1

    assert "cannot reach the database for the shared Gemini budget" in capsys.readouterr().err
    assert gemini.state.counters["requests"] == 0
