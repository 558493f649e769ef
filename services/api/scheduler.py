"""Requests feeds whose `check_frequency_minutes` says they are due, once across replicas.

Each tick locks the due feed rows with `FOR UPDATE SKIP LOCKED`, requests their runs and moves
their `next_check_at` on before committing: another replica's tick either skips the locked
rows or, after the commit, no longer finds them due. A database lock, not luck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from schemas.records import RequestReason
from services.api.errors import ApiError
from services.api.ports import Sleep
from services.api.service import ControlPlane
from services.shared.database import Conn

log = logging.getLogger(__name__)

BATCH = 20

DUE_FEEDS = """
SELECT id FROM feeds
 WHERE is_active AND check_frequency_minutes IS NOT NULL
   AND (next_check_at IS NULL OR next_check_at <= now())
 ORDER BY next_check_at NULLS FIRST, id
 LIMIT $1
 FOR UPDATE SKIP LOCKED
"""

RESCHEDULE = """
UPDATE feeds SET next_check_at = now() + make_interval(mins => check_frequency_minutes),
                 last_checked_at = now()
 WHERE id = $1
"""


class Scheduler:
    """A background task of the API process: one tick every `scheduler_interval_s`."""

    def __init__(self, plane: ControlPlane, *, sleep: Sleep = asyncio.sleep) -> None:
        self._plane = plane
        self._sleep = sleep  # what it waits between ticks with
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("scheduler tick failed; trying again next tick")
            await self._sleep(self._plane.settings.scheduler_interval_s)

    async def tick(self) -> list[str]:
        """Requests every due feed; returns the run ids requested by this replica."""
        async with self._plane.db.connection() as conn, conn.transaction():
            due = [r["id"] for r in await conn.fetch(DUE_FEEDS, BATCH)]
            return [run for feed_id in due if (run := await self._request(conn, feed_id))]

    async def _request(self, conn: Conn, feed_id: int) -> str | None:
        # Rescheduled whatever happens, so a feed with a run in progress is not retried
        # every tick; it is simply due again one period later.
        await conn.execute(RESCHEDULE, feed_id)
        try:
            run_id = await self._plane.trigger(feed_id, RequestReason.SCHEDULE)
        except ApiError as error:
            log.info("scheduled run of feed %d not requested: %s", feed_id, error.message)
            return None
        return run_id
