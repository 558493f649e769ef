"""Makes a feed's Xano records equal its open_jobs, and pushes reviewer approvals at once.

Every write to a feed's Xano records happens under the feed's advisory lock: a reconcile
(with its deletes) holds it throughout; a reviewer's approval takes it only if it is free
and otherwise waits in the outbox, so an approval can never be pushed between a reconcile's
read of open_jobs and its listing of Xano (which would have the reconcile delete it).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from schemas.status import SyncStatus
from services.shared.agents import Interrupted
from services.shared.database import Conn
from services.shared.failures import is_retriable
from services.syncer import metrics
from services.syncer.adapters import mirror_repository as mirror
from services.syncer.adapters import outbox
from services.syncer.adapters.outbox import OutboxBackoff
from services.syncer.payload import to_xano_payload
from services.syncer.ports import (
    BatchDone,
    Connections,
    JobMirror,
    JsonRecord,
    MirrorError,
    WriteResult,
)
from services.syncer.reconcile import (
    DeleteCap,
    LocalJob,
    Plan,
    feed_of,
    mirrored_jobs,
    plan,
    split_by_feed,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """Confirmed counts of one reconcile, for the run report."""

    status: SyncStatus
    added: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)
    held_deletes: int = 0  # jobs the cap kept from being deleted
    foreign: int = 0  # listed records of other feeds, left alone
    kept_open: int = 0  # planned deletes found open again on the re-check
    unavailable: bool = False  # Xano was down: the reconcile must run again once it is back

    def as_report(self) -> dict[str, object]:
        return {
            "status": self.status,
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
            "failed": self.failed,
            "errors": self.errors,
        }


class Push(enum.Enum):
    """What became of one approval's push."""

    LANDED = "landed"  # Xano confirmed it
    NOT_OPEN = "not open"  # nothing to push
    WAITING = "waiting"  # the feed is locked (being reconciled): kept in the outbox
    FAILED = "failed"  # Xano did not confirm it: kept in the outbox, retried with backoff


@dataclass(frozen=True, slots=True)
class _Checked:
    """The plan's deletes after the re-check and the cap, and what was said about them."""

    deletes: tuple[str, ...]
    held: int = 0
    kept_open: int = 0
    notes: tuple[str, ...] = ()


class Syncer:
    """Keeps `mirror` (Xano) equal to open_jobs, with its report counts, outbox and delete
    cap; each mirror in `also` is kept equal too, on the same reconciles and approvals, its
    failures logged and repaired by the next reconcile (never holding the main mirror up)."""

    def __init__(
        self,
        db: Connections,
        mirror: JobMirror,
        field_map: Mapping[str, str] | None = None,
        *,
        also: Sequence[JobMirror] = (),
        delete_cap: DeleteCap | None = None,
        outbox_backoff: OutboxBackoff | None = None,
    ) -> None:
        self._db = db
        self._client = mirror
        self._also = tuple(also)
        self._field_map = field_map
        self._cap = delete_cap or DeleteCap()
        self._backoff = outbox_backoff or OutboxBackoff()

    def _payload(self, row: Mapping[str, object], eid: str) -> JsonRecord:
        return to_xano_payload(row, eid=eid, field_map=self._field_map)

    # -- reconcile ----------------------------------------------------------------------------

    async def reconcile_run(self, feed_id: int, run_id: str) -> SyncOutcome:
        """Mirrors the feed after its run, then each other feed owning a job the run archived
        (a job shared by feeds is archived by the run dropping its last listing, but its one
        Xano record is its owner's). Their confirmed writes count in the run's report."""
        outcome = await self.reconcile(feed_id, run_id)
        if outcome.unavailable:
            return outcome
        async with self._db.connection() as conn:
            owners = await mirror.owners_of_archived(conn, feed_id, run_id)
        for owner in owners:
            theirs = await self.reconcile(owner, run_id, record_outcome=False)
            outcome = _combined(outcome, theirs)
            if theirs.unavailable:
                break
        return outcome

    async def reconcile(
        self, feed_id: int, run_id: str | None = None, *, record_outcome: bool = True
    ) -> SyncOutcome:
        """Mirrors the feed; with a run_id, its report counts every confirmed batch at once,
        so the counts of a reconcile a crash interrupted are kept and the retry adds to them.
        `record_outcome` False leaves the run's Xano status to the reconcile of its own feed."""
        await self._client.open()
        async with self._db.connection() as conn:
            await mirror.lock_feed(conn, feed_id)
            try:
                local = await self._local(conn, feed_id)
                outcome = await self._reconcile_locked(conn, feed_id, run_id, local)
                for other in self._also:
                    await self._reconcile_also(other, conn, feed_id, local)
            finally:
                await mirror.unlock_feed(conn, feed_id)
            # A reconcile Xano was down for is tried again until it lands (the stage pauses):
            # only the attempt that ends it writes the run's Xano status and errors.
            if run_id is not None and record_outcome and not outcome.unavailable:
                await mirror.write_sync_outcome(
                    conn,
                    run_id,
                    status=outcome.status,
                    failed=outcome.failed,
                    errors=outcome.errors,
                )
        return outcome

    async def _local(self, conn: Conn, feed_id: int) -> dict[str, LocalJob]:
        """The feed's open jobs as every mirror should hold them."""
        rows = await mirror.open_jobs(conn, feed_id)
        eids = await mirror.eids_for(conn, rows)
        return {r.job_hash: LocalJob.of(self._payload(r.columns, eids[r.job_hash])) for r in rows}

    async def _reconcile_locked(
        self, conn: Conn, feed_id: int, run_id: str | None, local: Mapping[str, LocalJob]
    ) -> SyncOutcome:
        try:
            listed = await self._client.list_feed(feed_id)
        except MirrorError as exc:
            # A listing we cannot trust must never turn into mass deletes or duplicate adds.
            log.error("Xano listing of feed %d failed, nothing written: %s", feed_id, exc)
            return SyncOutcome(
                status=SyncStatus.FAILED,
                errors=(f"Xano listing failed: {exc}",),
                unavailable=is_retriable(exc),  # a 5xx, 429 or no answer behind it
            )
        ours, foreign = split_by_feed(listed, feed_id)
        notes = _foreign_notes(feed_id, foreign)
        todo = plan(local, ours)
        await self._record_unrecorded(conn, run_id, {h: local[h] for h in todo.unchanged})
        checked = await self._checked_deletes(conn, feed_id, todo.deletes, mirrored_jobs(ours))
        outcome = await self._write(feed_id, todo, checked, self._progress(run_id, local))
        errors = (notes + checked.notes + outcome.errors)[:10]
        outcome = replace(outcome, errors=errors, foreign=len(foreign))
        if outcome.status is SyncStatus.SYNCED:
            await mirror.remember_synced(conn, {h: job.fingerprint for h, job in local.items()})
            await outbox.forget(conn, list(local))  # every open job of the feed is in Xano
        return outcome

    async def _checked_deletes(
        self, conn: Conn, feed_id: int, planned: Sequence[str], mirrored: int
    ) -> _Checked:
        """Re-reads open_jobs for the planned deletes, then applies the cap."""
        reopened = await mirror.still_open(conn, feed_id, planned) if planned else set()
        deletes = tuple(h for h in planned if h not in reopened)
        if reopened:
            log.warning("feed %d: %d job(s) open again since the read, not deleted",
                        feed_id, len(reopened))  # fmt: skip
        if not self._cap.exceeded_by(len(deletes), mirrored):
            return _Checked(deletes=deletes, kept_open=len(reopened))
        allowed = self._cap.allowed(mirrored)
        confirmed_by = await mirror.take_delete_confirmation(conn, feed_id, len(deletes))
        if confirmed_by is not None:
            note = (f"deleting {len(deletes)} of {mirrored} mirrored jobs, past the cap of "
                    f"{allowed}: confirmed by {confirmed_by}")  # fmt: skip
            log.warning("feed %d: %s", feed_id, note)
            return _Checked(deletes=deletes, kept_open=len(reopened), notes=(note,))
        note = (f"deletes held: {len(deletes)} of {mirrored} mirrored jobs would go, more than "
                f"the cap of {allowed} ({self._cap.share:.0%}); nothing was deleted. If this "
                f"is right: jobstream xano confirm-deletes {feed_id}")  # fmt: skip
        log.error("feed %d: %s", feed_id, note)
        metrics.DELETES_HELD.inc(len(deletes))
        return _Checked(deletes=(), held=len(deletes), kept_open=len(reopened), notes=(note,))

    async def _reconcile_also(
        self, other: JobMirror, conn: Conn, feed_id: int, local: Mapping[str, LocalJob]
    ) -> None:
        """Makes another mirror equal the feed's open jobs: the same plan, re-check and cap,
        without the main mirror's bookkeeping; a failure is logged and left to the next one."""
        try:
            await other.open()
            ours, _ = split_by_feed(await other.list_feed(feed_id), feed_id)
            todo = plan(local, ours)
            reopened = await mirror.still_open(conn, feed_id, todo.deletes) if todo.deletes else ()
            deletes = [h for h in todo.deletes if h not in reopened]
            if self._cap.exceeded_by(len(deletes), mirrored_jobs(ours)):
                log.error("feed %d: %d deletes held in %r (over the cap)", feed_id, len(deletes),
                          other)  # fmt: skip
                deletes = []
            results = [
                await other.delete(feed_id, deletes),
                await other.delete(feed_id, todo.duplicates_to_remove),
                await other.add(todo.adds),
                await other.update(todo.updates),
            ]
            _log_failures(other, f"reconcile of feed {feed_id}", results)
        except Exception:
            log.exception("feed %d not reconciled in %r; the next reconcile repairs it",
                          feed_id, other)  # fmt: skip

    async def _tell_also(
        self, what: str, write: Callable[[JobMirror], Awaitable[WriteResult]]
    ) -> None:
        """One write to each other mirror; a failure is logged (the next reconcile repairs it)."""
        for other in self._also:
            try:
                await other.open()
                _log_failures(other, what, [await write(other)])
            except Exception:
                log.exception("%s not written to %r; the next reconcile repairs it", what, other)

    async def _record_unrecorded(
        self, conn: Conn, run_id: str | None, unchanged: Mapping[str, LocalJob]
    ) -> None:
        """Writes a crash interrupted after Xano's answer are in the mirror but neither
        remembered nor counted: they are now, so the run's report matches a run without
        the crash."""
        found = await mirror.unrecorded_writes(
            conn, {h: job.fingerprint for h, job in unchanged.items()}
        )
        for operation in ("added", "updated"):
            hashes = [h for h, done in found.items() if done == operation]
            if hashes:
                log.info("%d %s record(s) found written but not recorded", len(hashes), operation)
                fingerprints = {h: unchanged[h].fingerprint for h in hashes}
                await mirror.record_written(conn, run_id, operation, len(hashes), fingerprints)

    def _progress(
        self, run_id: str | None, local: Mapping[str, LocalJob]
    ) -> dict[str, BatchDone | None]:
        """Per-operation callbacks recording each answered batch: its records as written and,
        with a run, its confirmed writes in the run's report."""

        def recorder(operation: str) -> BatchDone:
            async def record(result: WriteResult) -> None:
                if not result.written:
                    return
                fingerprints: dict[str, str | None] = (
                    dict.fromkeys(result.written)
                    if operation == "deleted"
                    else {h: local[h].fingerprint for h in result.written if h in local}
                )
                async with self._db.connection() as conn:
                    await mirror.record_written(
                        conn, run_id, operation, result.confirmed, fingerprints
                    )

            return record

        return {operation: recorder(operation) for operation in mirror.PROGRESS_COLUMNS}

    async def _write(
        self, feed_id: int, todo: Plan, checked: _Checked, progress: Mapping[str, BatchDone | None]
    ) -> SyncOutcome:
        client = self._client
        deleted = await client.delete(feed_id, checked.deletes, progress["deleted"])
        # Duplicates of live jobs go and come back with the adds: not counted as deleted.
        deduplicated = await client.delete(feed_id, todo.duplicates_to_remove)
        added = await client.add(todo.adds, progress["added"])
        updated = await client.update(todo.updates, progress["updated"])
        results = (deleted, deduplicated, added, updated)
        stopped = sum(r.stopped for r in results)
        if stopped:
            # What Xano confirmed is in the report already; the rest is done (and counted) by
            # the reconcile of the same RunCompleted after the restart.
            raise Interrupted(f"feed {feed_id}: reconcile stopped with {stopped} writes unsent")
        failed = sum(r.failed for r in results)
        errors = tuple(e for r in results for e in r.errors)
        log.info(
            "feed %d synced: +%d ~%d -%d (%d unchanged, %d failed, %d held)",
            feed_id, added.confirmed, updated.confirmed, deleted.confirmed, len(todo.unchanged),
            failed, checked.held,
        )  # fmt: skip
        status = (
            SyncStatus.PARTIAL if failed else SyncStatus.HELD if checked.held else SyncStatus.SYNCED
        )
        return SyncOutcome(
            status=status,
            added=added.confirmed,
            updated=updated.confirmed,
            deleted=deleted.confirmed,
            failed=failed,
            errors=errors[:10],
            held_deletes=checked.held,
            kept_open=checked.kept_open,
            unavailable=any(r.unavailable for r in results),
        )

    # -- reviewer approvals -------------------------------------------------------------------

    async def publish_one(self, job_hash: str) -> bool:
        """Pushes one approved job now (a reviewer's decision); True once Xano confirmed it.

        False when the job is not open (nothing to push), or when the push must wait: the
        feed is being reconciled, or Xano failed. A waiting approval stays in the outbox and
        `retry_outbox` pushes it later; it is never dropped.
        """
        return await self._push(job_hash) is Push.LANDED

    async def _push(self, job_hash: str) -> Push:
        await self._client.open()
        async with self._db.connection() as conn:
            row = await mirror.open_job(conn, job_hash)
            if row is None:
                await outbox.forget(conn, [job_hash])
                return Push.NOT_OPEN
            feed_id = row.feed_id
            await outbox.keep(conn, job_hash, feed_id, retry_in_s=self._backoff.first_s)
            if not await mirror.try_lock_feed(conn, feed_id):
                log.info("approval of %s waits in the outbox: feed %d is being reconciled",
                         job_hash, feed_id)  # fmt: skip
                return Push.WAITING
            try:
                return await self._push_locked(conn, job_hash, feed_id)
            finally:
                await mirror.unlock_feed(conn, feed_id)

    async def _push_locked(self, conn: Conn, job_hash: str, feed_id: int) -> Push:
        row = await mirror.open_job(conn, job_hash)  # again, now that nothing else writes
        if row is None:
            await outbox.forget(conn, [job_hash])
            return Push.NOT_OPEN
        if row.feed_id != feed_id:
            return Push.WAITING  # moved to another feed: the next attempt takes that lock
        eids = await mirror.eids_for(conn, [row])
        payload = self._payload(row.columns, eids[job_hash])
        result = await self._client.add([payload])
        if result.stopped:
            return Push.WAITING  # never sent: the outbox pushes it after the restart
        await self._tell_also(f"approval of {job_hash}", lambda other: other.add([payload]))
        if result.confirmed == 1:
            await mirror.remember_synced(conn, {job_hash: LocalJob.of(payload).fingerprint})
            await outbox.forget(conn, [job_hash])
            return Push.LANDED
        error = result.errors[0] if result.errors else "Xano did not confirm the add"
        attempts = await outbox.failed(conn, job_hash, error, self._backoff)
        metrics.APPROVAL_PUSH_FAILURES.inc()
        log.warning("approval of %s (feed %d) not in Xano after attempt %d, kept in the "
                    "outbox for a retry: %s", job_hash, feed_id, attempts, error)  # fmt: skip
        return Push.FAILED

    async def withdraw_one(self, feed_id: int, job_hash: str) -> bool:
        """Removes a job an admin took down, under the feed's lock; False when it is open
        again (restored) or Xano did not confirm."""
        await self._client.open()
        async with self._db.connection() as conn:
            await mirror.lock_feed(conn, feed_id)
            try:
                if await mirror.open_job(conn, job_hash) is not None:
                    return False
                result = await self._client.delete(feed_id, [job_hash])
                await self._tell_also(
                    f"take-down of {job_hash}", lambda other: other.delete(feed_id, [job_hash])
                )
                return result.confirmed >= 1
            finally:
                await mirror.unlock_feed(conn, feed_id)

    async def retry_outbox(self, limit: int = 100) -> int:
        """Pushes the approvals whose retry is due; how many landed.

        Stops at the first failed push: Xano is likely down, and each failure costs the
        client's full retries; the rest wait for the next round.
        """
        async with self._db.connection() as conn:
            due = await outbox.due(conn, limit)
        pushes: list[Push] = []
        for job_hash in due:
            pushes.append(await self._push(job_hash))
            if pushes[-1] is Push.FAILED:
                break
        async with self._db.connection() as conn:
            waiting = await outbox.size(conn)
        metrics.OUTBOX_WAITING.set(waiting)
        landed = pushes.count(Push.LANDED)
        if due:
            log.info("outbox: %d of %d due approval(s) pushed, %d waiting",
                     landed, len(due), waiting)  # fmt: skip
        return landed


def _combined(first: SyncOutcome, then: SyncOutcome) -> SyncOutcome:
    """Two reconciles of one run as one outcome: counts summed, the worse status."""
    order = (SyncStatus.SYNCED, SyncStatus.HELD, SyncStatus.PARTIAL, SyncStatus.FAILED)
    worse = max(first.status, then.status, key=order.index)
    return SyncOutcome(
        status=worse,
        added=first.added + then.added,
        updated=first.updated + then.updated,
        deleted=first.deleted + then.deleted,
        failed=first.failed + then.failed,
        errors=(first.errors + then.errors)[:10],
        held_deletes=first.held_deletes + then.held_deletes,
        foreign=first.foreign + then.foreign,
        kept_open=first.kept_open + then.kept_open,
        unavailable=first.unavailable or then.unavailable,
    )


def _log_failures(other: JobMirror, what: str, results: Sequence[WriteResult]) -> None:
    failed = sum(r.failed for r in results)
    if failed:
        errors = [e for r in results for e in r.errors][:3]
        log.warning("%s: %d write(s) failed in %r: %s", what, failed, other, errors)


def _foreign_notes(feed_id: int, foreign: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    if not foreign:
        return ()
    sample = foreign[0]
    note = (f"Xano listing of feed {feed_id} held {len(foreign)} record(s) of other feeds "
            f"(e.g. {sample.get('job_hash')!r} of feed {feed_of(sample)}): left alone")  # fmt: skip
    log.error("%s", note)
    metrics.FOREIGN_RECORDS.inc(len(foreign))
    return (note,)
