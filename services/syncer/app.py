"""Syncer composition root: reconciles on RunCompleted, publishes reviewer approvals at once."""

from __future__ import annotations

from typing import Any

import faust

from schemas import topics
from schemas.records import Record, Route, RoutedJob, RunCompleted
from services.shared.database import Database
from services.shared.streaming import (
    Publisher,
    close_on_shutdown,
    create_app,
    process_each,
    topic,
)
from services.syncer.adapters.xano import XanoClient
from services.syncer.config import SyncerSettings
from services.syncer.service import Syncer

SERVICE = "syncer"


def build(settings: SyncerSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    client = XanoClient(settings.xano)
    syncer = Syncer(db, client, settings.field_map)
    publisher = Publisher(app, SERVICE)

    async def reconcile(record: Record) -> None:
        if isinstance(record, RunCompleted):
            outcome = await syncer.reconcile(record.feed_id)
            await syncer.record(record.run_id, outcome)

    async def publish_approval(record: Record) -> None:
        if isinstance(record, RoutedJob) and _is_approval(record):
            await syncer.publish_one(record.job_hash)

    @app.agent(topic(app, topics.RUNS_EVENTS))
    async def reconcile_runs(stream: Any) -> None:
        await process_each(stream, publisher, reconcile, what="reconcile")

    @app.agent(topic(app, topics.JOBS_ROUTED))
    async def publish_approvals(stream: Any) -> None:
        await process_each(stream, publisher, publish_approval, what="approval")

    close_on_shutdown(app, db.close, client.aclose)
    return app


def _is_approval(routed: RoutedJob) -> bool:
    return routed.decided_by == "reviewer" and routed.route is Route.OPEN
