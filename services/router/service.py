"""The router's I/O steps, each safe to retry: route a batch, follow run events, complete runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

from schemas import topics
from schemas.records import (
    ArchiveDecided,
    IngestFinished,
    Record,
    RoutedJob,
    RunCompleted,
    RunFailRequested,
    RunStarted,
)
from schemas.report import ExecutionReport
from services.router import completion
from services.router.adapters import ledger_repository as ledger
from services.router.adapters.webhook import post_json
from services.router.batch import PartFailedError, route_batch
from services.router.config import RouterSettings
from services.router.notifications import should_notify, slack_message
from services.router.ports import Connections, Publisher

log = logging.getLogger(__name__)


class Router:
    def __init__(self, settings: RouterSettings, db: Connections, publisher: Publisher) -> None:
        self._settings = settings
        self._db = db
        self._publisher = publisher
        self._tasks: set[asyncio.Task[None]] = set()

    async def route(self, records: Sequence[Record]) -> None:
        """Work, then publish and await delivery, then try to complete the runs touched."""
        try:
            result = await route_batch(self._db, records, thresholds=self._settings.thresholds)
        except PartFailedError as failed:
            await self._publish_routed(failed.committed.routed)
            raise failed.error from None
        log.info("routed %d records of runs %s", len(records), ", ".join(sorted(result.runs)))
        await self._publish_routed(result.routed)
        await self.complete(result.runs)

    async def _publish_routed(self, routed: Sequence[RoutedJob]) -> None:
        for job in routed:
            await self._publisher.send(topics.JOBS_ROUTED, job.job_hash, job)
        await self._publisher.flush()

    async def follow(self, record: Record) -> None:
        log.info("run event %s", record.TYPE)
        if isinstance(record, ArchiveDecided):
            done = await completion.decide_archive(self._db, record)
            if done is not None:
                await self._publish_completion(done)
            return
        if isinstance(record, RunFailRequested):
            await self.fail(record)
            return
        async with self._db.connection() as conn:
            if isinstance(record, RunStarted):
                await ledger.run_started(conn, record)
            elif isinstance(record, IngestFinished):
                await ledger.ingest_finished(conn, record)
        if isinstance(record, IngestFinished):
            await self.complete({record.run_id})

    async def fail(self, request: RunFailRequested) -> None:
        """An operator gives up on a run that cannot complete: closed as a FAILURE at once."""
        reason = f"failed by {request.requested_by}: {request.reason}"
        done = await completion.complete_run(
            self._db, request.run_id, limits=self._settings.safety, failed_because=reason
        )
        if done is not None:
            log.warning("run %s %s", request.run_id, reason)
            await self._publish_completion(done)

    async def complete(self, run_ids: Iterable[str]) -> None:
        for run_id in sorted(run_ids):
            done = await completion.complete_run(self._db, run_id, limits=self._settings.safety)
            if done is not None:
                await self._publish_completion(done)

    async def _publish_completion(self, done: RunCompleted) -> None:
        await self._publisher.send_now(topics.RUNS_EVENTS, done.run_id, done)
        async with self._db.connection() as conn:
            await ledger.mark_published(conn, done.run_id)
            notify = self._settings.notify
            if notify.webhook_url and should_notify(done.status.value, notify.notify_on):
                report = await ledger.report(conn, done.run_id)
                self._in_background(self._notify(report))

    async def _notify(self, report: ExecutionReport) -> None:
        """Never in the way of the pipeline: bounded retries, then a logged failure."""
        notify = self._settings.notify
        await post_json(
            notify.webhook_url.value, slack_message(report), attempts=notify.max_attempts
        )

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self._tasks.discard)

    async def close_stalled(self) -> None:
        """Runs without progress for the stall timeout are closed as failures, not left open."""
        async with self._db.connection() as conn:
            stalled = await ledger.stalled_runs(conn, after_s=self._settings.stall_timeout_s)
        for run_id in stalled:
            try:
                done = await completion.complete_run(
                    self._db,
                    run_id,
                    limits=self._settings.safety,
                    stalled_after_s=self._settings.stall_timeout_s,
                )
            except Exception:  # one run that cannot be closed must not keep the others open
                log.exception("could not close stalled run %s", run_id)
                continue
            if done is not None:
                log.warning("run %s stalled and was closed as a failure", run_id)
                await self._publish_completion(done)

    async def republish_stranded(self) -> None:
        """A crash between the completion commit and its publication leaves a run unannounced."""
        async with self._db.connection() as conn:
            for run_id in await ledger.unpublished_completions(conn, older_than_s=30.0):
                done = await ledger.stored_completion(conn, run_id)
                if done is not None:
                    log.warning("republishing the completion of run %s", run_id)
                    await self._publisher.send_now(topics.RUNS_EVENTS, run_id, done)
                    await ledger.mark_published(conn, run_id)
