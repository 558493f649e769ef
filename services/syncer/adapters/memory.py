"""A `JobMirror` held in memory: a second sink beside Xano in tests and dry runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.syncer.ports import BatchDone, JsonRecord, WriteResult


class MemoryMirror:
    """Records by job_hash, each as the syncer wrote it (its payload, feed_id included)."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.records: dict[str, JsonRecord] = {}

    def __repr__(self) -> str:
        return f"MemoryMirror({self.name!r})"

    async def open(self) -> MemoryMirror:
        return self

    async def aclose(self) -> None:
        return None

    async def list_feed(self, feed_id: int) -> list[JsonRecord]:
        return [dict(r) for r in self.records.values() if r.get("feed_id") == feed_id]

    async def add(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult:
        for record in records:
            self.records[str(record["job_hash"])] = dict(record)
        written = tuple(str(r["job_hash"]) for r in records)
        return await _done(WriteResult(confirmed=len(records), written=written), on_batch)

    async def update(
        self, records: Sequence[Mapping[str, Any]], on_batch: BatchDone | None = None
    ) -> WriteResult:
        known = [r for r in records if str(r["job_hash"]) in self.records]
        for record in known:
            self.records[str(record["job_hash"])] = dict(record)
        missing = len(records) - len(known)
        errors = (f"{missing} record(s) not found",) if missing else ()
        written = tuple(str(r["job_hash"]) for r in known)
        return await _done(WriteResult(len(known), missing, errors, written=written), on_batch)

    async def delete(
        self, feed_id: int, hashes: Sequence[str], on_batch: BatchDone | None = None
    ) -> WriteResult:
        gone = [h for h in hashes if self.records.get(h, {}).get("feed_id") == feed_id]
        for job_hash in gone:
            del self.records[job_hash]
        return await _done(WriteResult(confirmed=len(gone), written=tuple(gone)), on_batch)


async def _done(result: WriteResult, on_batch: BatchDone | None) -> WriteResult:
    if on_batch is not None and (result.confirmed or result.failed):
        await on_batch(result)
    return result
