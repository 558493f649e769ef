"""Router composition root: agents on jobs.enriched and runs.events, and the completion sweep."""

from __future__ import annotations

from typing import Any

import faust

from schemas import topics
from schemas.dedupe import StateTable
from services.router.config import RouterSettings
from services.router.geo import gazetteer
from services.router.pass2 import merge_pass2
from services.router.service import Router
from services.shared.database import Database
from services.shared.state import expiring_table
from services.shared.streaming import (
    Batch,
    Publisher,
    act_on,
    close_on_shutdown,
    create_app,
    message_key,
    process_batches,
    process_each,
    topic,
    with_retries,
)

SERVICE = "router"


def build(settings: RouterSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    publisher = Publisher(app, SERVICE)
    router = Router(settings, db, publisher)
    gazetteer()  # ~2 s to load: paid at start, not by the first batch of the first run
    # Keyed like jobs.enriched (the pass-2 key), so each group's state lives with its partition.
    pass2_groups: StateTable = expiring_table(
        app, "dedupe-pass2", topics.DEDUPE_PASS2_CHANGELOG, publisher
    )

    async def route(batch: Batch) -> None:
        records = []
        for event, record in batch:
            act_on(event)
            records.append(merge_pass2(pass2_groups, message_key(event), record))
        await router.route(records)

    @app.agent(topic(app, topics.JOBS_ENRICHED))
    async def route_jobs(stream: Any) -> None:
        await process_batches(
            stream,
            publisher,
            route,
            size=settings.batch_size,
            within_s=settings.batch_within_s,
            what="routing",
        )

    @app.agent(topic(app, topics.RUNS_EVENTS))
    async def follow_runs(stream: Any) -> None:
        await process_each(stream, publisher, router.follow, what="run event")

    @app.timer(interval=settings.sweep_interval_s)  # type: ignore[untyped-decorator]
    async def sweep_runs() -> None:
        await with_retries(router.republish_stranded, what="completion sweep", attempts=1)
        await with_retries(router.close_stalled, what="stall sweep", attempts=1)

    close_on_shutdown(app, db.close)
    return app
