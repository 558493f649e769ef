"""Router composition root: agents on jobs.enriched and runs.events, and the completion sweep."""

from __future__ import annotations

from functools import partial
from typing import Any

import faust

from schemas import topics
from schemas.records import Record
from services.router.config import RouterSettings
from services.router.pass2 import StateTable, merge_pass2
from services.router.service import Router
from services.shared.database import Database
from services.shared.streaming import (
    Publisher,
    act_on,
    close_on_shutdown,
    create_app,
    dead_letter,
    decode_batch,
    decoded,
    message_key,
    topic,
    with_retries,
)

SERVICE = "router"


def build(settings: RouterSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    publisher = Publisher(app, SERVICE)
    router = Router(settings, db, publisher)
    # Keyed like jobs.enriched (the pass-2 key), so each group's state lives with its partition.
    pass2_groups: StateTable = app.Table(
        "dedupe-pass2", partitions=topics.JOBS_ENRICHED.partitions, key_type=bytes, value_type=bytes
    )

    def pass2(event: Any, record: Record) -> Record:
        act_on(event)
        return merge_pass2(pass2_groups, message_key(event), record)

    @app.agent(topic(app, topics.JOBS_ENRICHED))
    async def route_jobs(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_within_s):
            good, bad = decode_batch(batch)
            for event, reason in bad:
                await dead_letter(publisher, event, reason)
            records = [pass2(event, record) for event, record in good]
            error = await with_retries(
                partial(router.route, records), what=f"routing {len(records)} records"
            )
            for event, _ in good if error else ():
                await dead_letter(publisher, event, error or "")

    @app.agent(topic(app, topics.RUNS_EVENTS))
    async def follow_runs(stream: Any) -> None:
        async for event, record in decoded(stream, publisher):
            error = await with_retries(partial(router.follow, record), what=record.TYPE)
            if error is not None:
                await dead_letter(publisher, event, error)

    @app.timer(interval=15.0)  # type: ignore[untyped-decorator]
    async def sweep_stranded_completions() -> None:
        await with_retries(router.republish_stranded, what="completion sweep", attempts=1)

    close_on_shutdown(app, db.close)
    return app
