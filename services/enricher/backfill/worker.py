"""The enricher drives unfinished Batch API backfills in the background: a backfill started
by `jobstream backfill --batch-api` goes on when that command is killed, and goes on after
a restart of the enricher. Replicas take backfills through a session lock, one each."""

from __future__ import annotations

import asyncio
import logging

import faust

from services.enricher.backfill import drive_unfinished, plan_for
from services.enricher.config import EnricherSettings
from services.enricher.ports import Sleep

log = logging.getLogger(__name__)


def attach(app: faust.App, settings: EnricherSettings, *, sleep: Sleep = asyncio.sleep) -> None:
    plan = plan_for(settings)

    async def drive_backfills() -> None:
        while True:
            try:
                driven = await drive_unfinished(settings, plan, sleep=sleep)
                if driven:
                    log.info("backfills driven to their end: %s", driven)
            except Exception:  # a backfill is state in PostgreSQL: the next round goes on
                log.exception("driving backfills failed; trying again")
            await sleep(plan.poll_s)

    app.task(drive_backfills)
