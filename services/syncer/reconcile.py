"""The reconcile plan: what to add, update and delete so a feed's Xano records mirror open_jobs.

Pure: the syncer reads both sides, keeps only the listed records that prove to be the feed's
(`split_by_feed`), calls `plan`, checks its deletes against the `DeleteCap`, then applies it
in this order: remove `deletes` and `duplicates_to_remove` (Xano deletes by hash, so every
copy goes), then send `adds` (which re-add the one right copy of each duplicated job), then
`updates`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.syncer.payload import fingerprint


@dataclass(frozen=True, slots=True)
class LocalJob:
    """A job of open_jobs as it should look in Xano."""

    payload: Mapping[str, Any]
    fingerprint: str

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> LocalJob:
        return cls(payload=payload, fingerprint=fingerprint(payload))


@dataclass(frozen=True, slots=True)
class Plan:
    adds: tuple[Mapping[str, Any], ...] = ()
    updates: tuple[Mapping[str, Any], ...] = ()
    deletes: tuple[str, ...] = ()
    duplicates_to_remove: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()  # jobs the mirror already holds as they are
    # Remote records without a job_hash: nothing can address them, so they are only reported.
    unaddressable: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.adds or self.updates or self.deletes or self.duplicates_to_remove)

    @property
    def hashes_to_remove(self) -> tuple[str, ...]:
        """Everything the delete phase sends: gone jobs first, then duplicated ones."""
        return self.deletes + self.duplicates_to_remove


def plan(local: Mapping[str, LocalJob], remote: Sequence[Mapping[str, Any]]) -> Plan:
    """Diffs local jobs (by job_hash) with a feed's remote records; deterministic output order."""
    copies = _group_by_hash(remote)
    duplicated = sorted(h for h, records in copies.items() if len(records) > 1 and h in local)
    deletes = sorted(h for h in copies if h not in local)
    adds, updates, unchanged = [], [], []
    for job_hash in sorted(local):
        job = local[job_hash]
        records = copies.get(job_hash, [])
        if len(records) != 1:
            # Absent, or duplicated (removed first): either way one fresh copy goes in.
            adds.append(job.payload)
        elif _differs(job, records[0]):
            updates.append(job.payload)
        else:
            unchanged.append(job_hash)
    return Plan(
        adds=tuple(adds),
        updates=tuple(updates),
        deletes=tuple(deletes),
        duplicates_to_remove=tuple(duplicated),
        unchanged=tuple(unchanged),
        unaddressable=sum(1 for r in remote if not _hash_of(r)),
    )


def _group_by_hash(remote: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in remote:
        job_hash = _hash_of(record)
        if job_hash:
            groups.setdefault(job_hash, []).append(record)
    return groups


def _hash_of(record: Mapping[str, Any]) -> str | None:
    value = record.get("job_hash")
    return value if isinstance(value, str) and value else None


def _differs(job: LocalJob, record: Mapping[str, Any]) -> bool:
    """Content changed, or Xano holds the job under an eid other than ours."""
    if fingerprint(record, fields=job.payload.keys()) != job.fingerprint:
        return True
    eid = job.payload.get("eid")
    return eid is not None and record.get("eid") != eid


def split_by_feed(
    remote: Sequence[Mapping[str, Any]], feed_id: int
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The listed records whose feed_id is this feed's, and the others.

    A listing should only hold the feed's records, but an endpoint that ignores its feed_id
    filter would hand over every feed's: those (and records with no readable feed_id) are
    never ours to delete or count.
    """
    ours: list[Mapping[str, Any]] = []
    foreign: list[Mapping[str, Any]] = []
    for record in remote:
        (ours if feed_of(record) == feed_id else foreign).append(record)
    return ours, foreign


def feed_of(record: Mapping[str, Any]) -> int | None:
    value = record.get("feed_id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def mirrored_jobs(records: Sequence[Mapping[str, Any]]) -> int:
    """How many distinct jobs the feed's mirror holds (copies of one job count once)."""
    return len({h for r in records if (h := _hash_of(r))})


@dataclass(frozen=True, slots=True)
class DeleteCap:
    """The most jobs one reconcile may take down without an operator's confirmation.

    A share of the feed's mirror, but never fewer than `min_jobs`, so a small feed's real
    changes (one job of one leaving) are not held.
    """

    share: float = 0.5
    min_jobs: int = 5

    def allowed(self, mirrored: int) -> int:
        return max(self.min_jobs, math.floor(self.share * mirrored))

    def exceeded_by(self, deletes: int, mirrored: int) -> bool:
        return deletes > self.allowed(mirrored)
