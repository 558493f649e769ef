"""One feed run: read the feed, publish a RawJob per record, then IngestFinished."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import topics
from schemas.records import FeedRequested, IngestFinished, RunStarted
from services.ingestor import handlers
from services.ingestor.config import IngestorSettings
from services.ingestor.errors import FeedNotFoundError
from services.ingestor.feeds import FeedReader
from services.ingestor.feeds.model import FetchError, ParsedJob
from services.ingestor.ports import FeedDefinition, Feeds, Publisher
from services.shared.streaming import Interrupted, Revoked, handing_over

log = logging.getLogger(__name__)

READ_STOP_S = 2.0  # how long a stop waits for the cancelled feed read to end


@dataclass(slots=True)
class Sent:
    """RawJobs of the run handed to the publisher so far (the next one's seq)."""

    count: int = 0


class Ingestor:
    def __init__(
        self,
        settings: IngestorSettings,
        feeds: Feeds,
        publisher: Publisher,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self._settings = settings
        self._feeds = feeds
        self._publisher = publisher
        # Set when the worker stops: a read in progress gives its request up (`_ingest`).
        self._stopping = stopping or asyncio.Event()

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
            feed = await self._feeds.load(request.feed_id)
        except FeedNotFoundError as exc:
            finished = handlers.failed_before_reading(request.run_id, request.feed_id, str(exc))
        else:
            finished = await self._ingest(request, feed)
        await self._publisher.send_now(topics.RUNS_EVENTS, request.run_id, finished)
        log.info(
            "run %s ingested: %d emitted, %d malformed, status %s",
            request.run_id, finished.emitted, finished.malformed, finished.fetch_status,
        )  # fmt: skip

    async def _ingest(self, request: FeedRequested, feed: FeedDefinition) -> IngestFinished:
        # An invalid mapping is a failed fetch ("mapping: …"): the run fails now, with the reason.
        reader = FeedReader(feed.source_url, mapping=feed.mapping, settings=self._settings.feed)
        sent = Sent()
        reading = asyncio.ensure_future(self._read(request, reader, sent))
        # A stop, or a rebalance that takes the request's partition away, gives the read up.
        giving_up = {
            asyncio.ensure_future(self._stopping.wait()),
            asyncio.ensure_future(handing_over().wait()),
        }
        try:
            await asyncio.wait({reading, *giving_up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in giving_up:
                waiting.cancel()
            if not reading.done():
                await _let_go(reading)
        # Every RawJob must be delivered before IngestFinished announces how many there are,
        # and before the request is given up (read again from the start by its next owner:
        # this replica after a restart, or whichever holds its partition after a rebalance).
        await self._publisher.flush()
        if not reading.done() or reading.cancelled():
            given_up = f"run {request.run_id}: the read stopped after {sent.count} records"
            if self._stopping.is_set():
                raise Interrupted(f"{given_up}; the feed is read again after the restart")
            raise Revoked(f"{given_up}; the partition's next owner reads the feed again")
        reading.result()  # a failure of the read other than the feed's own (a bug) is raised
        return handlers.ingest_finished(request.run_id, request.feed_id, sent.count, reader.stats)

    async def _read(self, request: FeedRequested, reader: FeedReader, sent: Sent) -> None:
        try:
            async for item in reader:
                if isinstance(item, ParsedJob):
                    await self._emit(request, sent.count, item)
                    sent.count += 1
                    if sent.count % self._settings.flush_every == 0:
                        await self._publisher.drain(keep=self._settings.flush_every)
        except FetchError as exc:
            log.warning(
                "feed %d fetch failed after %d records: %s", request.feed_id, sent.count, exc
            )

    async def _emit(self, request: FeedRequested, seq: int, item: ParsedJob) -> None:
        raw = handlers.raw_job(request.run_id, request.feed_id, seq, item.job)
        if request.refresh:
            raw = raw.model_copy(update={"refresh": True})
        await self._publisher.send(topics.JOBS_RAW, raw.dedupe_key, raw)


async def _let_go(reading: asyncio.Future[None]) -> None:
    """Cancels a read (blocked on the network, or parsing) and gives it a moment to end; one
    that does not is left behind: the request is read again from the start after the
    restart, so whatever it might still send is sent again anyway."""
    reading.cancel()
    done, _ = await asyncio.wait({reading}, timeout=READ_STOP_S)
    if not done:
        log.warning("the feed read did not end within %.0f s of its cancellation: %s",
                    READ_STOP_S, reading)  # fmt: skip
