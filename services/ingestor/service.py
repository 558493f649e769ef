"""One feed run: read the feed, publish a RawJob per record, then IngestFinished."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import topics
from schemas.records import FeedRequested, IngestFinished, JobsUnchanged, RawJob, RunStarted
from services.ingestor import handlers, incremental
from services.ingestor.config import IngestorSettings
from services.ingestor.errors import FeedNotFoundError
from services.ingestor.feeds import FeedReader
from services.ingestor.feeds.model import FetchError, ParsedJob
from services.ingestor.ports import FeedDefinition, Feeds, Publisher, RunHistory
from services.shared.streaming import Interrupted, Revoked, handing_over

log = logging.getLogger(__name__)

READ_STOP_S = 2.0  # how long a stop waits for the cancelled feed read to end
FINGERPRINTS_PER_WRITE = 5000
CHANGED_WHILE_READ = "the feed changed between its two reads; it is read again by the next run"


@dataclass(slots=True)
class Sent:
    """Records of the run handed to the publisher so far: RawJobs and unchanged entries."""

    count: int = 0
    changed: bool = False  # the second read found another feed than the first (`_resend`)


class Ingestor:
    def __init__(
        self,
        settings: IngestorSettings,
        feeds: Feeds,
        history: RunHistory,
        publisher: Publisher,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self._settings = settings
        self._feeds = feeds
        self._history = history
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
        sorter = incremental.Sorter(await self._previous_run(request))
        reading = asyncio.ensure_future(self._read(request, feed, reader, sent, sorter))
        # A stop, or a rebalance that takes the request's partition away, gives the read up
        # (both reads, when the held members are read again).
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
        finished = handlers.ingest_finished(
            request.run_id, request.feed_id, sent.count, reader.stats
        )
        if sent.changed:
            finished = finished.model_copy(
                update={"fetch_status": "failed", "error": CHANGED_WHILE_READ}
            )
        return finished

    async def _previous_run(self, request: FeedRequested) -> incremental.PreviousRun | None:
        """The feed's last run to compare with (None: every record goes in full)."""
        previous = await self._history.begin(request)
        if previous is not None:
            log.info("run %s compares with run %s: %d settled groups", request.run_id,
                     previous.run_id, len(previous.groups))  # fmt: skip
        return previous

    async def _read(
        self,
        request: FeedRequested,
        feed: FeedDefinition,
        reader: FeedReader,
        sent: Sent,
        sorter: incremental.Sorter,
    ) -> None:
        fingerprints: list[tuple[int, int, int]] = []
        position = 0  # the record's seq: its place among the feed's jobs
        try:
            async for item in reader:
                if isinstance(item, ParsedJob):
                    raw = self._raw(request, position, item)
                    fp = incremental.fingerprint(raw.job)
                    group = incremental.group_key(raw.dedupe_key)
                    fingerprints.append((position, fp, group))
                    position += 1
                    if not sorter.hold(raw.seq, fp, group, raw.job_hash):
                        await self._send(raw, sent)
                    if len(fingerprints) >= FINGERPRINTS_PER_WRITE:
                        await self._write_fingerprints(request, fingerprints)
        except FetchError as exc:
            log.warning("feed %d fetch failed after %d records: %s", request.feed_id, position, exc)
            await self._write_fingerprints(request, fingerprints)
            return  # the held records are left out: a failed read's run archives nothing
        await self._write_fingerprints(request, fingerprints)
        resolution = sorter.resolve()
        await self._send_unchanged(request, resolution.unchanged, sent)
        if resolution.conflicts:
            await self._resend(request, feed, resolution.conflicts, sent)

    def _raw(self, request: FeedRequested, seq: int, item: ParsedJob) -> RawJob:
        raw = handlers.raw_job(request.run_id, request.feed_id, seq, item.job)
        if request.refresh:
            raw = raw.model_copy(update={"refresh": True})
        return raw

    async def _send(self, raw: RawJob, sent: Sent) -> None:
        await self._publisher.send(topics.JOBS_RAW, raw.dedupe_key, raw)
        sent.count += 1
        if sent.count % self._settings.flush_every == 0:
            await self._publisher.drain(keep=self._settings.flush_every)

    async def _write_fingerprints(
        self, request: FeedRequested, rows: list[tuple[int, int, int]]
    ) -> None:
        if rows:
            await self._history.write_fingerprints(request.run_id, request.feed_id, rows)
            rows.clear()

    async def _send_unchanged(
        self, request: FeedRequested, unchanged: list[incremental.Unchanged], sent: Sent
    ) -> None:
        """Unchanged records go to the router as small entries, a message per thousand."""
        step = incremental.MARKER_ENTRIES
        for start in range(0, len(unchanged), step):
            chunk = unchanged[start : start + step]
            marker = JobsUnchanged(
                run_id=request.run_id,
                feed_id=request.feed_id,
                seqs=tuple(u.seq for u in chunk),
                job_hashes=tuple(u.job_hash for u in chunk),
                kept_hashes=tuple(u.kept_hash for u in chunk),
            )
            await self._publisher.send(topics.JOBS_ENRICHED, f"{request.run_id}/{start}", marker)
            sent.count += len(chunk)
        if unchanged:
            log.info("run %s: %d records unchanged since the last run", request.run_id,
                     len(unchanged))  # fmt: skip

    async def _resend(
        self, request: FeedRequested, feed: FeedDefinition, wanted: dict[int, int], sent: Sent
    ) -> None:
        """Records held as maybe unchanged whose group changed after all: the feed is read
        again for them (they are not kept in memory). Should the feed differ now, the run
        fails (`CHANGED_WHILE_READ`): it archives nothing and the next run reads it again."""
        log.info("run %s: %d held records go in full; reading the feed again",
                 request.run_id, len(wanted))  # fmt: skip
        reader = FeedReader(feed.source_url, mapping=feed.mapping, settings=self._settings.feed)
        position = 0
        try:
            async for item in reader:
                if isinstance(item, ParsedJob):
                    fp = wanted.pop(position, None)
                    if fp is not None:
                        raw = self._raw(request, position, item)
                        if incremental.fingerprint(raw.job) != fp:
                            break
                        await self._send(raw, sent)
                        if not wanted:
                            return
                    position += 1
        except FetchError as exc:
            log.warning("feed %d: its second read failed: %s", request.feed_id, exc)
        sent.changed = True  # a record was missing or different the second time


async def _let_go(reading: asyncio.Future[None]) -> None:
    """Cancels a read (blocked on the network, or parsing) and gives it a moment to end; one
    that does not is left behind: the request is read again from the start after the
    restart, so whatever it might still send is sent again anyway."""
    reading.cancel()
    done, _ = await asyncio.wait({reading}, timeout=READ_STOP_S)
    if not done:
        log.warning("the feed read did not end within %.0f s of its cancellation: %s",
                    READ_STOP_S, reading)  # fmt: skip
