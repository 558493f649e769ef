"""The reconcile plan: what to add, update and delete so a feed's Xano records mirror open_jobs.

Pure: the syncer reads both sides, calls `plan`, then applies it in this order: remove
`deletes` and `duplicates_to_remove` (Xano deletes by hash, so every copy goes), then send
`adds` (which re-add the one right copy of each duplicated job), then `updates`.
"""

from __future__ import annotations

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
    unchanged: int = 0
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
    adds, updates, unchanged = [], [], 0
    for job_hash in sorted(local):
        job = local[job_hash]
        records = copies.get(job_hash, [])
        if len(records) != 1:
            # Absent, or duplicated (removed first): either way one fresh copy goes in.
            adds.append(job.payload)
        elif _differs(job, records[0]):
            updates.append(job.payload)
        else:
            unchanged += 1
    return Plan(
        adds=tuple(adds),
        updates=tuple(updates),
        deletes=tuple(deletes),
        duplicates_to_remove=tuple(duplicated),
        unchanged=unchanged,
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
