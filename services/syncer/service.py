"""Makes a feed's Xano records equal its open_jobs, and pushes reviewer approvals at once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.shared.database import Database
from services.syncer.adapters import mirror_repository as mirror
from services.syncer.adapters.xano import WriteResult, XanoClient, XanoError, XanoListingError
from services.syncer.payload import to_xano_payload
from services.syncer.reconcile import LocalJob, Plan, plan

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    """Confirmed counts of one reconcile, for the run report."""

    status: str  # SYNCED, PARTIAL or FAILED
    added: int = 0
    updated: int = 0
    deleted: int = 0
    failed: int = 0
    errors: tuple[str, ...] = field(default_factory=tuple)

    def as_report(self) -> dict[str, object]:
        return {
            "status": self.status,
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
            "failed": self.failed,
            "errors": self.errors,
        }


class Syncer:
    def __init__(
        self, db: Database, client: XanoClient, field_map: Mapping[str, str] | None = None
    ) -> None:
        self._db = db
        self._client = client
        self._field_map = field_map

    def _payload(self, row: Mapping[str, Any], eid: str) -> dict[str, Any]:
        return to_xano_payload(row, eid=eid, field_map=self._field_map)

    async def reconcile(self, feed_id: int) -> SyncOutcome:
        await self._client.open()
        pool = await self._db.pool()
        async with pool.acquire() as conn:
            await mirror.lock_feed(conn, feed_id)
            try:
                rows = await mirror.open_jobs(conn, feed_id)
                eids = await mirror.eids_for(conn, rows)
                local = {
                    r["job_hash"]: LocalJob.of(self._payload(r, eids[r["job_hash"]])) for r in rows
                }
                outcome = await self._apply(feed_id, local)
                if outcome.status == "SYNCED":
                    await mirror.remember_synced(
                        conn, {h: job.fingerprint for h, job in local.items()}
                    )
                return outcome
            finally:
                await mirror.unlock_feed(conn, feed_id)

    async def _apply(self, feed_id: int, local: dict[str, LocalJob]) -> SyncOutcome:
        try:
            remote = await self._client.list_feed(feed_id)
        except (XanoListingError, XanoError) as exc:
            # A listing we cannot trust must never turn into mass deletes or duplicate adds.
            log.error("Xano listing of feed %d failed, nothing written: %s", feed_id, exc)
            return SyncOutcome(status="FAILED", errors=(f"Xano listing failed: {exc}",))
        todo = plan(local, remote)
        return await self._write(feed_id, todo)

    async def _write(self, feed_id: int, todo: Plan) -> SyncOutcome:
        deleted = await self._client.delete(feed_id, todo.hashes_to_remove)
        added = await self._client.add(todo.adds)
        updated = await self._client.update(todo.updates)
        failed = deleted.failed + added.failed + updated.failed
        errors = deleted.errors + added.errors + updated.errors
        log.info(
            "feed %d synced: +%d ~%d -%d (%d unchanged, %d failed)",
            feed_id, added.confirmed, updated.confirmed, deleted.confirmed, todo.unchanged, failed,
        )  # fmt: skip
        return SyncOutcome(
            status="PARTIAL" if failed else "SYNCED",
            added=added.confirmed,
            updated=updated.confirmed,
            deleted=_deleted_jobs(deleted, todo),
            failed=failed,
            errors=errors[:10],
        )

    async def publish_one(self, job_hash: str) -> bool:
        """Pushes one approved job now (a reviewer's decision); False when it is not open."""
        await self._client.open()
        pool = await self._db.pool()
        async with pool.acquire() as conn:
            row = await mirror.open_job(conn, job_hash)
            if row is None:
                return False
            eids = await mirror.eids_for(conn, [row])
            payload = self._payload(row, eids[job_hash])
            result = await self._client.add([payload])
            if result.confirmed:
                await mirror.remember_synced(conn, {job_hash: LocalJob.of(payload).fingerprint})
            return result.confirmed == 1

    async def withdraw_one(self, feed_id: int, job_hash: str) -> bool:
        """Removes a job taken down by an admin now; False when it is open again (restored)."""
        await self._client.open()
        pool = await self._db.pool()
        async with pool.acquire() as conn:
            if await mirror.open_job(conn, job_hash) is not None:
                return False
        result = await self._client.delete(feed_id, [job_hash])
        return result.confirmed >= 1

    async def record(self, run_id: str, outcome: SyncOutcome) -> None:
        pool = await self._db.pool()
        async with pool.acquire() as conn:
            await mirror.write_sync_report(conn, run_id, outcome.as_report())


def _deleted_jobs(result: WriteResult, todo: Plan) -> int:
    """Duplicates are removed and re-added; only jobs that left Xano count as deleted."""
    return min(result.confirmed, len(todo.deletes))
