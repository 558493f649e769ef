"""Router composition root: agents on jobs.enriched and runs.events, and the completion sweep."""

from __future__ import annotations

import faust

from schemas import topics
from schemas.dedupe import StateTable
from services.router.config import RouterSettings
from services.router.geo import gazetteer
from services.router.pass2 import merge_pass2
from services.router.service import Router
from services.shared import versions
from services.shared.database import Database
from services.shared.streaming import (
    Batch,
    app_publisher,
    close_on_shutdown,
    consume,
    create_app,
    each_record,
    open_on_startup,
    state_for,
    with_retries,
)

SERVICE = "router"


def build(settings: RouterSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url, session=session_settings(settings))
    publisher = app_publisher(app, SERVICE)
    router = Router(settings, db, publisher)
    gazetteer()  # ~2 s to load: paid at start, not by the first batch of the first run
    # Keyed like jobs.enriched (the pass-2 key), so each group's state lives with its partition.
    pass2_groups = state_for(app, topics.DEDUPE_PASS2_CHANGELOG, publisher)

    async def route(batch: Batch) -> None:
        records = []
        for message, record in batch:
            groups: StateTable = pass2_groups.at(message.partition)
            records.append(merge_pass2(groups, message.raw_key, record))
        await router.route(records)

    consume(
        app,
        topics.JOBS_ENRICHED,
        route,
        publisher,
        what="routing",
        size=settings.batch_size,
        within_s=settings.batch_within_s,
        state=pass2_groups,
    )
    consume(
        app,
        topics.RUNS_EVENTS,
        each_record(router.follow),
        publisher,
        what="run event",
        size=1,
        within_s=0.0,
    )

    @app.timer(interval=settings.sweep_interval_s)  # type: ignore[untyped-decorator]
    async def sweep_runs() -> None:
        await with_retries(router.republish_stranded, what="completion sweep", attempts=1)
        await with_retries(router.close_stalled, what="stall sweep", attempts=1)

    async def say_versions() -> None:
        async with db.connection() as conn:
            routing = versions.digest(repr(settings.thresholds))
            await versions.publish(conn, {versions.ROUTING: routing})

    open_on_startup(app, db.open, say_versions)
    close_on_shutdown(app, db.close)
    return app


def session_settings(settings: RouterSettings) -> dict[str, str]:
    """Named per replica (who holds which lock shows in `pg_stat_activity`), and ended by the
    server when a replica stops mid-transaction: its job locks must not outlive it."""
    timeout_ms = int(settings.idle_in_transaction_timeout_s * 1000)
    return {
        "application_name": f"jobstream-{SERVICE}-{settings.stream.replica}",
        "idle_in_transaction_session_timeout": str(timeout_ms),
    }
