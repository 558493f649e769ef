"""How far a feed's Xano records are from its open_jobs, found without writing anything.

The operator's view of what a reconcile would do (`jobstream xano audit`): jobs missing from
Xano, records Xano holds that are no longer open (extra), records whose content or eid is
not the job's (stale), copies of one job, and records of other feeds the listing returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.shared.database import Conn, Database
from services.syncer.adapters import mirror_repository as mirror
from services.syncer.adapters.xano import XanoClient
from services.syncer.payload import to_xano_payload
from services.syncer.reconcile import LocalJob, feed_of, plan, split_by_feed


@dataclass(frozen=True, slots=True)
class Audit:
    feed_id: int
    open_jobs: int
    mirrored: int  # the feed's own records in Xano
    missing: tuple[str, ...]
    extra: tuple[str, ...]
    stale: tuple[str, ...]
    duplicated: tuple[str, ...]
    foreign: tuple[tuple[str, int | None], ...]  # (job_hash, its feed_id)

    @property
    def in_sync(self) -> bool:
        """Nothing a resync would change (foreign records are never the feed's to change)."""
        return not (self.missing or self.extra or self.stale or self.duplicated)

    def as_json(self) -> dict[str, object]:
        return {
            "feed_id": self.feed_id,
            "in_sync": self.in_sync,
            "open_jobs": self.open_jobs,
            "mirrored": self.mirrored,
            "missing": list(self.missing),
            "extra": list(self.extra),
            "stale": list(self.stale),
            "duplicated": list(self.duplicated),
            "foreign": [{"job_hash": h, "feed_id": f} for h, f in self.foreign],
        }


async def audit_feed(
    db: Database, client: XanoClient, feed_id: int, field_map: Mapping[str, str] | None = None
) -> Audit:
    """Compares the feed's open_jobs with its Xano listing; XanoError if the listing fails."""
    await client.open()
    async with db.connection() as conn:
        local = await _local_jobs(conn, feed_id, field_map)
    listed = await client.list_feed(feed_id)
    ours, foreign = split_by_feed(listed, feed_id)
    todo = plan(local, ours)
    remote_hashes = {r.get("job_hash") for r in ours}
    duplicated = set(todo.duplicates_to_remove)
    return Audit(
        feed_id=feed_id,
        open_jobs=len(local),
        mirrored=len(ours),
        missing=tuple(h for h in _hashes(todo.adds) if h not in remote_hashes),
        extra=todo.deletes,
        stale=tuple(_hashes(todo.updates)),
        duplicated=tuple(sorted(duplicated)),
        foreign=tuple((str(r.get("job_hash")), feed_of(r)) for r in foreign),
    )


async def _local_jobs(
    conn: Conn, feed_id: int, field_map: Mapping[str, str] | None
) -> dict[str, LocalJob]:
    """The feed's open jobs as Xano should hold them; eids only read (an audit mints none)."""
    rows = await mirror.open_jobs(conn, feed_id)
    eids = await mirror.known_eids(conn, [r.job_hash for r in rows])
    local: dict[str, LocalJob] = {}
    for row in rows:
        payload: dict[str, Any] = to_xano_payload(row.columns, eid="", field_map=field_map)
        payload["eid"] = eids.get(row.job_hash)  # None: never sent, so any eid will do
        local[row.job_hash] = LocalJob.of(payload)
    return local


def _hashes(payloads: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(p["job_hash"]) for p in payloads]
