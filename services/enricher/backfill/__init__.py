"""Backfills: a feed's (or every feed's) open and review jobs enriched again, after a taxonomy,
profile or prompt change, through Gemini's Batch API at half the price of online calls.

`create` records the backfill and its jobs (migration 0010); `drive` takes it to its end and
can be killed and started again at any point (`driver.py`); `python -m
services.enricher.backfill` drives every unfinished one with the enricher's settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from schemas.profile import load_profile
from schemas.taxonomy import load_taxonomy
from services.enricher.app import create_checks
from services.enricher.backends.gemini.backend import GeminiBackend
from services.enricher.backends.gemini.settings import GeminiSettings
from services.enricher.backfill import store
from services.enricher.backfill.batch_api import BatchApi
from services.enricher.backfill.driver import Driver, Parts, Plan
from services.enricher.backfill.stages import Sizes
from services.enricher.config import EnricherSettings
from services.enricher.ports import Sleep
from services.shared.database import Database
from services.shared.settings import SettingsError

log = logging.getLogger(__name__)

__all__ = ["create", "drive", "drive_unfinished", "plan_for", "status", "wait_completed"]


def plan_for(settings: EnricherSettings) -> Plan:
    """How backfills are cut and paced: the enricher's Gemini batch sizes and attempts,
    `BACKFILL_LINES_PER_BATCH` prompts per Batch API job, polled every `BACKFILL_POLL_S`, each
    feed's run held to `LLM_RUN_COST_CEILING_USD` at the Batch API's price."""
    gemini = _gemini(settings)
    sizes = Sizes(gemini.batch_size, gemini.function_batch_size, gemini.max_description_chars)
    return Plan(
        sizes,
        lines_per_batch=settings.backfill_lines_per_batch,
        max_attempts=gemini.max_attempts,
        poll_s=settings.backfill_poll_s,
        cost_ceiling_usd=settings.run_cost_ceiling_usd,
    )


def _gemini(settings: EnricherSettings) -> GeminiSettings:
    if settings.gemini is None:
        raise SettingsError("a Batch API backfill needs the gemini backend (GEMINI_API_KEY)")
    return settings.gemini


def _backend(settings: EnricherSettings) -> GeminiBackend:
    taxonomy = load_taxonomy(settings.taxonomy_source)
    return GeminiBackend(_gemini(settings), taxonomy, load_profile(settings.profile_path))


async def create(settings: EnricherSettings, feed_id: int | None, *, batch_api: bool) -> int:
    """Records a backfill of the feed's (every feed's) open and review jobs as they are now."""
    version = ""
    if batch_api:
        backend = _backend(settings)
        version = backend.version
        await backend.aclose()
    conn = await asyncpg.connect(settings.database_url.value)
    try:
        return await store.create(conn, feed_id, batch_api=batch_api, version=version)
    finally:
        await conn.close()


@asynccontextmanager
async def _parts(settings: EnricherSettings) -> AsyncIterator[Parts]:
    backend = _backend(settings)
    taxonomy = load_taxonomy(settings.taxonomy_source)
    api = BatchApi(_gemini(settings))
    db = Database(settings.database_url, max_size=2)
    checks = create_checks(settings, taxonomy)
    await db.open()
    try:
        yield Parts(
            dsn=settings.database_url.value,
            bootstrap=settings.stream.bootstrap_servers,
            api=api,
            taxonomy=taxonomy,
            prompts=backend.system_prompts,
            version=backend.version,
            db=db,
            checks=checks,
            price=backend.price.for_batch_api(),
        )
    finally:
        await db.close()
        await api.aclose()
        await backend.aclose()
        if checks is not None:
            await checks.aclose()


async def drive(
    settings: EnricherSettings, backfill_id: int, plan: Plan, *, sleep: Sleep = asyncio.sleep
) -> bool:
    """Takes the backfill to its end; False if another process is driving it."""
    async with _parts(settings) as parts:
        return await Driver(backfill_id, parts, plan, sleep=sleep).run()


async def drive_unfinished(
    settings: EnricherSettings, plan: Plan, *, sleep: Sleep = asyncio.sleep
) -> list[int]:
    """Drives every unfinished Batch API backfill no other process holds; returns them."""
    conn = await asyncpg.connect(settings.database_url.value)
    try:
        pending = await store.unfinished(conn)
    finally:
        await conn.close()
    driven: list[int] = []
    if not pending:
        return driven
    async with _parts(settings) as parts:
        for backfill_id in pending:
            if await Driver(backfill_id, parts, plan, sleep=sleep).run():
                driven.append(backfill_id)
    return driven


async def status(dsn: str, backfill_id: int) -> str | None:
    """The backfill's status (`running`, `completed`), None if there is no such backfill."""
    conn = await asyncpg.connect(dsn)
    try:
        found = await store.get(conn, backfill_id)
    finally:
        await conn.close()
    return found.status if found else None


async def wait_completed(
    dsn: str, backfill_id: int, poll_s: float, *, sleep: Sleep = asyncio.sleep
) -> None:
    """Returns once the backfill (driven by another process) has completed."""
    while True:
        conn = await asyncpg.connect(dsn)
        try:
            found = await store.get(conn, backfill_id)
        finally:
            await conn.close()
        if found is None or found.status == "completed":
            return
        await sleep(poll_s)
