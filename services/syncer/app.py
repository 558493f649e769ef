"""Syncer composition root: reconciles on RunCompleted, publishes reviewer approvals at once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import faust

from schemas import topics
from schemas.records import Record, Route, RoutedJob, RunCompleted
from services.shared import metrics
from services.shared.database import Database
from services.shared.streaming import (
    Publisher,
    close_on_shutdown,
    create_app,
    process_each,
    topic,
)
from services.syncer.adapters.xano import ClientStats, XanoClient
from services.syncer.config import SyncerSettings
from services.syncer.service import Syncer, SyncOutcome

SERVICE = "syncer"


def build(settings: SyncerSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    client = XanoClient(settings.xano)
    syncer = Syncer(db, client, settings.field_map)
    publisher = Publisher(app, SERVICE)

    async def reconcile(record: Record) -> None:
        if isinstance(record, RunCompleted):
            before = replace(client.stats)
            outcome = await syncer.reconcile(record.feed_id)
            await syncer.record(record.run_id, outcome)
            count_xano(outcome, before, client.stats)

    async def publish_approval(record: Record) -> None:
        if isinstance(record, RoutedJob) and _is_approval(record):
            await syncer.publish_one(record.job_hash)
        elif isinstance(record, RoutedJob) and _is_take_down(record):
            await syncer.withdraw_one(record.feed_id, record.job_hash)

    @app.agent(topic(app, topics.RUNS_EVENTS))
    async def reconcile_runs(stream: Any) -> None:
        await process_each(stream, publisher, reconcile, what="reconcile")

    @app.agent(topic(app, topics.JOBS_ROUTED))
    async def publish_approvals(stream: Any) -> None:
        await process_each(stream, publisher, publish_approval, what="approval")

    close_on_shutdown(app, db.close, client.aclose)
    return app


def count_xano(outcome: SyncOutcome, before: ClientStats, after: ClientStats) -> None:
    for operation in ("added", "updated", "deleted", "failed"):
        metrics.XANO_WRITES.labels(operation).inc(getattr(outcome, operation))
    metrics.XANO_REQUESTS.inc(after.requests - before.requests)
    metrics.XANO_RATE_LIMITED.inc(after.rate_limited - before.rate_limited)


def _is_approval(routed: RoutedJob) -> bool:
    return routed.decided_by == "reviewer" and routed.route is Route.OPEN


def _is_take_down(routed: RoutedJob) -> bool:
    return routed.decided_by == "reviewer" and routed.route is Route.REJECTED
