"""The API's I/O steps: each method is one use case over PostgreSQL and Kafka."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas import topics
from schemas.records import (
    ArchiveDecided,
    FeedRequested,
    Record,
    RequestReason,
    Route,
    RoutedJob,
    RunFailRequested,
)
from schemas.status import ArchiveState, JobStatus, RunState
from services.api.adapters import accounts_repository as accounts
from services.api.adapters import console_repository as console_jobs
from services.api.adapters import feeds_repository as feeds
from services.api.adapters import review_repository as review
from services.api.adapters import runs_repository as runs
from services.api.config import ApiSettings
from services.api.errors import ConflictError, NotFoundError, UnavailableError
from services.api.handlers import FeedFields, FeedRow, ReviewDecision, RunRow
from services.api.ports import BrokerProbe, Connections, Publisher
from services.api.views import (
    Approval,
    ArchiveDecision,
    FailRequest,
    Rejection,
    RunView,
    progress,
    redacted_feed,
)
from services.shared.database import Conn

log = logging.getLogger(__name__)


class ControlPlane:
    """Feeds, runs and reviews over the ports `app.control_plane` wires; closes them on stop."""

    def __init__(
        self,
        settings: ApiSettings,
        db: Connections,
        publisher: Publisher,
        broker_reachable: BrokerProbe,
    ) -> None:
        self.settings = settings
        self.db = db
        self._publisher = publisher
        self._broker_reachable = broker_reachable
        self._publisher_lock = asyncio.Lock()
        self._publisher_started = False

    async def close(self) -> None:
        await self._publisher.stop()
        await self.db.close()

    async def publisher(self) -> Publisher:
        """Started on first use, so the API answers (and reports not ready) while Kafka is down."""
        async with self._publisher_lock:
            if not self._publisher_started:
                try:
                    await self._publisher.start()
                except Exception as exc:
                    raise UnavailableError(f"the broker is not reachable: {exc}") from exc
                self._publisher_started = True
        return self._publisher

    # --- runs ------------------------------------------------------------------------------

    async def trigger(self, feed_id: int, reason: RequestReason = RequestReason.API) -> str:
        """Requests a run; refuses while the feed has one in progress (409 with its id).

        The per-feed advisory lock makes check-and-insert atomic across API replicas; the
        request is published before commit, so a failed publish leaves no phantom run.
        """
        publisher = await self.publisher()
        async with self.db.connection() as conn, conn.transaction():
            await runs.lock_feed(conn, feed_id)
            await self._check_triggerable(conn, feed_id)
            run_id = str(uuid.uuid4())
            await runs.insert_run(conn, run_id, feed_id, reason.value)
            record = FeedRequested(
                run_id=run_id, feed_id=feed_id, reason=reason, requested_at=datetime.now(UTC)
            )
            try:
                await publisher.publish(topics.FEEDS_REQUESTED, record, key=str(feed_id))
            except Exception as exc:
                raise UnavailableError(f"could not publish the request: {exc}") from exc
        log.info("run %s of feed %d requested (%s)", run_id, feed_id, reason.value)
        return run_id

    async def _check_triggerable(self, conn: Conn, feed_id: int) -> None:
        feed = await feeds.get(conn, feed_id)
        if feed is None:
            raise NotFoundError(f"no feed {feed_id}")
        if not feed.is_active:
            raise ConflictError(f"feed {feed_id} is deactivated; PATCH is_active=true first")
        running = await runs.running_run(conn, feed_id)
        if running is not None:
            raise ConflictError(f"feed {feed_id} has a run in progress", run_id=running)

    async def run_view(self, run_id: str) -> RunView:
        async with self.db.connection() as conn:
            run = await runs.get_run(conn, run_id)
            if run is None:
                raise NotFoundError(f"no run {run_id}")
            report = await runs.report(conn, run_id)
            outcomes = await runs.outcome_counts(conn, run_id)
        return RunView(run, report, progress(run, outcomes, report))

    async def decide_archive(self, run_id: str, *, confirm: bool, by: str) -> ArchiveDecision:
        """Asks the router to apply (confirm) or drop a run's held archive.

        Under the feed's trigger lock: a confirmation while the feed has a run in progress is
        refused (that run judges the feed anew). The router answers each hold once.
        """
        publisher = await self.publisher()
        async with self.db.connection() as conn, conn.transaction():
            run = await self._run(conn, run_id)
            await runs.lock_feed(conn, run.feed_id)
            if run.archive_state is not ArchiveState.HELD:
                state = run.archive_state or "not judged yet"
                raise ConflictError(f"run {run_id} has no archive held (archive {state})")
            running = await runs.running_run(conn, run.feed_id) if confirm else None
            if running is not None:
                raise ConflictError(
                    f"feed {run.feed_id} has a run in progress, which judges its jobs "
                    "anew; answer when it ends",
                    run_id=running,
                )
            decision = ArchiveDecided(
                run_id=run_id, feed_id=run.feed_id, confirm=confirm, decided_by=by,
                decided_at=datetime.now(UTC),
            )  # fmt: skip
            await self._publish_run_event(publisher, run_id, decision)
            if confirm:
                await runs.confirm_mirror_deletes(conn, run_id, run.feed_id, by)
        log.info("archive of run %s %s by %s", run_id, "confirmed" if confirm else "discarded", by)
        return {"run_id": run_id, "feed_id": run.feed_id, "confirm": confirm, "by": by}

    async def fail_run(self, run_id: str, *, reason: str, by: str) -> FailRequest:
        """Asks the router to close a run that cannot complete as a FAILURE, with the reason."""
        publisher = await self.publisher()
        async with self.db.connection() as conn:
            run = await self._run(conn, run_id)
        if run.status is not RunState.RUNNING:
            raise ConflictError(f"run {run_id} is not in progress (it is {run.status})")
        request = RunFailRequested(
            run_id=run_id, feed_id=run.feed_id, reason=reason, requested_by=by,
            requested_at=datetime.now(UTC),
        )  # fmt: skip
        await self._publish_run_event(publisher, run_id, request)
        log.warning("run %s: failure requested by %s: %s", run_id, by, reason)
        return {"run_id": run_id, "feed_id": run.feed_id, "reason": reason, "by": by}

    async def _run(self, conn: Conn, run_id: str) -> RunRow:
        run = await runs.get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id}")
        return run

    async def _publish_run_event(self, publisher: Publisher, run_id: str, record: Record) -> None:
        try:
            await publisher.publish(topics.RUNS_EVENTS, record, key=run_id)
        except Exception as exc:
            raise UnavailableError(f"could not publish the request: {exc}") from exc

    async def execution_status(self, feed_id: int) -> ExecutionStatus:
        async with self.db.connection() as conn:
            if not await feeds.exists(conn, feed_id):
                raise NotFoundError(f"no feed {feed_id}")
            run_id = await runs.last_run_id(conn, feed_id)
            held = await runs.held_archives(conn, feed_id)
        if run_id is None:
            raise NotFoundError(f"feed {feed_id} has no run yet")
        return ExecutionStatus(feed_id, await self.run_view(run_id), held)

    # --- feeds -----------------------------------------------------------------------------

    async def create_feed(self, fields: FeedFields) -> FeedRow:
        async with self.db.connection() as conn:
            return redacted_feed(await feeds.create(conn, fields))

    async def list_feeds(self, limit: int, offset: int) -> list[FeedRow]:
        async with self.db.connection() as conn:
            found = await feeds.list_feeds(conn, limit=limit, offset=offset)
        return [redacted_feed(feed) for feed in found]

    async def feed(self, feed_id: int) -> FeedRow:
        async with self.db.connection() as conn:
            return redacted_feed(_found(await feeds.get(conn, feed_id), feed_id))

    async def update_feed(self, feed_id: int, fields: FeedFields) -> FeedRow:
        async with self.db.connection() as conn:
            return redacted_feed(_found(await feeds.update(conn, feed_id, fields), feed_id))

    async def deactivate_feed(self, feed_id: int) -> FeedRow:
        async with self.db.connection() as conn:
            return redacted_feed(_found(await feeds.deactivate(conn, feed_id), feed_id))

    # --- review ----------------------------------------------------------------------------

    async def review_queue(
        self, feed_id: int | None, limit: int, offset: int
    ) -> tuple[list[dict[str, object]], int]:
        async with self.db.connection() as conn:
            jobs, total = await review.list_queue(conn, feed_id=feed_id, limit=limit, offset=offset)
        return [job.as_json() for job in jobs], total

    async def approve(self, job_hash: str, decision: ReviewDecision) -> Approval:
        """Moves the job to open_jobs, then tells the syncer to push it to Xano now.

        Published after commit so the syncer finds the job open; if publishing fails the job
        is still approved and the feed's next reconcile pushes it.
        """
        reason = f"approved by {decision.reviewer}"
        feed_id = await self._move(job_hash, Route.OPEN, JobStatus.ACTIVE, reason, decision)
        routed = RoutedJob(
            feed_id=feed_id, job_hash=job_hash, route=Route.OPEN, reason=reason,
            decided_by="reviewer",
        )  # fmt: skip
        published = True
        try:
            publisher = await self.publisher()
            await publisher.publish(topics.JOBS_ROUTED, routed, key=job_hash)
        except Exception:
            log.exception("approval of %s not published; the next reconcile pushes it", job_hash)
            published = False
        return {"job_hash": job_hash, "feed_id": feed_id, "route": "open", "published": published}

    async def reject(self, job_hash: str, decision: ReviewDecision) -> Rejection:
        reason = decision.reason or "rejected by reviewer"
        feed_id = await self._move(job_hash, Route.REJECTED, JobStatus.REJECTED, reason, decision)
        return {"job_hash": job_hash, "feed_id": feed_id, "route": "rejected", "reason": reason}

    async def _move(
        self, job_hash: str, to: Route, status: JobStatus, reason: str, decision: ReviewDecision
    ) -> int:
        async with self.db.connection() as conn, conn.transaction():
            feed_id = await review.move(
                conn, job_hash, to, status=status, reason=reason, reviewer=decision.reviewer
            )
        if feed_id is None:
            raise NotFoundError(f"job {job_hash} is not in the manual review queue")
        log.info("job %s moved to %s by %s", job_hash, to.value, decision.reviewer)
        return feed_id

    async def take_down(self, job_hash: str, reason: str, by: str) -> int:
        """An admin takes an open job down: to rejected_jobs; the syncer removes it from Xano."""
        feed_id = await self._move_between(job_hash, Route.OPEN, Route.REJECTED, reason, by)
        await self._tell_syncer(feed_id, job_hash, Route.REJECTED, reason)
        return feed_id

    async def restore(self, job_hash: str, by: str) -> int:
        """An admin restores a rejected job: open again, and pushed to Xano at once."""
        reason = f"restored by {by}"
        feed_id = await self._move_between(job_hash, Route.REJECTED, Route.OPEN, reason, by)
        await self._tell_syncer(feed_id, job_hash, Route.OPEN, reason)
        return feed_id

    async def _move_between(
        self, job_hash: str, source: Route, to: Route, reason: str, by: str
    ) -> int:
        status = JobStatus.ACTIVE if to is Route.OPEN else JobStatus.REJECTED
        async with self.db.connection() as conn, conn.transaction():
            feed_id = await console_jobs.move_between(
                conn, job_hash, source, to, status=status, reason=reason, by=by
            )
        if feed_id is None:
            raise NotFoundError(f"job {job_hash} is not in {source.value} jobs")
        log.info("job %s moved from %s to %s by %s", job_hash, source.value, to.value, by)
        return feed_id

    async def _tell_syncer(self, feed_id: int, job_hash: str, route: Route, reason: str) -> None:
        """After commit; if it fails the job has moved and the feed's next reconcile follows."""
        routed = RoutedJob(
            feed_id=feed_id, job_hash=job_hash, route=route, reason=reason, decided_by="reviewer"
        )
        try:
            publisher = await self.publisher()
            await publisher.publish(topics.JOBS_ROUTED, routed, key=job_hash)
        except Exception:
            log.exception("move of %s not published; the next reconcile follows it", job_hash)

    # --- audit -----------------------------------------------------------------------------

    async def audit(self, username: str, action: str, target: str, detail: dict[str, Any]) -> None:
        async with self.db.connection() as conn:
            await accounts.audit(conn, username, action, target, detail)

    # --- health ----------------------------------------------------------------------------

    async def readiness(self) -> dict[str, bool]:
        database, broker = await asyncio.gather(
            self._database_reachable(), self._broker_reachable()
        )
        return {"database": database, "broker": broker}

    async def _database_reachable(self) -> bool:
        try:
            async with asyncio.timeout(8), self.db.connection() as conn:  # opened, then borrowed
                return bool(await conn.fetchval("SELECT 1", timeout=3))
        except Exception:
            return False


@dataclass(frozen=True, slots=True)
class ExecutionStatus:
    """A feed's last run, and the runs whose archive waits for an operator."""

    feed_id: int
    last_run: RunView
    held_archives: list[runs.HeldArchive]

    def as_json(self) -> dict[str, object]:
        held = [h.as_json() for h in self.held_archives]
        return {"feed_id": self.feed_id, **self.last_run.as_json(), "held_archives": held}


def _found(row: FeedRow | None, feed_id: int) -> FeedRow:
    if row is None:
        raise NotFoundError(f"no feed {feed_id}")
    return row
