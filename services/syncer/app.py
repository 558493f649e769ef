"""Syncer composition root: reconciles on RunCompleted, publishes reviewer approvals at once,
and retries the approvals whose push has not landed (the outbox)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import faust

from schemas import topics
from schemas.records import Record, Route, RoutedJob, RunCompleted
from services.shared import metrics
from services.shared.database import Database
from services.shared.failures import DependencyUnavailableError
from services.shared.streaming import (
    app_publisher,
    close_on_shutdown,
    consume,
    create_app,
    each_record,
    open_on_startup,
    stopping,
    with_retries,
)
from services.syncer.adapters.xano import ClientStats, XanoClient
from services.syncer.config import SyncerSettings
from services.syncer.ports import JobMirror
from services.syncer.service import Syncer, SyncOutcome

SERVICE = "syncer"
ROUTED_BATCH_SIZE = 500
ROUTED_BATCH_WITHIN_S = 0.1  # what a reviewer's approval may wait for others to join it


def build(settings: SyncerSettings, *, also: Sequence[JobMirror] = ()) -> faust.App:
    """The syncer; `also` names further mirrors kept equal beside Xano (a second sink)."""
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    client = XanoClient(settings.xano, stopping=stopping(app))
    syncer = Syncer(
        db,
        client,
        settings.field_map,
        also=also,
        delete_cap=settings.delete_cap,
        outbox_backoff=settings.outbox_backoff,
    )
    publisher = app_publisher(app, SERVICE)

    async def reconcile(record: Record) -> None:
        if isinstance(record, RunCompleted):
            before = replace(client.stats)
            outcome = await syncer.reconcile_run(record.feed_id, record.run_id)
            count_xano(outcome, before, client.stats)
            if outcome.unavailable:
                # An outage pauses the stage; the same RunCompleted is reconciled again (a
                # reconcile is a diff, so the retry only does what is left).
                raise DependencyUnavailableError(
                    f"Xano unavailable while reconciling feed {record.feed_id}: "
                    + (outcome.errors[0] if outcome.errors else "no answer")
                )

    async def publish_approval(record: Record) -> None:
        if isinstance(record, RoutedJob) and _is_approval(record):
            await syncer.publish_one(record.job_hash)
        elif isinstance(record, RoutedJob) and _is_take_down(record):
            await syncer.withdraw_one(record.feed_id, record.job_hash)

    consume(
        app,
        topics.RUNS_EVENTS,
        each_record(reconcile),
        publisher,
        what="reconcile",
        size=1,
        within_s=0.0,
    )
    consume(
        app,
        topics.JOBS_ROUTED,
        each_record(publish_approval),
        publisher,
        what="approval",
        # Nearly every routed job is the pipeline's, which the syncer skips: a batch each
        # keeps the broker from writing an offset commit for every job (bench/HISTORY.md).
        size=ROUTED_BATCH_SIZE,
        within_s=ROUTED_BATCH_WITHIN_S,
    )

    async def retry_outbox() -> None:
        await syncer.retry_outbox()

    @app.timer(interval=settings.outbox_backoff.first_s)  # type: ignore[untyped-decorator]
    async def retry_approvals() -> None:
        await with_retries(retry_outbox, what="approval outbox", attempts=1)

    open_on_startup(app, db.open)
    close_on_shutdown(app, db.close, client.aclose, *(other.aclose for other in also))
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
