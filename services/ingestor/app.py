"""Ingestor composition root: feed requests in, RawJobs out; the pass-1 dedupe agent."""

from __future__ import annotations

from functools import partial
from typing import Any

import faust

from schemas import topics
from schemas.records import FeedRequested, RawJob
from services.ingestor.config import IngestorSettings
from services.ingestor.deduper import StateTable, dedupe_one, output_key
from services.ingestor.service import Ingestor
from services.shared.database import Database
from services.shared.streaming import (
    Publisher,
    act_on,
    close_on_shutdown,
    create_app,
    dead_letter,
    decode_batch,
    decoded,
    topic,
    with_retries,
)

SERVICE = "ingestor"


def build(settings: IngestorSettings) -> faust.App:
    app = create_app(SERVICE, settings.stream)
    db = Database(settings.database_url)
    publisher = Publisher(app, SERVICE)
    ingestor = Ingestor(settings, db, publisher)
    # Keyed like jobs.raw (the dedupe key), so each group's state lives with its partition.
    groups: StateTable = app.Table(
        "dedupe-pass1", partitions=topics.JOBS_RAW.partitions, key_type=bytes, value_type=bytes
    )

    async def dedupe_and_publish(batch: list[tuple[Any, RawJob]]) -> None:
        for event, raw in batch:
            act_on(event)
            output = dedupe_one(groups, raw)
            await publisher.send(topics.JOBS_DEDUPED, output_key(output), output)
        await publisher.flush()

    @app.agent(topic(app, topics.FEEDS_REQUESTED))
    async def ingest_feeds(stream: Any) -> None:
        async for event, record in decoded(stream, publisher):
            if not isinstance(record, FeedRequested):
                continue
            error = await with_retries(
                partial(ingestor.run, record), what=f"run {record.run_id}", attempts=3
            )
            if error is not None:
                await dead_letter(publisher, event, error)

    @app.agent(topic(app, topics.JOBS_RAW))
    async def dedupe_jobs(stream: Any) -> None:
        async for batch in stream.take_events(500, within=0.2):
            good, bad = decode_batch(batch)
            for event, reason in bad:
                await dead_letter(publisher, event, reason)
            raws = [(e, r) for e, r in good if isinstance(r, RawJob)]
            error = await with_retries(
                partial(dedupe_and_publish, raws), what=f"dedupe of {len(raws)} records"
            )
            for event, _ in good if error else ():
                await dead_letter(publisher, event, error or "")

    close_on_shutdown(app, db.close)
    return app
