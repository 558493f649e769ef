"""Ingestor composition root: feed requests in, RawJobs out; the pass-1 dedupe agent."""

from __future__ import annotations

import faust

from schemas import topics
from schemas.dedupe import StateTable
from schemas.records import FeedRequested, RawJob, Record
from services.ingestor.adapters.feeds_repository import FeedsRepository
from services.ingestor.adapters.seen_repository import SeenRepository
from services.ingestor.config import IngestorSettings
from services.ingestor.deduper import dedupe_one, output_key
from services.ingestor.service import Ingestor
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
    stopping,
)

SERVICE = "ingestor"


def build(settings: IngestorSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    publisher = app_publisher(app, SERVICE)
    history = SeenRepository(db)
    ingestor = Ingestor(settings, FeedsRepository(db), history, publisher, stopping(app))
    # Its own publisher: a dedupe batch's flush awaits its outputs and table writes, and
    # never a feed run's sends in flight.
    dedupe_publisher = app_publisher(app, SERVICE)
    # Keyed like jobs.raw (the dedupe key), so each group's state lives with its partition.
    groups = state_for(app, topics.DEDUPE_PASS1_CHANGELOG, dedupe_publisher)

    async def ingest(record: Record) -> None:
        if isinstance(record, FeedRequested):
            await ingestor.run(record)

    async def dedupe(batch: Batch) -> None:
        for message, raw in batch:
            if isinstance(raw, RawJob):
                group: StateTable = groups.at(message.partition)
                output = dedupe_one(group, raw)
                await dedupe_publisher.send(topics.JOBS_DEDUPED, output_key(output), output)
        await dedupe_publisher.flush()

    consume(
        app,
        topics.FEEDS_REQUESTED,
        each_record(ingest),
        publisher,
        what="feed run",
        size=1,
        within_s=0.0,
    )
    consume(
        app,
        topics.JOBS_RAW,
        dedupe,
        dedupe_publisher,
        what="dedupe",
        size=settings.dedupe_batch_size,
        within_s=settings.dedupe_batch_within_s,
        state=groups,
    )

    open_on_startup(app, db.open)
    close_on_shutdown(app, db.close)
    return app
