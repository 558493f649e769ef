"""Ingestor composition root: feed requests in, RawJobs out; the pass-1 dedupe agent."""

from __future__ import annotations

from typing import Any

import faust

from schemas import topics
from schemas.dedupe import StateTable
from schemas.records import FeedRequested, RawJob, Record
from services.ingestor.config import IngestorSettings
from services.ingestor.deduper import dedupe_one, output_key
from services.ingestor.service import Ingestor
from services.shared.database import Database
from services.shared.state import expiring_table
from services.shared.streaming import (
    Batch,
    Publisher,
    act_on,
    close_on_shutdown,
    create_app,
    process_batches,
    process_each,
    topic,
)

SERVICE = "ingestor"


def build(settings: IngestorSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    publisher = Publisher(app, SERVICE)
    ingestor = Ingestor(settings, db, publisher)
    # Its own publisher: a dedupe batch's flush awaits its outputs and table writes, and
    # never a feed run's sends in flight.
    dedupe_publisher = Publisher(app, SERVICE)
    # Keyed like jobs.raw (the dedupe key), so each group's state lives with its partition.
    groups: StateTable = expiring_table(
        app, "dedupe-pass1", topics.DEDUPE_PASS1_CHANGELOG, dedupe_publisher
    )

    async def ingest(record: Record) -> None:
        if isinstance(record, FeedRequested):
            await ingestor.run(record)

    async def dedupe(batch: Batch) -> None:
        for event, raw in batch:
            if isinstance(raw, RawJob):
                act_on(event)
                output = dedupe_one(groups, raw)
                await dedupe_publisher.send(topics.JOBS_DEDUPED, output_key(output), output)
        await dedupe_publisher.flush()

    @app.agent(topic(app, topics.FEEDS_REQUESTED))
    async def ingest_feeds(stream: Any) -> None:
        await process_each(stream, publisher, ingest, what="feed run", attempts=3)

    @app.agent(topic(app, topics.JOBS_RAW))
    async def dedupe_jobs(stream: Any) -> None:
        await process_batches(
            stream, dedupe_publisher, dedupe, size=500, within_s=0.2, what="dedupe"
        )

    close_on_shutdown(app, db.close)
    return app
