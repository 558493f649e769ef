"""Syncer composition root: reconciles on RunCompleted, publishes reviewer approvals at once."""

from __future__ import annotations

from functools import partial
from typing import Any

import faust

from schemas import topics
from schemas.records import Route, RoutedJob, RunCompleted
from services.shared.database import Database
from services.shared.streaming import (
    Publisher,
    close_on_shutdown,
    create_app,
    dead_letter,
    decoded,
    topic,
    with_retries,
)
from services.syncer.adapters.xano import XanoClient
from services.syncer.config import SyncerSettings
from services.syncer.service import Syncer

SERVICE = "syncer"


def build(settings: SyncerSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    client = XanoClient(settings.xano)
    syncer = Syncer(db, client)
    publisher = Publisher(app, SERVICE)

    async def on_run_completed(done: RunCompleted) -> None:
        outcome = await syncer.reconcile(done.feed_id)
        await syncer.record(done.run_id, outcome)

    async def on_routed(routed: RoutedJob) -> None:
        await syncer.publish_one(routed.job_hash)

    @app.agent(topic(app, topics.RUNS_EVENTS))
    async def reconcile_runs(stream: Any) -> None:
        async for event, record in decoded(stream, publisher):
            if not isinstance(record, RunCompleted):
                continue
            error = await with_retries(
                partial(on_run_completed, record), what=f"reconcile of feed {record.feed_id}"
            )
            if error is not None:
                await dead_letter(publisher, event, error)

    @app.agent(topic(app, topics.JOBS_ROUTED))
    async def publish_approvals(stream: Any) -> None:
        async for event, record in decoded(stream, publisher):
            if not (isinstance(record, RoutedJob) and _is_approval(record)):
                continue
            error = await with_retries(
                partial(on_routed, record), what=f"approval of {record.job_hash}"
            )
            if error is not None:
                await dead_letter(publisher, event, error)

    close_on_shutdown(app, db.close, client.aclose)
    return app


def _is_approval(routed: RoutedJob) -> bool:
    return routed.decided_by == "reviewer" and routed.route is Route.OPEN
