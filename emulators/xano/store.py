"""The emulator's job_posting table: in memory, indexed, durable through a snapshot and journal."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from emulators.xano.persistence import DurableFile

JsonRecord = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a feed's records, in Xano's paging terms (pages start at 1)."""

    items: list[JsonRecord]
    page: int
    per_page: int
    total: int

    @property
    def page_total(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def envelope(self) -> JsonRecord:
        """The body Xano answers a paged query with."""
        return {
            "items": self.items,
            "itemsReceived": len(self.items),
            "curPage": self.page,
            "nextPage": self.page + 1 if self.page < self.page_total else None,
            "prevPage": self.page - 1 if self.page > 1 else None,
            "offset": (self.page - 1) * self.per_page,
            "itemsTotal": self.total,
            "pageTotal": self.page_total,
        }


@dataclass(frozen=True, slots=True)
class AddCounts:
    added: int
    updated: int


@dataclass(frozen=True, slots=True)
class UpdateCounts:
    updated: int
    not_found: list[str]


class XanoStore:
    """Records keyed by an insertion id; eid and job_hash are indexed for the bulk endpoints."""

    def __init__(self, path: Path | None = None) -> None:
        self._durable = DurableFile(path) if path is not None else None
        self._seq = 0
        self._records: dict[int, JsonRecord] = {}
        self._next_id = 1
        self._by_eid: dict[str, int] = {}
        self._by_hash: dict[str, list[int]] = {}
        self._feed_order: dict[int | None, list[int]] = {}
        if self._durable is not None:
            self._load(self._durable)

    def __len__(self) -> int:
        return len(self._records)

    # -- queries ---------------------------------------------------------------------------

    def page(self, feed_id: int | None, page: int, per_page: int) -> Page:
        ids = self._ids_of_feed(feed_id)
        start = (page - 1) * per_page
        items = [self._records[i] for i in ids[start : start + per_page]]
        return Page(items=items, page=page, per_page=per_page, total=len(ids))

    def page_of_every_feed(self, page: int, per_page: int) -> Page:
        """A page drawn from every feed's records: what a list endpoint ignoring feed_id sends."""
        start = (page - 1) * per_page
        items = list(self._records.values())[start : start + per_page]
        return Page(items=items, page=page, per_page=per_page, total=len(self._records))

    def records(self, feed_id: int | None = None) -> list[JsonRecord]:
        """Every record (of one feed when given), in insertion order."""
        if feed_id is None:
            return list(self._records.values())
        return [self._records[i] for i in self._ids_of_feed(feed_id)]

    # -- writes: applied in memory, then journaled --------------------------------------------

    def add(self, postings: Sequence[Mapping[str, Any]]) -> AddCounts:
        """Inserts postings; one whose eid exists is replaced in place: retries never duplicate."""
        at_ms = int(time.time() * 1000)
        counts = self._apply_add(postings, at_ms)
        self._commit({"op": "add", "postings": list(postings), "at": at_ms})
        return counts

    def update(self, postings: Sequence[Mapping[str, Any]]) -> UpdateCounts:
        """Updates every record with the posting's job_hash within the posting's feed."""
        counts = self._apply_update(postings)
        self._commit({"op": "update", "postings": list(postings)})
        return counts

    def remove(self, job_hashes: Sequence[str], feed_id: int | None) -> int:
        """Removes every record holding one of the hashes (only within the feed when given)."""
        removed = self._apply_remove(job_hashes, feed_id)
        self._commit({"op": "remove", "job_hashes": list(job_hashes), "feed_id": feed_id})
        return removed

    def clear(self) -> None:
        self._apply_clear()
        self._commit({"op": "clear"})

    def close(self) -> None:
        """Folds the journal into the snapshot, so a restart reads one file."""
        if self._durable is not None:
            self._durable.compact(self._snapshot())
            self._durable.close()

    def _apply_add(self, postings: Sequence[Mapping[str, Any]], at_ms: int) -> AddCounts:
        added = updated = 0
        for posting in postings:
            existing = self._by_eid.get(str(posting.get("eid") or ""))
            if existing is None:
                self._insert({"created_at": at_ms, **posting})
                added += 1
            else:
                self._replace(existing, posting)
                updated += 1
        return AddCounts(added=added, updated=updated)

    def _apply_update(self, postings: Sequence[Mapping[str, Any]]) -> UpdateCounts:
        updated = 0
        not_found: list[str] = []
        for posting in postings:
            job_hash = str(posting.get("job_hash"))
            targets = self._ids_of_hash(job_hash, _feed_of(posting))
            for record_id in targets:
                self._replace(record_id, posting)
            updated += len(targets)
            if not targets:
                not_found.append(job_hash)
        return UpdateCounts(updated=updated, not_found=not_found)

    def _apply_remove(self, job_hashes: Iterable[str], feed_id: int | None) -> int:
        removed = 0
        for job_hash in job_hashes:
            for record_id in self._ids_of_hash(job_hash, feed_id):
                self._delete(record_id)
                removed += 1
        return removed

    def _apply_clear(self) -> None:
        self._records.clear()
        self._by_eid.clear()
        self._by_hash.clear()
        self._next_id = 1

    def _replay(self, entry: Mapping[str, Any]) -> None:
        op = entry["op"]
        if op == "add":
            self._apply_add(entry["postings"], int(entry["at"]))
        elif op == "update":
            self._apply_update(entry["postings"])
        elif op == "remove":
            self._apply_remove(entry["job_hashes"], entry["feed_id"])
        elif op == "clear":
            self._apply_clear()
        self._seq = int(entry["seq"])

    def _commit(self, entry: dict[str, Any]) -> None:
        self._feed_order.clear()
        if self._durable is None:
            return
        self._seq += 1
        self._durable.append({"seq": self._seq, **entry})
        if self._durable.should_compact():
            self._durable.compact(self._snapshot())

    # -- internals -------------------------------------------------------------------------

    def _insert(self, posting: JsonRecord) -> None:
        record_id = self._next_id
        self._next_id += 1
        posting["id"] = record_id
        self._records[record_id] = posting
        self._index(record_id, posting)

    def _replace(self, record_id: int, posting: Mapping[str, Any]) -> None:
        self._unindex(record_id)
        record = self._records[record_id]
        record.update(posting)
        record["id"] = record_id  # the id is Xano's, never the caller's
        self._index(record_id, record)

    def _delete(self, record_id: int) -> None:
        self._unindex(record_id)
        del self._records[record_id]

    def _index(self, record_id: int, record: Mapping[str, Any]) -> None:
        eid = record.get("eid")
        if eid:
            self._by_eid[str(eid)] = record_id
        self._by_hash.setdefault(str(record.get("job_hash")), []).append(record_id)

    def _unindex(self, record_id: int) -> None:
        record = self._records[record_id]
        eid = record.get("eid")
        if eid and self._by_eid.get(str(eid)) == record_id:
            del self._by_eid[str(eid)]
        job_hash = str(record.get("job_hash"))
        siblings = self._by_hash.get(job_hash, [])
        if record_id in siblings:
            siblings.remove(record_id)
        if not siblings:
            self._by_hash.pop(job_hash, None)

    def _ids_of_hash(self, job_hash: str, feed_id: int | None) -> list[int]:
        ids = list(self._by_hash.get(job_hash, ()))
        if feed_id is None:
            return ids
        return [i for i in ids if _feed_of(self._records[i]) == feed_id]

    def _ids_of_feed(self, feed_id: int | None) -> list[int]:
        # Cached between writes so walking N pages costs one scan, not N.
        ids = self._feed_order.get(feed_id)
        if ids is None:
            ids = [i for i, r in self._records.items() if _feed_of(r) == feed_id]
            self._feed_order[feed_id] = ids
        return ids

    def _snapshot(self) -> bytes:
        records = list(self._records.values())
        return orjson.dumps({"seq": self._seq, "next_id": self._next_id, "records": records})

    def _load(self, durable: DurableFile) -> None:
        snapshot, entries = durable.load()
        for record in (snapshot or {}).get("records", []):
            record_id = int(record["id"])
            self._records[record_id] = record
            self._index(record_id, record)
        self._seq = int((snapshot or {}).get("seq", 0))
        self._next_id = int((snapshot or {}).get("next_id", 1))
        self._next_id = max(self._next_id, max(self._records, default=0) + 1)
        for entry in entries:
            self._replay(entry)


def _feed_of(record: Mapping[str, Any]) -> int | None:
    value = record.get("feed_id")
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
