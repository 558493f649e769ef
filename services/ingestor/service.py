"""One feed run: read the feed, publish a RawJob per record, then IngestFinished."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from schemas import topics
from schemas.records import FeedRequested, IngestFinished, RunStarted
from services.ingestor import handlers
from services.ingestor.adapters.feeds_repository import FeedDefinition, load_feed
from services.ingestor.config import IngestorSettings
from services.ingestor.errors import FeedNotFoundError
from services.ingestor.feeds import FeedReader
from services.ingestor.feeds.model import FetchError, ParsedJob
from services.ingestor.ports import Connections, Publisher

log = logging.getLogger(__name__)


class Ingestor:
    def __init__(self, settings: IngestorSettings, db: Connections, publisher: Publisher) -> None:
        self._settings = settings
        self._db = db
        self._publisher = publisher

    async def run(self, request: FeedRequested) -> None:
        """Idempotent under redelivery: the same run re-emits the same (run, seq) records."""
        started = RunStarted(
            run_id=request.run_id,
            feed_id=request.feed_id,
            reason=request.reason,
            started_at=datetime.now(UTC),
        )
        await self._publisher.send_now(topics.RUNS_EVENTS, request.run_id, started)
        try:
            feed = await self._load(request.feed_id)
        except FeedNotFoundError as exc:
            finished = handlers.failed_before_reading(request.run_id, request.feed_id, str(exc))
        else:
            finished = await self._ingest(request, feed)
        await self._publisher.send_now(topics.RUNS_EVENTS, request.run_id, finished)
        log.info(
            "run %s ingested: %d emitted, %d malformed, status %s",
            request.run_id, finished.emitted, finished.malformed, finished.fetch_status,
        )  # fmt: skip

    async def _load(self, feed_id: int) -> FeedDefinition:
        async with self._db.connection() as conn:
            return await load_feed(conn, feed_id)

    async def _ingest(self, request: FeedRequested, feed: FeedDefinition) -> IngestFinished:
        # An invalid mapping is a failed fetch ("mapping: …"): the run fails now, with the reason.
        reader = FeedReader(feed.source_url, mapping=feed.mapping, settings=self._settings.feed)
        emitted = 0
        try:
            async for item in reader:
                if isinstance(item, ParsedJob):
                    await self._emit(request, emitted, item)
                    emitted += 1
                    if emitted % self._settings.flush_every == 0:
                        await self._publisher.drain(keep=self._settings.flush_every)
        except FetchError as exc:
            log.warning("feed %d fetch failed after %d records: %s", feed.feed_id, emitted, exc)
        # Every RawJob must be delivered before IngestFinished announces how many there are.
        await self._publisher.flush()
        return handlers.ingest_finished(request.run_id, request.feed_id, emitted, reader.stats)

    async def _emit(self, request: FeedRequested, seq: int, item: ParsedJob) -> None:
        raw = handlers.raw_job(request.run_id, request.feed_id, seq, item.job)
        if request.refresh:
            raw = raw.model_copy(update={"refresh": True})
        await self._publisher.send(topics.JOBS_RAW, raw.dedupe_key, raw)
